"""Class 1 of issue 18: no input exhausts the machine.

Every size, count and length setting has a cap (``btlstm.checks.LIMITS``) checked before
anything is allocated or built, ``--allow-large`` lifts the caps (the memory estimate
still applies), a large sweep asks for ``--yes``, and only regular files are read as
settings or data, each read bounded. The memory cases run in a child process under
``resource.setrlimit(RLIMIT_AS)``: they must end in one clear error line, fast, and not
by the kernel or a MemoryError traceback.
"""

import os
import subprocess
import sys
import time

import pytest
from cli_errors import ROOT, children, cli, one_error

from btlstm import checks
from btlstm._files import file_kind, read_bounded, regular_file
from btlstm.checks import LIMITS, check_cap, limits_table

SYN = ["run", "hold", "--data", "synthetic", "--quiet"]

# (flags, what the one error line names): each is refused by validation, before any
# data are read or any model is built (the run would otherwise allocate the size)
CAPS = [
    (["--lstm-units", "100000000"], "--lstm-units must be an integer in [1, 4096], got 100000000"),
    (["--dense-units", "32,100000"], "--dense-units must be an integer in [1, 4096]"),
    (
        ["--dense-units", ",".join(["8"] * 17)],
        "the number of layers of --dense-units must be an integer in [1, 16]",
    ),
    (["--stacked-lstm-units", "9000"], "--stacked-lstm-units must be an integer in [1, 4096]"),
    (["--lookback", "100000"], "--lookback must be an integer in [2, 2520]"),
    (["--horizon", "100000"], "--horizon must be an integer in [1, 252]"),
    (["--embargo", "100000"], "--embargo must be an integer in [0, 252]"),
    (["--epochs", "1000000000"], "--epochs must be an integer in [1, 1000]"),
    (["--warm-epochs", "1000000"], "--warm-epochs must be an integer in [1, 1000]"),
    (["--batch-size", "1000000000"], "--batch-size must be an integer in [1, 65536]"),
    (["--retrain-every", "1000000000"], "--retrain-every must be an integer in [1, 10000]"),
    (["--min-train", "1000000000"], "--min-train must be an integer in [1, 100000]"),
    (["--patience", "1000000000"], "--patience must be an integer in [0, 1000]"),
    (["--trials", "1000000000"], "--trials must be an integer in [1, 1000000]"),
    (["--synthetic", '{"n": 100000000000}'], "--synthetic['n'] must be an integer in [1, 100000]"),
    (["--seeds", "0-1000000000"], "--seeds: '0-1000000000' names more than 1000 seeds"),
]


@pytest.mark.parametrize("flags,needle", CAPS, ids=[c[0][0] for c in CAPS])
def test_caps_refused_before_any_allocation(flags, needle, tmp_path, capsys):
    t0 = time.perf_counter()
    rc, err = cli(SYN + ["--out", tmp_path / "o", *flags], capsys)
    line = one_error(rc, err, needle)
    if "--seeds" not in flags:
        assert "--allow-large" in line  # how to lift the cap deliberately
    assert not (tmp_path / "o").exists()
    assert time.perf_counter() - t0 < 60  # a refusal, not a run (a generous bound)


def test_cap_in_toml_names_file_and_section(tmp_path, capsys):
    cfg = tmp_path / "big.toml"
    cfg.write_text('[data]\ndata = "synthetic"\n[model]\nlstm_units = 100000000\n')
    rc, err = cli(["run", "hold", "--config", cfg, "--out", tmp_path / "o"], capsys)
    one_error(rc, err, f"[model] lstm_units in {cfg} must be an integer in [1, 4096]")


def test_paper_fit_threads_capped(tmp_path, capsys):
    rc, err = cli(["paper", "hold", "--data", "synthetic", "--fit-threads", "100000",
                   "--out", tmp_path / "o"], capsys)  # fmt: skip
    one_error(rc, err, "--fit-threads must be an integer in [1, 256], got 100000")


