"""btlstm claims no top-level module name but its own: its strategies ship as
``btlstm.strategies`` (the repository folder ``strategies/``), and a user's own
``strategies.py`` or ``strategies/`` package beside their script neither breaks
btlstm nor is touched by it. User strategies run by name through ``--plugin`` /
``[strategy] module`` (``btlstm.registry.load_plugin``)."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from btlstm import registry
from btlstm.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]

# a cheap hold run: synthetic data, the numpy ridge learner (no TensorFlow)
HOLD = [
    "--data", "synthetic", "--synthetic", '{"n": 400, "start": "2010-01-04"}',
    "--train-start", "2010-01-01", "--train-end", "2010-12-31", "--test-start", "2011-01-01",
    "--test-end", "2011-07-15", "--learner", "ridge", "--quiet", "--no-plots",
]  # fmt: skip

# the user's own strategy: buys `percent` of the portfolio on the first bar (no model)
USER_STRATEGY = '''
import backtrader as bt

from btlstm.registry import register_strategy

MINE_DEFAULTS = {
    "data": {"data": "synthetic", "synthetic": {"n": 300, "start": "2012-01-02"}},
    "model": {"mode": "static", "train_start": "2012-01-01", "train_end": "2012-06-29",
              "test_start": "2012-07-02", "test_end": "2013-02-28"},
}


@register_strategy("mine", predictor=None, signal=None, defaults=MINE_DEFAULTS)
class Mine(bt.Strategy):
    """Buy once on the first bar and keep it."""

    params = (("percent", 50.0),)  # percent of the portfolio bought

    def next(self):
        if not self.position:
            self.order_target_percent(target=self.p.percent / 100.0)

OWNER = "the user"
'''

# the user's script: imports ITS OWN `strategies`, runs btlstm's hold through the CLI
# entry point and through the Python API, and their own strategy by name
USER_SCRIPT = """
import json, sys
from pathlib import Path

import strategies  # the user's own module or package, beside this script

here = Path(__file__).resolve().parent
assert Path(strategies.__file__).resolve().is_relative_to(here), strategies.__file__
assert strategies.OWNER == "the user"

from btlstm.cli import main
from btlstm.pipeline import run_backtest
from btlstm.settings import Settings

hold = json.loads(sys.argv[1])
rc_cli = main(["run", "hold", *hold, "--out", "out-cli", "--cache-dir", "cache"])
settings = Settings.from_dict({
    "data": {"data": "synthetic", "synthetic": {"n": 400, "start": "2010-01-04"}},
    "model": {"train_start": "2010-01-01", "train_end": "2010-12-31",
              "test_start": "2011-01-01", "test_end": "2011-07-15", "learner": "ridge"},
    "strategy": {"name": "hold"},
    "output": {"out": "out-api", "cache_dir": "cache", "quiet": True, "plots": False},
})
api = run_backtest(settings).report["strategy"]["final_value"]
rc_mine = main(["run", "mine", "--plugin", "strategies", "--out", "out-mine", "--quiet",
                "--no-plots"])
