"""btlstm.report on small synthetic runs (no TensorFlow).

HoldNDays reads a prediction column that is the sign of the trailing 5-bar
return (known at the bar's close: no look-ahead), so the run trades and
PredictionQuality scores it. A three-stock EqualWeight run exposes hand-written
prediction lines as ``signals`` for the many-asset parts.
"""

import csv
import json
import pickle

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm import _files as files_mod  # the folder writer (one implementation)
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.bt.feeds import add_panel, make_feed
from btlstm.report import (
    SUMMARY_KEYS,
    ReportError,
    RunData,
    add_comparison,
    build_report,
    check_outdir,
    collect,
    format_table,
    honest_notes,
    load_report,
    rebuild_report,
    to_jsonable,
    write_report,
)
from btlstm.report import files as report_files
from btlstm.strategies.buyhold import BuyAndHold, EqualWeight
from btlstm.strategies.hold import HoldNDays
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

N = 300
SEED = 1  # signal-free market where the strategy trails buy-and-hold (+11% vs +13%)
BEATS_SEED = 4  # one where it beats it (+3% vs -20%)
CONFIG = {"data": {"n": N, "seed": SEED}, "model": {"horizon": 5, "clip": 0.2, "scale": 10.0}}
FILES = {
    "report.json",
    "predictions.csv",
    "trades.csv",
    "equity.csv",
    "weights.csv",
    "equity.png",
    "drawdown.png",
    "rolling.png",
    "returns.png",
    "predictions.png",
    "weights.png",
    "excess.png",
    "yearly.png",
    "roundtrips.csv",
    "report.html",
    "manifest.json",
}


def with_prediction(frame):
    frame = frame.copy()
    frame.attrs = dict(frame.attrs)
    trailing = frame["close"] / frame["close"].shift(5) - 1.0
    frame["prediction"] = np.sign(trailing).fillna(0.0) * 0.5
    return frame


def make_frame(synthetic=True, seed=SEED):
    frame = with_prediction(synthetic_ohlcv(n=N, seed=seed, signal=0.0))
    if not synthetic:
        frame.attrs["synthetic"] = False
    return frame


def run(frame, strategy=HoldNDays, signal=True, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame, extra_lines=("prediction",)))
    setup_broker(cerebro, **dict(INDEX_COSTS))
    add_standard_analyzers(cerebro, signal=signal, horizon=5)
    cerebro.addstrategy(strategy, **({"hold": 5} if strategy is HoldNDays else {}), **params)
    return cerebro.run()[0]


def meta(frame, synthetic=True):
    return {
        "title": "test hold-5",
        "config": CONFIG,
        "provenance": {
            "dataset": frame.attrs.get("source"),
            "symbol": frame.attrs.get("symbol"),
            "first": frame.index[0],
            "last": frame.index[-1],
            "rows": len(frame),
            "synthetic": synthetic,
        },
        "costs": dict(INDEX_COSTS),
    }


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def no_temp_siblings(folder):
    return not [p.name for p in folder.parent.iterdir() if p.name.startswith(".btlstm-")]


@pytest.fixture(scope="module")
def synth():
    frame = make_frame()
    strat = run(frame)
    return frame, strat, collect(strat, meta(frame))


@pytest.fixture(scope="module")
def written(synth, tmp_path_factory):
    _, _, data = synth
    out = tmp_path_factory.mktemp("base") / "report"
    return out, write_report(data, out)


# ---------------------------------------------------------------------------
# files, table, metrics (one asset)
# ---------------------------------------------------------------------------
def test_all_files_written_and_nonempty(written):
    out, paths = written
    assert set(paths) == FILES
    for name, path in paths.items():
        assert path == out.absolute() / name and path.is_file() and path.stat().st_size > 0, name
        assert path.stat().st_mode & 0o444 == 0o444, name  # readable, not mkstemp's 0600
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert no_temp_siblings(out)  # the temporary folder was swapped in, nothing left over
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == FILES - {"manifest.json"}


def test_pngs_are_valid(written):
    _, paths = written
    for name in ("equity.png", "drawdown.png", "predictions.png", "weights.png", "excess.png",
                 "yearly.png"):  # fmt: skip
        data = paths[name].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 1024, name


