"""A report folder is data, not paths (issue 18, class 2).

``btlstm report DIR`` and ``load_report`` read only the folder's own regular
files: a symbolic link (to a file outside, to ``/dev/zero``), a FIFO or a
device is refused, every read has a byte limit, and the manifest's and
report.json's shapes and nesting are checked before use. Each malformed folder
ends in one ``btlstm: error:`` line that names the folder and the field, exit
code 2, and files btlstm did not write are left alone.
"""

import json
import os
import resource
import shutil
import subprocess
import sys

import backtrader as bt
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm._files import file_entry
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.bt.feeds import make_feed
from btlstm.cli import main
from btlstm.report import ReportError, collect, load_report, reading, rebuild_report, write_report
from btlstm.strategies.buyhold import BuyAndHold
from btlstm.synthetic import synthetic_ohlcv


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One small real report folder (a buy-and-hold run, no plots), copied per test."""
    frame = synthetic_ohlcv(n=120, seed=3, signal=0.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame))
    setup_broker(cerebro, **dict(INDEX_COSTS))
    add_standard_analyzers(cerebro)
    cerebro.addstrategy(BuyAndHold)
    run = collect(cerebro.run()[0], {"title": "folder test"})
    out = tmp_path_factory.mktemp("pristine") / "report"
    write_report(run, out, plots=False)
    return out


@pytest.fixture
def folder(pristine, tmp_path):
    out = tmp_path / "report"
    shutil.copytree(pristine, out)
    return out


def reseal(folder, name=None, data=None):
    """Write ``name`` (when given) and make the manifest agree with every listed file:
    what a forger who recomputes the sha256 would do."""
    if name is not None:
        (folder / name).write_bytes(data)
    doc = json.loads((folder / "manifest.json").read_text())
    for entry in list(doc["files"]):
        path = folder / entry
        if path.is_file() and not path.is_symlink():
            doc["files"][entry] = file_entry(path.read_bytes())
    (folder / "manifest.json").write_text(json.dumps(doc))


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def set_manifest(folder, doc):
    (folder / "manifest.json").write_text(json.dumps(doc) if not isinstance(doc, str) else doc)


def set_report(folder, change):
    report = json.loads((folder / "report.json").read_text())
    report = change(report)
    reseal(folder, "report.json", json.dumps(report).encode())


def cli_error(capsys, folder):
    """``btlstm report folder``: exit 2 and exactly one ``btlstm: error:`` line, which is returned."""
    capsys.readouterr()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("btlstm: error: "), err
    assert str(folder) in err[0]
    return err[0]


# --------------------------------------------------------------------------- the table
def _symlink_out(folder, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_bytes((folder / "predictions.csv").read_bytes())  # same bytes: sha256 matches
    (folder / "predictions.csv").unlink()
    (folder / "predictions.csv").symlink_to(secret)


def _manifest_symlink(folder, tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_bytes((folder / "manifest.json").read_bytes())
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to(real)


def _entry(name, value):
    def change(folder, tmp_path):
        doc = manifest(folder)
        doc["files"][name] = value
        set_manifest(folder, doc)

    return change


def _report(change):
    return lambda folder, tmp_path: set_report(folder, change)


def _manifest_doc(doc):
    return lambda folder, tmp_path: set_manifest(folder, doc)


def _nested_report(folder, tmp_path):
    reseal(folder, "report.json", b"[" * 100_000 + b"]" * 100_000)


def _huge_report(folder, tmp_path):
    with open(folder / "report.json", "r+b") as fh:  # sparse: 100 MiB on paper, no disk used
        fh.truncate(100 << 20)


def _not_json(folder, tmp_path):
    reseal(folder, "report.json", b"{not json")


def _missing_report(folder, tmp_path):
    (folder / "report.json").unlink()


def _unlisted_report(folder, tmp_path):
    doc = manifest(folder)
    del doc["files"]["report.json"]
    set_manifest(folder, doc)


def _bad_csv(folder, tmp_path):
    reseal(folder, "equity.csv", b"when,value\nx,y\n")


CASES = [
    # (id, how the folder is spoiled, text the one error line must hold)
    ("symlink-out", _symlink_out, "predictions.csv is a symbolic link"),
    ("manifest-symlink", _manifest_symlink, "manifest.json is a symbolic link"),
    ("manifest-list", _manifest_doc([1, 2]), "manifest.json must be a JSON object, got list"),
    ("manifest-format", _manifest_doc({"format": "x", "files": {}}), "'format' is 'x'"),
    (
        "manifest-version",
        _manifest_doc({"format": "btlstm-report", "version": "2", "files": {}}),
        "'version' must be 1",
    ),  # fmt: skip
    (
        "files-list",
        _manifest_doc({"format": "btlstm-report", "files": ["report.json"]}),
        "'files' must be an object of file entries, got list",
    ),  # fmt: skip
    ("entry-not-object", _entry("report.json", "abc"), "entry 'report.json' must be an object"),
    ("entry-bad-sha", _entry("report.json", {"sha256": "zz", "bytes": 3}), "'sha256' must be 64"),
    (
        "entry-bad-bytes",
        _entry("report.json", {"sha256": "0" * 64, "bytes": -1}),
        "'bytes' must be an integer",
    ),  # fmt: skip
    (
        "entry-bool-bytes",
        _entry("report.json", {"sha256": "0" * 64, "bytes": True}),
        "'bytes' must be an integer",
    ),  # fmt: skip
    (
        "entry-path",
        _entry("../outside.csv", {"sha256": "0" * 64, "bytes": 1}),
        "lists '../outside.csv', which is not a file btlstm writes",
    ),  # fmt: skip
    (
        "entry-foreign-name",
        _entry("notes.txt", {"sha256": "0" * 64, "bytes": 1}),
        "lists 'notes.txt', which is not a file btlstm writes",
    ),  # fmt: skip
    ("manifest-nested", _manifest_doc("[" * 100_000 + "]" * 100_000), "nests 100000 levels deep"),
    ("manifest-not-json", _manifest_doc("{oops"), "manifest.json is not valid JSON"),
    ("report-nested", _nested_report, "report.json nests 100000 levels deep"),
    ("report-huge", _huge_report, "report.json holds 104857600 bytes, more than the 67108864"),
    ("report-not-json", _not_json, "report.json is not valid JSON"),
    ("report-missing", _missing_report, "report.json is missing"),
    ("report-unlisted", _unlisted_report, "lists no report.json"),
    ("report-list", _report(lambda r: [r]), "report.json must be a JSON object, got list"),
    (
        "report-no-strategy",
        _report(lambda r: {k: v for k, v in r.items() if k != "strategy"}),
        "report.json has no 'strategy'",
    ),  # fmt: skip
    ("strategy-str", _report(lambda r: {**r, "strategy": "x"}), "'strategy' must be an object"),
    ("comparison-dict", _report(lambda r: {**r, "comparison": {}}), "'comparison' must be a list"),
    (
        "row-not-object",
        _report(lambda r: {**r, "comparison": ["x"]}),
        "comparison[0] must be an object, got str",
    ),  # fmt: skip
    (
        "row-number-text",
        _report(lambda r: {**r, "comparison": [{**r["comparison"][0], "total_return": "lots"}]}),
        "comparison[0] 'total_return' must be a number or null, got 'lots'",
    ),  # fmt: skip
    (
        "row-name-int",
        _report(lambda r: {**r, "comparison": [{**r["comparison"][0], "name": 7}]}),
        "comparison[0] 'name' must be a string",
    ),  # fmt: skip
    ("warnings-int", _report(lambda r: {**r, "warnings": [1]}), "warnings[0] must be a string"),
    ("notes-str", _report(lambda r: {**r, "notes": "x"}), "'notes' must be a list"),
    ("per-year", _report(lambda r: {**r, "per_year": {"2020": "x"}}), "per_year['2020']"),
    ("period-bars", _report(lambda r: {**r, "period": {"bars": "many"}}), "period 'bars'"),
    ("title-list", _report(lambda r: {**r, "title": ["x"]}), "'title' must be a string"),
    ("csv-columns", _bad_csv, "equity.csv lacks the columns ['date']"),
]


@pytest.mark.parametrize("spoil,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_spoiled_folder_is_one_error_line(folder, tmp_path, capsys, spoil, needle):
    spoil(folder, tmp_path)
    before = {p.name: (p.lstat().st_mtime_ns, p.is_symlink()) for p in folder.iterdir()}
    line = cli_error(capsys, folder)
    assert needle in line, line
    assert "Traceback" not in line
    with pytest.raises(ReportError):
        load_report(folder)
    after = {p.name: (p.lstat().st_mtime_ns, p.is_symlink()) for p in folder.iterdir()}
    assert after == before  # a refused folder is left exactly as it was


def test_a_link_out_is_never_read_nor_copied(folder, tmp_path, capsys):
    """The listed file linked to a file outside (with the right sha256): refused, and the
    outside file's bytes never reach a rebuilt folder."""
    _symlink_out(folder, tmp_path)
    with pytest.raises(ReportError, match="symbolic link"):
        rebuild_report(folder)
    assert (folder / "predictions.csv").is_symlink()  # not replaced by a copy
    assert (tmp_path / "outside.csv").read_bytes()  # nor the target touched