def test_topk_capped(tmp_path, capsys):
    rc, err = cli(["run", "rotation", "--data", "synthetic", "--topk", "1000000",
                   "--out", tmp_path / "o"], capsys)  # fmt: skip
    one_error(rc, err, "--topk must be an integer in [1, 1000]")


def test_allow_large_lifts_the_cap_not_the_memory_estimate(tmp_path, capsys):
    # lifted: --epochs 5000 passes the cap; the next check (the dates) speaks instead
    rc, err = cli(SYN + ["--out", tmp_path / "o", "--allow-large", "--epochs", "5000",
                         "--test-start", "2001-01-01"], capsys)  # fmt: skip
    line = one_error(rc, err, "--test-start")
    assert "--epochs" not in line
    # not lifted: a network that cannot fit in this machine's memory
    rc, err = cli(SYN + ["--out", tmp_path / "o", "--allow-large", "--lstm-units", "100000"],
                  capsys)  # fmt: skip
    one_error(rc, err, "the network (40,006,000,577 weights; --lstm-units) needs about",
              "this process may use")  # fmt: skip


# ------------------------------------------------------------------ memory, under a limit
LIMIT_AS = 3 << 30  # 3 GiB of address space for the child
RLIMIT = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({LIMIT_AS}, {LIMIT_AS}))"

MEMORY = [
    # the network: 20,000 units = 1.6e9 weights, ~24 GiB with gradients and Adam
    (["--allow-large", "--lstm-units", "20000"], "the network (1,601,200,577 weights"),
    # synthetic bars x lookback windows: 1e6 bars x 2,000 x 6 features
    (["--allow-large", "--synthetic", '{"n": 1000000}', "--lookback", "2000"], "--synthetic with"),
    # a synthetic panel: 2,000 symbols x 20,000 bars
    (["--allow-large", "--synthetic", '{"n": 20000, "n_symbols": 2000}'], "needs about"),
]


@pytest.fixture(scope="module")
def memory_runs(tmp_path_factory):
    """The MEMORY cases in one child under the limit (one import for all); each timed."""
    out = tmp_path_factory.mktemp("mem") / "o"
    cases = []
    for flags, _ in MEMORY:
        strategy = "rotation" if "n_symbols" in flags[-1] else "hold"
        cases.append(["run", strategy, "--data", "synthetic", "--quiet", "--out", out, *flags])
    pre = (
        RLIMIT
        + "\nfrom btlstm.checks import memory_budget\n"
        + (f"assert memory_budget() <= {LIMIT_AS}, memory_budget()")
    )
    t0 = time.perf_counter()
    runs = children(cases, pre=pre, per_case=60)
    return runs, time.perf_counter() - t0


@pytest.mark.parametrize("i", range(len(MEMORY)), ids=["network", "windows", "panel"])
def test_memory_estimate_under_setrlimit(i, memory_runs):
    runs, seconds = memory_runs
    rc, err = runs[i]
    line = one_error(rc, err, MEMORY[i][1], "of memory (estimate)")
    assert "3.0 GiB this process may use" in line  # the setrlimit, read back (memory_budget)
    assert seconds < 120  # all three refused fast, not after allocating


