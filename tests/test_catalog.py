"""Every catalogue dataset loads from the real data directory with the row
counts, date ranges and prices of the files.

Note on counts: SOURCES.md gives the Yahoo-layout files one row fewer than they
have (SPY 8221, sectors 6730, XLC 1827, XLRE 2505); counting the lines of the
files gives SPY 8222 (incl. the partial 2025-09-26 row), sectors 6731, XLC
1828, XLRE 2506. The tests count rows independently, with the csv module.
"""

import csv
import gzip
import logging

import pandas as pd
import pytest

import btlstm  # noqa: F401
from btlstm.data import (
    CATALOG,
    SECTORS,
    DataError,
    data_dir,
    describe,
    list_datasets,
    load,
)
from btlstm.data.cache import write_yahoo_csv

MEMBERS = "cn_ashare_hs300_daily/hs300_members_2019-12_daily_qfq.csv.gz"
SP500 = "sp500_all_stocks_5yr/all_stocks_5yr.csv.gz"


def file_rows(path):
    """Data rows, first date, last date of a CSV, read with the csv module."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return len(rows), rows[0][0], rows[-1][0]


def span(df):
    return df.index[0].strftime("%Y-%m-%d"), df.index[-1].strftime("%Y-%m-%d")


# --------------------------------------------------------------------------- index files
def test_csi300(data_dir):
    df = load("csi300", data_dir=data_dir)
    assert len(df) == 4558 == file_rows(data_dir / CATALOG["csi300"].path)[0]
    assert span(df) == ("2005-01-04", "2023-10-10")
    first = df.iloc[0]
    assert first.close == 982.79
    assert first.volume == 7412868 * 100
    assert first.amount == 4431977400.0
    assert df.iloc[-1].close == 3657.13  # 2023-10-10: open 3696.25, close 3657.13, high 3701.26


def test_csi300_seed_window_inclusive(data_dir):
    # SOURCES.md: the window 2005-01-04 .. 2017-05-31 has 3012 rows
    df = load("csi300", data_dir=data_dir, start="2005-01-04", end="2017-05-31")
    assert len(df) == 3012
    assert span(df) == ("2005-01-04", "2017-05-31")


def test_sse(data_dir):
    df = load("sse", data_dir=data_dir)
    assert len(df) == 8012
    assert span(df) == ("1990-12-19", "2023-10-10")
    assert df.iloc[0].close == 99.98


# --------------------------------------------------------------------------- Yahoo-layout files
def test_sector_etfs(data_dir):
    panel = load("sector_etfs", data_dir=data_dir)
    assert list(panel) == list(SECTORS) + ["SPY"]
    for t in SECTORS:
        df = panel[t]
        n, first, last = file_rows(data_dir / "spdr_sector_etfs" / f"{t}.csv")
        assert len(df) == n == 6731, t
        assert span(df) == (first, last) == ("1998-12-22", "2025-09-25"), t
        assert "adj_close" in df.columns
        assert "repair" not in df.attrs
    # the nine sectors share SPY's calendar over their common window
    spy = panel["SPY"].loc["1998-12-22":"2025-09-25"]
    for t in SECTORS:
        assert panel[t].index.equals(spy.index), t
    assert len(panel["SPY"]) == 8221  # 8222 in the file minus the partial last row
    # 1998-12-22,32.406250,32.500000,31.781250,32.046875,23.912479,300500
    xlk = panel["XLK"].iloc[0]
    assert (xlk.open, xlk.close, xlk.adj_close, xlk.volume) == (
        32.40625,
        32.046875,
        23.912479,
        300500,
    )


def test_sector_etfs_optional_and_unknown_symbols(data_dir):
    extra = load("sector_etfs", data_dir=data_dir, symbols=["XLC", "XLRE"])
    assert len(extra["XLC"]) == 1828 and span(extra["XLC"]) == ("2018-06-19", "2025-09-25")
    assert len(extra["XLRE"]) == 2506 and span(extra["XLRE"])[0] == "2015-10-08"
    assert (extra["XLRE"]["volume"] == 0).sum() == 5  # SOURCES.md: 5 zero-volume days
    with pytest.raises(DataError, match=r"no symbol\(s\) \['XLZ'\]"):
        load("sector_etfs", data_dir=data_dir, symbols=["XLZ"])


def test_spy_drops_documented_partial_row_with_a_note(data_dir, caplog):
    n, first, last = file_rows(data_dir / "spdr_sector_etfs" / "SPY.csv")
    assert (n, first, last) == (8222, "1993-01-29", "2025-09-26")
    with caplog.at_level(logging.INFO, logger="btlstm.data"):
        spy = load("spy", data_dir=data_dir)
    assert len(spy) == n - 1
    assert span(spy) == ("1993-01-29", "2025-09-25")
    assert "2025-09-26" in spy.attrs["repair"] and "partial" in spy.attrs["repair"]
    assert any("2025-09-26" in r.getMessage() for r in caplog.records)
    assert spy.iloc[-1].close == 658.049988
    # the documented row goes only when it is the LAST row: a shorter range keeps it out anyway
    early = load("spy", data_dir=data_dir, end="2000-01-31")
    assert early.index[-1] == pd.Timestamp("2000-01-31")


@pytest.mark.parametrize(
    "name, rows, first, last, close0",
    [
        ("bt_orcl", 5036, "1995-01-03", "2014-12-31", 2.117284),
        ("bt_yhoo", 4965, "1996-04-12", "2015-12-31", 1.375),
        ("bt_nvda", 4012, "1999-01-22", "2014-12-31", 1.640625),
        ("bt_ko", 356, "1997-01-02", "1998-06-01", 51.875),
        ("bt_pep", 356, "1997-01-02", "1998-06-01", 29.5),
        ("bt_2006", 255, "2006-01-02", "2006-12-29", 3604.33),
        ("bt_2005_2006", 512, "2005-01-03", "2006-12-29", 2970.02),
    ],
)
def test_backtrader_samples(data_dir, name, rows, first, last, close0):
    df = load(name, data_dir=data_dir)
    assert (len(df), *span(df)) == (rows, first, last)
    assert file_rows(data_dir / CATALOG[name].path) == (rows, first, last)
    assert df.iloc[0].close == close0


# --------------------------------------------------------------------------- panels
def test_constituents(data_dir):
    df = load("csi300_constituents", data_dir=data_dir)
    assert list(df.columns) == ["code", "code_name"]
    assert len(df) == 300 and df["code"].is_unique
    assert df.iloc[0].tolist() == ["sh.600000", "浦发银行"]
    assert df.attrs["as_of"] == "2019-12-09"


@pytest.fixture(scope="module")
def members(data_dir):
    return load("csi300_members", data_dir=data_dir, repair="drop")


def test_csi300_members_all_codes(data_dir, members):
    codes = load("csi300_constituents", data_dir=data_dir)["code"]
    assert sorted(members) == sorted(codes)
    assert len(members) == 300
    dropped = [(k, d) for k, f in members.items() for d in f.attrs.get("repair_dropped", [])]
    # SOURCES.md: 2 OHLC-inconsistent rows
    assert dropped == [
        ("sh.600048", ("2019-03-27", "close", "close outside [low, high]")),
        ("sz.000069", ("2019-03-27", "close", "close outside [low, high]")),
    ]
    assert sum(len(f) for f in members.values()) + len(dropped) == 1_007_333
    first = min(f.index[0] for f in members.values())
    last = max(f.index[-1] for f in members.values())
    assert (first, last) == (pd.Timestamp("2000-01-04"), pd.Timestamp("2020-08-24"))
    assert sum(f.index[0] <= pd.Timestamp("2005-01-04") for f in members.values()) == 139
    assert int(sum(f["turn"].isna().sum() for f in members.values())) == 40_168
    # 2000-01-04,sz.000001,3.7560075000,3.9813679500,3.6916188000,3.9255644100,...,8216086,147325356.7800
    r = members["sz.000001"].iloc[0]
    assert (r.open, r.close, r.volume, r.amount) == (3.7560075, 3.92556441, 8216086, 147325356.78)


def test_csi300_members_default_raises_naming_the_row(data_dir):
    with pytest.raises(DataError) as info:
        load("csi300_members", data_dir=data_dir, symbols=["sh.600000", "sh.600048"])
    err = info.value
    assert err.source.endswith(f"{MEMBERS.split('/')[-1]}[sh.600048]")
    assert (err.column, err.row) == ("close", pd.Timestamp("2019-03-27"))
    assert "repair='drop'" in str(err)


def test_csi300_members_range_and_symbols(data_dir):
    panel = load(
        "csi300_members",
        data_dir=data_dir,
        symbols=["sh.600000"],
        start="2015-01-01",
        end="2017-05-01",
    )
    df = panel["sh.600000"]
    assert span(df)[0] >= "2015-01-05" and span(df)[1] <= "2017-05-01"
    assert {"tradestatus", "is_st", "turn", "preclose", "pct_chg"} <= set(df.columns)


@pytest.fixture(scope="module")
def sp500(data_dir):
    return load("sp500_5yr", data_dir=data_dir, repair="drop")


def test_sp500(data_dir, sp500):
    n_raw, _, _ = file_rows(data_dir / SP500)
    assert n_raw == 619_040
    assert len(sp500) == 505
    dropped = sum(len(f.attrs.get("repair_dropped", [])) for f in sp500.values())
    assert sum(len(f) for f in sp500.values()) + dropped == n_raw
    dates = sorted({d for f in sp500.values() for d in f.index})
    assert len(dates) == 1259
    assert (dates[0], dates[-1]) == (pd.Timestamp("2013-02-08"), pd.Timestamp("2018-02-07"))
    full = sum(len(f) + len(f.attrs.get("repair_dropped", [])) == 1259 for f in sp500.values())
    assert full == 470  # SOURCES.md: 470 tickers have all 1259 days
    assert sp500["AAPL"].iloc[0].close == 67.8542  # 474.98 / 7, split-adjusted
    assert min(len(f) for f in sp500.values()) == 44  # SOURCES.md: the shortest history


# --------------------------------------------------------------------------- names, paths, errors
def test_every_catalogue_entry_is_listed_and_present(data_dir):
    listed = list_datasets(data_dir)
    assert [d["name"] for d in listed] == list(CATALOG)
    for d in listed:
        assert d["present"], d
        assert d["kind"] in ("single", "panel", "table")
        assert set(d) == {"name", "kind", "path", "description", "present", "yahoo"}
    by = {d["name"]: d for d in listed}
    assert by["sector_etfs"]["yahoo"] == list(SECTORS) + ["SPY"]
    assert by["csi300"]["yahoo"] == ["000300.SS"]
    assert by["bt_orcl"]["yahoo"] == []


def test_list_datasets_without_data(tmp_path):
    listed = list_datasets(tmp_path / "none")
    assert listed and not any(d["present"] for d in listed)


def test_unknown_name_suggests_closest(data_dir):
    with pytest.raises(DataError, match="did you mean csi300") as info:
        load("csi30", data_dir=data_dir)
    assert "sector_etfs" in str(info.value)  # lists the known names too
    with pytest.raises(DataError, match="did you mean sector_etfs"):
        load("sector_etf", data_dir=data_dir)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("BTLSTM_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(tmp_path / "x", must_exist=False) == tmp_path / "x"
    monkeypatch.delenv("BTLSTM_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir(must_exist=False) == tmp_path / ".btlstm" / "data"
    with pytest.raises(DataError) as info:
        data_dir()
    msg = str(info.value)
    assert str(tmp_path / ".btlstm" / "data") in msg
    assert "btlstm fetch" in msg and "BTLSTM_DATA" in msg and "btlstm demo" in msg


def test_missing_dataset_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="btlstm fetch sector_etfs") as info:
        load("sector_etfs", data_dir=tmp_path)
    assert str(tmp_path / "spdr_sector_etfs" / "XLB.csv") in str(info.value)
    with pytest.raises(DataError, match="file not found"):
        load("sp500_5yr", data_dir=tmp_path)


def test_load_by_path_and_yahoo_prefix(data_dir, tmp_path):
    by_path = load(str(data_dir / "backtrader_datas" / "nvda-1999-2014.txt"))
    assert len(by_path) == 4012
    panel = load(str(data_dir / SP500), symbols=["MMM"], end="2013-02-11")
    assert list(panel) == ["MMM"] and len(panel["MMM"]) == 2
    with pytest.raises(DataError, match="unknown CSV layout"):
        load(str(data_dir / "backtrader_datas" / "bidask.csv"))
    # yahoo:TICKER reads <data_dir>/yahoo/TICKER.csv
    src = load("bt_ko", data_dir=data_dir)
    write_yahoo_csv(src, tmp_path / "yahoo" / "KO.csv")
    ko = load("yahoo:KO", data_dir=tmp_path)
    pd.testing.assert_frame_equal(ko, src, check_freq=False)
    assert ko.attrs["symbol"] == "KO"
    with pytest.raises(DataError, match="fetch_yahoo"):
        load("yahoo:PEP", data_dir=tmp_path)


def test_corrupt_btlstm_file_is_never_used(data_dir, tmp_path):
    src = load("bt_pep", data_dir=data_dir)
    path = write_yahoo_csv(src, tmp_path / "yahoo" / "PEP.csv")
    text = path.read_text()
    path.write_text(text[: len(text) // 2].rsplit("\n", 1)[0] + "\n")  # still parses
    with pytest.raises(DataError, match="corrupt") as info:
        load("yahoo:PEP", data_dir=tmp_path)
    assert str(path) in str(info.value)


def test_describe(data_dir, members):
    d = describe(load("csi300", data_dir=data_dir))
    assert (d["kind"], d["rows"], d["first"], d["last"]) == (
        "single",
        4558,
        "2005-01-04",
        "2023-10-10",
    )
    p = describe(members)
    assert (p["kind"], p["symbols"], p["rows"]) == ("panel", 300, 1_007_331)
    assert (p["first"], p["last"]) == ("2000-01-04", "2020-08-24")
    assert p["repaired"] == ["sh.600048", "sz.000069"]
    t = describe(load("csi300_constituents", data_dir=data_dir))
    assert t == {"kind": "table", "rows": 300, "columns": ["code", "code_name"]}


def test_argument_errors(data_dir):
    with pytest.raises(ValueError, match="symbols"):
        load("csi300", data_dir=data_dir, symbols=["X"])
    with pytest.raises(ValueError, match="start must be a date"):
        load("csi300", data_dir=data_dir, start="not-a-date")
    with pytest.raises(ValueError, match="repair must be one of"):
        load("csi300", data_dir=data_dir, repair="fix")
