"""Presets, declared column maps and `btlstm data inspect`, on small files the tests write.

Every fixture holds the same three trading days (2015-01-05 .. 07) written the way
one vendor writes them (units, order, encoding, separators); each must load to
the same canonical frame, value for value, and `btlstm data inspect` must print a
[data] block that loads it again to the same frame.
"""

import codecs
import gzip

import numpy as np
import pandas as pd
import pytest
import tomllib

from btlstm.cli import main
from btlstm.data import (
    ColumnMap,
    DataError,
    inspect_file,
    load,
    read_csv_auto,
    read_dataframe,
    read_mapped,
    sniff,
)
from btlstm.settings import Settings

DAYS = ["2015-01-05", "2015-01-06", "2015-01-07"]
# binary-exact prices, so close x volume is exact too: amount given == amount derived
OPEN = [10.0, 10.25, 10.625]
HIGH = [10.5, 10.875, 10.75]
LOW = [9.75, 10.125, 10.0]
CLOSE = [10.25, 10.625, 10.125]
VOLUME = [120000.0, 150000.0, 90000.0]  # shares
AMOUNT = [1230000.0, 1593750.0, 911250.0]  # money = close x volume


def expected(**extras) -> pd.DataFrame:
    cols = dict(open=OPEN, high=HIGH, low=LOW, close=CLOSE, volume=VOLUME, amount=AMOUNT)
    cols.update(extras)
    return pd.DataFrame(cols, index=pd.DatetimeIndex(pd.to_datetime(DAYS), name="date"))


def rows(fmt, order=(0, 1, 2)):
    """One formatted line per day (``fmt`` gets d, o, h, l, c, v, a, i)."""
    out = []
    for i in order:
        out.append(
            fmt.format(
                d=DAYS[i],
                o=OPEN[i],
                h=HIGH[i],
                l=LOW[i],
                c=CLOSE[i],
                v=int(VOLUME[i]),
                a=AMOUNT[i],
                i=i,
            )  # fmt: skip
        )
    return out


def write(path, lines, encoding="utf-8", newline="\n"):
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


ADJ = [10.0, 10.375, 9.875]


def _generic(p):
    return write(p, ["date,open,high,low,close,volume"] + rows("{d},{o},{h},{l},{c},{v}"))


def _generic_mixed(p):  # any case, any order, 'Datetime' as the date, an amount column
    return write(
        p, ["CLOSE,Volume,Datetime,low,HIGH,Open,Amount"] + rows("{c},{v},{d},{l},{h},{o},{a}")
    )


def _yahoo(p):
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [
        r.replace("ADJ", str(ADJ[i])) for i, r in enumerate(rows("{d},{o},{h},{l},{c},ADJ,{v}"))
    ]
    return write(p, lines)


def _yahoo_no_adj(p):  # also Stooq's per-symbol CSV download
    return write(p, ["Date,Open,High,Low,Close,Volume"] + rows("{d},{o},{h},{l},{c},{v}"))


def _backtrader(p):
    return write(
        p, ["Date,Open,High,Low,Close,Volume,OpenInterest"] + rows("{d},{o},{h},{l},{c},{v},0")
    )


AK_HEADER = "日期,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率"
AK_EXTRAS = dict(amplitude=[7.0, 7.2, 6.1], pct_chg=[2.5, 3.66, -4.71],
                 change=[0.25, 0.375, -0.5], turnover=[0.5, 0.62, 0.38])  # fmt: skip


def _ak_tail(i):
    return ",".join(str(AK_EXTRAS[k][i]) for k in ("amplitude", "pct_chg", "change", "turnover"))


def _akshare(p):  # close BEFORE high; volume in lots of 100
    lines = [AK_HEADER]
    for i, r in enumerate(rows("{d},{o},{c},{h},{l},LOTS,{a}")):
        lines.append(r.replace("LOTS", str(int(VOLUME[i] / 100))) + "," + _ak_tail(i))
    return write(p, lines)