def test_html_self_contained_with_images_and_banner(written):
    _, paths = written
    text = paths["report.html"].read_text(encoding="utf-8")
    assert 'src="http' not in text and "src='http" not in text
    assert "<link" not in text and "<script src" not in text  # inline script only (sorting)
    assert text.count("data:image/png;base64,") == 8  # + excess.png, yearly.png
    assert "SYNTHETIC DATA" in text
    assert "Data provenance" in text and "synthetic:ohlcv" in text


def test_terminal_table(synth):
    _, _, data = synth
    report = data.report
    table = format_table(report)
    assert table.splitlines()[1].startswith("!!! SYNTHETIC DATA")
    for label in ("total return", "annual return", "Sharpe", "max drawdown", "trades", "turnover"):
        assert label in table
    assert "hit rate" in table and "rank IC" in table
    s = report["strategy"]
    assert f"{s['total_return'] * 100:+.2f}%" in table
    assert f"{report['benchmark']['max_drawdown'] * 100:.2f}%" in table
    assert "no orders, no costs" in table  # the closes benchmark is labelled, not a fake run


def test_metrics_match_analyzers(synth):
    frame, strat, data = synth
    report = data.report
    s, b = report["strategy"], report["benchmark"]
    dd = strat.analyzers.drawdown.get_analysis()
    assert s["max_drawdown"] == dd.max.drawdown / 100.0
    assert s["max_drawdown_len"] == dd.max.len
    assert s["sharpe"] == strat.analyzers.sharpe.get_analysis()["sharperatio"]
    assert s["annual_return"] == strat.analyzers.returns.get_analysis()["rnorm"]
    assert s["start_value"] == INDEX_COSTS["cash"]
    br = strat.analyzers.benchmark.get_analysis()
    assert br["start_value"] == INDEX_COSTS["cash"] and br["final_value"] == s["final_value"]
    assert s["final_value"] == strat.broker.getvalue()
    assert s["total_return"] == pytest.approx(s["final_value"] / s["start_value"] - 1.0, rel=1e-12)
    ta = strat.analyzers.trades.get_analysis()
    orders = strat.analyzers.orders.get_analysis()["orders"]
    sold = sum(r["side"] == "sell" and r["status"] == "Completed" for r in orders)
    assert s["n_trades"] == ta.total.closed == sold > 0  # each filled sale closes a trade
    assert s["win_rate"] == ta.won.total / ta.total.closed
    assert s["exposure"] == strat.analyzers.exposure.get_analysis()["exposure"]
    close = frame["close"].to_numpy()
    assert b["total_return"] == pytest.approx(close[-1] / close[0] - 1.0, rel=1e-12)
    peak = np.maximum.accumulate(close)
    assert b["max_drawdown"] == pytest.approx(np.max(1.0 - close / peak), rel=1e-12)
    rel = report["relative"]
    assert rel["cumulative_return_difference"] == pytest.approx(
        s["total_return"] - b["total_return"], abs=1e-12
    )
    # the excess return is per year: the mean daily difference x 252, by hand
    values = np.asarray(strat.analyzers.benchmark.get_analysis()["series"]["values"])
    diff = (values[1:] / values[:-1] - 1.0) - (close[1:] / close[:-1] - 1.0)
    assert rel["excess_return"] == pytest.approx(diff.mean() * 252, rel=1e-12)
    line = [x for x in format_table(report).splitlines() if "(closes): excess" in x]
    assert len(line) == 1 and f"excess {rel['excess_return'] * 100:+.2f}%/yr " in line[0]
    old = {**report, "relative": {**rel, "excess_return": rel["cumulative_return_difference"]}}
    del old["relative"]["cumulative_return_difference"]  # a report written before: cumulative
    cum = f"cumulative return difference {rel['cumulative_return_difference'] * 100:+.2f}% "
    assert cum in format_table(old) and "/yr  beta" not in format_table(old)
    assert report["period"] == {
        "start": frame.index[0].date().isoformat(),
        "end": frame.index[-1].date().isoformat(),
        "bars": N,
    }
    pq = strat.analyzers.prediction.get_analysis()
    p = report["prediction"]
    assert p["count"] == pq["count"] == N - 5
    assert p["ic"] == pq["ic"] and p["hit_rate"] == pq["hit_rate"]
    assert p["horizon"] == 5 and p["clip"] == 0.2 and p["scale"] == 10.0
    assert report["synthetic"] is True
    assert "definitions" in report and "sharpe" in report["definitions"]


