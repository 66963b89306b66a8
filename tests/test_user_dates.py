"""Dates from the user's own data (docs/your-data.md), not from the CSI 300 article.

A synthetic 30-year daily index (:func:`btlstm.synthetic.synthetic_ohlcv`, 7,800
business days 1996-01-02 .. 2025-11-24) is written as a Yahoo-style CSV and run
through ``btlstm run hold`` with the ridge learner: with no dates the run trains on
the first 70% of the bars and tests to the last bar; ``--test-end end`` (and
``[model] test_end = "end"``) means the last bar; the CSI 300 dates typed by hand
leave years unused and say so; the header prints ``provenance.dates_used``; a
DataFrame gets the same dates and is named by ``[data] symbol``.
"""

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from btlstm.cli import main
from btlstm.pipeline import MIN_TRAIN_SAMPLES, data_dates, run_backtest
from btlstm.settings import Settings, SettingsError
from btlstm.splits import TRAIN_FRACTION
from btlstm.synthetic import synthetic_ohlcv

N = 7800
CSI = ["--train-start", "2005-01-01", "--train-end", "2014-12-31", "--test-start",
       "2015-01-01", "--test-end", "2017-05-01"]  # fmt: skip
FAST = ["--learner", "ridge", "--no-plots"]


def _yahoo(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Date": frame.index.strftime("%Y-%m-%d"),
            "Open": frame["open"].to_numpy(),
            "High": frame["high"].to_numpy(),
            "Low": frame["low"].to_numpy(),
            "Close": frame["close"].to_numpy(),
            "Adj Close": frame["close"].to_numpy(),
            "Volume": frame["volume"].round().to_numpy(),
        }
    )


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    """(path, dates) of a 30-year Yahoo-style CSV of a synthetic index."""
    frame = synthetic_ohlcv(n=N, seed=1, start="1996-01-02", signal=0.3)
    path = tmp_path_factory.mktemp("user") / "SPY.csv"
    _yahoo(frame).to_csv(path, index=False)
    return path, frame.index


def _report(out) -> dict:
    return json.loads((out / "report.json").read_text())


def _header(text: str) -> tuple:
    """(train start, train end, test start, test end, test bars) of the header line."""
    m = re.search(r"train (\S+)\.\.(\S+), test (\S+)\.\.(\S+) \((\d+) bars\)", text)
    assert m, text
    return m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5))


def _day(t) -> str:
    return str(pd.Timestamp(t).date())


def test_no_dates_train_on_the_first_70_percent_and_test_to_the_last_bar(long_csv, tmp_path,
                                                                        capfd):  # fmt: skip
    path, dates = long_csv
    out = tmp_path / "o"
    assert main(["run", "hold", "--data", str(path), "--out", str(out), *FAST]) == 0
    err = capfd.readouterr().err
    r = _report(out)
    k = round(TRAIN_FRACTION * N)  # 5,460 bars train, 2,340 test
    p, m = r["provenance"], r["config"]["model"]
    assert (m["train_start"], m["train_end"]) == (_day(dates[0]), _day(dates[k - 1]))
    assert (m["test_start"], m["test_end"]) == (_day(dates[k]), None)  # None: "end"
    used = p["dates_used"]
    assert (used["test_start"], used["test_end"]) == (_day(dates[k]), "2025-11-24")
    assert used["first_fit"] == _day(dates[k]) and p["test_rows"] == N - k == 2340
    assert used["data_start"] == "1996-01-02" and p["rows"] == N
    assert p["dates_from_data"] == ["train_start", "train_end", "test_start", "test_end"]
    assert not [w for w in r["warnings"] if "unused" in w]
    assert _header(err) == (used["train_start"], used["train_end"], used["test_start"],
                            used["test_end"], N - k)  # fmt: skip
    assert r["period"]["start"].startswith(_day(dates[k]))


