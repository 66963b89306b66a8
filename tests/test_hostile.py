"""Hostile inputs, table-driven: every bad file, flag, TOML, model file, cache entry or
output folder a new user can give is a clear error before any work (issue 8).

Each row of :data:`CASES` is run through ``btlstm.cli.main`` in this process
(a few through ``python -m btlstm.cli`` in a subprocess) with the learner's
``fit`` replaced by a function that fails the test: so a case that reached
training would show. Each asserts the exit code, that no traceback is printed,
that the message names the offending file, flag or TOML key (and never the
internal ``lstm_kwargs[...]``), and, for settings and path errors, that no data
was read and the command failed within a few seconds.

Model files have no ``btlstm run`` flag; they are checked through the Python
API (:func:`btlstm.learners.models.load_model`, ``LSTMLearner.load``). Interrupted
writes of the output folder are in :func:`test_killed_run_leaves_old_or_new_folder`.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
import btlstm.learners.models  # noqa: F401  (Keras imported once here, not inside a timed case)
from btlstm import pipeline
from btlstm.cli import main
from btlstm.synthetic import synthetic_ohlcv

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--lstm-units", "4", "--dense-units", "4", "--quiet", "--no-plots"]
SYN = '{"n": 400, "start": "2010-01-04", "signal": 0.3}'
SYN_DATES = [
    "--train-start",
    "2010-01-01",
    "--train-end",
    "2010-12-31",
    "--test-start",
    "2011-01-03",
]
CSV_DATES = ["--train-start", "2018-01-01", "--train-end", "2019-03-29", "--test-start",
             "2019-04-01", "--test-end", "2019-12-31"]  # fmt: skip
_TODAY = pd.Timestamp.today().normalize()
FUTURE_DATES = ["--train-start", "2000-01-01",
                "--train-end", str((_TODAY - pd.Timedelta(days=200)).date()),
                "--test-start", str((_TODAY - pd.Timedelta(days=199)).date()),
                "--test-end", "2099-12-31"]  # fmt: skip


# ----------------------------------------------------------------------------- files
def _yahoo(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    out.columns = ["Open", "High", "Low", "Close", "Volume"]
    out.insert(4, "Adj Close", out["Close"])
    out.index = out.index.strftime("%Y-%m-%d")
    out.index.name = "Date"
    return out


def _good(n=400, start="2018-06-01") -> pd.DataFrame:
    return _yahoo(synthetic_ohlcv(n=n, start=start, seed=1))


def _csv(df: pd.DataFrame):
    def write(path: Path) -> None:
        df.to_csv(path)

    return write


def _edit(fn):
    """A CSV from the good frame changed by ``fn(frame) -> frame``."""

    def write(path: Path) -> None:
        fn(_good()).to_csv(path)

    return write


def _bytes(data: bytes):
    return lambda path: path.write_bytes(data)


def _future(path: Path) -> None:
    end = pd.Timestamp.today().normalize() + pd.Timedelta(days=45)
    f = synthetic_ohlcv(n=400, start="2018-01-01", seed=1)
    f.index = pd.bdate_range(end=end, periods=len(f))
    _yahoo(f).to_csv(path)


def _set(row: int, col: str, value):
    def fn(df):
        df = df.copy()
        df[col] = df[col].astype(object)
        df.iloc[row, df.columns.get_loc(col)] = value
        return df

    return fn


def _dup(df):
    return pd.concat([df.iloc[:200], df.iloc[199:200], df.iloc[200:]])


def _unsorted(df):
    idx = list(range(len(df)))
    idx[100], idx[101] = idx[101], idx[100]
    return df.iloc[idx]


# ----------------------------------------------------------------------------- the table
@dataclass
class Case:
    """One hostile input: ``argv`` after ``btlstm run hold`` ({tmp}, {file}, {csv},
    {toml}, {folder} filled in), the files to write first, what the message must
    name, the exit code, and whether it must fail before reading any data."""

    id: str
    argv: list
    named: list
    files: dict = field(default_factory=dict)  # name in tmp_path -> writer(path)
    code: int = 2
    settings: bool = True  # fails in Settings/validate: no data read, fast
    subprocess: bool = False


def C(id, argv, named, **kw):
    return pytest.param(Case(id, argv, named, **kw), id=id)


DATA_CSV = ["--data", "{tmp}/prices.csv", *CSV_DATES, *TINY, "--out", "{tmp}/out"]


def csv_case(id, writer, named=(), name="prices.csv", dates=CSV_DATES, **kw):
    argv = [a.replace("prices.csv", name) for a in DATA_CSV]
    argv[2 : 2 + len(CSV_DATES)] = dates
    return C(id, argv, [name, *named], files={name: writer}, settings=False, **kw)


SYN_RUN = ["--data", "synthetic", "--synthetic", SYN, *SYN_DATES, *TINY, "--out", "{tmp}/out"]


def flag_case(id, extra, named, **kw):
    return C(id, [*SYN_RUN, *extra], named, **kw)


def toml_case(id, text, named, **kw):
    writer = _bytes(text) if isinstance(text, bytes) else (lambda p, t=text: p.write_text(t))
    return C(id, [*SYN_RUN, "--config", "{tmp}/run.toml"], ["run.toml", *named],
             files={"run.toml": writer}, **kw)  # fmt: skip


CASES = [
    # --- data files (read before training, so not "settings": data is read, fit never runs)
    csv_case("csv-missing-close", _edit(lambda d: d.drop(columns=["Close", "Adj Close"])), []),
    csv_case("csv-nan-close", _edit(_set(150, "Close", np.nan)), []),
    csv_case("csv-text-price", _edit(_set(150, "Open", "abc")), []),
    csv_case("csv-duplicate-date", _edit(_dup), []),
    csv_case("csv-unsorted-dates", _edit(_unsorted), []),
    csv_case("csv-zero-price", _edit(_set(150, "Low", 0.0)), []),
    csv_case("csv-negative-price", _edit(_set(150, "Close", -5.0)), []),
    csv_case("csv-high-below-low", _edit(_set(150, "High", 1.0)), []),
    csv_case("csv-bad-date", _edit(lambda d: d.rename(index={d.index[150]: "2019-02-30"})), []),
    csv_case("csv-empty-file", _bytes(b""), []),
    csv_case("csv-header-only", _bytes(b"Date,Open,High,Low,Close,Adj Close,Volume\n"), []),
    csv_case("csv-binary-garbage", _bytes(bytes(range(256)) * 40), []),
    csv_case("csv-not-gzip", _bytes(b"Date,Open\n2020-01-02,1\n"), [], name="prices.csv.gz"),
    csv_case("csv-unknown-layout", _bytes(b"when,price\n2020-01-02,1\n2020-01-03,2\n"), []),
    csv_case("csv-future-dates", _future, ["after today", "--test-end"], dates=FUTURE_DATES),
    csv_case(
        "csv-too-short",
        _csv(_good(n=60, start="2019-01-02")),
        ["training samples at the first fit", "fewer than 50", "--train-start"],
        dates=[
            "--train-start",
            "2019-01-01",
            "--train-end",
            "2019-03-01",
            "--test-start",
            "2019-03-04",
            "--test-end",
            "2019-12-31",
        ],  # fmt: skip
    ),
    C(
        "csv-is-a-folder",
        ["--data", "{tmp}/dir.csv", *TINY],
        ["--data", "dir.csv"],
        files={"dir.csv": lambda p: p.mkdir()},
    ),  # fmt: skip
    C("csv-missing", ["--data", "{tmp}/nope.csv", *TINY], ["--data", "nope.csv"]),
    C("dataset-unknown", ["--data", "csi301", *TINY], ["--data", "csi300"]),
    C("data-dir-missing", ["--data-dir", "{tmp}/nodir", *TINY], ["--data-dir", "nodir"]),
    # --- flags
    flag_case("flag-commission-negative", ["--commission", "-1"], ["--commission", ">= 0"]),
    flag_case("flag-per-share-nan", ["--per-share", "nan"], ["--per-share", "finite"]),
    flag_case("flag-cash-inf", ["--cash", "inf"], ["--cash", "finite"]),
    flag_case(
        "flag-regularizer-unknown",
        ["--kernel-regularizer", "l9(0.1)"],
        ["--kernel-regularizer", "l9"],
    ),  # fmt: skip
    flag_case(
        "flag-regularizer-negative",
        ["--activity-regularizer", "l2(-1)"],
        ["--activity-regularizer"],
    ),  # fmt: skip
    flag_case(
        "flag-regularizer-bias-orthogonal",
        ["--bias-regularizer", "orthogonal(0.01)"],
        ["--bias-regularizer", "2-D"],
    ),  # fmt: skip
    flag_case(
        "flag-regularizer-gadget",
        [
            "--recurrent-regularizer",
            "btlstm>CallableRegularizer('evil>y', module='sys', qualname='exit')",
        ],
        ["--recurrent-regularizer", "not registered"],
    ),  # fmt: skip
    flag_case(
        "flag-lstm-kwargs-unknown", ["--lstm-kwargs", '{"unitz": 3}'], ["--lstm-kwargs", "unitz"]
    ),  # fmt: skip
    flag_case("flag-lstm-kwargs-dropout", ["--lstm-kwargs", '{"dropout": 2}'], ["--lstm-kwargs"]),
    flag_case(
        "flag-dense-kwargs-regularizer",
        ["--dense-kwargs", '{"kernel_regularizer": "l9"}'],
        ["--dense-kwargs"],
    ),  # fmt: skip
    flag_case("flag-loss", ["--loss", "xyz"], ["--loss", "xyz"]),
    flag_case("flag-activation", ["--dense-activation", "foo"], ["--dense-activation", "foo"]),
    flag_case("flag-dropout", ["--dropout", "1.5"], ["--dropout", "1.5"]),
    flag_case("flag-learning-rate", ["--learning-rate", "-1"], ["--learning-rate"]),
    flag_case("flag-features", ["--features", "close,foo"], ["--features", "foo"]),
    flag_case("flag-lookback-zero", ["--lookback", "0"], ["--lookback"]),
    flag_case("flag-mode", ["--mode", "sideways"], ["--mode", "sideways"]),
    flag_case("flag-window", ["--window", "sliding"], ["--window", "sliding"]),
    flag_case("flag-not-a-number", ["--lstm-units", "x"], ["--lstm-units"]),
    flag_case("flag-prefix-not-matched", ["--lstm-unit", "8"], ["--lstm-units"]),
    flag_case("flag-dates-unordered", ["--train-end", "2012-01-01"], ["--train-end"]),
    flag_case("flag-impossible-date", ["--test-start", "2011-13-45"], ["--test-start"]),
    flag_case("flag-synthetic-unknown-key", ["--synthetic", '{"nn": 3}'], ["--synthetic", "nn"]),
    flag_case("flag-synthetic-bad-type", ["--synthetic", '{"n": "x"}'], ["--synthetic"]),
    flag_case("flag-synthetic-not-json", ["--synthetic", "{bad"], ["--synthetic"]),
    C(
        "flag-never-fitted",
        [
            "--data",
            "synthetic",
            "--synthetic",
            SYN,
            "--walkforward",
            "--train-start",
            "2010-01-01",
            "--test-start",
            "2010-02-01",
            "--min-train",
            "5000",
            *TINY,
            "--out",
            "{tmp}/out",
        ],
        ["--min-train", "5000", "never fitted"],
        settings=False,
    ),  # fmt: skip
    flag_case("flag-repair", ["--repair", "fix"], ["--repair"], subprocess=True),
    # --- TOML
    toml_case("toml-invalid", "[model\nlookback = 3\n", ["not valid TOML"]),
    toml_case("toml-binary", b"\x00\xff\xfe garbage", ["not valid TOML"]),
    toml_case(
        "toml-walkforward-string", '[model]\nwalkforward = "false"\n', ["[model] walkforward"]
    ),  # fmt: skip
    toml_case("toml-patience-float", "[model]\npatience = 2.5\n", ["[model] patience"]),
    toml_case(
        "toml-list-of-bools",
        "[model]\nstacked_lstm_units = [4, true]\n",
        ["[model] stacked_lstm_units"],
    ),
    toml_case("toml-unknown-key", "[model]\nlstm_unit = 8\n", ["[model] lstm_unit", "lstm_units"]),
    toml_case("toml-unknown-section", "[modle]\nlookback = 8\n", ["modle", "model"]),
    toml_case("toml-section-not-table", "model = 3\n", ["'model'", "[model] table"]),
    toml_case("toml-other-strategy", "[strategy]\nname = 'hodl'\n", ["[strategy] name", "hodl"]),
    toml_case(
        "toml-regularizer",
        "[model]\nkernel_regularizer = 'l9(0.1)'\n",
        ["[model] kernel_regularizer"],
    ),  # fmt: skip
    toml_case(
        "toml-lstm-kwargs",
        "[model]\nlstm_kwargs = {recurrent_dropout = 7}\n",
        ["[model] lstm_kwargs"],
        subprocess=True,
    ),  # fmt: skip
    C("toml-missing", [*SYN_RUN, "--config", "{tmp}/none.toml"], ["none.toml"]),
    C(
        "toml-is-a-folder",
        [*SYN_RUN, "--config", "{tmp}/cfg"],
        ["cfg", "folder"],
        files={"cfg": lambda p: p.mkdir()},
    ),  # fmt: skip
    # --- output folders and the model cache
    C(
        "out-is-a-file",
        [*SYN_RUN, "--out", "{tmp}/afile"],
        ["--out", "afile"],
        files={"afile": _bytes(b"x")},
    ),  # fmt: skip
    C(
        "out-under-a-file",
        [*SYN_RUN, "--out", "{tmp}/afile/sub"],
        ["--out", "afile"],
        files={"afile": _bytes(b"x")},
    ),  # fmt: skip
    C("out-not-writable", [*SYN_RUN, "--out", "/sys/btlstm-hostile/run"], ["--out", "/sys"]),
    C("out-name-too-long", [*SYN_RUN, "--out", "{tmp}/" + "x" * 300], ["--out", "too long"]),
    C("out-nul-byte", [*SYN_RUN, "--out", "{tmp}/a\x00b"], ["--out", "NUL"]),
    C(
        "out-foreign-folder",
        [*SYN_RUN, "--out", "{tmp}/thesis"],
        ["--out", "thesis.tex"],
        files={"thesis": lambda p: (p.mkdir(), (p / "thesis.tex").write_text("precious"))},
    ),
    C(
        "cache-is-a-file",
        [*SYN_RUN, "--cache-dir", "{tmp}/afile"],
        ["--cache-dir", "afile"],
        files={"afile": _bytes(b"x")},
    ),  # fmt: skip
    C(
        "cache-not-writable",
        [*SYN_RUN, "--cache-dir", "/sys/btlstm-hostile"],
        ["--cache-dir", "/sys"],
        subprocess=True,
    ),  # fmt: skip
    C(
        "cache-name-too-long",
        [*SYN_RUN, "--cache-dir", "{tmp}/" + "c" * 300],
        ["--cache-dir", "too long"],
    ),  # fmt: skip
]


@pytest.fixture
def guard(monkeypatch):
    """Record reads of data; fail the test if any model is trained."""
    calls = []
    real = pipeline.load_data

    def load_data(*a, **k):
        calls.append("load_data")
        return real(*a, **k)

    def fit(*a, **k):
        raise AssertionError("a model was trained: the error came after training")

    from btlstm.learners import LSTMLearner

    monkeypatch.setattr(pipeline, "load_data", load_data)
    monkeypatch.setattr(LSTMLearner, "fit", fit)
    return calls


def _fill(argv, tmp_path):
    return [a.replace("{tmp}", str(tmp_path)) for a in argv]


def _in_process(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a flag it cannot parse
        code = e.code
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize("case", CASES)
def test_hostile_input(case, tmp_path, capsys, guard):
    for name, write in case.files.items():
        write(tmp_path / name)
    argv = ["run", "hold", *_fill(case.argv, tmp_path)]
    code, text = _in_process(argv, capsys)
    assert code == case.code, text
    assert "Traceback" not in text, text
    assert "btlstm: error:" in text, text
    for name in case.named:
        assert name in text, (name, text)
    assert "lstm_kwargs[" not in text, text  # internal names never leak
    if case.settings:
        assert guard == [], "data was read before the settings were checked"
    if case.subprocess and "\x00" not in " ".join(argv):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        res = subprocess.run([sys.executable, "-m", "btlstm.cli", *argv], capture_output=True,
                             text=True, env=env, timeout=120)  # fmt: skip
        assert res.returncode == case.code, res.stderr
        assert "Traceback" not in res.stderr and "btlstm: error:" in res.stderr
        for name in case.named:
            assert name in res.stderr, (name, res.stderr)


def test_table_is_big_enough():
    assert len(CASES) >= 40


# ----------------------------------------------------------------------------- warnings
def test_dates_past_the_data_and_few_samples_are_warned_and_recorded(tmp_path, capsys):
    """A test_end past the data and a short training set run, but loudly: the terminal,
    report.json and report.html say so, and the report records the dates used."""
    _good(n=330, start="2019-01-01").to_csv(tmp_path / "p.csv")
    out = tmp_path / "out"
    argv = ["run", "hold", "--data", str(tmp_path / "p.csv"), "--train-start", "2019-01-01",
            "--train-end", "2019-09-30", "--test-start", "2019-10-01", "--test-end",
            "2099-12-31", *TINY, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr()
    assert "--test-end = 2099-12-31 is after the last bar" in text.err
    assert "training samples at the first fit" in text.err
    assert "--test-end = 2099-12-31" in text.out  # the table's notes
    r = json.loads((out / "report.json").read_text())
    assert any("--test-end" in w for w in r["warnings"])
    assert any(f"fewer than {pipeline.WARN_TRAIN_SAMPLES}" in w for w in r["warnings"])
    used = r["provenance"]["dates_used"]
    last = pd.Timestamp(used["test_end"])
    assert used["data_end"] == used["test_end"] and last < pd.Timestamp("2099-12-31")
    assert used["train_end"] <= "2019-09-30" and 0 < used["train_samples"] < 250
    html = (out / "report.html").read_text()
    assert "is after the last bar" in html and "training samples at the first fit" in html


def test_thresholds_have_one_home():
    assert pipeline.MIN_TRAIN_SAMPLES < pipeline.WARN_TRAIN_SAMPLES
    assert pipeline.FUTURE_GRACE_DAYS >= 0 and pipeline.DATE_SLACK_DAYS >= 0


# ----------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from btlstm.learners.models import build_model, save_model

    path = tmp_path_factory.mktemp("m") / "small.keras"
    save_model(build_model(lookback=10, n_features=6, lstm_units=2, dense_units=(2,)), path)
    return path


MODEL_CASES = [
    ("model-corrupt", lambda good, p: p.write_bytes(b"PK\x03\x04 not really a zip" * 10)),
    (
        "model-truncated",
        lambda good, p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
    ),
    ("model-empty", lambda good, p: p.write_bytes(b"")),
    ("model-text", lambda good, p: p.write_text("hello, I am a model")),
    ("model-folder", lambda good, p: p.mkdir()),
]


@pytest.mark.parametrize("id, make", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_hostile_model_file(id, make, saved_model, tmp_path):
    from btlstm.learners.models import ModelFileError, load_model

    path = tmp_path / f"{id}.keras"
    make(saved_model, path)
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert str(path) in str(e.value) and "Traceback" not in str(e.value)


def test_model_file_with_wrong_input_shape(saved_model):
    from btlstm.learners import LSTMLearner
    from btlstm.learners.models import ModelFileError

    learner = LSTMLearner(lookback=30, n_features=6)
    with pytest.raises(ModelFileError, match=r"small\.keras.*\(10, 6\).*\(30, 6\)"):
        learner.load(saved_model)


# ----------------------------------------------------------------------------- the cache
def test_corrupt_cached_model_is_detected_and_retrained(tmp_path, capsys):
    """A cached model overwritten with garbage is not used: the run says which file and
    trains again (exit 0, the fit is not marked as cached)."""
    cache = tmp_path / "cache"
    argv = ["run", "hold", *SYN_RUN[:-2], "--out", str(tmp_path / "o"), "--cache-dir", str(cache)]
    argv = _fill(argv, tmp_path)
    assert main(argv) == 0
    (entry,) = [p for p in cache.rglob("*.keras")]
    entry.write_bytes(b"garbage" * 100)
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert entry.name in err and "Traceback" not in err
    r = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [f["cached"] for f in r["run"]["fits"]] == [False]


# ----------------------------------------------------------------------------- interrupts
def _state(out: Path) -> str:
    """'old', 'new' (complete, checked by load_report), or 'broken: ...'."""
    from btlstm.report import ReportError, load_report

    try:
        run = load_report(out)
    except (ReportError, FileNotFoundError) as e:
        return f"broken: {e}"
    return run.report["title"]


# the runs that get killed: no TensorFlow (the ridge learner), so each takes seconds
KILL_RUN = ["--data", "synthetic", "--synthetic", SYN, *SYN_DATES, "--learner", "ridge", "--quiet"]


def _killed_run(out: Path, sig: int, delay: float, tmp_path: Path) -> bool:
    """Start a run writing to ``out``; once its temporary sibling folder appears, wait
    ``delay`` s and send ``sig``. True if the signal landed while it was writing."""
    argv = [sys.executable, "-m", "btlstm.cli", "run", "hold", *KILL_RUN,
            "--plots", "--out", str(out)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    parent = out.parent
    left = {p.name for p in parent.iterdir()}  # an earlier SIGKILL's leftovers do not count
    deadline = time.monotonic() + 180
    landed = False
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            tmp = [
                p
                for p in parent.iterdir()
                if p.name.startswith(".btlstm-tmp-") and p.name not in left
            ]
            if tmp:
                time.sleep(delay)
                landed = proc.poll() is None and any(p.exists() for p in tmp)
                proc.send_signal(sig)
                break
            time.sleep(0.002)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return landed


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_run_leaves_old_or_new_folder(sig, tmp_path, capsys):
    """Kill ``btlstm run hold`` while it writes its report folder, at a few delays: the
    folder is always the complete old run or the complete new one, never a mix, and
    ``load_report`` refuses the half-written temporary folder a kill leaves behind."""
    from btlstm.report import ReportError, load_report

    out = tmp_path / "runs" / "out"
    out.parent.mkdir()
    old_argv = ["run", "hold", *KILL_RUN, "--no-plots", "--out", str(out)]
    assert main(old_argv) == 0
    capsys.readouterr()
    landed = 0
    for delay in (0.0, 0.003, 0.03):
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        landed += _killed_run(out, sig, delay, tmp_path)
        state = _state(out)  # load_report checks every file against the manifest
        assert not state.startswith("broken"), state
        after = {p.name: p.read_bytes() for p in out.iterdir()}
        # the complete old run byte for byte, or the complete new run (with its plots)
        assert after == before or (
            "equity.png" in after and after["report.json"] != before["report.json"]
        )
        for tmp in out.parent.glob(".btlstm-tmp-*"):  # what SIGKILL leaves beside it
            if not (tmp / "manifest.json").exists():  # manifest.json is written last
                with pytest.raises(ReportError, match="incomplete"):
                    load_report(tmp)
    assert landed >= 1, "no kill landed while the report was being written"


def test_load_report_refuses_a_mixed_or_incomplete_folder(tmp_path):
    """The mixes an interrupted in-place write used to leave: a new report.json beside
    old files, a folder without its HTML, a folder without a manifest."""
    from btlstm.report import ReportError, load_report

    a, b = tmp_path / "a", tmp_path / "b"
    for out, extra in ((a, ["--no-plots"]), (b, ["--plots", "--hold", "3"])):
        assert main(["run", "hold", *_fill(SYN_RUN[:-2], tmp_path), *extra, "--out", str(out)]) == 0
    (a / "report.json").write_bytes((b / "report.json").read_bytes())
    with pytest.raises(ReportError, match="report.json does not match"):
        load_report(a)
    (b / "report.html").unlink()
    with pytest.raises(ReportError, match="report.html is missing"):
        load_report(b)
    (b / "manifest.json").unlink()
    with pytest.raises(ReportError, match="incomplete"):
        load_report(b)
