"""Generated settings and data files through the real command line (issue 18).

``hypothesis`` draws a small daily-bar CSV (valid, or spoiled in one of many
ways) and a set of flags (inside and outside their ranges), and runs
``btlstm run hold`` on them in a child process under a memory cap
(``RLIMIT_AS`` = :data:`MEMORY_CAP`) and a time limit (:data:`TIME_LIMIT`).
Each example must end in one of two ways:

- exit 0 and a report that says what happened: a strategy row with a finite
  total return, at least one bar, and every run that filled no order named in
  ``warnings``, and a planted price gap named in ``warnings``;
- exit 2 and exactly one ``btlstm: error:`` line.

Never a traceback, never another exit code, never over the memory or time.
Half the examples are drawn to run (a readable file, every flag in range),
so both endings are exercised.
The ridge learner keeps each example to seconds; ``FUZZ_EXAMPLES`` examples by
default, derandomized (the same examples every run), and
``test_fuzz_cli_long`` (``-m slow``) draws ``FUZZ_EXAMPLES_SLOW`` more.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from btlstm.synthetic import synthetic_ohlcv

MEMORY_CAP = 3 << 30  # RLIMIT_AS of the child: 3 GiB of address space
RSS_LIMIT_MB = 1536  # the most resident memory a child may reach
TIME_LIMIT = 180  # seconds per child (a small run takes about 5 s on 2 cores)
FUZZ_EXAMPLES = 20
FUZZ_EXAMPLES_SLOW = 150

SPOILS = (
    "none", "split", "nan_cell", "negative", "zero_price", "duplicate_date", "shuffled",
    "text_row", "nul_bytes", "drop_close", "two_close", "huge_volume", "empty", "header_only",
    "binary", "short", "inf_cell", "semicolons", "high_below_low", "future_dates",
)  # fmt: skip


def _frame(seed: int, n: int):
    f = synthetic_ohlcv(n=n, seed=seed, start="2015-01-01", signal=0.3)
    f = f.reset_index()[["date", "open", "high", "low", "close", "volume"]]
    f.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    return f


def csv_bytes(seed: int, n: int, spoil: str, row: int) -> bytes:
    """A Yahoo-style daily file of ``n`` bars, spoiled as ``spoil`` says near ``row``."""
    f = _frame(seed, n)
    i = row % n
    if spoil == "split":
        f.loc[f.index >= n // 2, ["Open", "High", "Low", "Close"]] /= 10
    elif spoil == "nan_cell":
        f.loc[i, "Close"] = np.nan
    elif spoil == "negative":
        f.loc[i, ["Open", "Low", "Close"]] = -1.0
    elif spoil == "zero_price":
        f.loc[i, ["Open", "Low", "Close"]] = 0.0
    elif spoil == "duplicate_date":
        f.loc[i, "Date"] = f.loc[max(i - 1, 0), "Date"]
    elif spoil == "shuffled":
        f = f.sample(frac=1.0, random_state=seed)
    elif spoil == "drop_close":
        f = f.drop(columns=["Close"])
    elif spoil == "two_close":
        f.insert(5, "Close ", f["Close"])
    elif spoil == "huge_volume":
        f["Volume"] = f["Volume"] * 1e200
    elif spoil == "inf_cell":
        f.loc[i, "High"] = np.inf
    elif spoil == "high_below_low":
        f.loc[i, "High"] = f.loc[i, "Low"] / 2
    elif spoil == "future_dates":
        f["Date"] = f["Date"] + np.timedelta64(30 * 365, "D")
    elif spoil == "short":
        f = f.iloc[: max(5, i % 40)]
    text = f.to_csv(index=False).encode()
    lines = text.split(b"\n")
    if spoil == "text_row":
        lines.insert(1 + i, b"2016-01-01,abc,def,,x,")
    elif spoil == "nul_bytes":
        lines.insert(1 + i, b"\x00" * 5000)
    elif spoil == "empty":
        return b""
    elif spoil == "header_only":
        return lines[0] + b"\n"
    elif spoil == "binary":
        return bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8))
    elif spoil == "semicolons":
        lines = [ln.replace(b",", b";") for ln in lines]
    return b"\n".join(lines)


FLAGS = {  # flag: (values inside its range, values outside it)
    "--lookback": ([5, 20], [0, -3, 10**9]),
    "--horizon": ([1, 5], [0, 10**7]),
    "--scale": ([10, 0.5], [0, -1, "nan"]),
    "--clip": ([0.2, 0.05], [0, -1, "inf"]),
    "--cash": ([100000, 1], [0, -5, "nan", 1e30]),
    "--commission": ([0.0, 0.001], [-0.1, 5]),
    "--hold": ([1, 5], [0, -2]),
    "--threshold": ([0.0, 0.5], ["nan"]),
    "--seed": ([0, 7], [-1, 2**70]),
    "--alpha": ([1.0, 0.0], [-1.0]),
    "--embargo": ([0, 3], [-1]),
    "--features": (["close,volume", "close,ret1"], ["nope", ""]),
    "--test-start": (["2016-07-01"], ["2015-02-01", "2030-01-01", "20xx-01-01"]),
}
VALID_SPOILS = ("none", "split")  # files a run reads (the split with a warning)


@st.composite
def examples(draw):
    """Half the examples are meant to run (a readable file, flags in range), half are
    anything: any spoil, any mix of values inside and outside the ranges."""
    valid = draw(st.booleans())
    n = draw(st.integers(min_value=420, max_value=640))
    spoil = draw(st.sampled_from(VALID_SPOILS if valid else SPOILS))
    data = csv_bytes(draw(st.integers(0, 50)), n, spoil, draw(st.integers(0, 10_000)))
    flags = []
    for flag, (good, bad) in FLAGS.items():
        if draw(st.booleans()):
            value = draw(st.sampled_from(good if valid else good + bad))
            flags += [flag, str(value)]
    return spoil, data, flags


#: Runs one command and reports its peak memory. A fresh, small Python process runs
#: the command and reads RUSAGE_CHILDREN: its only child is that command. Two readings
#: it avoids: pytest's own RUSAGE_CHILDREN (the largest child of the whole session,
#: which depends on test order) and os.wait4 on a child forked from pytest (a forked
#: child's peak starts at pytest's resident size, 1+ GB once TensorFlow is loaded).
_MEASURE = r"""
import json, resource, subprocess, sys
spec = json.loads(sys.argv[1])
def cap():
    if spec["cap"]:
        resource.setrlimit(resource.RLIMIT_AS, (spec["cap"], spec["cap"]))