def test_the_child_really_ran_under_the_limit():
    """Without the estimate the same allocation fails under the limit: numpy refuses
    what the network case would need (so the limit is real, and the estimate is why
    the cases above end in one line)."""
    code = (
        RLIMIT
        + "\nimport numpy as np\ntry:\n    np.ones(1 << 30)\nexcept MemoryError:\n"
        + ("    print('refused')")
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "refused", p.stderr


# ------------------------------------------------------------------ sweeps
SWEEP = """[sweep]
repeats = 10
[sweep.grid]
axes = {dropout = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]}
[data]
data = "synthetic"
[model]
epochs = 40
"""


def test_sweep_over_the_confirm_threshold_needs_yes(tmp_path, capsys):
    cfg = tmp_path / "grid.toml"
    cfg.write_text(SWEEP)
    t0 = time.perf_counter()
    rc, err = cli(["sweep", "--config", cfg, "--out", tmp_path / "s", "--workers", "2"], capsys)
    # 13 regularizer configurations + none + 10 dropout values = 23 x 10 repeats
    one_error(rc, err, "has 230 runs (23 configurations x 10 repeats)",
              "with 2 worker(s)", "--yes (or [sweep] yes = true)")  # fmt: skip
    assert time.perf_counter() - t0 < 30  # counted before any configuration is validated
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--repeats", "1000000000"], "--repeats must be an integer in [1, 1000]"),
        (["--workers", "100000"], "--workers must be an integer in [1, 256]"),
    ],
)
def test_sweep_counts_capped(flags, needle, tmp_path, capsys):
    cfg = ROOT / "examples" / "sweep_tiny.toml"
    rc, err = cli(["sweep", "--config", cfg, "--out", tmp_path / "s", *flags], capsys)
    one_error(rc, err, needle, "--allow-large")


# ------------------------------------------------------------------ files: only regular ones
def _specials(root):
    fifo = root / "fifo.csv"
    os.mkfifo(fifo)
    link = root / "zero.csv"
    link.symlink_to("/dev/zero")
    folder = root / "folder.csv"
    folder.mkdir()
    return {"fifo": fifo, "zero": "/dev/zero", "link": link, "folder": folder}


@pytest.fixture
def specials(tmp_path):
    return _specials(tmp_path)


KINDS = {
    "fifo": "is a FIFO (named pipe), not a regular file",
    "zero": "is a character device, not a regular file",
    "link": "is a link to /dev/zero, a character device",
    "folder": "is a folder, not a regular file",
}


@pytest.fixture(scope="module")
def special_runs(tmp_path_factory):
    """Every special file as --data and as --config, and a FIFO for btlstm data inspect,
    in one child process (a FIFO that is opened would block: each case has an alarm)."""
    root = tmp_path_factory.mktemp("special")
    paths = _specials(root)
    cases = {
        (flag, kind): ["run", "hold", flag, paths[kind], "--out", root / "o"]
        for flag in ("--data", "--config")
        for kind in KINDS
    }
    cases[("inspect", "fifo")] = ["data", "inspect", paths["fifo"]]
    results = children(list(cases.values()), per_case=20)
    return dict(zip(cases, results, strict=True))