def _akshare_stock(p):
    lines = ["日期,股票代码,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率"]
    for i, r in enumerate(rows("{d},600000,{o},{c},{h},{l},LOTS,{a}")):
        lines.append(r.replace("LOTS", str(int(VOLUME[i] / 100))) + "," + _ak_tail(i))
    return write(p, lines)


NE_HEADER = (
    "日期,股票代码,名称,收盘价,最高价,最低价,开盘价,前收盘,涨跌额,涨跌幅,换手率,成交量,"
    "成交金额,总市值,流通市值"
)
NE_PRECLOSE = [10.0, 10.25, 10.625]
NE_CHANGE = [np.nan, 0.375, -0.5]
NE_PCT = [np.nan, 3.6585, -4.7059]


def _netease(p):  # GBK, newest first, '000300, None in the oldest row's change columns, CRLF
    lines = [NE_HEADER]
    for i in (2, 1, 0):
        ch = "None" if i == 0 else str(NE_CHANGE[i])
        pc = "None" if i == 0 else str(NE_PCT[i])
        lines.append(
            f"{DAYS[i]},'000300,沪深300,{CLOSE[i]},{HIGH[i]},{LOW[i]},{OPEN[i]},{NE_PRECLOSE[i]},"
            f"{ch},{pc},None,{int(VOLUME[i])},{AMOUNT[i]},None,None"
        )
    return write(p, lines, encoding="gbk", newline="\r\n")


TS_HEADER = "ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount"


def _tushare(p):  # trade_date 20150105, vol in lots, amount in thousands, newest first
    lines = [TS_HEADER]
    for i in (2, 1, 0):
        lines.append(
            f"600000.SH,{DAYS[i].replace('-', '')},{OPEN[i]},{HIGH[i]},{LOW[i]},{CLOSE[i]},"
            f"{NE_PRECLOSE[i]},{CLOSE[i] - NE_PRECLOSE[i]},{AK_EXTRAS['pct_chg'][i]},"
            f"{VOLUME[i] / 100},{AMOUNT[i] / 1000}"
        )
    return write(p, lines)


BAO_HEADER = (
    "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,isST"
)


def _baostock(p):
    lines = [BAO_HEADER]
    lines += rows("{d},sh.600000,{o},{h},{l},{c},10.0,{v},{a},2,0.5,1,2.5,0")
    return write(p, lines)


def _kaggle(p):
    lines = ["date,open,high,low,close,volume,Name"]
    lines += rows("{d},{o},{h},{l},{c},{v},AAA") + rows("{d},{o},{h},{l},{c},{v},BBB")
    return write(p, lines)


def _stooq(p):
    lines = ["<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>"]
    lines += [
        r.replace("DAY", DAYS[i].replace("-", ""))
        for i, r in enumerate(rows("AAPL.US,D,DAY,000000,{o},{h},{l},{c},{v},0"))
    ]
    return write(p, lines)


def _semicolon(p):  # ';' separated, decimal commas (a European spreadsheet export)
    lines = ["date;open;high;low;close;volume"]
    lines += [r.replace(".", ",") for r in rows("{d};{o};{h};{l};{c};{v}")]
    return write(p, lines)


def _bom(p):  # UTF-8 with a byte-order mark (Excel "CSV UTF-8")
    text = "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME,AMOUNT\n" + "\n".join(
        rows("{d},{o},{h},{l},{c},{v},{a}")
    )
    p.write_bytes(codecs.BOM_UTF8 + (text + "\n").encode("utf-8"))
    return p


def _gzipped(p):  # the generic layout, gzip-compressed
    raw = "date,open,high,low,close,volume\n" + "\n".join(rows("{d},{o},{h},{l},{c},{v}")) + "\n"
    p.write_bytes(gzip.compress(raw.encode()))
    return p


NE = dict(preclose=NE_PRECLOSE, change=NE_CHANGE, pct_chg=NE_PCT,
          turnover=[np.nan] * 3, market_cap=[np.nan] * 3, float_market_cap=[np.nan] * 3)  # fmt: skip
TS = dict(preclose=NE_PRECLOSE, change=[c - p for c, p in zip(CLOSE, NE_PRECLOSE, strict=True)],
          pct_chg=AK_EXTRAS["pct_chg"])  # fmt: skip
