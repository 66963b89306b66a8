"""``btlstm check lookahead``: clean runs pass, a planted leak is caught and named, bad input
is one error line (btlstm.lookahead, docs/lookahead.md)."""

from __future__ import annotations

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btlstm import learners, registry
from btlstm.cli import main
from btlstm.errors import SettingsError
from btlstm.forecast import features
from btlstm.lookahead import check_cerebro, check_lookahead, cut_dates, perturb_after
from btlstm.registry import register_strategy
from btlstm.synthetic import synthetic_ohlcv

#: A small synthetic hold run: 900 bars, the test period from 2012 (about 430 bars).
SYN = ["--data", "synthetic", "--synthetic", '{"n": 900, "start": "2010-01-04", "signal": 0.4}',
       "--train-start", "2010-01-01", "--train-end", "2011-12-30", "--test-start", "2012-01-03",
       "--test-end", "end", "--lookback", "20",
       "--horizon", "5", "--quiet"]  # fmt: skip


def _settings(**model):
    return {
        "strategy": {"name": "hold"},
        "data": {"data": "synthetic",
                 "synthetic": {"n": 900, "start": "2010-01-04", "signal": 0.4}},
        "model": {"learner": "ridge", "mode": "walkforward", "train_start": "2010-01-01",
                  "train_end": "2011-12-30", "test_start": "2012-01-03", "test_end": None,
                  "lookback": 20, "horizon": 5,
                  "retrain_every": 63, "min_train": 300,
                  "features": ["close", "ret1", "hl_range", "log_volume"], **model},
        "output": {"quiet": True, "plots": False},
    }  # fmt: skip


# --------------------------------------------------------------------------- the rewrite
def test_perturb_after_keeps_the_past_and_rewrites_every_later_bar_consistently():
    f = synthetic_ohlcv(n=300, start="2015-01-01", seed=3)
    t = f.index[199]
    g = perturb_after(f, t, np.random.default_rng(0))
    assert g.shape == f.shape and g.index.equals(f.index)
    pd.testing.assert_frame_equal(g.iloc[:200], f.iloc[:200], check_dtype=False)
    after = g.iloc[200:]
    for col in ("open", "high", "low", "close", "volume", "amount"):
        assert (after[col].to_numpy() != f.iloc[200:][col].to_numpy()).all(), col
    assert (after["high"] >= after[["open", "close"]].max(axis=1)).all()
    assert (after["low"] <= after[["open", "close"]].min(axis=1)).all()
    price = after["close"] / f.iloc[200:]["close"]
    vol = after["volume"] / f.iloc[200:]["volume"]
    assert price.std() > 0.05 and vol.std() > 0.5  # rescaled along a path, not one shift
    assert not np.allclose(price.to_numpy(), vol.to_numpy())  # volume on its own factors
    end = f.index[219]
    short = perturb_after(f, t, np.random.default_rng(0), end)
    assert len(short) == 220 and short.index[-1] == end


def test_cut_dates_spread_over_the_test_period_and_refuse_what_does_not_fit():
    dates = pd.bdate_range("2020-01-01", periods=110)
    got = cut_dates(dates, 5, 10)
    assert len(got) == 5 and got == sorted(got)
    assert got[0] > dates[0] and got[-1] <= dates[99]  # room for 10 perturbed bars after
    assert cut_dates(dates, 1, 10) == [dates[50]]
    for bad in (0, 51, -1, True, 2.5):
        with pytest.raises(SettingsError, match=r"^--cuts must be a whole number from 1 to 50"):
            cut_dates(dates, bad, 10, "--cuts")
    with pytest.raises(SettingsError, match="room for at most 10 cut"):
        cut_dates(dates, 50, 100)
    with pytest.raises(SettingsError, match=r"--cuts 5: the test period has 12 bars"):
        cut_dates(dates[:12], 5, 10, "--cuts")


# --------------------------------------------------------------------------- clean runs
#: every built-in feature: the canonical columns and the derived ones
ALL_FEATURES = [*features.DEFAULT_FEATURES, *features.DERIVED_FEATURES]


def test_hold_on_ridge_is_clean_and_fits_before_each_cut_come_from_the_cache():
    import btlstm

    assert btlstm.check_lookahead is check_lookahead  # the package's entry point
    r = check_lookahead(_settings(features=ALL_FEATURES), cuts=3)
    assert r.exit_code == 0 and not r.leak
    assert len(r.cuts) == 3 and r.features == ALL_FEATURES and len(ALL_FEATURES) == 11
    assert "prediction" in r.lines and "WalkForwardPredictor.prediction" in r.lines
    for c in r.cuts:
        assert c.feature is None and c.prediction is None and c.order is None
        assert c.fits_cached >= 1  # every fit up to the cut: loaded, not trained again
        assert c.fits_trained <= 1  # at most the one fit inside the --after bars
    assert [c.n_orders for c in r.cuts] == sorted(c.n_orders for c in r.cuts)
    assert r.cuts[-1].n_orders > 0
    d = r.to_dict()
    assert d["leak"] is False and len(d["cuts"]) == 3 and d["cost"] >= 1.0
    assert "clean: nothing at or before any of 3 cut(s) changed" in r.table()