@pytest.mark.parametrize("flag", ["--data", "--config"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_special_files_refused_at_once(flag, kind, special_runs):
    rc, err = special_runs[(flag, kind)]
    one_error(rc, err, KINDS[kind])


def test_data_command_refuses_special_files(special_runs):
    rc, err = special_runs[("inspect", "fifo")]
    one_error(rc, err, "got a FIFO (named pipe) (only regular files are read)")


def test_config_read_is_bounded(tmp_path, capsys):
    cfg = tmp_path / "huge.toml"
    cfg.write_bytes(b"# padding\n" * 200_000)  # 2 MB of comments: valid TOML
    rc, err = cli(["run", "hold", "--config", cfg, "--out", tmp_path / "o"], capsys)
    one_error(rc, err, "is larger than 1,048,576 bytes")


@pytest.mark.parametrize("n_nul", [99, 3_000_000], ids=["in-the-head", "past-the-head"])
def test_csv_body_of_nul_bytes_is_refused(n_nul, tmp_path, capsys):
    p = tmp_path / "nul.csv"
    rows = "".join(f"2020-01-{d:02d},1,2,0.5,1.5,100\n" for d in range(2, 9))
    p.write_bytes(b"date,open,high,low,close,volume\n" + rows.encode() + b"\0" * n_nul)
    rc, err = cli(["run", "hold", "--data", p, "--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, f"file {p}: binary content in data row 8 (line 9, byte 221")
    assert "\\x00" not in line and len(line) < 400


def test_gzip_bomb_of_nul_bytes_is_refused(tmp_path, capsys):
    import gzip

    p = tmp_path / "bomb.csv.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(b"date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,100\n")
        fh.write(b"\0" * 20_000_000)
    rc, err = cli(["data", "summary", p], capsys)
    one_error(rc, err, "binary content in data row 2 (line 3")


def test_data_read_is_bounded(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(LIMITS, "data_bytes", (1000, "bytes of a CSV data file"))
    p = tmp_path / "long.csv"
    rows = "".join(f"2020-{1 + d // 28:02d}-{1 + d % 28:02d},1,2,0.5,1.5,100\n" for d in range(60))
    p.write_text("date,open,high,low,close,volume\n" + rows)
    rc, err = cli(["data", "summary", p], capsys)
    one_error(rc, err, "the data are larger than 1000 bytes (the limit")


# ------------------------------------------------------------------ the bottom layer
def test_file_kind_and_bounded_read(specials, tmp_path):
    assert file_kind(specials["fifo"]) == "a FIFO (named pipe)"
    assert file_kind(specials["folder"]) == "a folder"
    assert file_kind(tmp_path / "nope") == "missing"
    assert file_kind("x" * 300).startswith("not a usable path")
    with pytest.raises(ValueError, match="does not exist"):
        regular_file(tmp_path / "nope", "--data")
    f = tmp_path / "f.txt"
    f.write_bytes(b"abc")
    assert read_bounded(f, 3) == b"abc"
    with pytest.raises(ValueError, match="larger than 2 bytes"):
        read_bounded(f, 2)


def test_check_cap_and_table():
    assert check_cap("--epochs", 1000, "epochs") == 1000
    assert check_cap("--epochs", 1001, "epochs", allow=True) == 1001
    with pytest.raises(ValueError, match=r"--epochs must be an integer in \[1, 1000\], got 1001"):
        check_cap("--epochs", 1001, "epochs")
    table = limits_table()
    assert all(f"| `{k}` | {v[0]:,} |" in table for k, v in LIMITS.items())
    assert checks.SWEEP_CONFIRM_RUNS == 100


def test_safety_page_states_the_bounds_table():
    text = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8")
    assert "\n## Bounds\n" in text
    assert limits_table() in text  # python -c "from btlstm.checks import limits_table; ..."


def test_window_memory_checked_before_the_copy():
    """Real data long enough for a window array beyond memory: refused by the estimate
    before z-scoring allocates (a view of 1e6 bars costs nothing until copied)."""
    import numpy as np

    from btlstm.forecast.features import make_windows, zscore_windows

    view = make_windows(np.zeros((1_000_000, 6)), 2520)
    with pytest.raises(ValueError, match=r"z-scoring 997,481 input windows .* needs about"):
        zscore_windows(view)
    assert zscore_windows(make_windows(np.ones((50, 2)), 10)).shape == (41, 10, 2)


@pytest.mark.parametrize(
    "strategy, refused",
    [("ranker", False), ("rotation", True)],
)
def test_panel_memory_estimate_counts_windows_only_where_the_lstm_trains(
    strategy, refused, monkeypatch
):
    """The article's universe (3,000 stocks x 2,520 bars): the ranker trains its LSTM on
    the gate index alone (about 8.5 GB for the panel and its ranker features: fits in
    16 GiB); the rotation trains on windows of every symbol (about 38 GB: refused)."""
    from btlstm.errors import SettingsError
    from btlstm.settings import Settings

    monkeypatch.setattr(checks, "memory_budget", lambda: 16 << 30)
    s = Settings.from_dict({
        "strategy": {"name": strategy},
        "data": {"data": "synthetic", "synthetic": {"n_symbols": 3000, "n": 2520}},
        "output": {"allow_large": True},
    })  # fmt: skip
    if refused:
        with pytest.raises(SettingsError, match=r"needs about 2\d\.\d GiB .* 16\.0 GiB"):
            s.validate()
    else:
        s.validate()
