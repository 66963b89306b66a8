"""No silently meaningless run (issue 18, class 3).

A run that fills no order, prices that gap like an unadjusted split, a target
that the settings make constant or inverted, a top-k that picks the whole
panel, two columns for one price, features too large to z-score: each is
either refused before any work (one ``btlstm: error:`` line, exit 2) or a
warning that reaches the terminal, ``report.json`` (``warnings``) and the
page (its Warnings block). The runs are small (the ridge learner on a
600-bar file), a few seconds each.
"""

import json

import numpy as np
import pandas as pd
import pytest

from btlstm.cli import main
from btlstm.data.gaps import PRICE_GAP_LIMIT, price_gaps
from btlstm.report.notes import no_fill_warning
from btlstm.synthetic import synthetic_ohlcv

SPLIT = [
    "--train-start", "2015-01-01", "--train-end", "2016-06-30",
    "--test-start", "2016-07-01", "--test-end", "2017-04-19",
    "--learner", "ridge", "--no-plots",
]  # fmt: skip


def write_csv(path, change=None):
    """A 600-bar Yahoo-style daily file (2015-01-01 ..), changed by ``change(frame)``."""
    f = synthetic_ohlcv(n=600, seed=1, start="2015-01-01", signal=0.3)
    f = f.reset_index()[["date", "open", "high", "low", "close", "volume"]]
    f.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    if change is not None:
        f = change(f)
    f.to_csv(path, index=False)
    return path


def run_cli(capsys, tmp_path, *args, out="out"):
    """``btlstm run hold ...``: (exit code, stdout + stderr, report.json or None, html or "")."""
    capsys.readouterr()
    try:
        rc = main(["run", "hold", *args, "--out", str(tmp_path / out)])
    except SystemExit as e:  # argparse refuses a flag's value itself (exit 2, one error line)
        rc = e.code
    cap = capsys.readouterr()
    folder = tmp_path / out
    report = json.loads((folder / "report.json").read_text()) if rc == 0 else None
    page = (folder / "report.html").read_text() if rc == 0 else ""
    return rc, cap.out + cap.err, report, page


def one_error(rc, text):
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("btlstm: error:")]
    assert rc == 2 and len(lines) == 1, text[-2000:]
    assert "Traceback" not in text
    return lines[0]


def warned_everywhere(needle, text, report, page):
    """The warning is in the terminal, in report.json's warnings and in the page's
    Warnings block (HTML-escaped)."""
    import html

    assert any(needle in w for w in report["warnings"]), report["warnings"]
    assert needle in text
    block = page[page.index("<div class='warnings'") :]
    block = block[: block.index("</div>")]
    assert html.escape(needle) in block


# --------------------------------------------------------------------------- no fills
@pytest.fixture(scope="module")
def tiny_cash(tmp_path_factory):
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("cash")
    csv = write_csv(tmp / "prices.csv")
    code = "import sys; from btlstm.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["run", "hold", "--data", str(csv), *SPLIT, "--cash", "1", "--out", str(tmp / "o")]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp / "o" / "report.json").read_text())
    return proc.stdout + proc.stderr, report, (tmp / "o" / "report.html").read_text()


@pytest.mark.parametrize("who", ["'hold'", "'buy-and-hold prices'"])
def test_cash_too_small_for_one_share_warns_for_each_run(tiny_cash, who):
    text, report, page = tiny_cash
    needle = f"{who} filled no order in the whole run"
    warned_everywhere(needle, text, report, page)
    assert "WARNING: " + needle in text  # the table's line, not a plain note
    rows = {r["name"]: r for r in report["comparison"]}
    assert all(r["n_orders"] == 0 for r in rows.values())


def test_a_normal_run_has_no_fill_warning(tmp_path, capsys):
    rc, text, report, page = run_cli(capsys, tmp_path, "--data", str(write_csv(tmp_path / "p.csv")),
                                     *SPLIT)  # fmt: skip
    assert rc == 0
    assert report["comparison"][0]["n_orders"] > 0
    assert not any("filled no order" in w for w in report["warnings"])
    assert "filled no order" not in text and "filled no order" not in page


def test_no_fill_warning_reads_the_row():
    row = {"name": "x", "n_orders": 0, "n_rejected": 4, "n_canceled": 1, "total_return": 0.0}
    assert "4 refused by the broker, 1 cancelled" in no_fill_warning(row)
    assert no_fill_warning({**row, "n_orders": 1}) is None
    assert no_fill_warning({"name": "old report without the key"}) is None


# --------------------------------------------------------------------------- price gaps
def _split(f):
    """An unadjusted 10:1 split on 2016-03-01: every price after it a tenth."""
    after = pd.to_datetime(f["Date"]) >= "2016-03-01"
    for c in ("Open", "High", "Low", "Close"):
        f.loc[after, c] = f.loc[after, c] / 10
    return f


