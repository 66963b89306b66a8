"""Yahoo download + cache, with NO network: the download function is replaced
by a fake that returns frames recorded from the real SPY/XLK files, shaped as
``yfinance.download`` returns them (MultiIndex columns (Price, Ticker),
DatetimeIndex named Date), or an empty frame (what yfinance returns offline)."""

import logging

import pandas as pd
import pytest

import btlstm  # noqa: F401
from btlstm import _files as files_mod  # the one implementation of atomic writes
from btlstm.data import (
    DataError,
    atomic_write_bytes,
    atomic_write_text,
    fetch_dataset,
    fetch_yahoo,
    load,
    read_yahoo_csv,
    verify_manifest,
)
from btlstm.data.cache import manifest_path, read_manifest

FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]


class FakeDownload:
    """Stands in for yfinance.download; records each call."""

    def __init__(self, data_dir, tz=None, drop=(), empty=False):
        self.data_dir = data_dir
        self.tz = tz
        self.drop = set(drop)
        self.empty = empty
        self.calls = []

    def __call__(self, tickers, start=None, end=None, **kw):
        self.calls.append((list(tickers), start, end, kw))
        if self.empty:
            return pd.DataFrame()
        parts = {}
        for t in tickers:
            if t in self.drop:
                continue
            df = pd.read_csv(self.data_dir / "spdr_sector_etfs" / f"{t}.csv", index_col="Date")
            df.index = pd.DatetimeIndex(df.index)
            if start is not None:
                df = df.loc[pd.Timestamp(start) :]
            parts[t] = df[FIELDS]
        raw = pd.concat(parts, axis=1, names=["Ticker", "Price"], sort=True)
        raw = raw.swaplevel(0, 1, axis=1).sort_index(axis=1)  # (Price, Ticker) like yfinance
        raw.index.name = "Date"
        if self.tz:
            raw.index = raw.index.tz_localize(self.tz)
        return raw


@pytest.fixture
def fake(data_dir):
    return FakeDownload(data_dir)


def test_fake_has_yfinance_shape(fake):
    raw = fake(["SPY", "XLK"])
    assert raw.columns.names == ["Price", "Ticker"]
    assert set(raw.columns.get_level_values(0)) == set(FIELDS)
    assert raw.index.name == "Date"


def test_fetch_writes_reader_layout_and_load_reads_it(tmp_path, data_dir, fake):
    got = fetch_yahoo(["SPY", "XLK"], data_dir=tmp_path, download=fake)
    assert len(fake.calls) == 1
    tickers, start, end, kw = fake.calls[0]
    assert tickers == ["SPY", "XLK"]
    assert kw["auto_adjust"] is False and kw["progress"] is False and kw["period"] == "max"
    for t in ("SPY", "XLK"):
        path = tmp_path / "yahoo" / f"{t}.csv"
        assert path.read_text().splitlines()[0] == "Date,Open,High,Low,Close,Adj Close,Volume"
        assert verify_manifest(path) is None
        assert read_manifest(path)["rows"] == len(got[t])
        original = read_yahoo_csv(data_dir / "spdr_sector_etfs" / f"{t}.csv", symbol=t)
        pd.testing.assert_frame_equal(got[t], original, check_freq=False)
        loaded = load(f"yahoo:{t}", data_dir=tmp_path)
        pd.testing.assert_frame_equal(loaded, original, check_freq=False)
    assert len(got["SPY"]) == 8222 and got["XLK"].attrs["symbol"] == "XLK"


def test_second_call_reads_cache_without_download(tmp_path, fake):
    first = fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    second = fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    assert len(fake.calls) == 1
    pd.testing.assert_frame_equal(first["XLK"], second["XLK"])
    fetch_yahoo("XLK", data_dir=tmp_path, download=fake, refresh=True)
    assert len(fake.calls) == 2
    # a different request (start) is not served from the cache
    again = fetch_yahoo("XLK", start="2020-01-02", data_dir=tmp_path, download=fake)
    assert len(fake.calls) == 3 and again["XLK"].index[0] == pd.Timestamp("2020-01-02")


def test_only_missing_tickers_are_downloaded(tmp_path, fake):
    fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    fetch_yahoo(["XLK", "XLF"], data_dir=tmp_path, download=fake)
    assert [c[0] for c in fake.calls] == [["XLK"], ["XLF"]]