def test_the_csi_dates_by_hand_warn_about_the_years_left_unused(long_csv, tmp_path, capfd):
    path, dates = long_csv
    out = tmp_path / "o"
    assert main(["run", "hold", "--data", str(path), "--out", str(out), "--quiet", *FAST,
                 *CSI]) == 0  # fmt: skip
    err = capfd.readouterr().err
    first = dates[dates >= "2005-01-01"][0]  # 2005-01-03
    before = (first - dates[0]).days / 365.25  # 9.0 years: 1996-01-02 .. 2005-01-03
    after = (dates[-1] - pd.Timestamp("2017-05-01")).days / 365.25  # 8.6: .. 2025-11-24
    assert f"{before:.1f}" == "9.0" and f"{after:.1f}" == "8.6"
    want = (
        "runs 1996-01-02..2025-11-24; this run leaves 9.0 years before its first bar "
        "2005-01-03 (--train-start 2005-01-01; an earlier one trains on them) and 8.6 years "
        "after its last bar 2017-05-01 (--test-end 2017-05-01; --test-end end tests to the "
        "last bar) unused."
    )
    r = _report(out)
    assert [w for w in r["warnings"] if want in w] and want in err.replace("\n", " ")
    used = r["provenance"]["dates_used"]
    assert (used["test_start"], used["test_end"]) == ("2015-01-01", "2017-05-01")
    assert r["provenance"]["dates_from_data"] == []


def test_test_end_end_in_the_cli_and_in_toml(long_csv, tmp_path):
    path, dates = long_csv
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--data", str(path), "--quiet", *FAST, "--train-start", "2005-01-01",
            "--train-end", "2014-12-31", "--test-start", "2015-01-01"]  # fmt: skip
    assert main(["run", "hold", "--out", str(a), *args, "--test-end", "end"]) == 0
    toml = tmp_path / "run.toml"
    toml.write_text('[model]\ntest_end = "end"\n', encoding="utf-8")
    assert main(["run", "hold", "--out", str(b), "--config", str(toml), *args]) == 0
    ra, rb = _report(a), _report(b)
    for r in (ra, rb):
        used = r["provenance"]["dates_used"]
        assert (used["test_start"], used["test_end"]) == ("2015-01-01", "2025-11-24")
        assert r["provenance"]["test_rows"] == int((dates >= "2015-01-01").sum())
        assert r["config"]["model"]["test_end"] is None  # "end": the last bar, as typed
        assert not [w for w in r["warnings"] if "years after" in w]  # nothing left after
        assert [w for w in r["warnings"] if "9.0 years before" in w]  # 1996..2005 still is
    assert ra["strategy"] == rb["strategy"] and ra["prediction"] == rb["prediction"]


def test_end_on_a_catalogue_dataset_and_none_refused():
    """``end`` is the last bar of any data (csi300 keeps its other article dates);
    ``none`` and ``""`` are refused naming ``end``, never a silent 2017-05-01."""
    s = Settings.from_dict({"model": {"test_end": "end"}})
    assert (s.data.data, s.model.train_end, s.model.test_end) == ("csi300", "2014-12-31", None)
    assert Settings.from_dict({"model": {"test_end": None}}).model.test_end is None
    for typed in ("none", "None", ""):
        with pytest.raises(SettingsError, match=r"--test-end: expected a date YYYY-MM-DD, got "
                           r".*give 'end' \(--test-end end"):  # fmt: skip
            Settings.from_dict({"model": {"test_end": typed}},
                               origins={("model", "test_end"): "--test-end"})  # fmt: skip
    with pytest.raises(SettingsError, match=r"\[model\] train_end: .*'none'.*leave train_end"):
        Settings.from_dict({"model": {"train_end": "none"}})


@pytest.mark.parametrize("typed", ["none", "None", ""])
def test_the_cli_refuses_test_end_none(typed, tmp_path, capsys):
    assert main(["run", "hold", "--test-end", typed, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("btlstm: error:") == 1 and "--test-end end" in err
    assert not (tmp_path / "o").exists()  # refused before any work


def _run(csv, tmp_path, caplog, **model) -> tuple[dict, tuple]:
    settings = {"data": {"data": str(csv)}, "model": {"learner": "ridge", **model},
                "output": {"out": str(tmp_path / "o"), "plots": False}}  # fmt: skip
    with caplog.at_level(logging.INFO, logger="btlstm"):
        r = run_backtest(Settings.from_dict(settings)).report
    return r, _header(caplog.text)


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"test_start": "2016-01-01"},
        {"train_end": "2014-12-31"},
        dict(train_start="2005-01-01", train_end="2014-12-31", test_start="2015-01-01",
             test_end="2017-05-01"),
    ],
    ids=["no dates", "only test_start", "only train_end", "csi dates"],
)
def test_the_header_prints_the_dates_used(model, long_csv, tmp_path, caplog):
    path, dates = long_csv
    r, head = _run(path, tmp_path, caplog, **model)
    used, m = r["provenance"]["dates_used"], r["config"]["model"]
    assert head == (used["train_start"], used["train_end"], used["test_start"], used["test_end"],
                    r["provenance"]["test_rows"])  # fmt: skip
    assert pd.Timestamp(used["train_end"]) <= pd.Timestamp(m["train_end"])
    assert pd.Timestamp(used["train_end"]) < pd.Timestamp(used["test_start"])
    if model == {"test_start": "2016-01-01"}:  # train to the last bar before it, test to the end
        assert (m["train_end"], used["test_end"]) == ("2015-12-31", "2025-11-24")
        assert used["train_end"] > "2015-12-01"  # not the article's 2014-12-31
    if model == {"train_end": "2014-12-31"}:
        assert (used["test_start"], used["test_end"]) == ("2015-01-01", "2025-11-24")


