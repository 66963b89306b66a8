"""Class 5 of issue 18: one line, exit 2, the cause named.

Raw pandas and Python messages (mixed UTC offsets, an embedded NUL byte, ``[Errno 36]
File name too long``, an AttributeError from a wrong TOML type), several-line errors and
API jargon are turned into one ``btlstm: error:`` line where they arise. The guard at the
end runs a table of bad invocations through the command line: each must exit 2 with
exactly one ``btlstm: error:`` line on stderr and no traceback.
"""

import errno

import pytest
from cli_errors import ROOT, cli, one_error

from btlstm import cli as cli_module

LONG = "a" * 300  # one path part longer than any file system allows (255 bytes)


def _csv(path, dates):
    rows = "".join(f"{d},1,2,0.5,1.5,100\n" for d in dates)
    path.write_text("date,open,high,low,close,volume\n" + rows)
    return path


def test_mixed_utc_offsets_named_with_file_and_column(tmp_path, capsys):
    p = _csv(tmp_path / "tz.csv", ["2020-01-02T00:00:00+08:00", "2020-01-03T00:00:00+09:00"])
    rc, err = cli(["run", "hold", "--data", p, "--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, f"file {p}, column 'date': the dates carry different UTC offsets",
                     "(+08:00, +09:00)")  # fmt: skip
    assert "Mixed timezones" not in line and "utc=True" not in line


def test_nul_character_in_toml_string(tmp_path, capsys):
    cfg = tmp_path / "nul.toml"
    cfg.write_text('[data]\ndata = "a\\u0000b.csv"\n')
    rc, err = cli(["run", "hold", "--config", cfg, "--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, f"[data] data in {cfg}: 'a\\x00b.csv' contains a NUL character")
    assert "embedded null byte" not in line


def test_nul_character_in_toml_out(tmp_path, capsys):
    cfg = tmp_path / "nul.toml"
    cfg.write_text('[data]\ndata = "synthetic"\n[output]\nout = "x\\u0000y"\n')
    rc, err = cli(["run", "hold", "--config", cfg], capsys)
    one_error(rc, err, f"[output] out in {cfg}", "NUL character")


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "hold", "--data", LONG], "--data: 'aaaa"),
        (["run", "hold", "--data", "synthetic", "--data-dir", LONG], "--data-dir: aaaa"),
        (["run", "hold", "--config", LONG + ".toml"], "config file: 'aaaa"),
        (["run", "hold", "--plugin", LONG], "name is too long for the file system"),
        (["report", LONG], "name is too long for the file system"),
    ],
    ids=["data", "data-dir", "config", "plugin", "report"],
)
def test_file_name_too_long_exit_2(argv, needle, tmp_path, capsys):
    rc, err = cli(argv + ([] if argv[0] == "report" else ["--out", tmp_path / "o"]), capsys)
    line = one_error(rc, err, needle)
    assert "[Errno 36]" not in line and "too long" in line
    assert len(line) < 400  # the 300-character name is shortened


def test_several_lines_become_one(tmp_path, capsys, monkeypatch):
    def boom(args):
        raise ValueError("first line\n  second line\n\nthird")

    monkeypatch.setattr(cli_module, "_cmd_report", boom)
    rc, err = cli(["report", tmp_path], capsys)
    one_error(rc, err, "btlstm: error: first line | second line | third")
    assert err.count("\n") == 1


def test_os_error_of_a_path_exit_2_of_the_machine_exit_1(tmp_path, capsys, monkeypatch):
    def long_name(args):
        raise OSError(errno.ENAMETOOLONG, "File name too long", "b" * 300)

    def disk_full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(cli_module, "_cmd_report", long_name)
    rc, err = cli(["report", tmp_path], capsys)
    one_error(rc, err, "'bbbb", "...: the name is too long for the file system")
    monkeypatch.setattr(cli_module, "_cmd_report", disk_full)
    rc, err = cli(["report", tmp_path], capsys)
    assert rc == 1 and err.startswith("btlstm: error: ") and "No space left" in err


def test_memory_error_is_one_line(tmp_path, capsys, monkeypatch):
    def oom(args):
        raise MemoryError()

    monkeypatch.setattr(cli_module, "_cmd_report", oom)
    rc, err = cli(["report", tmp_path], capsys)
    one_error(rc, err, "out of memory", "docs/safety.md, Bounds")


def test_flag_of_another_command(capsys):
    rc, err = cli(["data", "inspect", "x.csv", "--out", "y"], capsys)
    line = one_error(rc, err, "--out is a flag of other btlstm commands, not of this one")
    assert "did you mean '--out'" not in line


