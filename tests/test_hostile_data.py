"""Issue 28, data and settings that must be refused, and CSV output that is safe to open.

Rows that do not fit the header are errors (never extra fields dropped silently), a
gzip bomb is refused from its stream before it is inflated, volume 0 everywhere warns,
one column read as two fields is refused unless stated, conflicts and bad values fail
before any work with one ``btlstm: error:`` line in the command line's spelling, and
every CSV btlstm writes neutralises cells a spreadsheet would run as formulas.
"""

import gzip
import io
import time

import numpy as np
import pandas as pd
import pytest
from cli_errors import children, cli, one_error
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from btlstm._files import csv_bytes, folders_overlap, plain_cell, plain_frame, safe_cell
from btlstm.data import _csv
from btlstm.data.readers import read_mapped
from btlstm.errors import DataError

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
INJECTED = "=cmd|'/c calc'!A0"


def _rows(data_dir, n=300):
    lines = (data_dir / "spdr_sector_etfs" / "XLK.csv").read_text().splitlines()
    assert lines[0] == HEADER
    return lines[: n + 1]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _with_volume(lines, row, cell):
    """``lines`` with data row ``row`` (1-based) given the volume cell ``cell`` as written."""
    out = list(lines)
    out[row] = ",".join(out[row].split(",")[:-1] + [cell])
    return out


# ------------------------------------------------------------------ rows that don't fit
def test_unquoted_thousands_after_the_head_refused_naming_file_line_and_counts(data_dir, tmp_path):
    # line 201: past the 50 rows the header sniffer looks at, so only the body scan sees it
    p = _write(tmp_path / "xlk.csv", _with_volume(_rows(data_dir), 200, "5,818,000"))
    with pytest.raises(DataError) as e:
        read_mapped(p)
    msg = str(e.value)
    assert e.value.source == str(p)
    assert "line 201 (data row 200) has 9 fields, more than the header's 7" in msg
    assert "5,818,000" in msg and "[data] thousands ','" in msg and "[data] decimal" in msg


def test_a_row_with_100000_extra_fields_refused(data_dir, tmp_path):
    lines = _rows(data_dir)
    lines[250] = lines[250] + ",1" * 100_000
    p = _write(tmp_path / "wide.csv", lines)
    with pytest.raises(DataError, match=r"line 251 \(data row 250\) has 100007 fields"):
        read_mapped(p)


def test_quoted_thousands_read_exactly_with_the_thousands_key(data_dir, tmp_path):
    p = _write(tmp_path / "q.csv", _with_volume(_rows(data_dir), 120, '"5,818,000"'))
    with pytest.raises(DataError, match=r"non-numeric value '5,818,000'.*thousands ','"):
        read_mapped(p)  # without the key: refused, and told which key reads it
    df = read_mapped(p, {"thousands": ","})
    assert len(df) == 300
    assert df["volume"].iloc[119] == 5_818_000.0
    plain = read_mapped(_write(tmp_path / "p.csv", _rows(data_dir)))
    assert df["volume"].drop(df.index[119]).equals(plain["volume"].drop(plain.index[119]))


def test_semicolon_file_with_point_thousands_and_decimal_comma(tmp_path):
    p = _write(tmp_path / "eu.csv", [
        "Date;Open;High;Low;Close;Volume",
        "2020-01-02;1.234,5;1.240,0;1.230,25;1.238,75;5.818.000",
        "2020-01-03;1.238,75;1.250,0;1.235,0;1.249,5;12.000",
    ])  # fmt: skip
    df = read_mapped(p, {"thousands": ".", "decimal": ","})
    assert df["close"].tolist() == [1238.75, 1249.5]
    assert df["volume"].tolist() == [5_818_000.0, 12_000.0]


@pytest.mark.parametrize(
    "m,needle",
    [
        ({"thousands": "x"}, "[data] thousands = 'x': expected one of ','"),
        ({"thousands": ",", "decimal": ","}, "[data] thousands and [data] decimal are both ','"),
        ({"thousands": "."}, "[data] thousands and [data] decimal are both '.'"),
    ],
)
def test_bad_thousands_key_refused(data_dir, tmp_path, m, needle):
    p = _write(tmp_path / "x.csv", _rows(data_dir, 10))
    with pytest.raises(DataError) as e:
        read_mapped(p, m)
    assert needle in str(e.value)