@pytest.mark.parametrize(
    "name",
    [n for n in sorted(learners.LEARNERS)
     if getattr(learners.get_learner(n), "input", "windows") == "windows"],  # fmt: skip
)
def test_every_window_learner_of_the_zoo_passes(name, tmp_path, monkeypatch):
    tiny = {"lstm_units": 4, "dense_units": [4], "epochs": 1} if name != "ridge" else {}
    fields = learners.settings_class(name).__dataclass_fields__
    tiny = {k: v for k, v in tiny.items() if k in ("epochs", *fields)}
    if "builder" in fields:  # the keras learner: a user's builder function in a module
        (tmp_path / "lookahead_nets.py").write_text(
            "import keras\n\n\ndef build(lookback, n_features, settings):\n"
            "    x = inp = keras.Input((lookback, n_features))\n"
            "    x = keras.layers.GRU(3)(x)\n"
            "    return keras.Model(inp, keras.layers.Dense(1)(x))\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        tiny["builder"] = "lookahead_nets:build"
    r = check_lookahead(_settings(learner=name, retrain_every=126, **tiny), cuts=2)
    assert r.exit_code == 0, r.table()
    assert all(c.fits_cached >= 1 for c in r.cuts)


def test_rotation_pooled_on_real_sector_etfs_is_clean(data_dir):
    s = {"strategy": {"name": "rotation"},
         "data": {"data_dir": str(data_dir)},
         "model": {"learner": "ridge", "train_start": "2005-01-01", "test_start": "2011-01-03",
                   "test_end": "2011-12-30"},
         "output": {"quiet": True, "plots": False}}  # fmt: skip
    r = check_lookahead(s, cuts=2)
    assert r.exit_code == 0, r.table()
    assert {"prediction"} <= set(r.lines)
    assert all(c.n_orders > 0 for c in r.cuts)


def test_ranker_with_its_scores_and_gate_is_clean_on_a_synthetic_panel():
    s = {"strategy": {"name": "ranker"},
         "data": {"data": "synthetic", "synthetic": {"n_symbols": 5, "n": 700,
                                                     "start": "2010-01-04"}},
         "model": {"learner": "ridge", "mode": "static", "train_start": "2010-01-01",
                   "train_end": "2011-06-30", "test_start": "2011-07-01", "test_end": None},
         "output": {"quiet": True, "plots": False}}  # fmt: skip
    r = check_lookahead(s, cuts=2)
    assert r.exit_code == 0, r.table()
    assert "score" in r.lines  # the ranker's per-stock scores were compared


# --------------------------------------------------------------------------- leaks
def test_a_feature_reading_the_next_close_is_caught_and_named(monkeypatch, capsys):
    real = features._derived

    def leaky(name, cols):
        if name == "ret1":  # close.shift(-1) / close - 1: tomorrow's return, today
            c = cols["close"]
            out = np.zeros_like(c)
            out[:-1] = c[1:] / c[:-1] - 1.0
            return out
        return real(name, cols)

    monkeypatch.setattr(features, "_derived", leaky)
    r = check_lookahead(_settings(), cuts=2)
    assert r.exit_code == 1 and all(c.leak for c in r.cuts)
    for c in r.cuts:
        date, name, feed, before, after = c.feature
        assert name == "ret1" and feed == "SYNIDX"
        assert date == c.date  # the bar AT the cut reads the first rewritten bar
        assert before != after
        assert c.prediction is not None and c.prediction[0] <= c.date
    assert "LEAK ret1 [SYNIDX]" in r.table()
    rc = main(["check", "lookahead", "hold", *SYN, "--learner", "ridge", "--features",
               "close,ret1", "--cuts", "2", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["leak"] is True
    assert [c["feature"]["name"] for c in out["cuts"]] == ["ret1", "ret1"]


class PeekNextClose(bt.Strategy):
    """Test only: buys when TOMORROW's close (``self.data.close[1]``) is higher."""

    params = (("size", 10),)

    def next(self):
        if len(self.data) >= self.data.buflen():
            return
        up = self.data.close[1] > self.data.close[0]
        if up and not self.position:
            self.buy(size=self.p.size)
        elif not up and self.position:
            self.close()


@pytest.fixture
def peeker():
    register_strategy("peek-test", predictor=None, signal=None)(PeekNextClose)
    yield registry.get("peek-test")
    registry._PLANS.pop("peek-test", None)


def test_a_strategy_peeking_at_the_next_bar_is_caught_at_the_order_level(peeker, capsys):
    rc = main(["check", "lookahead", "peek-test", *SYN, "--learner", "ridge", "--cuts", "3"])
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 1, cap.err
    rows = out.splitlines()[1:4]
    assert len(rows) == 3 and all("LEAK" in row for row in rows)
    assert all("same (" in row.split("LEAK")[0] for row in rows)  # features unchanged
    assert "LEAK at 3 of 3 cut(s)" in out
    s = _settings()
    s["strategy"] = {"name": "peek-test"}
    r = check_lookahead(s, cuts=3)
    for c in r.cuts:
        assert c.feature is None and c.order is not None and c.order[0] <= c.date


# --------------------------------------------------------------------------- a script
def _sma_cerebro(frame, cls):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, openinterest=None), name="X")
    cerebro.addstrategy(cls)
    return cerebro


class FutureMean(bt.Indicator):
    """Test only: the mean of the NEXT three closes (a leak in a user's indicator)."""

    lines = ("ahead",)

    def once(self, start, end):
        c, out = self.data.close.array, self.lines.ahead.array
        for i in range(start, end):
            nxt = c[i + 1 : i + 4]
            out[i] = sum(nxt) / len(nxt) if len(nxt) else float("nan")


class UsesSMA(bt.Strategy):
    def __init__(self):
        self.sma = bt.ind.SMA(self.data.close, period=10)

    def next(self):
        if self.data.close[0] > self.sma[0] and not self.position:
            self.buy(size=1)
        elif self.data.close[0] < self.sma[0] and self.position:
            self.close()


class UsesFutureMean(UsesSMA):
    def __init__(self):
        self.sma = FutureMean(self.data)


def test_a_users_cerebro_script_clean_and_leaky_indicator():
    f = synthetic_ohlcv(n=400, start="2015-01-01", seed=5)
    clean = check_cerebro(lambda d: _sma_cerebro(d, UsesSMA), f, cuts=3)
    assert clean.exit_code == 0 and "SMA.sma" in clean.lines
    assert all(c.n_orders > 0 for c in clean.cuts)
    leaky = check_cerebro(lambda d: _sma_cerebro(d, UsesFutureMean), f, cuts=3)
    assert leaky.exit_code == 1
    for c in leaky.cuts:
        date, name, feed, *_ = c.prediction
        assert name == "FutureMean.ahead" and feed == "X" and date < c.date
        assert (c.date - date).days <= 7  # 3 bars before the cut read a rewritten close


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "argv, text",
    [
        (["check", "lookahead", "hodl"], "invalid choice: 'hodl'; did you mean 'hold'?"),
        (["check", "lookahead", "hold", *SYN, "--cuts", "0"],
         "--cuts must be a whole number from 1 to 50, got 0"),
        (["check", "lookahead", "hold", *SYN, "--cuts", "51"],
         "--cuts must be a whole number from 1 to 50, got 51"),
        (["check", "lookahead", "hold", *SYN, "--after", "0"],
         "--after must be a whole number from 1 to 10000, got 0"),
        (["check", "lookahead", "hold", *SYN, "--test-end", "2012-01-20"],
         "--cuts 5: the test period has"),
        (["check", "lookahead"], "the following arguments are required: STRATEGY"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_and_exit_2(argv, text, capsys):
    with pytest.raises(SystemExit) if argv[-1] in ("hodl", "lookahead") else _no_raise():
        rc = main(argv)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("btlstm: error:")]
    assert len(lines) == 1 and text in lines[0], err
    if argv[-1] not in ("hodl", "lookahead"):
        assert rc == 2


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


SCRIPT = '''
import backtrader as bt


class Ahead(bt.Indicator):
    lines = ("ahead",)

    def once(self, start, end):
        c, out = self.data.array, self.lines.ahead.array  # built on a line: data is close
        for i in range(start, end):
            out[i] = c[i + 1] if i + 1 < len(c) else float("nan")


class Rule(bt.Strategy):
    def __init__(self):
        self.x = {kind}(self.data.close{period})

    def next(self):
        if self.data.close[0] < self.x[0] and not self.position:
            self.buy(size=1)
        elif self.data.close[0] > self.x[0] and self.position:
            self.close()


def build(data):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=data, openinterest=None), name="idx")
    cerebro.addstrategy(Rule)
    return cerebro
'''


def test_btlstm_check_cerebro_runs_a_users_script_file(tmp_path, data_dir, capsys):
    clean = tmp_path / "clean_script.py"
    clean.write_text(SCRIPT.format(kind="bt.ind.SMA", period=", period=20"))
    leaky = tmp_path / "leaky_script.py"
    leaky.write_text(SCRIPT.format(kind="Ahead", period=""))
    common = ["--data", "csi300", "--data-dir", str(data_dir), "--start", "2015-01-01",
              "--end", "2016-12-31", "--cuts", "3"]  # fmt: skip
    assert main(["check", "cerebro", str(clean), *common]) == 0
    out = capsys.readouterr().out
    assert "clean: nothing at or before any of 3 cut(s) changed" in out
    assert main(["check", "cerebro", str(leaky), *common, "--json"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert [c["prediction"]["name"] for c in got["cuts"]] == ["Ahead.ahead"] * 3
    assert all(c["prediction"]["date"] <= c["cut"] for c in got["cuts"])
    assert main(["check", "cerebro", str(clean), *common, "--function", "make"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error:") and "has no function 'make'" in err
    assert main(["check", "cerebro", str(clean), *common, "--after", "0"]) == 2
    assert "--after must be a whole number from 1 to 10000, got 0" in capsys.readouterr().err