def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
try:
    p = subprocess.run(spec["cmd"], capture_output=True, timeout=spec["timeout"],
                       preexec_fn=cap, cwd=spec["cwd"])
    res = dict(rc=p.returncode, stdout=text(p.stdout), stderr=text(p.stderr), timed_out=False)
except subprocess.TimeoutExpired as e:
    res = dict(rc=-9, stdout=text(e.stdout), stderr=text(e.stderr), timed_out=True)
res["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
with open(spec["out"], "w") as f:
    json.dump(res, f)
"""


def run_measured(cmd: list, timeout: float, cap: int | None = None, cwd=None):
    """Run ``cmd`` (under an address-space ``cap``) and return ``(CompletedProcess,
    peak_rss_mb, timed_out)``: the peak resident memory of that command alone."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/result.json"
        spec = dict(cmd=[str(c) for c in cmd], timeout=timeout, cap=cap,
                    cwd=str(cwd) if cwd else None, out=out)  # fmt: skip
        subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(spec)], check=True,
                       timeout=timeout + 60)  # fmt: skip
        with open(out) as f:
            res = json.load(f)
    done = subprocess.CompletedProcess(cmd, res["rc"], res["stdout"], res["stderr"])
    return done, res["peak_mb"], res["timed_out"]


def test_peak_is_this_childs_own():
    """A command's peak is its own: not a bigger child's before it (the old
    ``RUSAGE_CHILDREN`` reading of pytest itself), and not pytest's resident size
    (a child forked from a 600 MB pytest would start its peak there)."""
    big = "b = bytearray(400 << 20); b[::4096] = b'x' * len(b[::4096])"
    _, big_mb, _ = run_measured([sys.executable, "-c", big], 60)
    ballast = bytearray(600 << 20)  # this process grows: the next command must not see it
    ballast[::4096] = b"x" * len(ballast[::4096])
    _, small_mb, timed_out = run_measured([sys.executable, "-c", "pass"], 60, cap=MEMORY_CAP)
    del ballast
    assert big_mb > 400 and small_mb < 100 and not timed_out, (big_mb, small_mb)
    proc, _, timed_out = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], 1)
    assert timed_out and proc.returncode == -9