BAO = dict(preclose=[10.0] * 3, turn=[0.5] * 3, tradestatus=np.ones(3, dtype="int8"),
           pct_chg=[2.5] * 3, is_st=np.zeros(3, dtype="int8"))  # fmt: skip

# name: (writer, file name, preset, symbols of a long file or None, extras, conversions)
FIXTURES = {
    "generic": (_generic, "prices.csv", "generic", None, {}, ["amount = close x volume (not in the file)"]),
    "generic_mixed": (_generic_mixed, "mixed.csv", "generic", None, {}, []),
    "yahoo": (_yahoo, "yahoo.csv", "yahoo", None, {"adj_close": ADJ}, ["amount = close x volume (not in the file)"]),
    "yahoo_no_adj": (_yahoo_no_adj, "stooq_web.csv", "yahoo", None, {}, ["amount = close x volume (not in the file)"]),
    "backtrader": (_backtrader, "bt.txt", "backtrader", None, {}, ["amount = close x volume (not in the file)"]),
    "akshare": (_akshare, "000300.csv", "akshare", None, AK_EXTRAS, ["volume x 100 (成交量)"]),
    "akshare_stock": (_akshare_stock, "600000.csv", "akshare_stock", ["600000"], AK_EXTRAS, ["volume x 100 (成交量)"]),
    "netease": (_netease, "163.csv", "netease", ["000300"], NE, ["rows reversed: the file lists the newest day first"]),
    "tushare": (_tushare, "daily.csv", "tushare", ["600000.SH"], TS, ["volume x 100 (vol)", "amount x 1000 (amount)", "rows reversed: the file lists the newest day first"]),
    "baostock": (_baostock, "bao.csv", "baostock", ["sh.600000"], BAO, []),
    "kaggle": (_kaggle, "kaggle.csv", "kaggle", ["AAA", "BBB"], {}, ["amount = close x volume (not in the file)"]),
    "stooq": (_stooq, "aapl.us.txt", "stooq", ["AAPL.US"], {}, ["amount = close x volume (not in the file)"]),
    "semicolon": (_semicolon, "eu.csv", "generic", None, {}, ["amount = close x volume (not in the file)"]),
    "bom": (_bom, "bom.csv", "generic", None, {}, []),
    "gzip": (_gzipped, "prices.csv.gz", "generic", None, {}, ["amount = close x volume (not in the file)"]),
}  # fmt: skip


def _make(tmp_path, name):
    writer, fname, *_ = FIXTURES[name]
    return writer(tmp_path / fname)


def _check(got, name, path):
    _, _, preset, symbols, extras, conversions = FIXTURES[name]
    want = expected(**extras)
    frames = got if symbols else {None: got}
    assert list(frames) == (symbols or [None])
    for sym, f in frames.items():
        pd.testing.assert_frame_equal(f, want, check_exact=True, check_freq=False)
        assert f.attrs["layout"] == preset
        assert list(f.attrs["conversions"]) == conversions
        assert f.attrs["source"] == (f"{path}[{sym}]" if sym else str(path))
        assert f.attrs["amount_derived"] is (
            "amount = close x volume (not in the file)" in conversions
        )
    return frames


@pytest.mark.parametrize("name", list(FIXTURES))
def test_every_preset_loads_its_fixture_to_the_exact_frame(tmp_path, name):
    path = _make(tmp_path, name)
    frames = _check(read_csv_auto(path), name, path)
    if name == "baostock":
        assert frames["sh.600000"].attrs["adjustflag"] == 2
    if name == "netease":  # GBK detected; the code's apostrophe dropped
        assert frames["000300"].attrs["encoding"] == "gbk"
    if name == "bom":
        assert read_csv_auto(path).attrs["encoding"] == "utf-8-sig"


