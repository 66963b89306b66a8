"""Runs never overwrite each other: a new run folder per run, ``btlstm-out/latest``,
``--out`` of another run refused without ``--force``, paper state inside the run
folder; and the way in: ``btlstm --version``, ``btlstm.run_backtest``, the result's
summary / verdict / equity, the demo's next step."""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from btlstm.cli import main, next_step
from btlstm.errors import ReportError
from btlstm.report.runs import (
    LATEST,
    LATEST_FILE,
    PAPER_STATE,
    latest_problem,
    new_run_folder,
    read_latest,
    set_latest,
)

ROOT = Path(__file__).resolve().parents[1]

#: a 3-second ridge run on synthetic prices
RUN = ["run", "hold", "--data", "synthetic", "--learner", "ridge", "--train-start", "2008-01-01",
       "--train-end", "2011-05-31", "--test-start", "2011-06-01", "--test-end", "2012-06-30",
       "--no-plots", "--quiet"]  # fmt: skip


def _runs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())


def _err_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1, err
    return err[0]


def test_two_default_runs_keep_both_reports_and_latest_names_the_second(tmp_path, monkeypatch,
                                                                        capsys):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(RUN) == 0
    assert main(RUN + ["--hold", "3"]) == 0
    root = tmp_path / "btlstm-out"
    runs = _runs(root)
    assert len(runs) == 2 and all(p.name.startswith("hold-synthetic-") for p in runs)
    first, second = (json.loads((p / "report.json").read_text()) for p in runs)
    assert first["config"]["strategy"] == {"name": "hold"}
    assert second["config"]["strategy"] == {"name": "hold", "hold": 3}
    assert first["config"]["output"]["out"] == str(runs[0])  # the report names its folder
    link = root / LATEST
    assert link.is_symlink() and os.readlink(link) == runs[1].name  # relative, in the folder
    assert read_latest(root) == runs[1]
    out = capsys.readouterr().out
    assert f"report: {runs[1] / 'report.html'}" in out
    # `btlstm report` with no folder, or with btlstm-out, reads latest
    html = (runs[1] / "report.html").stat().st_mtime_ns
    (runs[1] / "report.html").unlink()
    assert main(["report"]) == 0
    assert capsys.readouterr().out.strip() == str(runs[1] / "report.html")
    assert (runs[1] / "report.html").stat().st_mtime_ns >= html
    assert main(["report", "btlstm-out"]) == 0
    assert capsys.readouterr().out.strip() == str(runs[1] / "report.html")
    # the first run is untouched
    assert json.loads((runs[0] / "report.json").read_text()) == first


def test_report_without_a_folder_and_without_latest_is_one_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    line = _err_line(capsys)
    assert line.startswith("btlstm: error:") and "btlstm-out/latest" in line and "DIR" in line


def test_two_run_folders_in_the_same_second_are_two(tmp_path):
    when = datetime(2026, 1, 2, 3, 4, 5)
    a = new_run_folder(tmp_path, "hold", "/data/My Prices.csv", when)
    b = new_run_folder(tmp_path, "hold", "/data/My Prices.csv", when)
    name = "hold-My-Prices-20260102-030405"
    assert (a.name, b.name) == (name, f"{name}-2")
    assert a.is_dir() and b.is_dir() and not any(a.iterdir())


