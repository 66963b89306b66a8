"""``keras``: your own Keras network, built by a function you name, trained like the zoo.

``--learner keras --builder mymodule:build`` (``[model] builder =
"mymodule:build"``) names a function of your own::

    def build(lookback: int, n_features: int, settings) -> keras.Model:
        ...  # (batch, lookback, n_features) -> (batch, 1), compiled or not

``settings`` is this learner's :class:`KerasBuilderSettings` (your own values
ride in ``settings.builder_args``, a dict). An uncompiled network is compiled
with Adam at ``learning_rate`` on ``loss``. From there it is a
:class:`~btlstm.learners.kerasnet.KerasLearner` like the zoo's networks: seeded
fresh builds, the compiled training path, early stopping, one long-lived model,
parallel workers, the model cache.

Where code comes from (docs/trust.md): the builder is imported from YOUR code,
named on the command line (``--builder``, trusted) or by a config file's
``[model] builder`` only when ``--plugin`` names the same module too; never
from a model file. A fitted model is saved as its weights alone
(``.weights.npz``: numpy arrays, no layer classes, no callables, no pickle); a load builds the
network with your builder and sets its weights after checking the file's
size and every array's shape against that network, so a model file cannot
name code to run.

The cache key (:meth:`KerasBuilderLearner.token`) holds the builder as typed and
the SHA-256 of its module's source file: editing the builder's file makes
every cached fit of it stale. A module whose file changed since it was
imported in this process is imported again, so the key and the code agree.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from btlstm.checks import check_number
from btlstm.errors import ModelFileError
from btlstm.learners.kerasnet import KerasLearner

__all__ = ["KerasBuilderSettings", "KerasBuilderLearner", "parse_builder", "builder_source",
           "load_builder"]  # fmt: skip

#: imported builder modules: module file -> (sha256 at import, module)
_LOADED: dict = {}


def _is_path(spec: str) -> bool:
    """A file path rather than a module name (as :mod:`btlstm.registry` tells them apart)."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec or spec.startswith("~")