def _subprocess_report(folder, limit_mb=1024, timeout=60):
    """``btlstm report`` in a child with RLIMIT_AS and a timeout: (returncode, stderr)."""
    limit = limit_mb << 20

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = "import sys; from btlstm.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "report", str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )
    return proc.returncode, proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_fails_fast_under_a_memory_cap(folder):
    (folder / "report.json").unlink()
    (folder / "report.json").symlink_to("/dev/zero")
    rc, err = _subprocess_report(folder)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert "report.json is a symbolic link" in lines[0] and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_hanging(folder):
    (folder / "trades.csv").unlink()
    os.mkfifo(folder / "trades.csv")  # nobody writes it: opening it for reading would block
    rc, err = _subprocess_report(folder, timeout=60)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert "trades.csv is a FIFO (named pipe)" in lines[0]


def test_a_device_file_is_refused(folder, monkeypatch):
    """A listed name that is a character device (a hard link cannot be made to
    /dev/null, so read_member is asked for it directly)."""
    with pytest.raises(ReportError, match="is a character device"):
        reading.read_member("/dev", "null", "report folder '/dev'")


def test_a_symlinked_folder_is_refused(folder, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(folder)
    line = cli_error(capsys, link)
    assert "is a symbolic link; give the folder itself" in line


def test_a_derived_file_linked_out_is_drawn_again_and_the_target_kept(folder, tmp_path):
    """report.html linked to a user's file: rebuild never reads it, replaces the link with a
    new page, and the user's file keeps its bytes."""
    mine = tmp_path / "mine.html"
    mine.write_text("my own page")
    (folder / "report.html").unlink()
    (folder / "report.html").symlink_to(mine)
    page = rebuild_report(folder)
    assert not page.is_symlink() and b"<html" in page.read_bytes()[:200].lower()
    assert mine.read_text() == "my own page"
    load_report(folder)  # whole again


def test_the_users_own_files_survive_a_rebuild(folder):
    (folder / "notes.txt").write_text("mine")
    rebuild_report(folder)
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_forged_entry_cannot_claim_a_users_file(folder, capsys):
    """A manifest that lists the user's notes.txt (with its true sha256) is refused, so a
    rebuild cannot delete it as a file of the report."""
    (folder / "notes.txt").write_text("mine")
    doc = manifest(folder)
    doc["files"]["notes.txt"] = file_entry(b"mine")
    set_manifest(folder, doc)
    line = cli_error(capsys, folder)
    assert "lists 'notes.txt'" in line
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_larger_file_than_listed_is_not_read_past_its_size(folder):
    """read_member stops one byte past the manifest's size: a file that grew is
    'changed', whatever its length."""
    data = reading.read_member(folder, "equity.csv", "x", expect=10)
    assert len(data) == 11


def test_json_depth_scan_ignores_brackets_in_strings():
    from btlstm.convert import json_text_depth, load_json

    assert json_text_depth(b'{"a": "[[[[[[", "b": ["\\"[[["]}') == 2
    with pytest.raises(ValueError, match="nests 65 levels deep"):
        load_json(b"[" * 65 + b"]" * 65, "x.json")
    assert load_json(b"[" * 64 + b"]" * 64, "x.json") is not None


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,
        "a = " + "{b=" * 5_000 + "1" + "}" * 5_000,
        "[model]\nlstm_kwargs." + ".".join(["k"] * 5_000) + " = 1",
    ],
    ids=["arrays", "inline-tables", "dotted-keys"],
)
def test_a_deeply_nested_toml_config_is_one_error_line(tmp_path, capsys, text):
    path = tmp_path / "deep.toml"
    path.write_text(text + "\n")
    assert main(["run", "hold", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("btlstm: error: config file"), err
    assert "deep.toml" in err[0] and "nests" in err[0]


def test_a_seeds_folder_is_read_the_same_way(tmp_path, capsys):
    """A seeds folder's manifest goes through the same checks (format btlstm-seeds)."""
    out = tmp_path / "seeds"
    out.mkdir()
    (out / "manifest.json").write_text(
        json.dumps({"format": "btlstm-seeds", "files": {"seeds.json": "x"}})
    )
    line = cli_error(capsys, out)
    assert "entry 'seeds.json' must be an object" in line
    (out / "manifest.json").write_text(json.dumps({"format": "btlstm-seeds", "files": {}}))
    assert "lists no seeds.json" in cli_error(capsys, out)