@pytest.mark.parametrize("name", list(FIXTURES))
def test_inspect_block_loads_the_same_frame_as_the_preset(tmp_path, name):
    path = _make(tmp_path, name)
    ins = inspect_file(path)
    assert ins.error is None and ins.layout == FIXTURES[name][2]
    assert (ins.first, ins.last, ins.defects) == ("2015-01-05", "2015-01-07", [])
    block = tomllib.loads(ins.toml)["data"]
    assert block["data"] == str(path.resolve()) and "preset" not in block  # the map in full
    settings = Settings.from_dict({"data": block})
    via_block = load(settings.data.data, data_map=settings.data_map())
    _check(via_block, name, path.resolve())


def test_inspect_reports_what_it_found(tmp_path):
    ins = inspect_file(_make(tmp_path, "netease"))
    text = ins.report()
    assert ins.encoding == "gbk" and ins.order == "descending" and ins.symbols == ["000300"]
    assert "newest first: the rows are reversed when read" in text
    assert "close      <- '收盘价'" in text and "'名称'" in text  # 名称 is not read
    assert 'order = "descending"' in ins.toml and 'encoding = "gbk"' in ins.toml
    semi = inspect_file(_make(tmp_path, "semicolon"))
    assert (semi.separator, semi.decimal, semi.layout) == (";", ",", "generic")
    tus = inspect_file(_make(tmp_path, "tushare"))
    assert tus.date_format == "%Y%m%d" and "volume     <- 'vol' x 100" in tus.report()


def test_inspect_names_defects(tmp_path):
    p = write(
        tmp_path / "bad.csv",
        ["date,open,high,low,close,volume", "2015-01-05,10,11,9,10.5,0", "2015-01-06,,11,9,10,100",
         "2015-01-07,10,9,11,10,100", "2015-01-07,10,11,9,10,100", "2015-01-08,10,11,9,10,0"],
    )  # fmt: skip
    ins = inspect_file(p)
    text = "\n".join(ins.defects)
    assert "1 row(s) with NaN (open), first 2015-01-06" in text
    assert "duplicate dates, first 2015-01-07" in text
    assert "volume 0, first 2015-01-05" in text
    assert ins.error is None and ins.toml.startswith('# "bad.csv": generic layout')


