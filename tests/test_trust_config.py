"""Code runs only when the command line asks; generated config is data (issue 28,
items 1, 2 and the plugin parts of 9).

A config file may *name* a strategy module (``[strategy] module`` or a top-level
``module``), but btlstm imports it only when the command line names the same
module (``--plugin``): every command that reads a config (``run``, ``paper``,
``sweep``, ``--help`` of them, ``data summary/inspect --config``) is tried with a
payload that writes a marker file, and the marker must never appear unless
``--plugin`` names the payload. A module that registers no strategy, a plugin that
calls ``sys.exit`` or raises at import, and a ``--plugin`` that is not a ``.py`` file
are one error line each.

``btlstm data inspect FILE --toml`` writes TOML in which a hostile file name is
one escaped string: file names with newlines, quotes, ``#``, ``]``, backslashes,
control and unicode characters round-trip through inspect -> the written TOML ->
``btlstm data summary``/``btlstm run`` reading exactly that file, and no key but
the ``[data]`` keys appears (a ``hypothesis`` property over any file name too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btlstm import registry
from btlstm.cli import main
from btlstm.data.columnmap import MAP_KEYS, ColumnMap
from btlstm.data.inspect import inspect_file, toml_block, toml_string
from btlstm.errors import SettingsError
from btlstm.settings import Settings
from btlstm.synthetic import synthetic_ohlcv

ROOT = Path(__file__).resolve().parents[1]
N_ROWS = 400
CSV_DATES = ["--train-start", "2018-01-01", "--train-end", "2019-03-29", "--test-start",
             "2019-04-01", "--test-end", "2019-12-31"]  # fmt: skip

# the payload a config file names: it writes MARK beside itself when imported
PAYLOAD = """
from pathlib import Path
Path(__file__).with_name("MARK").write_text("the payload ran")
"""

# a real plugin: registers a strategy (no model) and also writes MARK when imported
MINE = '''
from pathlib import Path

import backtrader as bt

from btlstm.registry import register_strategy

Path(__file__).with_name("MARK").write_text("mine ran")

DEFAULTS = {
    "data": {"data": "synthetic", "synthetic": {"n": 300, "start": "2012-01-02"}},
    "model": {"mode": "static", "train_start": "2012-01-01", "train_end": "2012-06-29",
              "test_start": "2012-07-02", "test_end": "2013-02-28"},
}


@register_strategy("mine-trusted", predictor=None, signal=None, defaults=DEFAULTS)
class MineTrusted(bt.Strategy):
    """Buy once on the first bar and keep it."""

    params = (("percent", 50.0),)  # percent of the portfolio bought

    def next(self):
        if not self.position:
            self.order_target_percent(target=self.p.percent / 100.0)
'''


def _yahoo_csv(path: Path, n: int = N_ROWS) -> None:
    f = synthetic_ohlcv(n=n, start="2018-06-01", seed=1)
    out = f[["open", "high", "low", "close", "volume"]].copy()
    out.columns = ["Open", "High", "Low", "Close", "Volume"]
    out.insert(4, "Adj Close", out["Close"])
    out.index = out.index.strftime("%Y-%m-%d")
    out.index.name = "Date"
    out.to_csv(path)


@pytest.fixture
def room(tmp_path, monkeypatch):
    """A folder with the payload, a data file, configs naming the payload, and a
    clean registry afterwards (the current folder is the room)."""
    (tmp_path / "payload.py").write_text(PAYLOAD)
    (tmp_path / "mine.py").write_text(MINE)
    _yahoo_csv(tmp_path / "prices.csv")
    data = '[data]\ndata = "prices.csv"\n'
    (tmp_path / "evil.toml").write_text(
        data + '[strategy]\nname = "hold"\nmodule = "payload.py"\n'
    )
    (tmp_path / "flat.toml").write_text('module = "payload.py"\n' + data)
    (tmp_path / "sweep.toml").write_text(
        '[strategy]\nmodule = "payload.py"\n[sweep]\nrepeats = 2\n'
        '[[config]]\nname = "a"\n[[config]]\nname = "b"\nepochs = 2\n'
    )
    monkeypatch.chdir(tmp_path)
    registry.load_plugins()  # btlstm's own first: the snapshot below holds them
    before_user, before_plans = dict(registry._USER), dict(registry._PLANS)
    mods = set(sys.modules)
    yield tmp_path
    registry._USER.clear()
    registry._USER.update(before_user)
    registry._PLANS.clear()
    registry._PLANS.update(before_plans)
    for name in set(sys.modules) - mods:
        if name in ("payload", "mine", "quit") or name.startswith("btlstm_plugin_"):
            sys.modules.pop(name, None)


def _payload_imported(room: Path) -> bool:
    """True when the room's payload.py was imported under any module name.

    Judged by the module's file, not by "payload" in its name: TensorFlow has
    modules of its own named ``*_payloads_pb2`` that earlier tests may import.
    """
    payload = (room / "payload.py").resolve()
    for name, mod in list(sys.modules.items()):
        if name == "payload" or name.startswith("btlstm_plugin_payload"):
            return True
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve() == payload:
            return True
    return False


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1 and lines[0].startswith("btlstm: error: "), err
    assert "Traceback" not in err
    return lines[0]


REFUSED = [
    ["run", "hold", "--config", "evil.toml"],
    ["run", "hold", "--config=evil.toml"],
    ["run", "hold", "--config", "flat.toml"],
    ["run", "hold", "--config", "evil.toml", "--help"],
    ["run", "--config", "evil.toml", "--help"],  # the issue's own probe
    ["run", "--help", "--config", "evil.toml"],
    ["paper", "hold", "--config", "evil.toml"],
    ["paper", "hold", "--config", "evil.toml", "--help"],
    ["sweep", "--config", "sweep.toml"],
    ["sweep", "--config", "sweep.toml", "--help"],
    # --plugin names other code than the config: the config's module still does not run
    ["run", "hold", "--config", "evil.toml", "--plugin", "mine.py"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a) for a in REFUSED])
def test_config_payload_never_runs_without_the_flag(room, argv, capsys):
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    config = next(a.split("=")[-1] for a in argv if a.endswith(".toml"))
    assert f"config file {config} asks to run code" in line
    assert 'module = "payload.py" (payload.py)' in line
    assert line.endswith("then add --plugin payload.py")
    assert not (room / "MARK").exists()
    assert not _payload_imported(room)


def test_help_in_a_fresh_process_imports_nothing(room):
    """``btlstm run --config evil.toml --help`` as a user types it: exit 2, one line."""
    exe = Path(sys.executable).with_name("btlstm")
    for argv in (["run", "--config", "evil.toml", "--help"],
                 ["run", "hold", "--config", "flat.toml", "-h"]):  # fmt: skip
        proc = subprocess.run([str(exe), *argv], cwd=room, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "asks to run code" in _one_error_line(proc.stderr)
        assert proc.stdout == ""
    assert not (room / "MARK").exists()


@pytest.mark.parametrize("what", ["summary", "inspect"])
def test_data_commands_read_only_the_data_of_a_config(room, what, capsys):
    """``btlstm data summary/inspect --config`` never import: they read the [data]
    settings of the file (the strategy's module and params are not theirs)."""
    for config in ("evil.toml", "flat.toml"):
        assert main(["data", what, "--config", config]) == 0
        out = capsys.readouterr().out
        if what == "summary":
            assert json.loads(out)["rows"] == N_ROWS
        else:
            assert f"{N_ROWS:,} rows" in out and "module" not in out
    assert not (room / "MARK").exists()


def test_sweep_with_the_flag_imports_the_named_module(room, capsys):
    """``btlstm sweep --config F --plugin M``: M runs (the user asked), and a payload
    that registers nothing is then refused for what it is."""
    assert main(["sweep", "--config", "sweep.toml", "--plugin", "payload.py"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--plugin: module 'payload.py'" in line and "registered no strategy" in line
    assert (room / "MARK").read_text() == "the payload ran"


def test_python_api_refuses_the_config_code_unless_named(room):
    with pytest.raises(SettingsError, match=r"config file evil.toml asks to run code: "
                       r"\[strategy\] module = \"payload.py\""):  # fmt: skip
        Settings.from_toml("evil.toml")
    from btlstm.experiments import load_sweep

    with pytest.raises(SettingsError, match="config file sweep.toml asks to run code"):
        load_sweep("sweep.toml")
    assert not (room / "MARK").exists()
    # named by the caller (as --plugin does): imported, and then refused for what it is
    with pytest.raises(SettingsError, match=r"module 'payload.py' .*registered no strategy"):
        Settings.from_toml("evil.toml", plugins=["./payload.py"])
    assert (room / "MARK").read_text() == "the payload ran"


def test_config_module_runs_with_the_flag(room, capsys):
    """The same module named on the command line (any spelling of the same file) runs."""
    (room / "mine.toml").write_text(
        '[strategy]\nname = "mine-trusted"\nmodule = "mine.py"\npercent = 30.0\n'
    )
    elsewhere = room / "sub"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # the config's path is relative to the config, --plugin to the folder
    assert main(["run", "mine-trusted", "--config", "../mine.toml"]) == 2
    line = _one_error_line(capsys.readouterr().err)  # outside the folder: the full path
    assert line.endswith(f"add --plugin {room / 'mine.py'}")
    assert not (room / "MARK").exists()
    argv = ["run", "mine-trusted", "--config", "../mine.toml", "--plugin", str(room / "mine.py"),
            "--out", "out", "--quiet", "--no-plots"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert (room / "MARK").read_text() == "mine ran"
    with pytest.raises(SystemExit) as e:  # paper too, --help included
        main(["paper", "mine-trusted", "--config", "../mine.toml", "--plugin", "../mine.py",
              "--help"])  # fmt: skip
    assert e.value.code == 0 and "--percent" in capsys.readouterr().out
    report = json.loads((elsewhere / "out" / "report.json").read_text())
    assert report["config"]["strategy"]["percent"] == 30.0
    assert report["strategy"]["avg_gross_exposure"] == pytest.approx(0.3, abs=0.05)


def test_the_dip_example_needs_its_plugin_on_the_command_line(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    registry.load_plugins()
    before_user, before_plans = dict(registry._USER), dict(registry._PLANS)
    try:
        assert main(["run", "dip", "--config", "examples/dip.toml"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert line == (
            'btlstm: error: config file examples/dip.toml asks to run code: [strategy] module '
            '= "my_strategies.py" (examples/my_strategies.py); a config file is data, btlstm '
            "imports a module only when the command line names it: read that file, then add "
            "--plugin examples/my_strategies.py"
        )
        assert "dip" not in registry.names()
        with pytest.raises(SystemExit) as e:
            main(["run", "dip", "--config", "examples/dip.toml", "--plugin",
                  "examples/my_strategies.py", "--help"])  # fmt: skip
        assert e.value.code == 0 and "--below" in capsys.readouterr().out
        s = Settings.from_toml(ROOT / "examples/dip.toml", plugins=["examples/my_strategies.py"])
        assert s.strategy.params == {"hold": 10, "below": -0.04}
    finally:
        registry._USER.clear()
        registry._USER.update(before_user)
        registry._PLANS.clear()
        registry._PLANS.update(before_plans)
        sys.modules.pop("my_strategies", None)


@pytest.mark.parametrize("spec", ["os", "this", "json.decoder"])
def test_a_module_that_registers_no_strategy_is_refused(room, spec, capsys):
    (room / "std.toml").write_text(f'module = "{spec}"\n')
    assert main(["run", "hold", "--config", "std.toml"]) == 2
    assert f'module = "{spec}"' in _one_error_line(capsys.readouterr().err)
    assert main(["run", "hold", "--config", "std.toml", "--plugin", spec]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"btlstm: error: --plugin: module {spec!r} (")
    assert line.endswith("registered no strategy or learner: a strategy module registers one "
                         "with @register_strategy (docs/new-strategy.md), a learner module with "
                         "@btlstm.learners.register_learner (docs/learners.md)")  # fmt: skip
    with pytest.raises(SettingsError, match=rf"\[strategy\] module: module '{spec}' .*"
                       "registered no strategy"):  # fmt: skip
        Settings.from_dict({"strategy": {"name": "hold", "module": spec}})
    assert spec not in registry._USER


QUITS = {
    "sys.exit(0)": "SystemExit: 0",
    "sys.exit('bye')": "SystemExit: bye",
    "raise SystemExit": "SystemExit (quit.py, line 3)",
    "raise KeyboardInterrupt": "KeyboardInterrupt (quit.py, line 3)",
    "1 / 0": "ZeroDivisionError: division by zero (quit.py, line 3)",
}


@pytest.mark.parametrize("body", list(QUITS))
def test_a_plugin_that_exits_at_import_is_reported(room, body, capsys):
    (room / "quit.py").write_text(f"import sys\n\n{body}\n")
    assert main(["run", "hold", "--plugin", "quit.py"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("btlstm: error: --plugin: importing strategy module 'quit.py' "
                           "failed: ")  # fmt: skip
    assert QUITS[body] in line
    assert "quit" not in sys.modules and "quit.py" not in registry._USER


def test_sys_exit_zero_at_import_is_not_a_silent_success(room):
    (room / "quit.py").write_text("import sys\nsys.exit(0)\n")
    exe = Path(sys.executable).with_name("btlstm")
    proc = subprocess.run([str(exe), "run", "hold", "--plugin", "quit.py", "--help"], cwd=room,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'quit.py' failed: SystemExit: 0 (quit.py, line 2)" in _one_error_line(proc.stderr)


@pytest.mark.parametrize("spec", ["notpy.txt", "./notpy.txt", "data.csv.gz"])
def test_plugin_that_is_not_a_py_file(room, spec, capsys):
    (room / spec).write_text("print('never')\n")
    assert main(["run", "hold", "--plugin", spec]) == 2
    err = capsys.readouterr()
    line = _one_error_line(err.err)
    assert "AttributeError" not in line and "never" not in err.out
    assert f"--plugin: {spec} is " in line and "not a .py file" in line


# ----------------------------------------------------------------- generated config is data
HOSTILE = [
    'nl\nmodule = "payload.py"\n#.csv',  # the probe
    'q"uote.csv',
    "'single'.csv",
    '"""triple.csv',
    "hash # x.csv",
    "br]ack[et.csv",
    "[strategy].csv",
    "back\\slash\\n.csv",
    "ünï 日本 😀.csv",
    "tab\tcr\rff\fbs\b.csv",
    "del\x7fesc\x1b[31m.csv",
    "ls\u2028ps\u2029nel\x85.csv",
    "zw\u200bnbsp\xa0.csv",
]


def _written_keys(text: str) -> set:
    return set(tomllib.loads(text)["data"])


@pytest.mark.parametrize("name", HOSTILE, ids=[ascii(n) for n in HOSTILE])
def test_hostile_file_names_round_trip_through_inspect(room, name, capsys):
    path = room / name
    _yahoo_csv(path)
    assert main(["data", "inspect", name, "--toml"]) == 0
    text = capsys.readouterr().out
    got = tomllib.loads(text)
    assert list(got) == ["data"]  # one table, nothing else (no module, no [strategy])
    assert got["data"]["data"] == str(path)  # exactly the file
    _yahoo_csv(room / "plain.csv")
    assert main(["data", "inspect", "plain.csv", "--toml"]) == 0
    plain = tomllib.loads(capsys.readouterr().out)["data"]
    assert {**got["data"], "data": None} == {**plain, "data": None}  # the same keys, values
    assert len(plain) == 18 and set(plain) <= {"data", *MAP_KEYS} and "module" not in plain
    lines = text.splitlines()
    assert lines.index("[data]") == 2 and all(x.startswith("# ") for x in lines[:2])
    assert all("\r" not in x and "\x7f" not in x and "\x1b" not in x for x in lines)
    assert lines[0].startswith("# " + toml_string(name) + ": yahoo layout")
    (room / "read.toml").write_text(text)
    assert main(["data", "summary", "--config", "read.toml"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == N_ROWS
    assert Settings.from_toml("read.toml").data.data == str(path)
    assert not (room / "MARK").exists()


def test_the_inspect_then_run_workflow_reads_the_hostile_file(room, capsys):
    """The documented workflow on the issue's file name: the run reads the file,
    imports nothing, and its report names exactly that file."""
    name = HOSTILE[0]
    _yahoo_csv(room / name)
    assert main(["data", "inspect", name, "--toml"]) == 0
    (room / "read.toml").write_text(capsys.readouterr().out)
    argv = ["run", "hold", "--config", "read.toml", *CSV_DATES, "--learner", "ridge",
            "--quiet", "--no-plots", "--out", "out", "--cache-dir", "cache"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads((room / "out" / "report.json").read_text())
    assert report["config"]["data"]["data"] == str(room / name)
    assert "module" not in report["config"]["strategy"]
    assert not (room / "MARK").exists()
    assert not _payload_imported(room)


def test_a_name_toml_cannot_write_is_refused(tmp_path, capsys):
    """A file name that is not UTF-8 (a lone surrogate in Python) cannot be written as
    TOML: one error naming the file, no TOML printed."""
    bad = os.fsdecode(b"bad\xff.csv")
    path = tmp_path / bad
    try:
        _yahoo_csv(path)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    assert main(["data", "inspect", str(path), "--toml"]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert "the file name is not valid UTF-8" in _one_error_line(err.err)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        toml_string(bad)


# any file name a file system accepts: no '/', no NUL, not '.' or '..', at most 255 bytes
FILE_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1, max_size=60,
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 250)  # fmt: skip


@given(name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
       column=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_toml_writer_round_trips_any_text(name, column):
    """The writer on any text: the data path, a column name and the comments that
    name the file give back exactly what was written, and only the expected keys."""
    text = toml_block(ColumnMap(date_column=column), name,
                      [f"{toml_string(name)}: a comment", "another"])  # fmt: skip
    got = tomllib.loads(text)
    assert got == {"data": {"data": name, "date_column": column}}
    assert len(text.splitlines()) == 5


@given(name=FILE_NAMES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
def test_inspect_toml_round_trips_any_file_name(name):
    """Any file name, through :func:`inspect_file` on a real file: the TOML reads back
    as exactly that path and the map keys, nothing else."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        f = synthetic_ohlcv(n=40, start="2018-06-01", seed=2)
        f.index = f.index.strftime("%Y-%m-%d")
        f.rename_axis("date")[["open", "high", "low", "close", "volume"]].to_csv(path)
        ref = Path(d) / ("ref.csv" if name != "ref.csv" else "other.csv")
        ref.write_bytes(path.read_bytes())
        ins = inspect_file(path)
        assert ins.error is None and ins.rows == 40
        whole = tomllib.loads(ins.toml)
        assert list(whole) == ["data"]
        got = whole["data"]
        assert got.pop("data") == os.path.abspath(path)
        expected = tomllib.loads(inspect_file(ref).toml)["data"]
        assert expected.pop("data") == str(ref)
        assert got == expected  # the same keys and values as a plain name: nothing else
        assert set(got) <= set(MAP_KEYS) and "module" not in got
        assert pd.read_csv(os.path.abspath(path)).shape == (40, 6)


def test_template_comments_escape_the_header(room, capsys):
    """A file no map reads gets a commented template that lists its header: hostile
    column names stay inside the comments (the block reads as no key at all)."""
    header = ["when", 'q"uote ] # x', "esc\x1b[31m module = 1", "del\x7f[strategy]"]
    (room / "odd.csv").write_text(",".join(header) + "\n2020-01-01,1,2,3\n", encoding="utf-8")
    assert main(["data", "inspect", "odd.csv", "--toml"]) == 2
    out, err = capsys.readouterr()
    assert "unknown CSV layout" in _one_error_line(err)
    assert tomllib.loads(out) == {}  # comments only
    lines = out.splitlines()
    assert len(lines) == 11 and all(x.startswith("# ") for x in lines)
    assert lines[2] == ('# date_column = "?"   # one of ["when", "q\\"uote ] # x", '
                        '"esc\\u001B[31m module = 1", "del\\u007F[strategy]"]')  # fmt: skip