def test_a_dataframe_gets_the_same_dates_and_its_symbol(long_csv, tmp_path):
    path, dates = long_csv
    frame = pd.read_csv(path)  # the user's DataFrame: Yahoo columns, dates in a column
    settings = {"data": {"symbol": "SPY"}, "model": {"learner": "ridge"},
                "output": {"out": str(tmp_path / "o"), "plots": False, "quiet": True}}  # fmt: skip
    r = run_backtest(Settings.from_dict(settings), data=frame).report
    k = round(TRAIN_FRACTION * N)
    used, p = r["provenance"]["dates_used"], r["provenance"]
    assert (used["test_start"], used["test_end"]) == (_day(dates[k]), _day(dates[-1]))
    assert r["config"]["model"]["train_end"] == _day(dates[k - 1]) and p["test_rows"] == N - k
    assert (p["dataset"], p["symbol"]) == ("DataFrame", "SPY")
    assert r["title"] == "Hold 5 days on SPY (static split)"
    assert [c["name"] for c in r["comparison"]] == ["hold", "buy-and-hold SPY"]


def test_rewriting_the_future_changes_no_date_and_no_earlier_prediction(long_csv, tmp_path):
    """The dates come from the bars' dates only: prices after bar t rewritten change
    no date of the run and no prediction at or before t."""
    path, dates = long_csv
    frame = pd.read_csv(path)
    t = 6500  # a test bar
    future = frame.copy()
    for col in ("Open", "High", "Low", "Close", "Adj Close"):
        future.loc[t + 1 :, col] *= 1.7
    future.loc[t + 1 :, "Volume"] *= 3
    reports = []
    for i, f in enumerate((frame, future)):
        out = {"out": str(tmp_path / f"o{i}"), "plots": False, "quiet": True}
        settings = {"model": {"learner": "ridge"}, "output": out}
        result = run_backtest(Settings.from_dict(settings), data=f)
        reports.append((result.report, result.run.tables["predictions"]))
    (a, pa), (b, pb) = reports
    assert a["config"]["model"] == b["config"]["model"]
    assert a["provenance"]["dates_used"] == b["provenance"]["dates_used"]
    cut = pd.Timestamp(dates[t])
    ka, kb = pa[pd.to_datetime(pa["date"]) <= cut], pb[pd.to_datetime(pb["date"]) <= cut]
    assert len(ka) == len(kb) > 1000
    np.testing.assert_array_equal(ka["prediction"].to_numpy(), kb["prediction"].to_numpy())
    assert not np.allclose(pa["prediction"].to_numpy(), pb["prediction"].to_numpy())


def test_walkforward_on_a_user_file_tests_from_the_first_fit(long_csv, tmp_path):
    path, dates = long_csv
    out = tmp_path / "o"
    assert main(["run", "hold", "--data", str(path), "--out", str(out), "--quiet", *FAST,
                 "--walkforward", "--retrain-every", "1000"]) == 0  # fmt: skip
    r = _report(out)
    used, m = r["provenance"]["dates_used"], r["config"]["model"]
    first = 250 + 30 + 5 + 0 - 2  # min_train + lookback + horizon + embargo - 2: bar 283
    assert used["first_fit"] == used["test_start"] == m["test_start"] == _day(dates[first])
    assert (used["test_end"], m["train_start"], m["train_end"]) == (
        "2025-11-24", "1996-01-02", None)  # fmt: skip
    assert r["provenance"]["test_rows"] == N - first
    assert not [w for w in r["warnings"] if "unused" in w]