def parse_builder(spec, where: str = "builder") -> tuple[str, str]:
    """``"mymodule:build"`` or ``"path/to/file.py:build"`` -> (module part, function
    name), checked for form only (nothing imported)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(
            f"{where} must be MODULE:FUNCTION (e.g. mymodule:build or mynets.py:build), "
            f"got {spec!r}"
        )
    module, _, func = spec.strip().rpartition(":")
    if not module or not func.isidentifier():
        raise ValueError(f"{where} must be MODULE:FUNCTION with a function name after "
                         f"':', got {spec!r}")  # fmt: skip
    if not _is_path(module) and not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"{where} {spec!r}: {module!r} is neither a module name nor a .py "
                         "file path")  # fmt: skip
    return module, func


def builder_source(module: str) -> Path | None:
    """The source file of builder module ``module``, found without running it (a
    ``.py`` path, else ``importlib.util.find_spec``, else ``./module.py``)."""
    if _is_path(module):
        p = Path(module).expanduser()
        return p.resolve() if p.is_file() else None
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    origin = getattr(found, "origin", None)
    if origin and origin not in ("built-in", "frozen") and Path(origin).is_file():
        return Path(origin).resolve()
    top = module.split(".")[0]
    for p in (Path.cwd() / f"{module.replace('.', '/')}.py", Path.cwd() / top / "__init__.py"):
        if p.is_file():
            return p.resolve()
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_builder(spec: str, where: str | None = None):
    """The builder function ``spec`` names, imported from the user's module (again if
    its file changed since this process imported it)."""
    where = where or f"builder {spec!r}"
    module, func = parse_builder(spec, where)
    src = builder_source(module)
    if src is None:
        raise ValueError(f"{where}: no module {module!r} on the Python path or in "
                         f"{Path.cwd()} (give a module name or a .py file path)")  # fmt: skip
    digest = _sha256(src)
    seen = _LOADED.get(str(src))
    if seen is not None and seen[0] == digest:
        mod = seen[1]
    else:
        try:
            if _is_path(module):
                name = f"btlstm_builder_{src.stem}_{hashlib.sha256(str(src).encode()).hexdigest()[:8]}"
                ispec = importlib.util.spec_from_file_location(name, src)
                mod = importlib.util.module_from_spec(ispec)
                sys.modules[name] = mod
                ispec.loader.exec_module(mod)
            else:
                if importlib.util.find_spec(module.split(".")[0]) is None:
                    sys.path.append(str(Path.cwd()))  # appended: never shadows a library
                mod = importlib.import_module(module)
                if seen is not None:  # the file changed since: the new code, as the key says
                    mod = importlib.reload(mod)
        except Exception as e:
            raise ValueError(f"{where}: importing {module!r} failed: {type(e).__name__}: {e}") \
                from None
        _LOADED[str(src)] = (digest, mod)
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise ValueError(f"{where}: module {module!r} ({src}) has no function {func!r}")
    return fn


@dataclass
class KerasBuilderSettings:
    """Settings of :class:`KerasBuilderLearner` (``[model]`` keys, ``--flags``).

    Args:
        builder: your function that builds the network, ``MODULE:FUNCTION``
            (``mymodule:build``, ``nets/my.py:build``); required.
        builder_args: your own values for the builder (a dict, JSON on the
            command line); in the cache key.
        learning_rate: Adam learning rate when the builder returns an uncompiled model.
        loss: Keras loss when the builder returns an uncompiled model.
    """

    builder: str = ""
    builder_args: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        if not self.builder:  # refused with the settings, before any data is read
            raise ValueError(
                "builder is required by the keras learner: MODULE:FUNCTION, a function "
                "(lookback, n_features, settings) -> keras.Model (docs/learners.md)"
            )
        parse_builder(self.builder)
        if not isinstance(self.builder_args, dict):
            raise ValueError(f"builder_args must be a dict, got {self.builder_args!r}")
        check_number("learning_rate", self.learning_rate, lo=0.0, lo_open=True)


class KerasBuilderLearner(KerasLearner):
    """Your Keras network (``learner = "keras"``), built by ``builder``.

    Params: :class:`KerasBuilderSettings`. Files: ``.weights.npz`` (weights only).

    Example::

        # mynets.py
        import keras

        def build(lookback, n_features, settings):
            units = settings.builder_args.get("units", 16)
            x = inp = keras.Input((lookback, n_features))
            x = keras.layers.GRU(units)(x)
            return keras.Model(inp, keras.layers.Dense(1)(x))

        # btlstm run hold --learner keras --builder mynets:build --builder-args '{"units": 8}'
    """

    name = "keras"
    Settings = KerasBuilderSettings
    suffix = ".weights.npz"

    def __init__(self, lookback: int, n_features: int, settings=None):
        super().__init__(lookback, n_features, settings)
        if not self.settings.builder:
            raise ValueError(
                "learner 'keras' needs a builder: --builder MODULE:FUNCTION (or [model] "
                "builder), a function (lookback, n_features, settings) -> keras.Model"
            )
        self._digest = None

    @classmethod
    def check_settings(cls, given, *, lookback, n_features, where, allow_large=False):
        """The builder is given and of the form ``MODULE:FUNCTION`` (not imported here)."""
        given = given or {}
        if not given.get("builder"):
            raise ValueError(f"{where('builder')}: the keras learner needs a builder, "
                             "MODULE:FUNCTION (docs/learners.md)")  # fmt: skip
        module, _ = parse_builder(given["builder"], where("builder"))
        if builder_source(module) is None:
            raise ValueError(f"{where('builder')} {given['builder']!r}: no module {module!r} on "
                             f"the Python path or in {Path.cwd()} (give a module name or a "
                             ".py file path)")  # fmt: skip

    def build_network(self):
        fn = load_builder(self.settings.builder)
        return fn(self.lookback, self.n_features, self.settings)

    def token(self) -> dict:
        """The cache key's description: the settings, and the SHA-256 of the builder's
        source file (an edited builder is another model)."""
        d = super().token()
        module, _ = parse_builder(self.settings.builder)
        src = builder_source(module)
        d["builder_sha256"] = _sha256(src) if src is not None else None
        return d

    # ----------------------------------------------------------------- files
    def save(self, path) -> Path:
        """The weights alone, as numpy arrays (``.npz``: no layer classes, no
        callables, nothing that is unpickled)."""
        import io

        from btlstm._files import atomic_write_bytes

        if self.model is None:
            raise ValueError("KerasBuilderLearner: nothing to save before fit")
        buf = io.BytesIO()
        arrays = {f"w{i:04d}": w for i, w in enumerate(self.model.get_weights())}
        np.savez(buf, **arrays)
        return atomic_write_bytes(Path(path), buf.getvalue())

    def load(self, path) -> None:
        """Build the network with the builder, check the file against it (size, the
        arrays' declared sizes, their count and shapes), then set its weights.

        Raises:
            ModelFileError: missing, larger than this network's weights can be,
                not an ``.npz`` of arrays, or weights of another network (names the file).
        """
        path = Path(path)
        where = f"keras model file {str(path)!r}"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ModelFileError(f"{where} does not exist") from None
        net = self.model if self.model is not None else self._build()
        shapes = [tuple(w.shape) for w in net.weights]
        n = int(sum(int(np.prod(s)) for s in shapes))
        limit = 8 * n + (1 << 20)
        if size > limit:
            raise ModelFileError(f"{where} is {size:,} bytes, more than this network's "
                                 f"{n:,} weights can take ({limit:,})")  # fmt: skip
        try:
            with zipfile.ZipFile(path) as z:
                declared = sum(i.file_size for i in z.infolist())
            if declared > limit:
                raise ModelFileError(f"{where} declares {declared:,} bytes, this network "
                                     f"has {n:,} weights")  # fmt: skip
            with np.load(path, allow_pickle=False) as z:
                arrays = [z[k] for k in sorted(z.files)]
        except ModelFileError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ModelFileError(f"{where} is not a weights file "
                                 f"({type(e).__name__}: {e})") from None  # fmt: skip
        got = [tuple(a.shape) for a in arrays]
        if got != shapes:
            raise ModelFileError(f"{where} holds weights of another network: {len(got)} "
                                 f"arrays {got[:4]}..., this builder's network has "
                                 f"{len(shapes)} {shapes[:4]}...")  # fmt: skip
        if not all(np.all(np.isfinite(a)) for a in arrays if a.dtype.kind == "f"):
            raise ModelFileError(f"{where} holds non-finite weights")
        net.set_weights(arrays)
        self.model = net
        self.fitted = True
