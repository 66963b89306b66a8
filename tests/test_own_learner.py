"""A learner of the user's own, written in ONE new file, runs everywhere a built-in one does.

The file below (:data:`LEARNER_FILE`) is all a user writes: a ``Learner``
subclass with its own ``Settings`` dataclass (one setting), registered with
``@register_learner``. The tests write it to a temporary folder and run it
through ``btlstm run hold --plugin FILE --learner slope`` (1 and 2 workers: the
same predictions), the pooled rotation over the sector ETFs and the paper
runner (the same predictions and trades as the backtest), and check the
plugin's refusals and the ``btlstm.learners`` entry-point group.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btlstm import learners, registry
from btlstm.cli import main
from btlstm.errors import ModelFileError
from btlstm.settings import SettingsError

# the user's whole learner: least squares on the slope of a moving average of feature 0
LEARNER_FILE = textwrap.dedent('''
    """slope: a tiny numpy learner of my own (one file, one setting)."""
    from dataclasses import dataclass
    from pathlib import Path

    import numpy as np

    from btlstm.errors import ModelFileError
    from btlstm.learners import FitRecord, Learner, register_learner


    @dataclass
    class SlopeSettings:
        """span: bars of each of the two moving averages whose difference is the input."""

        span: int = 3

        def __post_init__(self):
            if not isinstance(self.span, int) or self.span < 1:
                raise ValueError(f"span must be an integer >= 1, got {self.span!r}")


    @register_learner
    class SlopeLearner(Learner):
        """y ~ a + b * (mean of the last span bars - mean of the span bars before)."""

        name = "slope"
        Settings = SlopeSettings
        suffix = ".slope.npy"

        def _x(self, X):
            s = min(self.settings.span, X.shape[1] // 2)
            f = np.asarray(X, dtype=np.float64)[:, :, 0]
            return f[:, -s:].mean(axis=1) - f[:, -2 * s:-s].mean(axis=1)

        def fit(self, X, y, X_val=None, y_val=None, **kw):
            x, y = self._x(X), np.asarray(y, dtype=np.float64)
            b = float(np.cov(x, y, bias=True)[0, 1] / max(np.var(x), 1e-12))
            self.coef = np.array([y.mean() - b * x.mean(), b])
            self.fitted = True
            return FitRecord(loss=float(np.mean((self.coef[0] + b * x - y) ** 2)))

        def predictor(self, n_windows=1):
            a, b = self.coef
            return lambda X: a + b * self._x(X)

        def save(self, path):
            with open(path, "wb") as fh:
                np.save(fh, self.coef, allow_pickle=False)
            return Path(path)

        def load(self, path):
            try:
                coef = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise ModelFileError(f"slope model file {path}: {e}") from None
            if coef.shape != (2,):
                raise ModelFileError(f"slope model file {path}: shape {coef.shape}")
            self.coef, self.fitted = coef, True
''')

# a short hold run on the synthetic market (a walk-forward of 4 fits)
HOLD = ["--data", "synthetic", "--synthetic", '{"n": 700, "start": "2010-01-04", "seed": 3}',
        "--mode", "walkforward", "--lookback", "12", "--retrain-every", "60",
        "--min-train", "150", "--train-start", "2010-01-01", "--train-end", "2010-12-31",
        "--test-start", "2011-01-03", "--test-end", "2011-12-30", "--no-plots",
        "--quiet"]  # fmt: skip


@pytest.fixture
def own(tmp_path, monkeypatch):
    """The learner's file in a fresh folder; unregistered again after the test."""
    path = tmp_path / "mylearner.py"
    path.write_text(LEARNER_FILE)
    monkeypatch.chdir(tmp_path)
    before = dict(learners.LEARNERS)
    yield path
    learners.LEARNERS.clear()
    learners.LEARNERS.update(before)
    for spec in [s for s in registry._USER if "mylearner" in s]:
        del registry._USER[spec]
    sys.modules.pop("mylearner", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out


def _predictions(folder: Path) -> pd.Series:
    p = pd.read_csv(folder / "predictions.csv", index_col="date")
    return p["prediction"]


def test_own_learner_runs_hold_on_one_and_two_workers(own, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    _run(["run", "hold", "--plugin", own, "--learner", "slope", "--span", "4", *HOLD,
          "--out", one], capsys)  # fmt: skip
    assert learners.get_learner("slope").__module__ == "mylearner"
    _run(["run", "hold", "--plugin", own, "--learner", "slope", "--span", "4", *HOLD,
          "--workers", "2", "--out", two], capsys)  # fmt: skip
    a, b = _predictions(one), _predictions(two)
    assert len(a) == len(b) == 260 and a.notna().all()  # every test bar of 2011
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # bit-identical on 2 workers
    report = json.loads((one / "report.json").read_text())
    model = report["config"]["model"]
    assert model["learner"] == "slope" and model["span"] == 4  # the learner's own setting
    pred = report["prediction"]
    assert pred["n_finite_predictions"] == pred["n_bars"] == 260
    assert pred["ic"] > 0.05  # the synthetic market's planted momentum, found by a MA slope
    assert a.std() > 0
    trades = pd.read_csv(one / "trades.csv")
    trades = trades[trades["strategy"] == "hold"]  # (the buy-and-hold baseline's are there too)
    equity = pd.read_csv(one / "equity.csv")
    assert equity["hold"].iloc[0] == report["strategy"]["start_value"] == 1_000_000
    assert equity["hold"].iloc[-1] == pytest.approx(report["strategy"]["final_value"])
    first = trades.iloc[0]
    assert first["side"] == "buy"  # 95% of the cash at the signal's close, filled next open
    assert 0.9 * 1_000_000 < first["value"] + first["commission"] <= 1_000_000
    assert len(trades) == report["strategy"]["n_orders"] - report["strategy"]["n_rejected"]


def test_own_learner_runs_the_pooled_rotation(own, tmp_path, capsys, data_dir):
    out = tmp_path / "rot"
    _run(["run", "rotation", "--plugin", own, "--learner", "slope", "--data", "sector_etfs",
          "--data-dir", data_dir, "--train-start", "2013-01-01", "--test-start", "2016-01-04",
          "--test-end", "2016-06-30", "--retrain-every", "63", "--train-window", "504",
          "--no-plots", "--quiet", "--out", out], capsys)  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert '"learner": "slope"' in json.dumps(report)
    fc = pd.read_csv(out / "forecasts.csv")
    assert fc["forecast"].notna().all() and fc["sector"].nunique() >= 9
    w = pd.read_csv(out / "weights.csv")
    held = w[(w["symbol"] != "cash") & (w["weight"] > 0.01)]
    assert len(held) > 0 and held.groupby("date")["symbol"].nunique().max() <= 3


def test_own_learner_paper_replay_matches_the_backtest(own, tmp_path, capsys):
    run, paper = tmp_path / "run", tmp_path / "paper"
    _run(["run", "hold", "--plugin", own, "--learner", "slope", *HOLD, "--out", run], capsys)
    _run(["paper", "hold", "--plugin", own, "--learner", "slope", *HOLD, "--fits", "wait",
          "--out", paper], capsys)  # fmt: skip
    for name in ("predictions.csv", "trades.csv", "equity.csv"):
        assert (run / name).read_bytes() == (paper / name).read_bytes(), name
    live = json.loads((paper / "report.json").read_text())["live"]
    assert live["fits"] == "wait" and live["bars"] == len(pd.read_csv(paper / "equity.csv"))
    assert live["fits_trained"] >= 4


def test_own_learner_in_python_and_its_model_file_checked(own, tmp_path):
    sys.path.insert(0, str(own.parent))
    import mylearner  # registered on import, like any module of the user's

    from btlstm.forecast.walkforward import WalkForward
    from btlstm.synthetic import synthetic_ohlcv

    frame = synthetic_ohlcv(n=500, seed=2)
    cfg = dict(lookback=10, retrain_every=100, min_train=150, learner="slope",
               model={"span": 2})  # fmt: skip
    wf = WalkForward(cfg, cache_dir=tmp_path / "cache")
    p = wf.predict(frame)
    assert len(p) == 500 and np.isfinite(p[-200:]).all() and len(wf.fits) >= 3
    again = WalkForward(cfg, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.predict(frame), p)
    assert all(f.cached for f in again.fits)
    bad = tmp_path / "bad.slope.npy"
    np.save(bad, np.zeros(3))
    with pytest.raises(ModelFileError, match="shape"):
        mylearner.SlopeLearner(10, 6).load(bad)
    with pytest.raises(ValueError, match="span must be an integer >= 1"):
        learners.make_learner("slope", 10, 6, {"span": 0})


def test_a_plugin_registering_nothing_is_refused_saying_strategy_or_learner(tmp_path, capsys):
    empty = tmp_path / "nothing.py"
    empty.write_text("X = 1\n")
    with pytest.raises(SettingsError, match="registered no strategy or learner: .*"
                       "register_learner"):  # fmt: skip
        registry.load_plugin(str(empty), where="--plugin")


def test_the_entry_point_group_loads_a_learner_only_when_its_name_is_asked(
    tmp_path, monkeypatch
):
    """An installed package's ``btlstm.learners`` entry point: not imported until
    ``get_learner`` meets its name; a broken one is one clear error."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "slopepkg.py").write_text(LEARNER_FILE.replace('name = "slope"', 'name = "epslope"'))
    dist = pkg / "slopepkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: slopepkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[btlstm.learners]\nepslope = slopepkg:SlopeLearner\nbroken = slopepkg:Nope\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    before = dict(learners.LEARNERS)
    try:
        assert "slopepkg" not in sys.modules
        assert {"epslope", "broken"} <= set(learners.names_and_aliases())
        assert "slopepkg" not in sys.modules  # listed, not imported
        cls = learners.get_learner("epslope")
        assert cls.name == "epslope" and learners.LEARNERS["epslope"] is cls
        with pytest.raises(ValueError, match="entry point 'slopepkg:Nope'.*failed to load"):
            learners.get_learner("broken")
        with pytest.raises(ValueError, match="did you mean 'epslope'"):
            learners.get_learner("epslop")
    finally:
        learners.LEARNERS.clear()
        learners.LEARNERS.update(before)
        sys.modules.pop("slopepkg", None)