def run_child(tmp, data: bytes, flags: list):
    csv = tmp / "prices.csv"
    csv.write_bytes(data)
    out = tmp / "out"
    args = ["run", "hold", "--data", str(csv), "--learner", "ridge", "--no-plots",
            "--train-start", "2015-01-01", "--train-end", "2016-06-30",
            "--test-start", "2016-07-01", *flags, "--out", str(out)]  # fmt: skip
    code = "import sys; from btlstm.cli import main; sys.exit(main(sys.argv[1:]))"
    proc, rss_mb, timed_out = run_measured(
        [sys.executable, "-c", code, *args], TIME_LIMIT, cap=MEMORY_CAP, cwd=tmp
    )
    return proc, out, rss_mb, timed_out


def check_example(tmp, spoil, data, flags):
    proc, out, rss_mb, timed_out = run_child(tmp, data, flags)
    said = (
        f"spoil={spoil} flags={flags} peak {rss_mb:.0f} MB timed_out={timed_out}\n"
        f"stderr tail:\n{proc.stderr[-3000:]}"
    )
    assert not timed_out, said
    assert "Traceback" not in proc.stderr + proc.stdout, said
    assert proc.returncode in (0, 2), said
    assert rss_mb < RSS_LIMIT_MB, said  # this child's own peak (run_measured)
    if proc.returncode == 2:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("btlstm: error:")]
        assert len(errors) == 1, said
        return "error"
    report = json.loads((out / "report.json").read_text())
    row = report["comparison"][0]
    assert report["period"]["bars"] > 0, said
    assert isinstance(row["total_return"], float) and math.isfinite(row["total_return"]), said
    warnings = report["warnings"]
    for r in report["comparison"]:  # a run that filled nothing is never silent
        if r["n_orders"] == 0:
            assert any(f"{r['name']!r} filled no order" in w for w in warnings), said
    if spoil == "split":
        assert any("unadjusted split or a bad tick" in w for w in warnings), said
    return "report"


SETTINGS = dict(
    deadline=None,
    derandomize=True,
    # no shrinking: a failing example is reported as drawn (each one is a whole CLI
    # run of seconds; shrinking one took over five minutes on CI)
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)  # fmt: skip

_SEEN: dict = {}


@settings(max_examples=FUZZ_EXAMPLES, **SETTINGS)
@given(example=examples())
def test_fuzz_cli(tmp_path_factory, example):
    spoil, data, flags = example
    tmp = tmp_path_factory.mktemp("fuzz")
    outcome = check_example(tmp, spoil, data, flags)
    _SEEN[outcome] = _SEEN.get(outcome, 0) + 1


def test_fuzz_reached_both_outcomes():
    """The generated examples end both ways (else the generator tests only one path)."""
    if not _SEEN:
        pytest.skip("test_fuzz_cli did not run in this session")
    assert _SEEN.get("report", 0) >= 1 and _SEEN.get("error", 0) >= 1, _SEEN


@pytest.mark.slow
@settings(max_examples=FUZZ_EXAMPLES_SLOW, **{**SETTINGS, "derandomize": False})
@given(example=examples())
def test_fuzz_cli_long(tmp_path_factory, example):
    spoil, data, flags = example
    check_example(tmp_path_factory.mktemp("fuzz"), spoil, data, flags)
