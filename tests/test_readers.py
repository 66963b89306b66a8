"""Readers on the real files and on small crafted files."""

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401
from btlstm.data import (
    CANONICAL_COLUMNS,
    DataError,
    read_akshare_index,
    read_baostock_long,
    read_csv_auto,
    read_kaggle_long,
    read_yahoo_csv,
    sniff_layout,
)

BAOSTOCK_HEADER = (
    "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,isST"
)


def canonical(df):
    assert df.index.name == "date"
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.tz is None
    assert list(df.columns[:6]) == list(CANONICAL_COLUMNS)
    assert all(df[c].dtype == np.float64 for c in CANONICAL_COLUMNS)
    assert df.attrs["synthetic"] is False


# --------------------------------------------------------------------------- Yahoo layouts
def test_yahoo_real_orcl(data_dir):
    df = read_yahoo_csv(data_dir / "backtrader_datas" / "orcl-1995-2014.txt")
    canonical(df)
    assert len(df) == 5036
    assert df.attrs["symbol"] == "orcl-1995-2014"
    assert df.attrs["amount_derived"] is True
    # 1995-01-03,2.179012,2.191358,2.117284,2.117284,1.883304,36301200
    first = df.iloc[0]
    assert df.index[0] == pd.Timestamp("1995-01-03")
    assert (first.open, first.high, first.low, first.close) == (
        2.179012,
        2.191358,
        2.117284,
        2.117284,
    )
    assert first.adj_close == 1.883304 and first.volume == 36301200
    assert first.amount == pytest.approx(2.117284 * 36301200)


def test_yahoo_adj_close_last_ko(data_dir):
    # Date,Open,High,Low,Close,Volume,Adj Close ; 1997-01-02,52.5,52.5,51.125,51.875,7161800,16.206907
    df = read_yahoo_csv(data_dir / "backtrader_datas" / "daily-KO.csv", symbol="KO")
    canonical(df)
    assert df.attrs["symbol"] == "KO"
    r = df.iloc[0]
    assert (r.close, r.volume, r.adj_close) == (51.875, 7161800, 16.206907)


def test_backtrader_generic_layout(data_dir):
    # Date,Open,High,Low,Close,Volume,OpenInterest ; volume 0
    df = read_yahoo_csv(data_dir / "backtrader_datas" / "2006-day-001.txt")
    canonical(df)
    assert len(df) == 255
    assert "openinterest" not in df.columns and "adj_close" not in df.columns
    assert (df["volume"] == 0).all() and (df["amount"] == 0).all()
    assert df.iloc[0].close == 3604.33


def test_yahoo_extra_columns_kept(data_dir):
    df = read_yahoo_csv(data_dir / "backtrader_datas" / "2006-day-001-optix.txt")
    assert list(df.columns[6:]) == ["optix_close", "optix_pess", "optix_opt"]


def test_yahoo_spy_raw_keeps_partial_last_row(data_dir):
    # the reader is raw: the catalogue drops the documented partial row, not the reader
    df = read_yahoo_csv(data_dir / "spdr_sector_etfs" / "SPY.csv")
    assert df.index[-1] == pd.Timestamp("2025-09-26")
    assert df.iloc[-1].volume == 30722277


def test_yahoo_start_end_inclusive(data_dir):
    df = read_yahoo_csv(
        data_dir / "backtrader_datas" / "orcl-1995-2014.txt", start="2014-12-30", end="2014-12-31"
    )
    assert list(df.index.strftime("%Y-%m-%d")) == ["2014-12-30", "2014-12-31"]


# --------------------------------------------------------------------------- akshare
def test_akshare_column_order_trap(data_dir):
    # 日期,开盘,收盘,最高,最低,成交量,成交额,...  close comes BEFORE high:
    # 2005-01-05,981.58,992.56,997.32,979.88,7119108,4529208200.0,1.77,0.99,9.77,0.02
    df = read_akshare_index(data_dir / "cn_index_daily" / "eastmoney_akshare" / "000300.csv")
    canonical(df)
    r = df.loc["2005-01-05"]
    assert r.open == 981.58
    assert r.close == 992.56
    assert r.high == 997.32
    assert r.low == 979.88
    assert r.volume == 7119108 * 100  # lots -> shares
    assert r.amount == 4529208200.0  # CNY, not derived
    assert df.attrs["amount_derived"] is False
    assert df.attrs["symbol"] == "000300"
    assert (r.amplitude, r.pct_chg, r.change, r.turnover) == (1.77, 0.99, 9.77, 0.02)
    assert len(df) == 4558