def test_comparison_row_is_summary_row(synth):
    _, strat, data = synth
    from btlstm.bt.analyzers import summary_row

    rows = data.report["comparison"]
    assert len(rows) == 1 and list(rows[0]) == list(SUMMARY_KEYS)
    assert rows[0] == to_jsonable(summary_row(strat, "strategy"))
    s = data.report["strategy"]
    assert rows[0]["n_trades"] == s["n_trades"] and rows[0]["exposure"] == s["exposure"]
    assert rows[0]["total_return"] == pytest.approx(s["total_return"], rel=1e-9)


def test_benchmark_from_closes_is_labelled_not_a_run(synth, written):
    _, _, data = synth
    b = data.report["benchmark"]
    assert b["from_closes"] is True and "no orders, no costs" in b["source"]
    assert b["n_trades"] is None and b["exposure"] is None and b["turnover"] is None
    html_text = written[1]["report.html"].read_text(encoding="utf-8")
    assert "not a backtest run" in html_text


def test_json_matches_report_and_loads(synth, written):
    _, _, data = synth
    out, paths = written
    loaded = load_report(out)
    assert isinstance(loaded, RunData)
    assert loaded.report == json.loads(json.dumps(data.report))
    assert load_report(paths["report.json"]).report == loaded.report
    assert loaded.report["config"] == CONFIG
    assert loaded.report["costs"]["commission"] == INDEX_COSTS["commission"]
    assert loaded.report["provenance"]["first"] == "2010-01-04"


def test_predictions_csv_exact(synth, written):
    frame, _, data = synth
    _, paths = written
    rows = read_csv(paths["predictions.csv"])
    assert len(rows) == N == data.report["period"]["bars"]
    assert list(rows[0]) == ["date", "symbol", "prediction", "realised_return", "realised_target"]
    assert {r["symbol"] for r in rows} == {frame.attrs["symbol"]}
    close = frame["close"].to_numpy()
    ret = close[5:] / close[:-5] - 1.0
    target = np.clip(ret, -0.2, 0.2) * 10.0
    got_ret = np.array([float(r["realised_return"]) for r in rows[:-5]])
    got_target = np.array([float(r["realised_target"]) for r in rows[:-5]])
    np.testing.assert_array_equal(got_ret, ret)
    np.testing.assert_array_equal(got_target, target)
    assert all(r["realised_return"] == "" and r["realised_target"] == "" for r in rows[-5:])
    np.testing.assert_array_equal(
        np.array([float(r["prediction"]) for r in rows]), frame["prediction"].to_numpy()
    )
    assert rows[0]["date"] == frame.index[0].date().isoformat()
    finite = sum(1 for r in rows if r["prediction"] != "" and r["realised_return"] != "")
    assert finite == data.report["prediction"]["count"]


def test_realised_target_follows_config(synth, tmp_path):
    frame, strat, _ = synth
    other = collect(strat, {**meta(frame), "config": {"target": {"clip": 0.01, "scale": 2.0}}})
    assert other.report["prediction"]["clip"] == 0.01 and other.report["prediction"]["scale"] == 2.0
    paths = write_report(other, tmp_path / "r", plots=False)
    rows = read_csv(paths["predictions.csv"])
    r = np.array([float(x["realised_return"]) for x in rows[:-5]])
    t = np.array([float(x["realised_target"]) for x in rows[:-5]])
    np.testing.assert_array_equal(t, np.clip(r, -0.01, 0.01) * 2.0)
    assert np.abs(t).max() == pytest.approx(0.02)
    assert "equity.png" not in paths and "report.html" in paths


def test_trades_csv_from_order_log(synth, written):
    _, strat, _ = synth
    _, paths = written
    rows = read_csv(paths["trades.csv"])
    orders = strat.analyzers.orders.get_analysis()["orders"]
    assert len(rows) == len(orders) > 0
    assert list(rows[0])[:11] == [
        "strategy",
        "created_date",
        "date",
        "symbol",
        "side",
        "size",
        "price",
        "value",
        "commission",
        "status",
        "reason",
    ]
    for row, order in zip(rows, orders, strict=True):
        assert row["strategy"] == "strategy"
        assert (row["side"], row["status"]) == (order["side"], order["status"])
        assert float(row["price"]) == order["price"] and float(row["size"]) == order["size"]
        assert row["date"] == order["date"].isoformat()