def test_data_inspect_reports_the_row_as_a_defect(data_dir, tmp_path, capsys):
    p = _write(tmp_path / "t.csv", _with_volume(_rows(data_dir), 150, "5,818,000"))
    rc, err = cli(["data", "inspect", p], capsys)
    one_error(rc, err, "line 151 (data row 150) has 9 fields", "--thousands ','")


def test_data_inspect_report_lists_the_defect(data_dir, tmp_path):
    from btlstm.data.inspect import inspect_file

    p = _write(tmp_path / "t.csv", _with_volume(_rows(data_dir), 150, "5,818,000"))
    ins = inspect_file(p)
    assert ins.defects and ins.defects[0].startswith("rows have more fields than the header")
    assert "defects     rows have more fields than the header: line 151" in ins.report()
    assert "none found" not in ins.report()


@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # fmt: skip
@given(
    row=st.integers(1, 260),
    extra=st.lists(st.sampled_from(["000", "818", "1", "", "x"]), min_size=1, max_size=4),
    quoted=st.booleans(),
)
def test_property_rows_with_extra_fields_never_load_silently(row, extra, quoted):
    if extra == [""]:
        extra = ["", ""]  # one empty field closing the line loses nothing: tolerated (below)
    lines = list(_PROPERTY_LINES)
    cells = lines[row].split(",")
    tail = [f'"{c}"' for c in extra] if quoted else extra
    lines[row] = ",".join(cells + tail)
    data = ("\n".join(lines) + "\n").encode()
    with _tmp_file(data) as p:
        with pytest.raises(DataError) as e:
            read_mapped(p)
    assert f"line {row + 1} (data row {row}) has {7 + len(extra)} fields" in str(e.value)


def test_a_separator_closing_the_line_is_tolerated(data_dir, tmp_path):
    lines = _rows(data_dir)
    plain = read_mapped(_write(tmp_path / "plain.csv", lines))
    closed = [lines[0]] + [r + "," for r in lines[1:]]
    for name, rows in (("all.csv", closed), ("one.csv", lines[:200] + [lines[200] + ",\r"]
                                                          + lines[201:])):  # fmt: skip
        df = read_mapped(_write(tmp_path / name, rows))
        pd.testing.assert_frame_equal(df, plain, check_names=False, check_flags=False)
    with pytest.raises(DataError, match="line 3 .* has 9 fields"):
        read_mapped(_write(tmp_path / "two.csv", lines[:2] + [lines[2] + ",,"] + lines[3:]))


_PROPERTY_LINES = [HEADER] + [
    f"{d.date()},{10 + i % 7}.5,{12 + i % 7}.0,{9 + i % 7}.0,{11 + i % 7}.0,{11 + i % 7}.0,"
    f"{1000 + i}"
    for i, d in enumerate(pd.bdate_range("2015-01-01", periods=260))
]


class _tmp_file:
    def __init__(self, data: bytes):
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.path = f"{self.dir.name}/prop.csv"
        with open(self.path, "wb") as fh:
            fh.write(data)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        self.dir.cleanup()


# ------------------------------------------------------------------ memory: gzip bombs
def _bomb(path, mib: int):
    """A gzip file of ``mib`` MiB of daily rows once inflated: one compressed member of
    1 MiB written ``mib`` times (a valid multi-member gzip; built in milliseconds)."""
    row = b"2015-01-05,1.0,1.0,1.0,1.0,100\n"
    member = gzip.compress(row * ((1 << 20) // len(row)), mtime=0)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(b"Date,Open,High,Low,Close,Volume\n", mtime=0))
        for _ in range(mib):
            fh.write(member)
    return path


def test_gzip_bomb_refused_under_3_gib_naming_the_file(tmp_path):
    bomb = _bomb(tmp_path / "bomb.csv.gz", 1900)  # ~1.9 GiB inflated, under the 2 GiB cap
    assert bomb.stat().st_size < 10 << 20
    pre = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))"
    t0 = time.perf_counter()
    [(rc, err)] = children([["data", "summary", bomb]], pre=pre, per_case=120, timeout=300)
    line = one_error(rc, err, f"file {bomb}:", "needs about", "this process may use")
    assert "inflated from gzip" in line
    read = float(line.split("(")[1].split(" MiB")[0])  # the text read before the refusal
    assert read < 1900  # refused from the stream, before the whole bomb was inflated
    assert time.perf_counter() - t0 < 240  # a refusal, not a parse (a generous bound)