def test_akshare_wrong_header(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("日期,开盘,最高,最低,成交量\n2020-01-02,1,2,0.5,10\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"missing column\(s\) \['收盘', '成交额'\]") as info:
        read_akshare_index(p)
    assert str(p) in str(info.value)


# --------------------------------------------------------------------------- baostock
def test_baostock_real_subset(data_dir):
    path = data_dir / "cn_ashare_hs300_daily" / "hs300_members_2019-12_daily_qfq.csv.gz"
    panel = read_baostock_long(path, codes=["sh.600000", "sz.000001"], start="2015-01-05")
    assert list(panel) == ["sh.600000", "sz.000001"]
    f = panel["sh.600000"]
    canonical(f)
    assert list(f.columns[6:]) == ["preclose", "turn", "tradestatus", "pct_chg", "is_st"]
    assert f.index[0] == pd.Timestamp("2015-01-05") and f.index[-1] == pd.Timestamp("2020-08-24")
    # 2015-01-05,sh.600000,9.2637091600,9.4795512500,9.0770349200,9.3745469900,
    #   9.1528713300,513568704,8182820864.0000,2,3.441509,1,2.421900,0
    r = f.loc["2015-01-05"]
    assert (r.open, r.high, r.low, r.close) == (9.26370916, 9.47955125, 9.07703492, 9.37454699)
    assert (r.volume, r.amount, r.preclose) == (513568704, 8182820864.0, 9.15287133)
    assert (r.turn, r.tradestatus, r.pct_chg, r.is_st) == (3.441509, 1, 2.4219, 0)
    assert f["tradestatus"].dtype == np.int8 and f["is_st"].dtype == np.int8
    assert f.attrs["adjustflag"] == 2 and f.attrs["amount_derived"] is False
    assert f.attrs["source"] == f"{path}[sh.600000]"
    # suspended days stay in, flat, with volume 0 and NaN turnover
    sus = f[f["tradestatus"] == 0]
    assert len(sus) > 0
    assert (sus["volume"] == 0).all() and sus["turn"].isna().all()


def _write_baostock(path, rows, gz=False):
    text = BAOSTOCK_HEADER + "\n" + "\n".join(rows) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _bao_row(day, code, o, h, lo, c, vol=1000, status=1):
    return f"{day},{code},{o},{h},{lo},{c},{c},{vol},{vol * c},2,0.5,{status},0.1,0"


def test_baostock_groups_unsorted_codes_and_keeps_date_order(tmp_path):
    rows = [
        _bao_row("2020-01-02", "sz.000002", 10, 11, 9, 10.5),
        _bao_row("2020-01-02", "sh.600000", 5, 5.5, 4.5, 5.2),
        _bao_row("2020-01-03", "sz.000002", 10.5, 11, 10, 10.8),
        _bao_row("2020-01-03", "sh.600000", 5.2, 5.4, 5.0, 5.1, vol=0, status=0),
        _bao_row("2020-01-06", "sh.600000", 5.1, 5.3, 5.0, 5.25),
    ]
    # gzip data without a .gz suffix is recognised from its magic bytes
    panel = read_baostock_long(_write_baostock(tmp_path / "long.csv", rows, gz=True))
    assert list(panel) == ["sh.600000", "sz.000002"]
    assert list(panel["sh.600000"]["close"]) == [5.2, 5.1, 5.25]
    assert list(panel["sh.600000"]["tradestatus"]) == [1, 0, 1]
    assert len(panel["sz.000002"]) == 2


def test_baostock_validation_error_names_file_symbol_column_date(tmp_path, caplog):
    rows = [
        _bao_row("2020-01-02", "sh.600000", 5, 5.5, 4.5, 5.2),
        _bao_row("2020-01-03", "sh.600000", 5.2, 5.4, 5.0, 5.9),  # close > high
        _bao_row("2020-01-06", "sh.600000", 5.1, 5.3, 5.0, 5.25),
        _bao_row("2020-01-02", "sz.000002", 10, 11, 9, 10.5),
    ]
    p = _write_baostock(tmp_path / "long.csv.gz", rows, gz=True)
    with pytest.raises(DataError) as info:
        read_baostock_long(p)
    msg = str(info.value)
    assert f"{p}[sh.600000]" in msg and "'close'" in msg and "2020-01-03" in msg
    assert "repair='drop'" in msg
    with caplog.at_level(logging.INFO, logger="btlstm.data"):
        panel = read_baostock_long(p, repair="drop")
    assert list(panel["sh.600000"].index.strftime("%m-%d")) == ["01-02", "01-06"]
    assert panel["sh.600000"].attrs["repair_dropped"] == [
        ("2020-01-03", "close", "close outside [low, high]")
    ]
    assert len(panel["sz.000002"]) == 1 and "repair" not in panel["sz.000002"].attrs
    assert any(
        "dropped 1 row(s) in 1 symbol(s): sh.600000" in r.getMessage() for r in caplog.records
    )


def test_baostock_unknown_code_suggests(tmp_path):
    p = _write_baostock(tmp_path / "l.csv", [_bao_row("2020-01-02", "sh.600000", 5, 5.5, 4.5, 5.2)])
    with pytest.raises(DataError, match=r"\['sh.60000'\] not in the file.*sh.600000"):
        read_baostock_long(p, codes=["sh.60000"])


def test_baostock_non_numeric_cell(tmp_path):
    rows = [
        _bao_row("2020-01-02", "sh.600000", 5, 5.5, 4.5, 5.2),
        "2020-01-03,sh.600000,5.2,5.4,abc,5.1,5.2,100,510,2,0.5,1,0.1,0",
    ]
    p = _write_baostock(tmp_path / "l.csv", rows)
    with pytest.raises(DataError) as info:
        read_baostock_long(p)
    assert str(p) in str(info.value) and "'low'" in str(info.value) and "'abc'" in str(info.value)


# --------------------------------------------------------------------------- Kaggle
def test_kaggle_real_subset(data_dir):
    path = data_dir / "sp500_all_stocks_5yr" / "all_stocks_5yr.csv.gz"
    panel = read_kaggle_long(path, names=["AAPL", "PYPL"])
    aapl = panel["AAPL"]
    canonical(aapl)
    assert len(aapl) == 1259
    # 2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416,AAPL
    r = aapl.iloc[0]
    assert aapl.index[0] == pd.Timestamp("2013-02-08")
    assert (r.open, r.high, r.low, r.close, r.volume) == (
        67.7142,
        68.4014,
        66.8928,
        67.8542,
        158168416,
    )
    assert r.amount == pytest.approx(67.8542 * 158168416)
    assert aapl.attrs["amount_derived"] is True
    assert aapl.index[-1] == pd.Timestamp("2018-02-07")
    assert len(panel["PYPL"]) < 1259  # listed in 2015


def test_kaggle_error_names_file_and_symbol(tmp_path):
    p = tmp_path / "k.csv"
    p.write_text(
        "date,open,high,low,close,volume,Name\n"
        "2014-05-16,10,11,9,10,100,AAA\n"
        "2014-05-19,,11,9,10,100,AAA\n"
        "2014-05-16,10,11,9,10,100,BBB\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        read_kaggle_long(p)
    assert info.value.source == f"{p}[AAA]"
    assert info.value.column == "open" and info.value.row == pd.Timestamp("2014-05-19")
    fixed = read_kaggle_long(p, repair="drop")
    assert len(fixed["AAA"]) == 1 and len(fixed["BBB"]) == 1


# --------------------------------------------------------------------------- sniffer + bad files
@pytest.mark.parametrize(
    "rel, layout, kind",
    [
        ("backtrader_datas/yhoo-1996-2015.txt", "yahoo", pd.DataFrame),
        ("backtrader_datas/daily-PEP.csv", "yahoo", pd.DataFrame),
        ("backtrader_datas/2005-2006-day-001.txt", "yahoo", pd.DataFrame),
        ("spdr_sector_etfs/XLK.csv", "yahoo", pd.DataFrame),
        ("cn_index_daily/eastmoney_akshare/000001.csv", "akshare", pd.DataFrame),
        ("sp500_all_stocks_5yr/all_stocks_5yr.csv.gz", "kaggle", dict),
        ("cn_ashare_hs300_daily/hs300_members_2019-12_daily_qfq.csv.gz", "baostock", dict),
    ],
)
def test_sniffer_picks_the_reader(data_dir, rel, layout, kind):
    assert sniff_layout(data_dir / rel) == layout
    if kind is dict:  # long files: a small subset keeps this fast
        key = "names" if layout == "kaggle" else "codes"
        sym = "AAPL" if layout == "kaggle" else "sh.600000"
        out = read_csv_auto(data_dir / rel, **{key: [sym]}, end="2014-01-31")
        assert list(out) == [sym]
    else:
        out = read_csv_auto(data_dir / rel)
        canonical(out)


@pytest.mark.parametrize(
    "rel, match",
    [
        ("backtrader_datas/2006-min-005.txt", "intraday"),
        ("backtrader_datas/2006-01-02-volume-min-001.txt", "more fields than the header"),
        ("backtrader_datas/ticksample.csv", "unknown CSV layout"),
        ("backtrader_datas/bidask.csv", "unknown CSV layout"),
        ("backtrader_datas/bidask2.csv", "unknown CSV layout"),
    ],
)
def test_out_of_scope_samples_give_clear_errors(data_dir, rel, match):
    with pytest.raises(DataError, match=match) as info:
        read_csv_auto(data_dir / rel)
    assert str(data_dir / rel) in str(info.value)


def test_weekly_sample_loads(data_dir):
    df = read_csv_auto(data_dir / "backtrader_datas" / "2006-week-001.txt")
    assert len(df) == 52 and df.index[0] == pd.Timestamp("2006-01-06")


def test_unknown_header(tmp_path):
    p = tmp_path / "prices.csv"
    p.write_text("when,price\n2020-01-01,3\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown CSV layout") as info:
        read_csv_auto(p)
    assert str(p) in str(info.value) and "['when', 'price']" in str(info.value)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    for fn in (read_csv_auto, read_yahoo_csv, read_akshare_index, read_baostock_long):
        with pytest.raises(DataError, match="file not found") as info:
            fn(p)
        assert str(p) in str(info.value)


def test_garbage_gzip(tmp_path):
    p = tmp_path / "bad.csv.gz"
    p.write_bytes(b"this is not gzip at all\n" * 10)
    with pytest.raises(DataError, match="not gzip") as info:
        read_csv_auto(p)
    assert str(p) in str(info.value)


def test_truncated_gzip(tmp_path, data_dir):
    src = (data_dir / "backtrader_datas" / "orcl-1995-2014.txt").read_bytes()
    blob = gzip.compress(src)
    p = tmp_path / "orcl.csv.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cannot parse") as info:
        read_yahoo_csv(p)
    assert str(p) in str(info.value)


def test_binary_garbage(tmp_path):
    p = tmp_path / "noise.csv"
    p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)))
    with pytest.raises(DataError) as info:
        read_csv_auto(p)
    assert str(p) in str(info.value)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty") as info:
        read_csv_auto(p)
    assert str(p) in str(info.value)