def test_equity_csv_benchmark_starts_at_same_value(synth, written):
    frame, strat, data = synth
    _, paths = written
    rows = read_csv(paths["equity.csv"])
    bname = data.report["benchmark"]["name"]
    assert list(rows[0]) == ["date", "strategy", bname]
    assert len(rows) == N
    assert float(rows[0]["strategy"]) == float(rows[0][bname])
    assert float(rows[-1]["strategy"]) == strat.broker.getvalue()
    close = frame["close"].to_numpy()
    assert float(rows[-1][bname]) == pytest.approx(
        float(rows[0]["strategy"]) * close[-1] / close[0], rel=1e-12
    )


def test_weights_csv_one_asset(synth, written):
    frame, strat, _ = synth
    rows = read_csv(written[1]["weights.csv"])
    assert list(rows[0]) == ["date", "symbol", "weight"]
    assert {r["symbol"] for r in rows} == {frame.attrs["symbol"], "cash"}
    expo = strat.analyzers.exposure.get_analysis()["exposure"]
    held = {r["date"] for r in rows if r["symbol"] != "cash"}
    assert len(held) == round(expo * N)


def test_same_run_twice_identical_metrics(synth, tmp_path):
    frame, _, data = synth
    again = collect(run(make_frame()), meta(frame))
    for key in ("strategy", "benchmark", "relative", "prediction", "period", "comparison"):
        assert again.report[key] == data.report[key], key
    write_report(again, tmp_path / "r", plots=False)
    loaded = load_report(tmp_path / "r").report
    assert {k: loaded[k] for k in ("strategy", "prediction")} == {
        k: data.report[k] for k in ("strategy", "prediction")
    }
    # a different seed is a different market: the check above can fail
    other = collect(run(make_frame(seed=BEATS_SEED)), meta(frame))
    assert other.report["strategy"] != data.report["strategy"]


def test_not_synthetic_has_no_banner(tmp_path):
    frame = make_frame(synthetic=False)
    data = collect(run(frame), meta(frame, synthetic=False))
    assert data.report["synthetic"] is False
    assert "SYNTHETIC" not in format_table(data.report)
    paths = write_report(data, tmp_path / "r")
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "SYNTHETIC" not in text
    assert text.count("data:image/png;base64,") == 8  # + excess.png, yearly.png


def test_synthetic_flag_from_frame_attrs_alone(synth):
    _, strat, _ = synth
    report = collect(strat, {"title": "no provenance"}).report
    assert report["synthetic"] is True
    assert "SYNTHETIC DATA" in format_table(report)


def _beats(report):
    return report["strategy"]["total_return"] > report["benchmark"]["total_return"]


def _note(report):
    return any("did not beat buy-and-hold" in n for n in report["notes"])


def test_the_verdict_replaces_the_did_not_beat_notes(synth, written):
    _, _, data = synth
    report = data.report
    sig = report["significance"]
    assert not _beats(report) and not _note(report)
    assert sig["evidence"] is False and sig["verdict"].startswith("no evidence of skill: IC ")
    assert [v["name"] for v in sig["vs"]] == [report["benchmark"]["name"]]
    assert sig["vs"][0]["from_closes"] is True and sig["rule"]
    assert f"VERDICT: {sig['verdict']}" in format_table(report)
    _, paths = written
    page = paths["report.html"].read_text(encoding="utf-8")
    assert "did not beat" not in page
    assert page.index("<b>Verdict:</b>") < page.index("<h2 id='comparison'>Strategy and baselines")
    # a report without the section (an older run's) still says it plainly
    older = {k: v for k, v in report.items() if k != "significance"}
    assert any("did not beat buy-and-hold" in n for n in honest_notes(older))
    frame = make_frame(seed=BEATS_SEED)
    other = collect(run(frame), meta(frame)).report
    assert _beats(other) and not _note(other)


