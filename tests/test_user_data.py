"""Runs on the data a user has: files in other layouts and DataFrames in memory.

The CSI 300 file is rewritten into a lowercase generic OHLCV file and a NetEase
163 file (GBK, newest first, ``'000300`` codes) in a tmp folder; `btlstm run hold`
runs end to end on both, the NetEase one through the [data] block that
`btlstm data inspect` prints. The NetEase run, a run on the same prices given
as a DataFrame agree to the last digit, and both read the catalogue's prices.
"""

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401
from btlstm.cli import main
from btlstm.data import inspect_file, load
from btlstm.pipeline import run_backtest
from btlstm.settings import Settings

SPAN = dict(start="2012-01-01", end="2014-12-31")
RUN = ["--train-start", "2012-01-01", "--train-end", "2014-06-30", "--test-start",
       "2014-07-01", "--test-end", "2014-12-31", "--epochs", "1", "--lstm-units", "8",
       "--quiet", "--no-plots"]  # fmt: skip


@pytest.fixture(scope="module")
def csi(data_dir):
    return load("csi300", data_dir=data_dir, **SPAN)


def _netease(frame: pd.DataFrame, path):
    """CSI 300 as NetEase 163 writes it: GBK, CRLF, newest first, '000300, None in the
    oldest row's change columns, volume in shares and amount in CNY."""
    pre = frame["close"].shift(1)
    df = pd.DataFrame(
        {
            "日期": frame.index.strftime("%Y-%m-%d"),
            "股票代码": "'000300",
            "名称": "沪深300",
            "收盘价": frame["close"],
            "最高价": frame["high"],
            "最低价": frame["low"],
            "开盘价": frame["open"],
            "前收盘": pre,
            "涨跌额": frame["close"] - pre,
            "涨跌幅": (frame["close"] / pre - 1) * 100,
            "换手率": "None",
            "成交量": frame["volume"],
            "成交金额": frame["amount"],
            "总市值": "None",
            "流通市值": "None",
        }
    ).iloc[::-1]
    df.to_csv(path, index=False, encoding="gbk", lineterminator="\r\n", na_rep="None")
    return path


def _metrics(out):
    r = json.loads((out / "report.json").read_text())
    return r, {k: r[k] for k in ("strategy", "benchmark", "prediction", "comparison")}


def test_hold_runs_on_a_lowercase_generic_file(csi, tmp_path):
    gen = tmp_path / "csi300_lower.csv"
    plain = csi[["open", "high", "low", "close", "volume"]].copy()
    plain.index = plain.index.strftime("%Y-%m-%d")
    plain.to_csv(gen, index_label="date")
    out = tmp_path / "gen"
    assert main(["run", "hold", "--data", str(gen), "--out", str(out), *RUN]) == 0
    r, _ = _metrics(out)
    p = r["provenance"]
    assert p["layout"] == "generic" and p["source"] == str(gen) and p["encoding"] == "utf-8"
    assert p["conversions"] == ["amount = close x volume (not in the file)"]
    assert p["amount_derived"] is True and r["synthetic"] is False
    assert r["period"]["start"].startswith("2014-07-01") and r["prediction"]["count"] > 100
    assert r["comparison"][1]["name"] == "buy-and-hold csi300_lower"
    assert "Data provenance" in (out / "report.html").read_text()


def test_hold_on_a_netease_file_equals_the_run_on_a_dataframe(csi, tmp_path):
    path = _netease(csi, tmp_path / "000300_163.csv")
    block = tmp_path / "000300.toml"
    block.write_text(inspect_file(path).toml, encoding="utf-8")
    a, b = tmp_path / "netease", tmp_path / "frame"
    assert main(["run", "hold", "--config", str(block), "--out", str(a), *RUN]) == 0
    ra, ma = _metrics(a)
    p = ra["provenance"]
    assert (p["layout"], p["encoding"], p["symbol"]) == ("netease", "gbk", "000300")
    assert "rows reversed: the file lists the newest day first" in p["conversions"]
    assert ra["config"]["data"]["encoding"] == "gbk"  # the block's map is in the report
    # the same prices as an in-memory DataFrame (title-case columns, dates in a column)
    raw = csi[["open", "high", "low", "close", "volume", "amount"]].rename(columns=str.title)
    s = Settings.from_dict(
        {**_run_dict(), "output": {"out": str(b), "quiet": True, "plots": False}}
    )
    rb = run_backtest(s, data=raw.reset_index()).report
    mb = {k: rb[k] for k in ("strategy", "prediction")}
    assert rb["provenance"]["dataset"] == "DataFrame" and rb["provenance"]["layout"] == "generic"
    assert mb["strategy"] == ma["strategy"] and mb["prediction"] == ma["prediction"]
    assert ma["strategy"]["n_trades"] > 0
    # both read the catalogue's own prices (akshare layout, volume in lots) value for value
    netease = load(str(path))
    cols = ["open", "high", "low", "close", "volume", "amount"]
    pd.testing.assert_frame_equal(netease["000300"][cols], csi[cols], check_exact=True)