def test_header_only_file(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty") as info:
        read_yahoo_csv(p)
    assert str(p) in str(info.value)


def test_bad_date_and_bad_number(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(
        "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\nyesterday,1,2,0.5,1.5,10\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="cannot parse date 'yesterday'") as info:
        read_yahoo_csv(p)
    assert "line 3" in str(info.value)
    p.write_text(
        "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,n/a?,0.5,1.5,10\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        read_yahoo_csv(p)
    assert (info.value.column, info.value.row) == ("high", pd.Timestamp("2020-01-03"))


def test_yahoo_null_rows_raise_then_repair(tmp_path):
    # old Yahoo downloads write "null" on holidays
    p = tmp_path / "n.csv"
    p.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,1,2,0.5,1.5,1.4,10\n"
        "2020-01-03,null,null,null,null,null,null\n"
        "2020-01-06,1.5,2,1,1.8,1.7,12\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="NaN") as info:
        read_yahoo_csv(p)
    assert info.value.row == pd.Timestamp("2020-01-03")
    df = read_yahoo_csv(p, repair="drop")
    assert len(df) == 2 and "dropped 1 row(s)" in df.attrs["repair"]


def test_bad_repair_argument(data_dir):
    with pytest.raises(ValueError, match="repair must be one of"):
        read_yahoo_csv(data_dir / "backtrader_datas" / "2006-day-001.txt", repair="fix")


# --------------------------------------------------------------------------- absurd headers
def _refused_fast(p, match, readers=(read_csv_auto, sniff_layout, read_yahoo_csv)):
    """Every reader refuses ``p`` with a DataError naming the file and the limit (a hang guard, generous for a loaded machine)."""
    import time

    for fn in readers:
        t0 = time.perf_counter()
        with pytest.raises(DataError, match=match) as info:
            fn(p)
        took = time.perf_counter() - t0
        assert took < 30, f"{fn.__name__} took {took:.1f} s on {p.name}"  # refused, not read: a hang guard, not a timing
        msg = str(info.value)
        assert str(p) in msg and len(msg) < 2000, msg[:300]
    return msg


def test_100000_column_header_refused_fast(tmp_path):
    from btlstm.data.readers import MAX_HEADER_BYTES

    # a valid Yahoo header followed by 100,000 more columns (it took minutes before)
    cols = "Date,Open,High,Low,Close,Volume," + ",".join(f"c{i}" for i in range(100_000))
    row = "2020-01-02,1,1,1,1,1," + ",".join("1" for _ in range(100_000))
    p = tmp_path / "wide.csv"
    p.write_text(f"{cols}\n{row}\n", encoding="utf-8")
    msg = _refused_fast(p, "header line is longer than")
    assert str(MAX_HEADER_BYTES) in msg and "MAX_HEADER_BYTES" in msg
    gz = tmp_path / "wide.csv.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    _refused_fast(gz, "header line is longer than")


def test_many_short_columns_refused_fast(tmp_path):
    from btlstm.data.readers import MAX_HEADER_COLUMNS

    p = tmp_path / "narrow_names.csv"  # 20,000 columns in 40 KB: under the byte limit
    p.write_text("Date,Open,High,Low,Close,Volume," + ",".join("x" * 20_000) + "\n1\n")
    msg = _refused_fast(p, f"more than {MAX_HEADER_COLUMNS}")
    assert "columns" in msg and "MAX_HEADER_COLUMNS" in msg


def test_50mb_single_line_refused_fast(tmp_path):
    p = tmp_path / "one_line.csv"
    with p.open("wb") as fh:  # 50 MB, no line end at all
        fh.write(b"Date,Open,High,Low,Close,Volume,")
        fh.write(b"a," * (25 * 1024 * 1024))
    assert p.stat().st_size > 50 * 1024 * 1024
    _refused_fast(
        p,
        "header line is longer than",
        readers=(read_csv_auto, sniff_layout, read_yahoo_csv, read_baostock_long, read_kaggle_long),
    )


def test_header_limits_leave_real_files_alone(data_dir, tmp_path):
    from btlstm.data.readers import read_header

    assert read_header(data_dir / "backtrader_datas" / "orcl-1995-2014.txt")[0] == "Date"
    # a header with old Mac line ends, and one with no line end (header only)
    p = tmp_path / "cr.csv"
    p.write_bytes(b"Date,Open,High,Low,Close,Volume\r2020-01-02,1,1,1,1,1\r")
    assert read_header(p) == ["Date", "Open", "High", "Low", "Close", "Volume"]
    q = tmp_path / "noend.csv"
    q.write_bytes(b"\xef\xbb\xbfDate,Open,High,Low,Close,Volume")
    assert read_header(q)[0] == "Date"


@pytest.mark.parametrize(
    "start, end, first, last",
    [
        ("2014-12-29", "2014-12-31", "2014-12-29", "2014-12-31"),  # trading days: inclusive
        ("2014-12-27", "2014-12-28", None, None),  # a weekend alone: no row
        ("2014-12-27", "2015-01-01", "2014-12-29", "2014-12-31"),  # weekend .. New Year's Day
        ("2014-12-25", "2014-12-26", "2014-12-26", "2014-12-26"),  # Christmas .. a trading day
    ],
)
def test_range_ends_on_trading_days_and_on_holidays(data_dir, tmp_path, start, end, first, last):
    """start and end are inclusive dates: one that falls on a holiday selects the
    trading days inside the range, in a one-symbol file and in a long file alike."""
    path = data_dir / "backtrader_datas" / "orcl-1995-2014.txt"
    if first is None:
        with pytest.raises(DataError):
            read_yahoo_csv(path, start=start, end=end)
    else:
        df = read_yahoo_csv(path, start=start, end=end)
        assert (str(df.index[0].date()), str(df.index[-1].date())) == (first, last)
    full = read_yahoo_csv(path)
    days = full.loc["2014-12-22":"2014-12-31"]
    long = tmp_path / "long.csv"
    rows = ["date,open,high,low,close,volume,Name"]
    for name in ("AAA", "BBB"):
        rows += [f"{d.date()},{r.open},{r.high},{r.low},{r.close},{int(r.volume)},{name}"
                 for d, r in days.iterrows()]  # fmt: skip
    long.write_text("\n".join(rows) + "\n", encoding="utf-8")
    if first is None:  # no symbol has a row in the range
        assert read_kaggle_long(long, start=start, end=end) == {}
        return
    panel = read_kaggle_long(long, start=start, end=end)
    assert list(panel) == ["AAA", "BBB"]
    for f in panel.values():
        assert (str(f.index[0].date()), str(f.index[-1].date())) == (first, last)
        np.testing.assert_array_equal(f["close"].to_numpy(), full.loc[first:last, "close"])


def _ohlc_rows(dates, sep=",", price=lambda k: f"{10 + k % 3}"):
    return [sep.join([d, price(k), price(k), price(k), price(k), "1000"])
            for k, d in enumerate(dates)]  # fmt: skip


def test_dates_that_read_in_two_formats_need_a_date_format(tmp_path):
    """01/02/2015 is 1 February or 2 January: with no date_format the reader refuses to
    guess (both %d/%m/%Y and %m/%d/%Y read every date), and names the key."""
    days = pd.bdate_range("2015-01-01", periods=8)
    dates = [f"{d.day:02d}/{d.month:02d}/{d.year}" for d in days]  # all days <= 12
    p = tmp_path / "ambiguous.csv"
    p.write_text("\n".join(["date,open,high,low,close,volume", *_ohlc_rows(dates)]) + "\n")
    with pytest.raises(DataError, match=r"several formats \['%d/%m/%Y', '%m/%d/%Y'\]") as info:
        read_csv_auto(p)
    assert "date_format" in str(info.value)
    df = read_csv_auto(p, data_map={"date_format": "%d/%m/%Y"})
    assert list(df.index) == list(days)


def test_a_bad_date_after_the_head_names_its_file_line(tmp_path):
    days = pd.bdate_range("2015-01-01", periods=80)
    dates = [str(d.date()) for d in days]
    dates[70] = "2015-13-45"  # file line 72 (the header is line 1)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(["date,open,high,low,close,volume", *_ohlc_rows(dates)]) + "\n")
    with pytest.raises(DataError, match=r"row line 72: cannot parse date '2015-13-45'"):
        read_csv_auto(p)
    p.write_text("\n".join(_ohlc_rows(dates)) + "\n")  # no header line: line 71
    with pytest.raises(DataError, match=r"row line 71: cannot parse"):
        read_csv_auto(p, data_map={"header": False, "date_column": "0", "open_column": "1",
                                   "high_column": "2", "low_column": "3", "close_column": "4",
                                   "volume_column": "5"})  # fmt: skip


def test_a_semicolon_file_with_whole_numbers_first_keeps_its_decimal_points(tmp_path):
    """The decimal mark is guessed from the head: whole numbers there say nothing, so a
    later 10.5 is still ten and a half (not a comma-decimal file's error)."""
    days = pd.bdate_range("2015-01-01", periods=80)
    rows = _ohlc_rows([str(d.date()) for d in days], sep=";",
                      price=lambda k: f"{10 + k % 3}" if k < 60 else f"{10 + k % 3}.5")  # fmt: skip
    p = tmp_path / "semi.csv"
    p.write_text("\n".join(["date;open;high;low;close;volume", *rows]) + "\n")
    df = read_csv_auto(p)
    assert df["close"].iloc[59] == 10 + 59 % 3 and df["close"].iloc[60] == 10 + 60 % 3 + 0.5


def test_a_semicolon_file_with_whole_numbers_first_does_not_guess_a_decimal_comma(tmp_path):
    """Whole numbers in the head give no decimal mark: the point stays. A later
    '1,500' is then refused, naming it, rather than silently read as 1.5."""
    days = pd.bdate_range("2015-01-01", periods=80)
    rows = _ohlc_rows([str(d.date()) for d in days], sep=";")
    rows[70] = rows[70].rsplit(";", 1)[0] + ";1,500"  # the volume of file line 72
    p = tmp_path / "semi.csv"
    p.write_text("\n".join(["date;open;high;low;close;volume", *rows]) + "\n")
    with pytest.raises(DataError, match=r"non-numeric value '1,500'"):
        read_csv_auto(p)
