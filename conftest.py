"""Doctests: every ``>>>`` example in ``btlstm/`` runs as a test (those of the
repository folder ``strategies/``, installed as ``btlstm.strategies``, run in
``tests/test_plugins.py``).

The examples may use these names without defining them: ``frame`` (a seeded
SYNTHETIC daily frame, 2010-01-04 .. about 2017-09), ``frame_with_prediction_column``,
``cerebro`` (a fresh ``bt.Cerebro``), ``np``, ``pd``, ``bt``. They run with the
offline data directory (``$BTLSTM_DATA``, default ``../shared/data``) as the
working directory, so relative data paths in examples resolve there.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

_DATA = Path(
    os.environ.get("BTLSTM_DATA") or Path(__file__).resolve().parent.parent / "shared" / "data"
)
if _DATA.is_dir():
    # absolute, because the doctests run inside the data folder (a relative
    # BTLSTM_DATA such as CI's ../shared/data would then point nowhere)
    _DATA = _DATA.resolve()
    os.environ["BTLSTM_DATA"] = str(_DATA)


#: The first line of a deprecation alias left at a module's old path (scripts/reorg_packages.py).
_ALIAS_MARKER = "# btlstm: deprecated alias, written by scripts/reorg_packages.py"


def pytest_ignore_collect(collection_path, config):
    """Skip the deprecation aliases when collecting doctests: an alias puts the new module
    in ``sys.modules`` under its old name, which pytest would report as a path mismatch;
    tests/test_aliases.py imports each one on purpose."""
    p = Path(collection_path)
    if p.suffix == ".py" and p.is_file() and p.stat().st_size < 4096:
        with p.open(encoding="utf-8", errors="replace") as f:
            if f.readline().rstrip("\n") == _ALIAS_MARKER:
                return True
    return None


@pytest.fixture(autouse=True)
def _doctest_setup(request, doctest_namespace, monkeypatch):
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        yield
        return
    import backtrader as bt
    import numpy as np
    import pandas as pd

    import btlstm  # noqa: F401  (compat patches)
    from btlstm.synthetic import synthetic_ohlcv

    frame = synthetic_ohlcv(n=2000, seed=0, start="2010-01-04", signal=0.3)
    with_pred = frame.assign(prediction=np.sin(np.arange(len(frame)) / 10.0))
    with_pred.attrs = dict(frame.attrs)
    doctest_namespace.update(
        np=np,
        pd=pd,
        bt=bt,
        frame=frame,
        frame_with_prediction_column=with_pred,
        cerebro=bt.Cerebro(stdstats=False),
    )
    if _DATA.is_dir():
        monkeypatch.chdir(_DATA)
    yield