def test_nan_becomes_null_and_round_trips(tmp_path, synth):
    _, _, data = synth
    got = to_jsonable({"a": float("nan"), "b": [np.float64("inf"), np.int64(3)], "c": 1.5})
    assert got == {"a": None, "b": [None, 3], "c": 1.5}
    r = json.loads(json.dumps(data.report))
    r["strategy"]["sharpe"] = float("nan")
    r["prediction"]["ic"] = float("-inf")
    write_report(RunData(report=r, tables=data.tables), tmp_path / "r", plots=False)
    text = (tmp_path / "r" / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = load_report(tmp_path / "r").report
    assert loaded["strategy"]["sharpe"] is None and loaded["prediction"]["ic"] is None
    assert "n/a" in format_table(loaded)


def test_no_prediction_analyzer_gives_null_section(tmp_path):
    frame = make_frame()
    data = collect(run(frame, signal=None), meta(frame))
    assert data.report["prediction"] is None
    paths = write_report(data, tmp_path / "r")
    assert "predictions.png" not in paths
    assert paths["predictions.csv"].read_text().strip() == (
        "date,symbol,prediction,realised_return,realised_target"
    )
    assert "not scored" in format_table(data.report)


def test_errors_name_the_problem(tmp_path, synth):
    frame = make_frame()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame, extra_lines=("prediction",)))
    cerebro.addstrategy(HoldNDays)
    bare = cerebro.run()[0]
    with pytest.raises(ValueError, match="add_standard_analyzers"):
        collect(bare, {})
    _, strat, data = synth
    with pytest.raises(TypeError, match="meta"):
        collect(strat, ["not", "a", "dict"])
    with pytest.raises(TypeError, match="RunData"):
        report_files.write_report(data.report, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_report(tmp_path / "nothing")
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(ReportError, match="manifest.json.*incomplete"):
        load_report(tmp_path)


def test_build_report_alias(synth):
    frame, strat, data = synth
    report = build_report(strat, meta(frame))
    for key in ("strategy", "benchmark", "comparison", "prediction"):
        assert report[key] == data.report[key]


# ---------------------------------------------------------------------------
# plain data: collect -> (pickle) -> write -> load -> rebuild
# ---------------------------------------------------------------------------
def test_report_from_plain_data(synth, tmp_path):
    _, _, data = synth
    shipped = pickle.loads(pickle.dumps(data))  # as a worker process would return it
    a = write_report(shipped, tmp_path / "a")
    loaded = load_report(tmp_path / "a")
    fresh = RunData(report=loaded.report, tables=dict(loaded.tables))  # no strategy anywhere
    b = write_report(fresh, tmp_path / "b")
    for name in ("report.json", "predictions.csv", "trades.csv", "equity.csv", "weights.csv"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    html_a = a["report.html"].read_text(encoding="utf-8")
    assert b["report.html"].read_text(encoding="utf-8") == html_a
    # rebuild: the PNGs and the page come back from the files alone, the data untouched
    before = {n: a[n].read_bytes() for n in ("report.json", "equity.csv", "trades.csv")}
    html_path = rebuild_report(tmp_path / "a")
    assert html_path == (tmp_path / "a").absolute() / "report.html"
    assert html_path.read_text(encoding="utf-8") == html_a
    assert {n: a[n].read_bytes() for n in before} == before
    assert load_report(tmp_path / "a").report == loaded.report
    assert rebuild_report(tmp_path / "a", plots=False).read_text().count("data:image/png") == 0
    assert not (tmp_path / "a" / "equity.png").exists()
    assert no_temp_siblings(tmp_path / "a")


# ---------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------
def test_the_benchmark_has_one_name_in_table_and_relative_line(synth):
    """A buy-and-hold baseline named otherwise than 'buy-and-hold <feed>' (the ranker's
    'buy-and-hold index' on the feed 'gate') is named so in the relative line too."""
    frame, _, _ = synth
    data = collect(run(frame), meta(frame), name="hold-5")
    assert data.report["relative"]["benchmark"] == f"buy-and-hold {frame.attrs['symbol']}"
    add_comparison(data, run(frame, BuyAndHold, signal=None), "buy-and-hold index")
    assert data.report["relative"]["benchmark"] == "buy-and-hold index"
    assert "vs buy-and-hold index (closes)" in format_table(data.report)


def test_comparison_with_baselines(synth, tmp_path):
    frame, _, _ = synth
    data = collect(run(frame), meta(frame), name="hold-5")
    bh = run(frame, BuyAndHold, signal=None)
    sym = frame.attrs["symbol"]
    add_comparison(data, bh, f"buy-and-hold {sym}")
    rows = data.report["comparison"]
    assert [r["name"] for r in rows] == ["hold-5", f"buy-and-hold {sym}"]
    assert all(list(r) == list(SUMMARY_KEYS) for r in rows)
    # the benchmark is the real baseline run now: its own trades and exposure, not "1 / 100%"
    b = data.report["benchmark"]
    assert b["from_closes"] is False and b["name"] == f"buy-and-hold {sym}"
    expo = bh.analyzers.exposure.get_analysis()["exposure"]
    assert b["exposure"] == expo < 1.0 and b["n_trades"] == 0  # bought at bar 2, never sold
    assert list(data.tables["equity"].columns) == ["date", "hold-5", f"buy-and-hold {sym}"]
    trades = data.tables["trades"]
    assert set(trades["strategy"]) == {"hold-5", f"buy-and-hold {sym}"}
    assert (trades["strategy"] == f"buy-and-hold {sym}").sum() == 1
    # the verdict compares with every run: the real baseline run replaced the closes
    vs = data.report["significance"]["vs"]
    assert [(v["name"], v["from_closes"]) for v in vs] == [(f"buy-and-hold {sym}", False)]
    assert f"vs buy-and-hold {sym} " in data.report["significance"]["verdict"]
    add_comparison(data, run(frame, EqualWeight, signal=None), "equal weight")
    assert len(data.report["comparison"]) == 3
    vs = data.report["significance"]["vs"]
    assert [v["name"] for v in vs] == [f"buy-and-hold {sym}", "equal weight"]
    assert "vs equal weight " in data.report["significance"]["verdict"]
    with pytest.raises(ValueError, match="exists already"):
        add_comparison(data, bh, "equal weight")
    table = format_table(data.report)
    assert "hold-5" in table and "equal weight" in table and "*" not in table.splitlines()[4]
    paths = write_report(data, tmp_path / "r")
    loaded = load_report(tmp_path / "r")
    assert loaded.report["comparison"] == json.loads(json.dumps(data.report["comparison"]))
    assert list(loaded.tables["equity"].columns) == list(data.tables["equity"].columns)
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "equal weight" in text and "not a backtest run" not in text


# ---------------------------------------------------------------------------
# many assets
# ---------------------------------------------------------------------------
class SignalEqualWeight(EqualWeight):
    """EqualWeight that exposes each feed's prediction line as ``signals``."""

    def __init__(self):
        super().__init__()
        self.signals = {d._name: d.prediction for d in self.datas}


@pytest.fixture(scope="module")
def panel_run():
    panel = {k: with_prediction(v) for k, v in synthetic_panel(n_symbols=3, n=N, seed=3).items()}

    def go(strategy, signal):
        cerebro = bt.Cerebro(stdstats=False)
        setup_broker(cerebro, **dict(INDEX_COSTS))
        add_panel(cerebro, panel, extra_lines=("prediction",), progress=False)
        add_standard_analyzers(cerebro, signal=signal, horizon=5)
        cerebro.addstrategy(strategy)
        return cerebro.run()[0]

    data = collect(go(SignalEqualWeight, True), {"title": "three stocks"}, name="equal weight")
    add_comparison(data, go(EqualWeight, None), "equal weight, never rebalanced")
    return panel, data


def test_many_assets_weights_and_quality(panel_run, tmp_path):
    panel, data = panel_run
    symbols = set(panel)
    report = data.report
    p = report["prediction"]
    assert set(p["per_asset"]) == symbols and p["n_assets"] == 3
    assert set(p["per_date"]) == {"ic", "rank_ic"}
    for q in p["per_asset"].values():
        assert {"count", "hit_rate", "ic", "rank_ic"} <= set(q)
    pred = data.tables["predictions"]
    assert set(pred["symbol"]) == symbols and len(pred) == 3 * N
    paths = write_report(data, tmp_path / "r")
    assert "weights.png" in paths
    rows = read_csv(paths["weights.csv"])
    assert {r["symbol"] for r in rows} == symbols | {"cash"}
    by_date = {}
    for r in rows:
        by_date[r["date"]] = by_date.get(r["date"], 0.0) + float(r["weight"])
    assert all(abs(total - 1.0) < 1e-9 for total in by_date.values())  # stocks + cash = 100%
    pred_rows = read_csv(paths["predictions.csv"])
    assert {r["symbol"] for r in pred_rows} == symbols
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "Per asset (3)" in text and "Across assets, per date" in text
    assert all(s in text for s in symbols)
    assert "IC per asset" in format_table(report) and "daily IC across assets" in format_table(
        report
    )
    loaded = load_report(tmp_path / "r")
    assert loaded.tables["weights"]["symbol"].map(type).eq(str).all()
    assert loaded.report["prediction"]["per_asset"] == json.loads(json.dumps(p["per_asset"]))
    assert [r["name"] for r in loaded.report["comparison"]] == [
        "equal weight",
        "equal weight, never rebalanced",
    ]


# ---------------------------------------------------------------------------
# the folder as one unit
# ---------------------------------------------------------------------------
def test_load_refuses_missing_or_altered_file(written, tmp_path):
    import shutil

    out, _ = written
    for name in ("trades.csv", "report.html", "weights.png"):
        bad = tmp_path / f"missing-{name}"
        shutil.copytree(out, bad)
        (bad / name).unlink()
        with pytest.raises(ReportError, match=f"{bad.name}.*{name} is missing"):
            load_report(bad)
    with pytest.raises(ReportError, match="trades.csv is missing"):  # a data file: refused
        rebuild_report(tmp_path / "missing-trades.csv")
    bad = tmp_path / "altered"
    shutil.copytree(out, bad)
    text = (bad / "equity.csv").read_text()
    (bad / "equity.csv").write_text(text.replace("1", "2", 1))  # still parses
    with pytest.raises(ReportError, match="altered.*equity.csv does not match manifest.json"):
        load_report(bad)
    ok = tmp_path / "extra"
    shutil.copytree(out, ok)
    (ok / "my-notes.txt").write_text("mine")  # files of the user's own are not the report's
    assert load_report(ok).report["title"] == "test hold-5"


def _first_write(synth, folder):
    _, _, data = synth
    paths = write_report(data, folder)
    return {n: p.read_bytes() for n, p in paths.items()}


def test_interrupted_write_keeps_previous_folder(synth, panel_run, tmp_path, monkeypatch):
    out = tmp_path / "r"
    before = _first_write(synth, out)
    (out / "my-notes.txt").write_text("mine")
    _, other = panel_run
    real_put = files_mod._put
    calls = []

    def failing_put(folder, name, data):
        calls.append(name)
        if len(calls) == 4:
            raise KeyboardInterrupt("simulated Ctrl-C while writing")
        return real_put(folder, name, data)

    monkeypatch.setattr(files_mod, "_put", failing_put)
    with pytest.raises(KeyboardInterrupt):
        write_report(other, out)
    monkeypatch.setattr(files_mod, "_put", real_put)
    assert {n: (out / n).read_bytes() for n in before} == before
    assert load_report(out).report["title"] == "test hold-5"
    assert no_temp_siblings(out) and (out / "my-notes.txt").read_text() == "mine"

    def failing_plot(run):
        raise RuntimeError("simulated plotting failure")

    monkeypatch.setattr("btlstm.report.plots.render_plots", failing_plot)
    with pytest.raises(RuntimeError, match="plotting"):
        write_report(other, out)
    assert {n: (out / n).read_bytes() for n in before} == before
    monkeypatch.undo()
    # a complete new write replaces every report file and keeps the user's own
    write_report(other, out)
    assert load_report(out).report["title"] == "three stocks"
    assert (out / "my-notes.txt").read_text() == "mine" and no_temp_siblings(out)


def test_swap_without_rename_exchange(synth, panel_run, tmp_path, monkeypatch):
    out = tmp_path / "r"
    _first_write(synth, out)
    monkeypatch.setattr(files_mod, "_exchange", lambda a, b: False)
    write_report(panel_run[1], out, plots=False)
    assert load_report(out).report["title"] == "three stocks"
    assert not (out / "equity.png").exists()  # stale files of the old run are gone
    assert no_temp_siblings(out)


def test_check_outdir_refuses_before_any_work(synth, tmp_path):
    _, _, data = synth
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ReportError, match="exists and is not a folder"):
        write_report(data, afile)
    with pytest.raises(ReportError, match="is a file"):
        check_outdir(afile / "sub")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ReportError, match="not a btlstm report.*thesis.tex"):
        write_report(data, foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"
    with pytest.raises(ReportError, match="NUL"):
        check_outdir("bad\x00name")
    with pytest.raises(ReportError, match="too long"):
        check_outdir(tmp_path / ("x" * 300))
    assert check_outdir(tmp_path / "new" / "deeper") == (tmp_path / "new" / "deeper").absolute()
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_tables_have_contract_columns(synth, panel_run):
    for data in (synth[2], panel_run[1]):
        t = data.tables
        assert list(t["predictions"].columns) == [
            "date",
            "symbol",
            "prediction",
            "realised_return",
            "realised_target",
        ]
        assert list(t["weights"].columns) == ["date", "symbol", "weight"]
        assert list(t["trades"].columns)[:2] == ["strategy", "created_date"]
        assert list(t["equity"].columns)[0] == "date"
        assert isinstance(t["equity"], pd.DataFrame)


def test_btlstm_report_redraws_derived_files_and_refuses_data_changes(written, tmp_path, capsys):
    """`btlstm report DIR` on a finished run whose report.html was deleted and a plot
    edited: both drawn again, manifest updated, the folder loads; an edited trades.csv
    is still refused, and the folder is left as it was."""
    import shutil

    from btlstm.cli import main

    out, _ = written
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    html = (folder / "report.html").read_bytes()
    data = {n: (folder / n).read_bytes() for n in ("report.json", "trades.csv", "equity.csv")}
    (folder / "report.html").unlink()
    (folder / "equity.png").write_bytes(b"not a picture")
    assert main(["report", str(folder)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(folder.absolute() / "report.html")
    assert "report.html was missing; drawn again" in printed.err
    assert "equity.png was changed; drawn again" in printed.err
    assert (folder / "report.html").read_bytes() == html  # the same page as the run wrote
    assert (folder / "equity.png").read_bytes()[:4] == b"\x89PNG"
    assert {n: (folder / n).read_bytes() for n in data} == data
    load_report(folder)  # every file matches the new manifest
    # a changed data file is still refused, and nothing is rewritten
    (folder / "report.html").unlink()
    text = (folder / "trades.csv").read_text()
    (folder / "trades.csv").write_text(text.replace("Completed", "Margin", 1))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trades.csv does not match manifest.json" in err[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_old_import_paths_name_the_same_objects():
    """Scripts written before the report and analyzer rooms were split keep working."""
    import importlib

    from btlstm import metrics, report, significance, summary
    from btlstm.bt import analyzers
    from btlstm.report import notes, schema, sections

    old = importlib.import_module("btlstm.report.collect")
    homes = {
        "SUMMARY_KEYS": summary,
        "DEFINITIONS": schema,
        "TABLE_COLUMNS": schema,
        "RunData": schema,
        "honest_notes": notes,
        "per_year_returns": sections,
        "forecasts_table": sections,
    }
    for name in old.__all__:
        obj = getattr(old, name)
        assert getattr(homes.get(name, old), name) is obj, name
        if name in report.__all__:
            assert getattr(report, name) is obj, name
    assert report.collect is old.collect and callable(report.collect)
    assert analyzers.SUMMARY_KEYS is summary.SUMMARY_KEYS is report.SUMMARY_KEYS
    assert analyzers.summary_row is summary.summary_row
    assert {"SUMMARY_KEYS", "summary_row", "add_standard_analyzers"} <= set(analyzers.__all__)
    assert significance.daily_returns is metrics.daily_returns


def test_the_callers_warnings_reach_the_report_and_a_second_buy_and_hold_is_a_row(synth):
    """meta['warnings'] are kept beside the report's own; the first buy-and-hold baseline
    becomes the benchmark, a second one stays a comparison row only."""
    frame, _, _ = synth
    data = collect(run(frame), {**meta(frame), "warnings": ["a warning of the caller"]},
                   name="hold-5")  # fmt: skip
    assert "a warning of the caller" in data.report["warnings"]
    first = run(frame, BuyAndHold, signal=None)
    add_comparison(data, first, "buy-and-hold A")
    add_comparison(data, run(frame, BuyAndHold, signal=None), "buy-and-hold B")
    assert data.report["benchmark"]["name"] == "buy-and-hold A"
    assert data.report["relative"]["benchmark"] == "buy-and-hold A"
    assert [r["name"] for r in data.report["comparison"]] == [
        "hold-5", "buy-and-hold A", "buy-and-hold B",
    ]  # fmt: skip