def test_ranker_learner_without_api_jargon(tmp_path, capsys):
    rc, err = cli(["run", "hold", "--data", "synthetic", "--learner", "ranker",
                   "--out", tmp_path / "o"], capsys)  # fmt: skip
    # the window learners registered in this process (a test may have added its own)
    line = one_error(rc, err, "--learner", "btlstm run ranker", "'linear', 'lstm'")
    assert "WalkForward" not in line


@pytest.mark.parametrize(
    "grid,needle",
    [
        ("axes = [[1]]", "axes: expected a table of axis = [values], got [[1]]"),
        ('axes = "x"', "axes: expected a table"),
        ('slots = "kernel"', "slots: expected a list, got 'kernel'"),
        ("kinds = 5", "kinds: expected a list, got 5"),
        ("callables = 3", "callables: expected a list, got 3"),
        ("reference = 3", "reference: expected true/false, got 3"),
    ],
)
def test_sweep_grid_of_the_wrong_type(grid, needle, tmp_path, capsys):
    cfg = tmp_path / "grid.toml"
    cfg.write_text(f'[sweep]\nrepeats = 2\n[sweep.grid]\n{grid}\n[data]\ndata = "synthetic"\n')
    rc, err = cli(["sweep", "--config", cfg, "--out", tmp_path / "s"], capsys)
    one_error(rc, err, f"[sweep.grid] in {cfg}: {needle}")


# ------------------------------------------------------------------ the guard
def _guard_cases(tmp):
    fifo = tmp / "fifo.csv"
    import os

    os.mkfifo(fifo)
    tz = _csv(tmp / "tz.csv", ["2020-01-02T00:00:00+08:00", "2020-01-03T00:00:00-05:00"])
    nul = tmp / "nul.csv"
    nul.write_bytes(b"date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,100\n" + b"\0" * 99)
    nan = tmp / "nan.toml"
    nan.write_text("[model]\nscale = nan\n")
    deep = tmp / "bad.toml"
    deep.write_text("[model\nx = 1\n")
    out = str(tmp / "o")
    syn = ["run", "hold", "--data", "synthetic", "--out", out]
    return [
        syn + ["--lstm-units", "100000000"],
        syn + ["--synthetic", '{"n": 100000000000}'],
        syn + ["--seed", "99999999999999999999999"],
        syn + ["--scale", "nan"],
        syn + ["--learner", "ranker"],
        syn + ["--features", "adj_close"],
        syn + ["--lookbak", "3"],
        ["run", "hodl"],
        ["run", "hold", "--data", str(fifo), "--out", out],
        ["run", "hold", "--data", "/dev/zero", "--out", out],
        ["run", "hold", "--config", "/dev/zero", "--out", out],
        ["run", "hold", "--config", str(nan), "--out", out],
        ["run", "hold", "--config", str(deep), "--out", out],
        ["run", "hold", "--data", str(tz), "--out", out],
        ["run", "hold", "--data", str(nul), "--out", out],
        ["run", "hold", "--data", LONG, "--out", out],
        ["data", "summary", str(nul)],
        ["data", "inspect", str(tmp)],
        ["report", str(tmp / "missing")],
        ["report", LONG],
        ["sweep", "--config", "/dev/zero"],
        ["sweep", "--config", str(ROOT / "examples" / "sweep_tiny.toml"), "--repeats", "0"],
        ["sweep", "--config", str(ROOT / "examples" / "sweep_tiny.toml"), "--workers", "0"],
        ["demo", "--epochs", "100000000", "--out", out],
        ["demo", "--seed", "-5", "--out", out],
    ]


GUARD_CASES = 25


@pytest.fixture(scope="module")
def guard_cases(tmp_path_factory):
    cases = _guard_cases(tmp_path_factory.mktemp("guard"))
    assert len(cases) == GUARD_CASES
    return cases


@pytest.mark.parametrize("i", range(GUARD_CASES))
def test_cli_guard_table(i, guard_cases, capsys):
    """Each bad invocation: exit 2, exactly one ``btlstm: error:`` line, no traceback."""
    import signal

    def _hung(*_):
        raise AssertionError("the case blocked (a FIFO opened? /dev/zero read?)")

    argv = guard_cases[i]
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)  # a regression that blocks fails here instead of hanging the suite
    try:
        rc, err = cli(argv, capsys)
    finally:
        signal.alarm(0)
    try:
        one_error(rc, err)
    except AssertionError as e:
        raise AssertionError(f"btlstm {' '.join(argv)[:120]}: {e}") from None