assert sys.modules["strategies"] is strategies  # btlstm imported nothing in its place
print(json.dumps({"rc_cli": rc_cli, "rc_mine": rc_mine, "api": api}))
"""


def _env(folder: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    return env


def _final(out: Path) -> float:
    return json.loads((out / "report.json").read_text())["strategy"]["final_value"]


@pytest.mark.parametrize("layout", ["strategies.py", "strategies/"])
def test_users_own_strategies_module_or_package_runs_beside_btlstm(tmp_path, layout):
    """The issue's two crashes: a `strategies.py` (``module 'strategies' has no attribute
    '__path__'``) and a `strategies/` package (``unknown strategy 'hold' (registered: [])``)
    beside the user's script. Both now run btlstm's hold from the CLI and the API, and the
    user's own strategy by name, while the user's `strategies` stays theirs."""
    if layout == "strategies.py":
        (tmp_path / "strategies.py").write_text(USER_STRATEGY)
    else:
        pkg = tmp_path / "strategies"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(USER_STRATEGY)
    (tmp_path / "run_me.py").write_text(USER_SCRIPT)
    proc = subprocess.run(
        [sys.executable, "run_me.py", json.dumps(HOLD)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["rc_cli"] == 0 and got["rc_mine"] == 0
    # the CLI and the API ran the same hold backtest
    assert got["api"] == pytest.approx(_final(tmp_path / "out-cli"), rel=1e-12)
    mine = json.loads((tmp_path / "out-mine" / "report.json").read_text())
    assert mine["config"]["strategy"] == {"name": "mine", "module": "strategies"}
    # the user's strategy traded: half the portfolio invested from the first open on
    assert mine["strategy"]["avg_gross_exposure"] == pytest.approx(0.5, abs=0.05)

    # the console script, as a user types it: btlstm's hold and the user's file by path
    btlstm_exe = Path(sys.executable).with_name("btlstm")
    spec = "strategies.py" if layout == "strategies.py" else "strategies"
    argv = [str(btlstm_exe), "run", "mine", "--plugin", spec, "--percent", "30",
            "--out", "out-console", "--quiet", "--no-plots"]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = json.loads((tmp_path / "out-console" / "report.json").read_text())
    assert console["config"]["strategy"]["percent"] == 30.0
    assert console["strategy"]["avg_gross_exposure"] == pytest.approx(0.3, abs=0.05)
    assert not any(p.name.startswith("btlstm") for p in tmp_path.iterdir()), "nothing of btlstm's"


def test_no_top_level_strategies_in_setup():
    """setup.py ships the folder strategies/ as btlstm.strategies and no other top-level
    package (pip show -f btlstm lists only btlstm/...)."""
    import setuptools

    seen = {}
    real = setuptools.setup
    setuptools.setup = lambda **kw: seen.update(kw)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        exec(compile((ROOT / "setup.py").read_text(), "setup.py", "exec"), {"__name__": "x"})
    finally:
        setuptools.setup = real
        os.chdir(cwd)
    tops = {p.split(".")[0] for p in seen["packages"]}
    assert tops == {"btlstm"}, tops
    assert "btlstm.strategies" in seen["packages"]
    assert seen["package_dir"] == {"btlstm.strategies": "strategies"}
    assert not seen.get("py_modules")


def test_btlstm_strategies_is_the_repository_folder():
    import btlstm.strategies as own

    assert [Path(p).resolve() for p in own.__path__] == [(ROOT / "strategies").resolve()]
    names = {m.name for m in pkgutil.iter_modules(own.__path__)}
    assert {"buyhold", "hold", "momentum", "ranker", "rotation"} <= names
    assert {"hold", "ranker", "rotation"} <= set(registry.names())
    assert registry.get("hold").strategy.__module__ == "btlstm.strategies.hold"
    # nothing in btlstm imports a top-level `strategies`
    for m in list(sys.modules):
        assert m != "strategies" and not m.startswith("strategies."), m


def test_strategies_docstring_examples():
    """The doctests of btlstm.strategies (pytest collects only btlstm/ itself: collecting
    the folder strategies/ would import it a second time as a top-level package)."""
    import btlstm.strategies as own

    failed = 0
    for m in pkgutil.iter_modules(own.__path__, own.__name__ + "."):
        failed += doctest.testmod(importlib.import_module(m.name), verbose=False).failed
    assert failed == 0


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A folder with a user module and a clean registry afterwards."""
    (tmp_path / "my_rules.py").write_text(USER_STRATEGY.replace('"mine"', '"mine-rules"'))
    monkeypatch.chdir(tmp_path)
    before = dict(registry._USER)
    yield tmp_path
    registry._PLANS.pop("mine-rules", None)
    registry._USER.clear()
    registry._USER.update(before)
    for name in ("my_rules",):
        sys.modules.pop(name, None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_toml_strategy_module_is_relative_to_the_file(user_dir, tmp_path_factory):
    conf = user_dir / "run.toml"
    conf.write_text('[strategy]\nname = "mine-rules"\nmodule = "my_rules.py"\npercent = 20.0\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)  # the file path, not the working folder, anchors the module
    with pytest.raises(SettingsError, match=r"run.toml asks to run code: \[strategy\] module = "
                       r'"my_rules.py" \(.*my_rules.py\).*add --plugin'):  # fmt: skip
        Settings.from_toml(conf)  # a config file is data: its module needs the caller's word
    assert "my_rules" not in sys.modules
    s = Settings.from_toml(conf, plugins=[str(user_dir / "my_rules.py")])
    assert s.strategy.name == "mine-rules" and s.strategy.params == {"percent": 20.0}
    assert Path(s.strategy.module) == user_dir / "my_rules.py"
    assert Settings.from_dict(s.to_dict()) == s  # workers rebuild it from the dict


def test_plugin_errors_name_the_flag_and_the_line(user_dir, capsys):
    from btlstm.cli import main

    assert main(["run", "mine", "--plugin", "my_rulez"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"btlstm: error: --plugin: no module named 'my_rulez' on the Python path or in "
        f"{user_dir} (give a module name or the path of a .py file)"
    ]
    (user_dir / "broken.py").write_text("import backtrader\n\nx = 1 / 0\n")
    with pytest.raises(SettingsError, match=r"\[strategy\] module: importing strategy module "
                       r"'broken.py' failed: ZeroDivisionError: .*\(broken.py, line 3\)"):  # fmt: skip
        Settings.from_dict({"strategy": {"name": "hold", "module": "broken.py"}})
    with pytest.raises(SettingsError, match="unknown strategy 'mine-rule'.*did you mean"):
        Settings.from_dict({"strategy": {"name": "mine-rule", "module": "my_rules"}})
    assert "mine-rules" in registry.names()


def test_reserved_params_refused():
    import backtrader as bt

    class Clash(bt.Strategy):
        params = (("module", ""),)

    with pytest.raises(ValueError, match=r"params \['module'\] of Clash clash"):
        registry.register_strategy("clash", predictor=None)(Clash)
    assert "clash" not in registry.names()


def test_entry_point_group_is_loaded(monkeypatch, caplog):
    """Installed packages register through the entry-point group; a broken one is logged
    and skipped, so btlstm's own strategies still run."""
    import importlib.metadata as md

    calls = []

    class EP:
        def __init__(self, value, fail=False):
            self.value, self.fail = value, fail

        def load(self):
            calls.append(self.value)
            if self.fail:
                raise ImportError("no module named 'gone'")

    def fake(group):
        assert group == registry.ENTRY_POINT_GROUP
        return [EP("good_pkg.strats"), EP("gone", fail=True)]

    monkeypatch.setattr(md, "entry_points", fake)
    monkeypatch.setattr(registry, "_LOADED", False)
    with caplog.at_level("WARNING", logger="btlstm.registry"):
        registry.load_plugins()
    assert calls == ["good_pkg.strats", "gone"]
    assert "entry point 'gone'" in caplog.text and "hold" in registry.names()


@pytest.mark.slow
def test_regular_install_has_no_top_level_strategies(tmp_path):
    """`pip install .` (not editable) into a folder: btlstm/strategies/ is there, a
    top-level strategies/ is not, and btlstm's strategies import from it."""
    import shutil

    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info into the source
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("btlstm", "strategies"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (target / "btlstm" / "strategies" / "hold.py").is_file()
    assert not (target / "strategies").exists()
    code = textwrap.dedent("""
        import btlstm, btlstm.strategies.hold
        from btlstm import registry
        print(btlstm.__file__, sorted(registry.names()))
    """)
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert str(target) in proc.stdout and "'hold'" in proc.stdout