def _bad_tick(f):
    """One close typed three times too high on 2016-09-01 (then back)."""
    i = int(np.flatnonzero(pd.to_datetime(f["Date"]) >= "2016-09-01")[0])
    f.loc[i, ["Close", "High"]] = f.loc[i, "Close"] * 3
    return f


def test_an_unadjusted_split_warns_with_file_date_and_gap(tmp_path, capsys):
    csv = write_csv(tmp_path / "split.csv", _split)
    rc, text, report, page = run_cli(capsys, tmp_path, "--data", str(csv), *SPLIT)
    assert rc == 0
    warned_everywhere("split.csv", text, report, page)
    gap = next(w for w in report["warnings"] if "previous close" in w)
    assert "2016-03-01" in gap and "-90.0%" in gap and "40%" in gap
    assert "unadjusted split or a bad tick" in gap


def test_a_bad_tick_names_both_bars(tmp_path):
    f = synthetic_ohlcv(n=300, seed=2, start="2016-01-01")
    i = 200
    f.iloc[i, f.columns.get_loc("close")] *= 3
    f.iloc[i, f.columns.get_loc("high")] = f["close"].iloc[i]
    f.attrs.update(source="tick.csv", symbol="ABC")
    text = price_gaps(f)
    assert text.startswith("tick.csv, symbol ABC: 2 bars move more than 40%")
    assert str(f.index[i].date()) in text and str(f.index[i + 1].date()) in text


def test_ordinary_moves_are_no_gap():
    f = synthetic_ohlcv(n=2000, seed=0)
    assert price_gaps(f) is None
    assert PRICE_GAP_LIMIT == 0.40


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "value,needle",
    [("0", "--scale: scale must be a finite number > 0, got 0.0"),
     ("-1", "--scale: scale must be a finite number > 0, got -1.0"),
     ("nan", "argument --scale: expected a finite number, got 'nan'")],
)  # fmt: skip
def test_a_constant_or_inverted_target_is_refused_before_work(tmp_path, capsys, value, needle):
    rc, text, _, _ = run_cli(capsys, tmp_path, "--data", "synthetic", "--scale", value)
    assert needle in one_error(rc, text)
    assert "running" not in text  # refused before any data is read or model trained
    assert not (tmp_path / "out").exists()


def test_scale_in_toml_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text("[model]\nscale = 0.0\n")
    rc, text, _, _ = run_cli(capsys, tmp_path, "--config", str(cfg))
    assert "[model] scale in" in one_error(rc, text) and "run.toml" in text


def test_topk_at_the_panel_size_warns(tmp_path, capsys, data_dir):
    capsys.readouterr()
    args = ["run", "rotation", "--data-dir", str(data_dir), "--data", "sector_etfs",
            "--learner", "ridge", "--topk", "9", "--mode", "static",
            "--train-start", "2015-01-01", "--train-end", "2019-12-31",
            "--test-start", "2020-01-01", "--test-end", "2020-12-31", "--no-plots",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    cap = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    page = (tmp_path / "out" / "report.html").read_text()
    needle = "--topk = 9 is at or above the 9 symbols the strategy picks from"
    warned_everywhere(needle, cap.out + cap.err, report, page)
    assert "equal-weight portfolio" in next(w for w in report["warnings"] if needle in w)


# --------------------------------------------------------------------------- data
def _two_close(f):
    f.insert(5, "Close ", f["Close"] * 10)  # stripped, it is a second 'Close'
    return f


def _close_and_CLOSE(f):
    f["CLOSE"] = f["Close"] * 10
    return f


@pytest.mark.parametrize(
    "change,needle",
    [(_two_close, "2 columns that map to close: 'Close' (column 5) and 'Close' (column 6)"),
     (_close_and_CLOSE, "'Close' (column 5) and 'CLOSE' (column 7)")],
    ids=["same-name", "other-case"],
)  # fmt: skip
def test_two_columns_for_one_price_are_refused(tmp_path, capsys, change, needle):
    csv = write_csv(tmp_path / "twins.csv", change)
    rc, text, _, _ = run_cli(capsys, tmp_path, "--data", str(csv), *SPLIT, "--preset", "yahoo")
    line = one_error(rc, text)
    assert "twins.csv" in line and needle in line, line


def test_extreme_feature_magnitude_is_refused_naming_the_feature(tmp_path, capsys):
    def huge(f):
        f["Volume"] = f["Volume"] * 1e200
        return f

    csv = write_csv(tmp_path / "huge.csv", huge)
    rc, text, _, _ = run_cli(capsys, tmp_path, "--data", str(csv), *SPLIT,
                             "--features", "close,volume")  # fmt: skip
    line = one_error(rc, text)
    assert "huge.csv" in line and "feature 'volume' reaches" in line and "overflow" in line
    assert "RuntimeWarning" not in text