def test_empty_download_names_tickers_and_causes(tmp_path, data_dir):
    empty = FakeDownload(data_dir, empty=True)
    with pytest.raises(DataError) as info:
        fetch_yahoo(["SPY", "XLK"], data_dir=tmp_path, download=empty)
    msg = str(info.value)
    assert "SPY, XLK" in msg and "no internet" in msg and "empty date range" in msg
    assert not (tmp_path / "yahoo").exists() or not any((tmp_path / "yahoo").iterdir())


def test_none_download_is_empty_too(tmp_path):
    with pytest.raises(DataError, match="no data for SPY"):
        fetch_yahoo("SPY", data_dir=tmp_path, download=lambda *a, **k: None)


def test_missing_ticker_in_multi_result(tmp_path, data_dir):
    fake = FakeDownload(data_dir, drop={"XLF"})
    with pytest.raises(DataError) as info:
        fetch_yahoo(["XLK", "XLF"], data_dir=tmp_path, download=fake)
    msg = str(info.value)
    assert "['XLF'] missing" in msg and "Saved: XLK" in msg
    assert (tmp_path / "yahoo" / "XLK.csv").is_file()
    assert not (tmp_path / "yahoo" / "XLF.csv").exists()


def test_download_exception_becomes_data_error(tmp_path):
    def boom(*a, **k):
        raise ConnectionError("name resolution failed")

    with pytest.raises(DataError, match="download of SPY failed.*ConnectionError"):
        fetch_yahoo("SPY", data_dir=tmp_path, download=boom)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "edit"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, fake, damage, caplog):
    good = fetch_yahoo("XLK", data_dir=tmp_path, download=fake)["XLK"]
    path = tmp_path / "yahoo" / "XLK.csv"
    text = path.read_text()
    if damage == "truncate":  # cut at a line end: still a parseable, valid CSV
        path.write_text(text[: len(text) // 3].rsplit("\n", 1)[0] + "\n")
        assert len(read_yahoo_csv(path)) < len(good)
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff garbage \x13" * 50)
    else:  # "edit": same size, one digit changed
        i = text.index("\n2010-01-04,") + 13
        path.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :])
    with caplog.at_level(logging.WARNING, logger="btlstm.data"):
        again = fetch_yahoo("XLK", data_dir=tmp_path, download=fake)["XLK"]
    assert len(fake.calls) == 2  # downloaded again, the damaged file was not used
    pd.testing.assert_frame_equal(again, good)
    assert path.read_text() == text and verify_manifest(path) is None
    assert any(
        "XLK.csv" in r.getMessage() and "not usable" in r.getMessage() for r in caplog.records
    )


def test_corrupt_cache_and_failed_redownload_leaves_file(tmp_path, data_dir, fake):
    fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    path = tmp_path / "yahoo" / "XLK.csv"
    damaged = path.read_bytes()[:5000]
    path.write_bytes(damaged)
    with pytest.raises(DataError) as info:
        fetch_yahoo("XLK", data_dir=tmp_path, download=FakeDownload(data_dir, empty=True))
    msg = str(info.value)
    assert "left untouched" in msg and str(path) in msg and "not used" in msg
    assert path.read_bytes() == damaged
    with pytest.raises(DataError, match="corrupt"):  # and load refuses it too
        load("yahoo:XLK", data_dir=tmp_path)


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_crash_in_replace_keeps_old_file(tmp_path, data_dir, fake, monkeypatch):
    fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    path = tmp_path / "yahoo" / "XLK.csv"
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files_mod.os, "replace", crash)
    with pytest.raises(DataError) as info:
        fetch_yahoo("XLK", start="2020-01-02", data_dir=tmp_path, download=fake)
    assert "writing XLK failed" in str(info.value) and "left untouched" in str(info.value)
    assert path.read_bytes() == before
    assert _no_temp_files(path.parent)
    monkeypatch.undo()
    assert verify_manifest(path) is None
    assert len(load("yahoo:XLK", data_dir=tmp_path)) == 6731


def test_crash_mid_write_leaves_no_half_file(tmp_path, monkeypatch):
    path = tmp_path / "f.csv"
    atomic_write_text(path, "old content\n")

    class HalfWriter:
        """A file object that writes half the data, then fails."""

        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError("I/O error mid-write")

    real_open = open
    monkeypatch.setattr(
        files_mod, "open", lambda p, mode: HalfWriter(real_open(p, mode)), raising=False
    )
    with pytest.raises(OSError, match="mid-write"):
        atomic_write_bytes(path, b"new content that is long\n" * 100)
    assert path.read_text() == "old content\n"
    assert _no_temp_files(tmp_path)
    monkeypatch.undo()
    atomic_write_bytes(path, b"new\n")
    assert path.read_bytes() == b"new\n" and _no_temp_files(tmp_path)