def test_out_of_another_run_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(RUN + ["--out", str(out)]) == 0
    assert main(RUN + ["--out", str(out)]) == 0  # the same run into its own folder: fine
    before = (out / "report.json").read_bytes()
    assert json.loads((out / "report.json").read_text())["config"]["strategy"] == {"name": "hold"}
    capsys.readouterr()
    assert main(RUN + ["--out", str(out), "--hold", "3"]) == 2
    line = _err_line(capsys)
    assert line.startswith("btlstm: error: --out:") and "another run" in line
    assert "--force" in line and "[strategy]" in line
    assert (out / "report.json").read_bytes() == before  # nothing written
    assert main(RUN + ["--out", str(out), "--hold", "3", "--force"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["strategy"] == {"name": "hold", "hold": 3}
    assert not (tmp_path / "btlstm-out").exists()  # an explicit --out makes no run folder


def test_out_that_is_a_link_is_refused(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    assert main(RUN + ["--out", str(tmp_path / "via")]) == 2
    line = _err_line(capsys)
    assert "symbolic link" in line and str(real) in line
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "foreign link", "absolute link", "folder"])
def test_a_latest_btlstm_did_not_make_is_never_replaced(tmp_path, monkeypatch, capsys, kind):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "btlstm-out"
    root.mkdir()
    latest = root / LATEST
    mine = tmp_path / "mine"
    mine.mkdir()
    if kind == "file":
        latest.write_text("my notes\n")
    elif kind == "foreign link":
        latest.symlink_to("../mine", target_is_directory=True)
    elif kind == "absolute link":
        latest.symlink_to(mine, target_is_directory=True)
    else:
        latest.mkdir()
    assert latest_problem(root) is not None
    assert main(RUN) == 2
    line = _err_line(capsys)
    assert line.startswith("btlstm: error:") and "latest" in line and "did not" in line
    assert _runs(root) == ([latest] if kind == "folder" else [])  # no run folder, no work
    if kind == "file":
        assert latest.read_text() == "my notes\n"
    elif kind != "folder":
        assert latest.is_symlink() and list(mine.iterdir()) == []
    with pytest.raises(ReportError, match="did not"):
        set_latest(root, new_run_folder(root, "hold", "x"))


def test_latest_is_replaced_atomically_and_falls_back_to_a_file(tmp_path, monkeypatch):
    a, b = new_run_folder(tmp_path, "hold", "a"), new_run_folder(tmp_path, "hold", "b")
    set_latest(tmp_path, a)
    set_latest(tmp_path, b)
    assert os.readlink(tmp_path / LATEST) == b.name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    b.rmdir()  # the user deleted the latest run: btlstm's link, dangling, is still replaced
    assert latest_problem(tmp_path) is None and read_latest(tmp_path) is None
    set_latest(tmp_path, a)
    assert os.readlink(tmp_path / LATEST) == a.name

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    set_latest(tmp_path, a)
    assert not (tmp_path / LATEST).exists()  # btlstm's own stale link removed
    assert (tmp_path / LATEST_FILE).read_text() == a.name + "\n"
    assert read_latest(tmp_path) == a and latest_problem(tmp_path) is None


PAPER = ["paper", "hold", "--data", "synthetic", "--learner", "ridge", "--mode", "walkforward",
         "--retrain-every", "60", "--min-train", "150", "--lookback", "10",
         "--train-start", "2008-01-01", "--train-end", "2011-05-31", "--test-start", "2011-06-01",
         "--test-end", "2011-12-31", "--no-plots", "--quiet", "--fits", "wait"]  # fmt: skip


def test_paper_state_lives_inside_the_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(PAPER) == 0
    root = tmp_path / "btlstm-out"
    (run,) = _runs(root)
    assert run.name.startswith("hold-paper-synthetic-") and read_latest(root) == run
    state = json.loads((run / PAPER_STATE / "state.json").read_text())
    report = json.loads((run / "report.json").read_text())
    assert state["bars_done"] == report["live"]["bars"] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["btlstm-out"]  # no *.state sibling
    assert f"state: {run / PAPER_STATE}" in capsys.readouterr().out
    # resuming: --out of the earlier run; the state and the report stay together
    assert main(PAPER + ["--out", str(run)]) == 0
    again = json.loads((run / "report.json").read_text())
    assert again["live"]["resumed"] and len(again["live"]["sessions"]) == 2
    assert (run / PAPER_STATE / "btlstm-state.json").is_file()
    assert len(_runs(root)) == 1


def test_version_flag(capsys):
    import btlstm

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"btlstm {btlstm.__version__}\n"
    assert btlstm.__version__.count(".") == 2


def test_import_btlstm_is_cheap_and_exposes_run_backtest():
    code = (
        "import sys, btlstm\n"
        "heavy = [m for m in ('btlstm.pipeline', 'tensorflow', 'backtrader.strategies')"
        " if m in sys.modules]\n"
        "from btlstm import run_backtest\n"
        "import btlstm.pipeline\n"
        "assert run_backtest is btlstm.pipeline.run_backtest\n"
        "print(heavy, 'tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] False"
    import btlstm

    with pytest.raises(AttributeError, match="run_backtst"):
        btlstm.run_backtst  # noqa: B018


def test_run_backtest_result_has_summary_verdict_equity_and_html(tmp_path):
    from btlstm import run_backtest
    from btlstm.report import format_table
    from btlstm.summary import SUMMARY_KEYS

    s = {"data": {"data": "synthetic"},
         "model": {"learner": "ridge", "train_start": "2008-01-01", "train_end": "2011-05-31",
                   "test_start": "2011-06-01", "test_end": "2012-06-30"},
         "strategy": {"name": "hold"},
         "output": {"out": str(tmp_path / "r"), "plots": False, "quiet": True}}  # fmt: skip
    result = run_backtest(s)
    summary = result.summary
    assert isinstance(summary, pd.DataFrame)
    assert list(summary.index) == ["hold", "buy-and-hold SYNIDX"]  # strategy, then baseline
    assert list(summary.columns) == [k for k in SUMMARY_KEYS if k != "name"]
    assert summary.loc["hold", "sharpe"] == result.report["strategy"]["sharpe"]
    assert summary.loc["hold", "n_orders"] == result.report["comparison"][0]["n_orders"] > 0
    assert result.verdict and f"VERDICT: {result.verdict}" in format_table(result.report)
    equity = result.equity
    assert isinstance(equity.index, pd.DatetimeIndex) and equity.index.name == "date"
    assert list(equity.columns) == ["hold", "buy-and-hold SYNIDX"]
    assert len(equity) == result.report["period"]["bars"]
    assert equity.index[0] == pd.Timestamp("2011-06-01") and equity.index.is_monotonic_increasing
    assert equity["hold"].iloc[0] == result.settings.costs.cash
    on_disk = pd.read_csv(tmp_path / "r" / "equity.csv", index_col="date", parse_dates=True)
    pd.testing.assert_frame_equal(equity, on_disk, check_freq=False, check_names=False)
    result.run.report["title"] = "<script>alert(1)</script>"
    page = result._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<tr>") == 3 and "VERDICT:" in page
    assert "buy-and-hold SYNIDX" in page


def test_default_python_runs_get_their_own_folders_too(tmp_path, monkeypatch):
    from btlstm import Settings, run_backtest

    monkeypatch.chdir(tmp_path)
    s = Settings.from_dict({"data": {"data": "synthetic"},
                            "model": {"learner": "ridge", "train_start": "2008-01-01",
                                      "train_end": "2011-05-31", "test_start": "2011-06-01",
                                      "test_end": "2011-12-31"},
                            "strategy": {"name": "hold"},
                            "output": {"plots": False, "quiet": True}})  # fmt: skip
    a, b = run_backtest(s), run_backtest(s)
    assert s.output.out is None  # the caller's settings are not changed
    ra, rb = a.paths["report.html"].parent, b.paths["report.html"].parent
    assert ra != rb and ra.parent == rb.parent == tmp_path / "btlstm-out"
    assert read_latest(tmp_path / "btlstm-out") == rb
    assert run_backtest(s, write=False).paths == {}
    assert len(_runs(tmp_path / "btlstm-out")) == 2  # write=False makes no folder


def test_a_failed_default_run_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("date,close\n2020-01-02,1\n")
    assert main(["run", "hold", "--data", str(bad), "--quiet", "--no-plots"]) == 2
    assert not (tmp_path / "btlstm-out").exists() or _runs(tmp_path / "btlstm-out") == []


def _catalogue_file(root: Path) -> Path:
    from btlstm.data import catalog

    path = root / catalog.CATALOG["csi300"].path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("date,close\n")
    return path


def test_demo_next_step_names_the_data_step_it_needs(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "a" / "checkout"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("BTLSTM_DATA", raising=False)
    hint = next_step()  # nothing anywhere: the download, or BTLSTM_DATA
    assert hint.startswith("`btlstm fetch csi300`") and "export BTLSTM_DATA=" in hint
    _catalogue_file(tmp_path / "a" / "shared" / "data")  # a checkout beside shared/
    hint = next_step()
    assert hint.startswith("`btlstm run hold --data csi300 --data-dir ../shared/data`")
    shared = (tmp_path / "a" / "shared" / "data").resolve()
    assert f"export BTLSTM_DATA={shared}" in hint
    monkeypatch.setenv("BTLSTM_DATA", str(shared))
    assert next_step() == f"`btlstm run hold --data csi300` (data folder {shared})"


def test_the_demo_hint_runs_as_printed_from_the_checkout(tmp_path, data_dir, monkeypatch,
                                                         capsys):  # fmt: skip
    """The printed command, typed in the folder the demo ran in, finds its data."""
    import shlex

    from btlstm.cli import build_parser, settings_from_args

    work = tmp_path / "checkout"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(data_dir, target_is_directory=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BTLSTM_DATA", raising=False)
    command = next_step().split("`")[1]
    args = build_parser().parse_args(shlex.split(command)[1:])
    s = settings_from_args(args)
    s.validate()  # the data folder is found: no "data directory not found"
    from btlstm.data import catalog

    assert catalog.load("csi300", data_dir=s.data.data_dir) is not None


def test_seeds_without_out_write_one_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(RUN + ["--seeds", "0-1"]) == 0
    root = tmp_path / "btlstm-out"
    (run,) = _runs(root)
    assert run.name.startswith("hold-seeds-synthetic-") and read_latest(root) == run
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == ["ensemble", "seed_0", "seed_1"]
    seed1 = json.loads((run / "seed_1" / "report.json").read_text())
    assert seed1["config"]["model"]["seed"] == 1
    assert seed1["config"]["output"]["out"] == str(run / "seed_1")
    assert f"report: {run / 'index.html'}" in capsys.readouterr().out