def test_memory_estimate_refuses_as_the_rows_stream_in(data_dir, tmp_path, monkeypatch):
    p = _write(tmp_path / "xlk.csv", _rows(data_dir, 300))
    monkeypatch.setattr(_csv, "memory_room", lambda: 10_000)  # 10 kB: ~50 rows of 7 columns
    with pytest.raises(DataError) as e:
        read_mapped(p)
    assert e.value.source == str(p)
    assert "needs about" in str(e.value) and "more than the 9.8 KiB" in str(e.value)


def test_out_of_memory_while_parsing_names_the_file(data_dir, tmp_path, monkeypatch):
    p = _write(tmp_path / "xlk.csv", _rows(data_dir, 30))

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(_csv.pd, "read_csv", boom)
    with pytest.raises(DataError, match="out of memory while reading the file") as e:
        read_mapped(p)
    assert e.value.source == str(p)


# ------------------------------------------------------------------ silently wrong data
def test_volume_zero_on_every_row_warns_in_run(data_dir, tmp_path):
    from btlstm.data.loading import _zero_volume_warnings
    from btlstm.settings import Settings

    lines = [HEADER] + [",".join(r.split(",")[:-1] + ["0"]) for r in _rows(data_dir)[1:]]
    p = _write(tmp_path / "zero.csv", lines)
    s = Settings.from_dict({"data": {"data": str(p)}})
    [w] = _zero_volume_warnings({"zero": read_mapped(p)}, s)
    assert f"volume is 0 on every row of {p}" in w and "[data] volume_column" in w
    assert _zero_volume_warnings({"x": read_mapped(_write(tmp_path / "x.csv", _rows(data_dir)))},
                                 s) == []  # fmt: skip


def test_one_column_read_as_two_fields_refused_unless_stated(tmp_path):
    p = _write(tmp_path / "g.csv", [
        "date,open,high,low,close,volume",
        "2020-01-02,10,12,9,11,100",
        "2020-01-03,11,13,10,12,200",
    ])  # fmt: skip
    with pytest.raises(DataError) as e:
        read_mapped(p, {"close_column": "open"})
    msg = str(e.value)
    assert "column 'open' is mapped to two fields (open and close)" in msg
    assert "[data] open_column" in msg
    df = read_mapped(p, {"close_column": "open", "open_column": "open"})  # stated: meant
    assert df["close"].tolist() == df["open"].tolist() == [10.0, 11.0]


def test_cli_close_column_open_refused_in_flag_spelling(data_dir, tmp_path, capsys):
    p = _write(tmp_path / "xlk.csv", _rows(data_dir))
    rc, err = cli(["run", "hold", "--data", p, "--close-column", "Open", "--learner", "ridge",
                   "--out", tmp_path / "o"], capsys)  # fmt: skip
    one_error(rc, err, "column 'Open' is mapped to two fields (open and close)", "--open-column")
    assert not (tmp_path / "o").exists()


def test_validation_messages_show_plain_numbers_and_the_cli_repair_flag(data_dir, tmp_path,
                                                                        capsys):  # fmt: skip
    lines = _rows(data_dir)
    cells = lines[40].split(",")
    lines[40] = ",".join([cells[0], "-5.0"] + cells[2:])
    p = _write(tmp_path / "neg.csv", lines)
    rc, err = cli(["data", "summary", p], capsys)
    line = one_error(rc, err, "non-positive price -5 (1 such row(s))", "--repair drop drops")
    assert "np.float64" not in line and "repair='drop'" not in line
    with pytest.raises(DataError, match="repair='drop' drops such rows"):
        read_mapped(p)  # Python: the argument's spelling
    rc, err = cli(["data", "summary", p, "--repair", "drop"], capsys)
    assert rc == 0, err


# ------------------------------------------------------------------ fail before work
def test_out_and_cache_dir_overlap_refused_before_any_data_is_read(tmp_path, capsys):
    x = tmp_path / "X"
    rc, err = cli(["run", "hold", "--data", "synthetic", "--quiet", "--out", x,
                   "--cache-dir", x / "cache"], capsys)  # fmt: skip
    one_error(rc, err, "--out", "--cache-dir", "overlap")
    assert not x.exists()  # nothing trained, nothing written
    assert folders_overlap(x, x) and folders_overlap(x / "a", x)
    assert not folders_overlap(x, x.parent / "Y")


def test_paper_state_dir_inside_out_refused_before_any_data_is_read(tmp_path, capsys):
    y = tmp_path / "Y"
    rc, err = cli(["paper", "hold", "--data", "synthetic", "--quiet", "--state-dir", y / "state",
                   "--out", y], capsys)  # fmt: skip
    one_error(rc, err, "--state-dir", "(--out) overlap")
    assert not y.exists()