def test_fsync_failure_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "g.csv"
    monkeypatch.setattr(files_mod.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("eio")))
    with pytest.raises(OSError):
        atomic_write_text(path, "x\n")
    assert not path.exists() and _no_temp_files(tmp_path)


def test_tz_aware_download_becomes_tz_naive(tmp_path, data_dir):
    fake = FakeDownload(data_dir, tz="America/New_York")
    assert fake(["XLK"]).index.tz is not None
    got = fetch_yahoo("XLK", data_dir=tmp_path, download=fake)["XLK"]
    assert got.index.tz is None and got.index.name == "date"
    assert got.index[0] == pd.Timestamp("1998-12-22")  # the local trading date is kept
    loaded = load("yahoo:XLK", data_dir=tmp_path)
    assert loaded.index.tz is None and loaded.index.equals(got.index)


def test_ticker_first_columns_and_flat_columns(tmp_path, data_dir):
    base = FakeDownload(data_dir)

    def ticker_first(tickers, **kw):
        return base(tickers, **kw).swaplevel(0, 1, axis=1)  # group_by="ticker" shape

    got = fetch_yahoo(["XLK", "XLF"], data_dir=tmp_path, download=ticker_first)
    assert set(got) == {"XLK", "XLF"}

    def flat(tickers, **kw):
        return base(tickers, **kw).xs(tickers[0], axis=1, level="Ticker")

    one = fetch_yahoo("XLU", data_dir=tmp_path, download=flat)["XLU"]
    assert len(one) == 6731
    with pytest.raises(DataError, match="cannot tell them apart"):
        fetch_yahoo(["XLB", "XLE"], data_dir=tmp_path, download=flat)


def test_bad_downloaded_values_are_rejected(tmp_path, data_dir):
    base = FakeDownload(data_dir)

    def broken(tickers, **kw):
        raw = base(tickers, **kw)
        raw.loc[pd.Timestamp("2020-03-16"), ("High", "XLK")] = 1.0  # high < low
        return raw

    with pytest.raises(DataError) as info:
        fetch_yahoo("XLK", data_dir=tmp_path, download=broken)
    assert "yahoo:XLK" in str(info.value) and "2020-03-16" in str(info.value)
    assert not (tmp_path / "yahoo" / "XLK.csv").exists()


def test_fetch_dataset_makes_a_data_directory(tmp_path, fake):
    got = fetch_dataset("sector_etfs", data_dir=tmp_path, download=fake)
    assert sorted(got) == sorted(
        ["XLB", "XLE", "XLF", "XLI", "XLK", "XLP", "XLU", "XLV", "XLY", "SPY"]
    )
    panel = load("sector_etfs", data_dir=tmp_path)
    assert len(panel["XLK"]) == 6731
    assert len(panel["SPY"]) == 8221 and "2025-09-26" in panel["SPY"].attrs["repair"]
    fetch_dataset("spy", data_dir=tmp_path, download=fake)  # shares SPY.csv: cached
    assert len(fake.calls) == 1
    with pytest.raises(DataError, match="no Yahoo tickers"):
        fetch_dataset("bt_orcl", data_dir=tmp_path, download=fake)
    with pytest.raises(DataError, match="did you mean"):
        fetch_dataset("sector_etf", data_dir=tmp_path, download=fake)


def test_odd_ticker_file_names(tmp_path, data_dir):
    base = FakeDownload(data_dir)

    def renamed(tickers, **kw):
        raw = base(["XLK"], **kw)
        return raw.rename(columns={"XLK": tickers[0]}, level="Ticker")

    fetch_yahoo("^GSPC", data_dir=tmp_path, download=renamed)
    assert (tmp_path / "yahoo" / "_GSPC.csv").is_file()
    assert load("yahoo:^GSPC", data_dir=tmp_path).attrs["symbol"] == "^GSPC"