def _run_dict() -> dict:
    model = dict(train_start="2012-01-01", train_end="2014-06-30", test_start="2014-07-01",
                 test_end="2014-12-31", epochs=1, lstm_units=8)  # fmt: skip
    return {"strategy": {"name": "hold"}, "model": model}


def test_lstm_predictor_on_feeds_users_build(tmp_path):
    """GenericCSVData over a file a user wrote (columns by position, dtformat, nullvalue)
    gives the LSTM the same lines as btlstm's own feed of the same bars."""
    import keras

    from btlstm.bt.feeds import make_feed
    from btlstm.bt.indicators import LSTMPredictor
    from btlstm.forecast.walkforward import WalkForwardConfig
    from btlstm.learners.models import build_model
    from btlstm.synthetic import synthetic_ohlcv

    frame = synthetic_ohlcv(n=80, seed=5)
    path = tmp_path / "bars.csv"
    rows = frame[["open", "high", "low", "close", "volume"]].copy()
    rows.index = rows.index.strftime("%d/%m/%Y")
    rows.to_csv(path, header=False, sep=";", float_format="%.17g")
    keras.utils.set_random_seed(1)
    model = build_model(lookback=10, lstm_units=4, dense_units=(4, 2))
    cfg = WalkForwardConfig(lookback=10)

    class Keep(bt.Strategy):
        def __init__(self):
            self.pred = LSTMPredictor(self.data, model=model, config=cfg)

    def run(feed):
        c = bt.Cerebro(stdstats=False)
        c.adddata(feed)
        c.addstrategy(Keep)
        return np.array(c.run()[0].pred.lines.prediction.array)

    generic = bt.feeds.GenericCSVData(dataname=str(path), dtformat="%d/%m/%Y", separator=";",
                                      headers=False, openinterest=-1, nullvalue=float("nan"),
                                      datetime=0, open=1, high=2, low=3, close=4, volume=5)  # fmt: skip
    plain = frame.drop(columns=["amount"])  # amount = close x volume, as GenericCSVData has none
    ours = run(make_feed(plain.assign(amount=plain.close * plain.volume)))
    theirs = run(generic)
    assert np.isfinite(ours).sum() == len(frame) - 9
    np.testing.assert_allclose(theirs, ours, rtol=1e-6, equal_nan=True)


def test_a_panel_strategy_takes_a_long_dataframe(tmp_path):
    """Rotation over synthetic sectors given in memory as one long frame (a ticker
    column, symbols interleaved); a symbol that is not there is named before any work."""
    from btlstm.synthetic import synthetic_sectors

    syn = synthetic_sectors(n=420, seed=4, start="2012-01-02", signal=0.3)
    cols = ["open", "high", "low", "close", "adj_close", "volume"]
    panel = {name[4:]: f[cols] for name, f in syn.items()}
    long = pd.concat(
        [f.reset_index().assign(ticker=sym) for sym, f in panel.items()], ignore_index=True
    ).sort_values(["date", "ticker"])  # one row per symbol and day
    base = {"strategy": {"name": "rotation"},
            "model": {"learner": "ridge", "train_start": "2012-01-01", "test_start": "2013-03-01",
                      "test_end": None}}  # fmt: skip
    out = {"out": str(tmp_path / "r"), "quiet": True, "plots": False}
    r = run_backtest(Settings.from_dict({**base, "output": out}), data=long).report
    p = r["provenance"]
    assert p["dataset"] == "DataFrame" and sorted(p["symbols"]) == sorted(panel)
    assert p["layout"] == "generic" and p["source"] == "DataFrame[SPY]"
    assert r["strategy"]["n_trades"] > 0 and r["period"]["start"].startswith("2013-03-01")
    out = {**out, "out": str(tmp_path / "r2")}  # another run: its own folder (r is refused)
    s = Settings.from_dict({**base, "data": {"symbols": ["XLK", "XLQ", "SPY"]}, "output": out})
    with pytest.raises(ValueError, match=r"\[data\] symbols: \['XLQ'\] not in the data given"):
        run_backtest(s, data=panel)