@pytest.mark.parametrize("codec", ["rot13", "base64", "zlib_codec", "nosuchcodec"])
def test_non_text_encoding_one_error_naming_the_flag(data_dir, tmp_path, capsys, codec):
    p = _write(tmp_path / "x.csv", _rows(data_dir, 20))
    for argv in (["data", "inspect", p], ["run", "hold", "--data", p, "--out", tmp_path / "o"]):
        rc, err = cli(argv + ["--encoding", codec], capsys)
        one_error(rc, err, f"--encoding = {codec!r} is not a text encoding")


def test_epoch_second_dates_name_the_file(data_dir, tmp_path, capsys):
    lines = [HEADER]
    for r in _rows(data_dir)[1:]:
        d, rest = r.split(",", 1)
        lines.append(f"{int(pd.Timestamp(d).timestamp())},{rest}")
    p = _write(tmp_path / "epoch.csv", lines)
    rc, err = cli(["data", "summary", p], capsys)
    one_error(rc, err, f"file {p}, column 'Date'", "Unix timestamp")


def test_mixed_offset_dates_name_the_file(data_dir, tmp_path, capsys):
    lines = [HEADER]
    for i, r in enumerate(_rows(data_dir)[1:]):
        d, rest = r.split(",", 1)
        lines.append(f"{d}T00:00:00{'+08:00' if i % 2 else '+09:00'},{rest}")
    p = _write(tmp_path / "offs.csv", lines)
    rc, err = cli(["data", "summary", p], capsys)
    one_error(rc, err, f"file {p}, column 'Date'", "different UTC offsets")


def test_catalogue_file_linked_to_dev_zero_is_named_as_a_device(tmp_path, capsys):
    (tmp_path / "spdr_sector_etfs").mkdir()
    (tmp_path / "spdr_sector_etfs" / "SPY.csv").symlink_to("/dev/zero")
    t0 = time.perf_counter()
    rc, err = cli(["data", "summary", "spy", "--data-dir", tmp_path], capsys)
    line = one_error(rc, err, "a link to /dev/zero, a character device", "not a regular file")
    assert "not found" not in line
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize(
    "flags,needles",
    [
        (["--seeds", ""], ["--seeds: empty"]),
        (["--seeds", "  "], ["--seeds: empty"]),
        (["--engine", "ray"], ["--engine ray runs walk-forward fits in parallel", "static"]),
        (["--lookback", "1"], ["--lookback must be an integer in [2, 2520], got 1", "z-scored"]),
        (["--lookback", "0"], ["--lookback", "got 0"]),
        (["--kernel-regularizer", "l2(True)"], ["--kernel-regularizer", "True is not a number"]),
        (["--kernel-regularizer", "l1(l1=None)"], ["None is not a number"]),
        (["--kernel-regularizer", "l2(l2=0.01, l2=0.02)"], ["keyword 'l2' is given twice"]),
        (["--recurrent-regularizer", "l1l2(l1=False,l2=0.1)"], ["False is not a number"]),
    ],
    ids=["seeds-empty", "seeds-blank", "ray-static", "lookback-1", "lookback-0", "l2-true",
         "l1-none", "l2-twice", "l1l2-false"],  # fmt: skip
)
def test_degenerate_or_unusable_settings_one_error(tmp_path, capsys, flags, needles):
    out = tmp_path / "o"
    rc, err = cli(["run", "hold", "--data", "synthetic", "--quiet", "--out", out, *flags], capsys)
    one_error(rc, err, *needles)
    assert not out.exists()