@pytest.mark.parametrize(
    "n, k",
    [
        (1000, 700),  # 70%
        (200, 140),  # 70% = 140 >= 30 + 5 + 0 + 50
        (100, 85),  # 70% = 70: at least lookback + horizon + embargo + 50 = 85
        (90, 83),  # at most all but horizon + 2 = 7 test bars
    ],
)
def test_the_static_rule_at_its_boundaries(n, k):
    s = Settings.from_dict({"data": {"data": "mine.csv"}})
    idx = pd.bdate_range("2001-01-01", periods=n)
    m = data_dates(s, {"x": pd.DataFrame({"close": 1.0}, index=idx)}).model
    assert 30 + 5 + 0 + MIN_TRAIN_SAMPLES == 85
    assert (m.train_start, m.train_end) == (_day(idx[0]), _day(idx[k - 1]))
    assert (m.test_start, m.test_end) == (_day(idx[k]), None)


def test_catalogue_and_given_dates_stay():
    s = Settings.from_dict({})  # csi300: the article's split
    frame = pd.DataFrame({"close": 1.0}, index=pd.bdate_range("2005-01-03", periods=3000))
    m = data_dates(s, {"x": frame}).model
    assert (m.train_start, m.train_end, m.test_start, m.test_end) == (
        "2005-01-01", "2014-12-31", "2015-01-01", "2017-05-01")  # fmt: skip
    model = {"test_end": "2010-06-30", "train_start": "2006-01-01"}
    given = Settings.from_dict({"data": {"data": "mine.csv"}, "model": model})
    m = data_dates(given, {"x": frame.loc["2006-01-01":"2010-06-30"]}).model
    span = frame.loc["2006-01-01":"2010-06-30"].index
    k = round(TRAIN_FRACTION * len(span))
    assert (m.train_start, m.test_end) == ("2006-01-01", "2010-06-30")
    assert (m.train_end, m.test_start) == (_day(span[k - 1]), _day(span[k]))


def test_a_sweep_on_a_user_file_takes_its_dates_from_the_file(long_csv):
    from btlstm.sweep.spec import make_sweep

    path, dates = long_csv
    base = {"data": {"data": str(path)}, "strategy": {"name": "hold"}}
    sweep = make_sweep(base, {"a": {}, "b": {"test_start": "2020-01-01"}}, repeats=1)
    k = round(TRAIN_FRACTION * N)
    a, b = sweep.settings["a"].model, sweep.settings["b"].model
    assert (a.train_end, a.test_start, a.test_end) == (_day(dates[k - 1]), _day(dates[k]), None)
    assert (b.train_end, b.test_start, b.test_end) == ("2019-12-31", "2020-01-01", None)
    again = make_sweep(Settings.from_dict(base), {"a": {}}, repeats=1).settings["a"].model
    dates_of = lambda m: (m.train_start, m.train_end, m.test_start, m.test_end)  # noqa: E731
    assert dates_of(again) == dates_of(a)  # a Settings as the base: the file's dates too
    task = sweep.tasks()[0].settings["model"]  # what each run is given: the dates, explicit
    assert (task["train_start"], task["train_end"], task["test_end"]) == (
        "1996-01-02", _day(dates[k - 1]), None)  # fmt: skip


def test_the_header_on_csi300_with_only_test_start(data_dir, tmp_path, caplog):
    """The reported case: the header said ``train 2005-01-03..2015-12-31`` while the
    model trained up to the article's train_end 2014-12-31 (provenance.dates_used)."""
    r, head = _run("csi300", tmp_path, caplog, test_start="2016-01-01")
    used = r["provenance"]["dates_used"]
    assert head == (used["train_start"], used["train_end"], used["test_start"], used["test_end"],
                    r["provenance"]["test_rows"])  # fmt: skip
    assert "2014-12-01" < used["train_end"] <= "2014-12-31" and used["test_end"] == "2017-04-28"
    assert r["config"]["model"]["train_end"] == "2014-12-31"  # the catalogue keeps its split


def test_every_seed_of_a_user_file_takes_the_same_dates_from_it(long_csv, tmp_path):
    """``--seeds`` rebuilds each seed's settings from a dict: the dates not given
    stay the data's (not the article's 2015-01 .. 2017-05)."""
    from btlstm.pipeline import run_seeds

    path, dates = long_csv
    settings = {"data": {"data": str(path)}, "model": {"learner": "ridge"},
                "output": {"out": str(tmp_path / "s"), "plots": False, "seeds": "0-1"}}  # fmt: skip
    result = run_seeds(Settings.from_dict(settings), workers=1, progress=False)
    k = round(TRAIN_FRACTION * N)
    runs = [*result.runs.values(), result.ensemble]
    assert len(runs) == 3
    for run in runs:
        used = run.report["provenance"]["dates_used"]
        assert (used["test_start"], used["test_end"]) == (_day(dates[k]), "2025-11-24")
        assert run.report["config"]["model"]["train_end"] == _day(dates[k - 1])