# --------------------------------------------------------------------------- the CLI
def test_cli_inspect_prints_the_block_and_summary_and_run_accept_it(tmp_path, capsys):
    path = _make(tmp_path, "netease")
    assert main(["data", "inspect", str(path), "--toml"]) == 0
    block = capsys.readouterr().out
    cfg = tmp_path / "netease.toml"
    cfg.write_text(block, encoding="utf-8")
    assert main(["data", "summary", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert '"symbol_list": [\n    "000300"' in out and '"layout": "netease"' in out
    assert main(["data", "inspect", str(path)]) == 0
    assert "layout      netease: NetEase 163 history" in capsys.readouterr().out
    # the block drives `btlstm run` too: a map key checked against the header before work
    bad = tmp_path / "bad.toml"
    bad.write_text(block.replace('close_column = "收盘价"', 'close_column = "收盘"'), "utf-8")
    assert main(["run", "hold", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"[data] close_column in {bad}" in err
    assert "'收盘' is not a column" in err and "did you mean '收盘价'" in err


def test_cli_inspect_of_an_unknown_layout_says_what_nearly_fits(tmp_path, capsys):
    p = write(tmp_path / "t.csv", [TS_HEADER.replace(",vol", ",volx")] + ["x"])
    assert main(["data", "inspect", str(p)]) == 2
    out, err = capsys.readouterr()
    assert '# date_column = "?"' in out
    assert err.startswith("btlstm: error: unknown CSV layout") and err.count("\n") == 1
    assert "near fits: tushare (missing ['vol'])" in err


# --------------------------------------------------------------------------- mistyped maps
def _err(fn, *a, **kw) -> str:
    with pytest.raises(DataError) as info:
        fn(*a, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_a_column_that_does_not_exist_names_file_key_and_closest(tmp_path):
    p = _make(tmp_path, "yahoo")
    msg = _err(read_mapped, p, {"close_column": "Clsoe"})
    assert msg.startswith(f"file {p}: [data] close_column = 'Clsoe' is not a column")
    assert "did you mean 'Close'" in msg and "'Adj Close'" in msg and "header ['Date'," in msg
    msg = _err(read_mapped, p, {"volume_column": 9})
    assert "[data] volume_column = 9: the file has 7 columns (positions 0..6" in msg
    msg = _err(read_mapped, p, {"extras": {"Ajd Close": "x"}})
    assert "[data] extras: 'Ajd Close' is not a column" in msg and "'Adj Close'" in msg


def test_a_wrong_date_format_names_the_key_and_the_format_that_fits(tmp_path):
    p = _make(tmp_path, "generic")
    msg = _err(read_mapped, p, {"date_format": "%d.%m.%Y"})
    assert msg.startswith(f"file {p}, column 'date', row line 2: [data] date_format = '%d.%m.%Y'")
    assert "does not read date '2015-01-05'" in msg and "look like ['%Y-%m-%d']" in msg
    assert "not a strftime format" in _err(read_mapped, p, {"date_format": "YYYY-MM-DD"})


def test_an_encoding_that_fails_names_the_one_that_works(tmp_path):
    p = _make(tmp_path, "netease")
    msg = _err(read_mapped, p, {"encoding": "utf-8"})
    assert msg.startswith(f"file {p}: [data] encoding = 'utf-8' cannot decode the file")
    assert "line 1" in msg and "the file decodes as 'gbk'" in msg
    assert "did you mean ['utf-8'" in _err(read_mapped, p, {"encoding": "utf8x"})
    # the head decodes as UTF-8, a later line does not: found when the rows are read
    lines = ["date,open,high,low,close,volume,Name"] + rows("{d},{o},{h},{l},{c},{v},AAA") * 1000
    late = write(tmp_path / "late.csv", lines)  # > 64 KiB of ASCII, then a GBK name
    late.write_bytes(late.read_bytes() + "2015-01-08,1,1,1,1,1,沪深\n".encode("gbk"))
    msg = _err(read_mapped, late, {"encoding": "utf-8"})
    assert "line 3002" in msg and "decodes as 'gbk'" in msg


@pytest.mark.parametrize(
    "key, value, match",
    [
        (
            "preset",
            "netease163",
            "[data] preset = 'netease163' is not a preset; did you mean 'netease'?",
        ),
        ("order", "newest", "[data] order = 'newest' (valid: auto, ascending, descending, sort)"),
        ("decimal", ";", "[data] decimal = ';': expected '.' or ','"),
        ("separator", "ab", "[data] separator = 'ab': expected one character"),
        ("volume_multiplier", 0, "[data] volume_multiplier = 0: expected a number > 0"),
        ("close_column", "", "[data] close_column = '': every file needs a close column"),
    ],
)
def test_bad_map_values_are_refused_before_reading(tmp_path, key, value, match):
    assert match in _err(read_mapped, _make(tmp_path, "generic"), {key: value})


def test_cli_flags_name_themselves(tmp_path, capsys):
    p = _make(tmp_path, "yahoo")
    assert main(["data", "summary", str(p), "--close-column", "Clsoe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--close-column = 'Clsoe'" in err and "'Close'" in err
    assert main(["run", "hold", "--data", "csi300", "--volume-multiplier", "100"]) == 2
    assert "--volume-multiplier: a column map reads a CSV file" in capsys.readouterr().err


# --------------------------------------------------------------------------- sniffing
def test_sniff_picks_the_one_that_fits_or_names_near_fits():
    assert sniff(NE_HEADER.split(",")).preset.name == "netease"
    assert sniff(
        ["日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额"]
    ).preset.name == (
        "akshare_stock"  # the most specific of akshare and akshare_stock
    )
    both = sniff(TS_HEADER.split(",") + ["date", "volume", "Name"])
    assert both.preset is None and both.fits == ["tushare", "kaggle"]
    none = sniff(["when", "price"])
    assert none.preset is None and "no date column found" in none.reason
    assert "unknown CSV layout (header ['when', 'price'])" in none.message(["when", "price"])


def test_several_fitting_presets_ask_for_one(tmp_path):
    p = write(tmp_path / "x.csv", [TS_HEADER + ",date,volume,Name", "x"])
    msg = _err(read_csv_auto, p)
    assert "the header fits several presets: tushare" in msg and "kaggle" in msg
    assert "choose one with [data] preset" in msg


# --------------------------------------------------------------------------- the declared map
def test_a_declared_map_reads_any_layout(tmp_path):
    """German headers, day-first dates, ';' and decimal commas, a 'n.v.' missing token."""
    lines = ["Datum;Eröffnung;Hoch;Tief;Schluss;Umsatz;Bemerkung"]
    lines += [r.replace(".", ",").replace(DAYS[i], pd.Timestamp(DAYS[i]).strftime("%d.%m.%Y"))
              for i, r in enumerate(rows("{d};{o};{h};{l};{c};{v};{i}"))]  # fmt: skip
    p = write(tmp_path / "de.csv", lines, encoding="latin-1")
    m = dict(date_column="Datum", date_format="%d.%m.%Y", open_column="Eröffnung",
             high_column="Hoch", low_column="Tief", close_column="Schluss",
             volume_column="Umsatz", encoding="latin-1")  # fmt: skip
    f = read_mapped(p, m)
    pd.testing.assert_frame_equal(f, expected(), check_exact=True, check_freq=False)
    assert f.attrs["layout"] == "generic" and f.attrs["encoding"] == "latin-1"
    # the same file by position, without its header line
    q = write(tmp_path / "de_noheader.csv", lines[1:], encoding="latin-1")
    pos = dict(header=False, date_column=0, date_format="%d.%m.%Y", open_column=1, high_column=2,
               low_column=3, close_column=4, volume_column=5, encoding="latin-1")  # fmt: skip
    pd.testing.assert_frame_equal(read_mapped(q, pos), f, check_freq=False)


def test_units_missing_tokens_and_order(tmp_path):
    lines = ["d,o,h,l,c,v,a"] + rows("{d},{o},{h},{l},{c},LOTS,KAMT", order=(2, 1, 0))
    lines = [r.replace("LOTS", "-") if i == 1 else r for i, r in enumerate(lines)]
    for i, day in ((1, 2), (2, 1), (3, 0)):
        lines[i] = (
            lines[i]
            .replace("LOTS", str(VOLUME[day] / 100))
            .replace("KAMT", str(AMOUNT[day] / 1000))
        )
    p = write(tmp_path / "u.csv", lines)
    m = ColumnMap(date_column="d", open_column="o", high_column="h", low_column="l",
                  close_column="c", volume_column="v", amount_column="a", volume_multiplier=100,
                  amount_multiplier=1000, missing=("-",))  # fmt: skip
    with pytest.raises(DataError, match=r"column 'volume', row 2015-01-07: NaN"):
        read_mapped(p, m)  # '-' is missing: named, never read as 0
    lines[1] = lines[1].replace(",-,", f",{VOLUME[2] / 100},")
    p = write(tmp_path / "u.csv", lines)
    f = read_mapped(p, m)
    pd.testing.assert_frame_equal(f, expected(), check_exact=True, check_freq=False)
    assert f.attrs["conversions"][-1] == "rows reversed: the file lists the newest day first"
    with pytest.raises(DataError, match=r"\[data\] order = 'ascending', but 2015-01-06 follows"):
        read_mapped(p, dataclass_replace(m, order="ascending"))


def dataclass_replace(m, **kw):
    import dataclasses

    return dataclasses.replace(m, **kw)


def test_rows_out_of_order_are_named_never_silently_reversed(tmp_path):
    p = write(
        tmp_path / "o.csv",
        ["date,open,high,low,close,volume"] + rows("{d},{o},{h},{l},{c},{v}", (2, 0, 1)),
    )
    msg = _err(read_mapped, p)
    assert "rows are out of order" in msg and "2015-01-05 follows 2015-01-07" in msg
    assert "set [data] order = 'sort'" in msg
    f = read_mapped(p, {"order": "sort"})
    pd.testing.assert_frame_equal(f, expected(), check_exact=True, check_freq=False)
    assert "rows sorted by date" in f.attrs["conversions"]
    asc = _make(tmp_path, "generic")
    assert "order = 'descending', but 2015-01-06 follows" in _err(
        read_mapped, asc, {"order": "descending"}
    )


def test_daily_bars_stamped_at_a_time_and_intraday_bars(tmp_path):
    p = write(
        tmp_path / "t.csv",
        ["timestamp,open,high,low,close,volume"] + rows("{d} 16:00:00,{o},{h},{l},{c},{v}"),
    )
    f = read_mapped(p)
    assert list(f.index) == list(expected().index)
    assert "dates stamped at a time of day: moved to their day" in f.attrs["conversions"]
    q = write(tmp_path / "i.csv", ["timestamp,open,high,low,close,volume", "2015-01-05 10:00,1,1,1,1,1",
                                   "2015-01-05 10:05,1,1,1,1,1"])  # fmt: skip
    assert "unknown CSV layout" in _err(read_csv_auto, q)  # sniffing refuses intraday rows
    msg = _err(read_mapped, q, {"date_column": "timestamp"})
    assert "several bars on one day" in msg and "daily bars only" in msg


# --------------------------------------------------------------------------- DataFrames
def test_dataframes_in_memory_use_the_same_maps(tmp_path):
    want = expected()
    raw = pd.read_csv(_make(tmp_path, "yahoo_no_adj"))
    pd.testing.assert_frame_equal(read_dataframe(raw), want, check_exact=True, check_freq=False)
    # dates in a DatetimeIndex; newest-first rows reversed
    byidx = raw.set_index(pd.to_datetime(raw["Date"])).drop(columns=["Date"])
    got = read_dataframe(byidx.iloc[::-1], symbol="X")
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_freq=False)
    assert got.attrs["symbol"] == "X" and got.attrs["source"] == "DataFrame"
    # tushare frame: units converted, long by ts_code
    ts = pd.read_csv(_make(tmp_path, "tushare"), dtype={"trade_date": int})
    panel = read_dataframe(ts)
    pd.testing.assert_frame_equal(
        panel["600000.SH"], expected(**TS), check_exact=True, check_freq=False
    )
    # a long frame with a symbol column, a dict, a yfinance two-level download: the same
    long = pd.read_csv(_make(tmp_path, "kaggle"))
    a = read_dataframe(long)
    b = read_dataframe({"AAA": raw, "BBB": raw})
    yf = pd.concat({"AAA": byidx, "BBB": byidx}, axis=1).swaplevel(axis=1)
    c = read_dataframe(yf)
    for got in (a, b, c):
        assert sorted(got) == ["AAA", "BBB"]
        for f in got.values():
            pd.testing.assert_frame_equal(f, want, check_exact=True, check_freq=False)
    # a canonical frame (with extras) is taken as it is
    canon = read_csv_auto(_make(tmp_path, "baostock"))["sh.600000"]
    same = read_dataframe(canon)
    pd.testing.assert_frame_equal(same, canon)
    assert same.attrs["adjustflag"] == 2
    msg = _err(read_dataframe, raw, {"close_column": "close"})
    assert msg.startswith("file DataFrame: [data] close_column = 'close' is not a column")
    assert "did you mean 'Close'" in msg


def test_inspect_finds_the_documented_defects_of_the_real_sp500_file(data_dir):
    """SOURCES.md: 12 OHLC-inconsistent rows, 11 NaN opens, 4 zero-volume rows."""
    ins = inspect_file(data_dir / "sp500_all_stocks_5yr" / "all_stocks_5yr.csv.gz")
    assert (ins.layout, ins.rows, len(ins.symbols)) == ("kaggle", 619_040, 505)
    assert (ins.first, ins.last, ins.order) == ("2013-02-08", "2018-02-07", "ascending")
    assert ins.defects == [
        "1 row(s) with high < low, first 2014-05-19 [AOS]",
        "8 row(s) with close outside [low, high], first 2016-03-14 [BBY]",
        "11 row(s) with NaN (open), first 2017-07-26 [BHF]",
        "3 row(s) with open outside [low, high], first 2014-05-19 [CHD]",
        "4 row(s) with volume 0, first 2016-01-12 [DHR]",
    ]