def test_engine_ray_without_ray_fails_before_work(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here")
    rc, err = cli(["run", "hold", "--data", "synthetic", "--walkforward", "--engine", "ray",
                   "--out", tmp_path / "o"], capsys)  # fmt: skip
    one_error(rc, err, "--engine ray needs Ray, which is not installed")
    assert not (tmp_path / "o").exists()


def test_lookback_two_is_accepted():
    from btlstm.settings import Settings

    s = Settings.from_dict({"data": {"data": "synthetic"}, "model": {"lookback": 2}})
    assert s.model.lookback == 2


@pytest.mark.parametrize(
    "spelling,value",
    [(["--header"], True), (["--no-header"], False), (["--header", "false"], False),
     (["--header", "no"], False), (["--header", "true"], True), ([], None)],  # fmt: skip
)
def test_header_flag_spelled_alike_in_run_and_data(spelling, value):
    from btlstm.cli import build_parser

    p = build_parser()
    run = p.parse_args(["run", "hold", *spelling])
    data = p.parse_args(["data", "inspect", "x.csv", *spelling])
    assert getattr(run, "data.header") is value
    assert getattr(data, "data.header") is value


def test_header_flag_refuses_a_non_boolean(capsys):
    rc, err = cli(["data", "inspect", "x.csv", "--header", "maybe"], capsys)
    assert rc == 2 and "expected true or false (or --no-header), got 'maybe'" in err


# ------------------------------------------------------------------ CSV cells
@pytest.mark.parametrize(
    "value,written",
    [(INJECTED, "'" + INJECTED), ("+1+1", "'+1+1"), ("-A1", "'-A1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=1", "'\t=1"), ("'=x", "''=x"), ("-5.25", "-5.25"), ("+3", "+3"), ("-1e-3", "-1e-3"),
     ("SPY", "SPY"), ("'quoted", "'quoted"), (-5.0, -5.0)],  # fmt: skip
)
def test_safe_cell_neutralises_formulas_not_numbers(value, written):
    assert safe_cell(value) == written
    assert plain_cell(safe_cell(value)) == value


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # fmt: skip
@given(st.text(alphabet="=+-@'\t\r0123456789.eAZ|!", max_size=8))
def test_property_safe_cells_round_trip_and_never_start_a_formula(text):
    cell = safe_cell(text)
    assert plain_cell(cell) == text
    assert not cell.startswith(("=", "@", "\t", "\r")), cell
    if cell.startswith(("+", "-")):
        float(cell)  # only a number may start with a sign (a ValueError fails the test)


def test_csv_bytes_neutralises_cells_and_header_and_reads_back(tmp_path):
    frame = pd.DataFrame({"date": ["2020-01-02"], f"buy-and-hold {INJECTED}": [1.5],
                          INJECTED: [-2.0], "symbol": [INJECTED]})  # fmt: skip
    data = csv_bytes(frame, lineterminator="\n")
    header, row = data.decode().splitlines()
    assert header == f"date,buy-and-hold {INJECTED},'{INJECTED},symbol"
    assert row == f"2020-01-02,1.5,-2.0,'{INJECTED}"
    back = plain_frame(pd.read_csv(io.BytesIO(data)))
    assert list(back.columns) == list(frame.columns)
    assert back["symbol"].tolist() == [INJECTED]


def test_every_csv_of_a_run_neutralises_an_injected_symbol(data_dir, tmp_path, capsys):
    rows = []
    for r in _rows(data_dir, 3000)[1:]:
        d, o, h, lo, c, _adj, v = r.split(",")
        rows.append(f'{d},{o},{h},{lo},{c},{v},"{INJECTED}"')
    p = _write(tmp_path / "long.csv", ["date,open,high,low,close,volume,Name"] + rows)
    out = tmp_path / "o"
    rc, _ = cli(["run", "hold", "--data", p, "--learner", "ridge", "--train-start", "1999-01-01",
                 "--train-end", "2006-12-31", "--test-start", "2007-01-02", "--quiet",
                 "--no-plots", "--out", out], capsys)  # fmt: skip
    assert rc == 0
    seen = 0
    for f in sorted(out.glob("*.csv")):
        for line in f.read_text().splitlines():
            for cell in line.split(","):
                assert not cell.startswith(("=", "+", "@")), (f.name, cell)
                seen += cell == f"'{INJECTED}"
    assert seen > 100  # trades, predictions, weights, round trips: all carry the symbol
    from btlstm.report.files import _load

    run, _, _ = _load(out)  # what btlstm reads back is the symbol as given
    assert set(run.tables["trades"]["symbol"]) == {INJECTED}
    assert set(run.tables["predictions"]["symbol"]) == {INJECTED}
    assert np.isfinite(run.tables["equity"].iloc[:, 1]).all()


def test_adjust_message_shows_plain_numbers(data_dir, tmp_path):
    from btlstm.data.adjust import adjust

    lines = _rows(data_dir, 20)
    cells = lines[5].split(",")
    cells[5] = "0"  # Adj Close 0 on data row 5
    lines[5] = ",".join(cells)
    frame = read_mapped(_write(tmp_path / "adj.csv", lines), validate=False)
    with pytest.raises(DataError) as e:
        adjust(frame, "total_return")
    msg = str(e.value)
    assert "adj_close / close is 0 (adj_close 0, close 32.875)" in msg, msg
    assert "np.float64" not in msg