def test_fetch_csi300_as_yahoo_alternative(tmp_path, data_dir):
    base = FakeDownload(data_dir)
    seen = []

    def renamed(tickers, **kw):
        seen.append(list(tickers))
        return base(["XLK"], **kw).rename(columns={"XLK": tickers[0]}, level="Ticker")

    got = fetch_dataset("csi300", data_dir=tmp_path, download=renamed)
    assert seen == [["000300.SS"]] and list(got) == ["000300.SS"]
    assert (tmp_path / "yahoo" / "000300.SS.csv").is_file()
    assert load("yahoo:000300.SS", data_dir=tmp_path).attrs["symbol"] == "000300.SS"


# -- files btlstm did not write, and third-party chatter ------------------------------------


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("refresh", [False, True])
def test_files_btlstm_did_not_write_are_never_replaced(tmp_path, data_dir, fake, refresh):
    """A file without a btlstm manifest (the reference data, a copy, a file whose manifest
    was removed) is not fetch's to replace: refused before any download, named, unchanged."""
    fetch_yahoo("XLK", data_dir=tmp_path, download=fake)
    path = tmp_path / "yahoo" / "XLK.csv"
    manifest_path(path).unlink()
    before = _tree(tmp_path)
    with pytest.raises(DataError) as info:
        fetch_yahoo("XLK", data_dir=tmp_path, download=fake, refresh=refresh)
    msg = str(info.value)
    assert "1 file(s) that btlstm fetch did not write (XLK.csv" in msg and "corrupt" not in msg
    assert "--data-dir" in msg
    assert len(fake.calls) == 1  # no second download
    assert _tree(tmp_path) == before
    assert len(load("yahoo:XLK", data_dir=tmp_path)) == 6731  # and it loads as it is


def test_fetch_offline_in_the_reference_folder_is_short_and_changes_nothing(
    tmp_path, data_dir, capfd
):
    """`btlstm fetch sector_etfs` where the reference files are (a copy of them): exit 2,
    at most 3 lines, no download attempted, every file byte-identical."""
    import shutil

    from btlstm.cli import main

    shutil.copytree(data_dir / "spdr_sector_etfs", tmp_path / "spdr_sector_etfs")
    before = _tree(tmp_path)
    assert main(["fetch", "sector_etfs", "--data-dir", str(tmp_path)]) == 2
    out, err = capfd.readouterr()
    lines = (out + err).strip().splitlines()
    assert 1 <= len(lines) <= 3, lines
    assert lines[-1].startswith("btlstm: error: ") and "did not write" in lines[-1]
    assert "corrupt" not in out + err and "download" not in lines[-1].split("To download")[0]
    assert _tree(tmp_path) == before


def _chatty_offline(tickers, start=None, end=None, **kw):
    """What yfinance does offline: prints, logs, pandas warnings, an empty frame."""
    import warnings

    log = logging.getLogger("yfinance")
    for t in tickers:
        log.error("Failed to get ticker '%s' reason: Failed to perform, curl: (6) Could not "
                  "resolve host: query2.finance.yahoo.com", t)  # fmt: skip
        print(f"${t}: possibly delisted; no timezone found")
    print(f"\n{len(tickers)} Failed downloads:")
    warnings.warn(
        "The inplace keyword in DataFrame.rename is deprecated", FutureWarning, stacklevel=2
    )
    warnings.warn("inplace in DataFrame.sort_index is deprecated", FutureWarning, stacklevel=2)
    return pd.DataFrame()


def test_fetch_offline_summarises_third_party_chatter_in_one_line(tmp_path, capfd, monkeypatch):
    from btlstm.cli import main
    from btlstm.data import yahoo

    monkeypatch.setattr(yahoo, "_yf_download", _chatty_offline)
    assert main(["fetch", "sector_etfs", "--data-dir", str(tmp_path)]) == 2
    out, err = capfd.readouterr()
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("btlstm: error: ") and "Yahoo returned no data for XLB" in lines[0]
    assert ("yfinance: 21 line(s) of output and 2 FutureWarning hidden; network: could not "
            "resolve host query2.finance.yahoo.com") in lines[0]  # fmt: skip
    assert list(tmp_path.rglob("*")) == []  # nothing written
    # --verbose lets it through (pytest itself keeps the log records)
    with pytest.warns(FutureWarning, match="inplace"):
        assert main(["fetch", "spy", "--data-dir", str(tmp_path), "--verbose"]) == 2
    out, err = capfd.readouterr()
    assert "$SPY: possibly delisted" in out and "hidden" not in err
