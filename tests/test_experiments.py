"""Sweeps (btlstm.sweep, formerly btlstm.experiments): engines agree, interrupted sweeps resume, bad grids fail early.

A tiny grid (2 configurations x 2 seeds, a 4-unit LSTM trained 1 epoch) on a
short synthetic index keeps every test small. The serial engine (this process)
is the reference; the process pool and Ray must give the same ``runs.csv``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import btlstm.sweep.run as sweep_run
from btlstm import sweep as ex
from btlstm.sweep import METRICS, SweepError, load_sweep, make_sweep, run_sweep

TINY = """
[sweep]
repeats = 2

[data]
data = "synthetic"
synthetic = {n = 420, start = "2008-01-02", signal = 0.3}

[model]
train_start = "2008-01-01"
train_end = "2008-12-31"
test_start = "2009-01-01"
lstm_units = 4
dense_units = [4]
epochs = 1

[strategy]
name = "hold"
hold = 5

[[config]]
name = "none"

[[config]]
name = "kernel_l2"
kernel_regularizer = "l2(0.01)"
"""


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory):
    p = tmp_path_factory.mktemp("sweep") / "tiny.toml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def serial(tiny_toml, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "out"
    return run_sweep(load_sweep(tiny_toml), out, engine="serial", progress=False)


def _sweep_of(result):
    d = json.loads((result.out / "sweep.json").read_text())
    return make_sweep(d["base"], d["configs"], d["repeats"], d["seed0"], d["reference"])


def _metrics(frame: pd.DataFrame) -> np.ndarray:
    return frame.sort_values(["config", "seed"])[list(METRICS)].to_numpy()


def test_serial_sweep_files_and_columns(serial):
    out = serial.out
    for name in ("runs.csv", "summary.csv", "tests.csv", "ensemble.csv", "boxplots.png"):
        assert (out / name).stat().st_size > 0, name
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns) == list(ex.RUN_COLUMNS)
    assert sorted(zip(runs.config, runs.seed)) == [
        ("kernel_l2", 0),
        ("kernel_l2", 1),
        ("none", 0),
        ("none", 1),
    ]
    assert runs[["rmse", "hit_rate", "total_return", "sharpe"]].notna().all().all()
    assert (runs["epochs"] == 1).all()
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "kernel_l2__0.json",
        "kernel_l2__1.json",
        "none__0.json",
        "none__1.json",
    ]
    ens = pd.read_csv(out / "ensemble.csv")
    assert list(ens["config"]) == ["none", "kernel_l2"] and (ens["n_seeds"] == 2).all()
    tests = pd.read_csv(out / "tests.csv")
    assert set(tests["config"]) == {"kernel_l2"} and set(tests["metric"]) == set(METRICS)
    page = (out / "index.html").read_text()
    assert "data:image/png;base64," in page and "kernel_l2" in page  # self-contained
    # seeds differ, so runs differ
    none = runs[runs.config == "none"]
    assert none["rmse"].nunique() == 2
    assert {"p_holm", "p_bh"} <= set(tests.columns)


def test_sweep_significance_json_and_page(serial):
    out = serial.out
    sig = json.loads((out / "significance.json").read_text())
    assert set(ex.SIGNIFICANCE_KEYS) <= set(sig)
    assert sig["reference"] == "none" and 0.0 <= sig["spa_p"] <= 1.0
    assert isinstance(sig["stepm"], list) and set(sig["stepm"]) <= {"kernel_l2"}
    runs = pd.read_csv(out / "runs.csv")
    best = runs.groupby("config", sort=False)["sharpe"].mean().idxmax()  # ties: the first
    assert sig["dsr_best"]["config"] == best and sig["dsr_best"]["n_trials"] == 4
    assert 0.0 <= sig["dsr_best"]["value"] <= 1.0
    assert sig["verdict"].startswith(("no evidence that any", "evidence that"))
    page = (out / "index.html").read_text()
    assert "SPA p-value" in page and "deflated Sharpe ratio" in page and "p_holm" in page
    # each configuration's returns: the mean of its seeds' backtests, one per test bar
    files = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    r0 = files["none__0"]
    assert len(r0["returns"]) == len(r0["dates"]) == len(r0["predictions"])
    # a run file written before the returns were kept: backtested again, the same numbers
    from btlstm.sweep.stats import run_returns

    sweep = _sweep_of(serial)
    old = {k: v for k, v in r0.items() if k != "returns"}
    again = run_returns(sweep, old)
    np.testing.assert_allclose(again.to_numpy(), run_returns(sweep, r0).to_numpy(), rtol=1e-12)


def test_ensemble_is_the_mean_prediction(serial):
    runs = {p.stem: json.loads(p.read_text()) for p in (serial.out / "runs").glob("none__*.json")}
    preds = np.array(
        [[np.nan if v is None else v for v in r["predictions"]] for r in runs.values()]
    )
    mean = preds.mean(axis=0)
    ens = pd.read_csv(serial.out / "ensemble.csv").set_index("config")
    # RMSE is a norm: the mean prediction's RMSE is at most the mean of the runs' RMSEs
    r0 = next(iter(runs.values()))
    assert len(mean) == len(r0["dates"])
    assert np.isfinite(ens.loc["none", "rmse"])
    runs_rmse = pd.read_csv(serial.out / "runs.csv").query("config == 'none'")["rmse"]
    assert ens.loc["none", "rmse"] <= runs_rmse.mean() + 1e-12


def _local(tiny_toml, out, workers):
    res = run_sweep(load_sweep(tiny_toml), out, engine="local", workers=workers, progress=False)
    assert res.ran == 4
    return res


def test_local_engine_2_workers_matches_serial(serial, tiny_toml, tmp_path):
    res = _local(tiny_toml, tmp_path / "w2", 2)  # 1 TensorFlow thread per worker on 2 cores
    np.testing.assert_array_equal(_metrics(res.runs), _metrics(serial.runs))
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "w2" / "runs").iterdir()}
    assert os.getpid() not in pids  # the runs ran in worker processes


@pytest.mark.slow
def test_local_engine_1_worker_matches_serial(serial, tiny_toml, tmp_path):
    res = _local(tiny_toml, tmp_path / "w1", 1)  # all cores' threads in one worker
    np.testing.assert_array_equal(_metrics(res.runs), _metrics(serial.runs))


@pytest.mark.slow
def test_ray_engine_matches_serial(serial, tiny_toml, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = run_sweep(load_sweep(tiny_toml), tmp_path / "ray", engine="ray", workers=2,
                        progress=False)  # fmt: skip
    finally:
        ray.shutdown()
    assert res.ran == 4
    np.testing.assert_array_equal(_metrics(res.runs), _metrics(serial.runs))


def test_interrupted_sweep_resumes_without_redoing_finished_runs(serial, tiny_toml, tmp_path):
    from btlstm.cli import main

    out = tmp_path / "out"
    calls = []

    def dies_after_two(task):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed midway")
        calls.append((task["config"], task["seed"]))
        return ex.run_task(task)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_sweep(tiny_toml), out, engine="serial", task_fn=dies_after_two,
                  progress=False)  # fmt: skip
    finished = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert finished == ["none__0.json", "none__1.json"]
    assert not list((out / "runs").glob(".*"))  # no half-written temporary file left
    stamp = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "runs").iterdir()}

    again = []

    def counted(task):
        again.append((task["config"], task["seed"]))
        return ex.run_task(task)

    res = run_sweep(load_sweep(tiny_toml), out, engine="serial", task_fn=counted, progress=False)
    assert again == [("kernel_l2", 0), ("kernel_l2", 1)]
    assert (res.ran, res.reused) == (2, 2)
    for name, (mtime, data) in stamp.items():  # finished runs untouched
        p = out / "runs" / name
        assert (p.stat().st_mtime_ns, p.read_bytes()) == (mtime, data)
    np.testing.assert_array_equal(_metrics(res.runs), _metrics(serial.runs))

    # a third call (the CLI) finds everything done and trains nothing
    assert main(["sweep", "--config", str(tiny_toml), "--out", str(out), "--engine", "serial",
                 "--quiet"]) == 0  # fmt: skip


def test_sweep_killed_with_sigkill_resumes_without_redoing_finished_runs(
    serial, tiny_toml, tmp_path
):
    """A real process killed (SIGKILL) after its first finished run: the restart runs
    only what is missing and leaves the finished run files as they were."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    cmd = [sys.executable, "-m", "btlstm.cli", "sweep", "--config", str(tiny_toml),
           "--out", str(out), "--engine", "serial", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "runs").is_dir() and any((out / "runs").glob("*.json")):
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    finished = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert 1 <= len(finished) < 4, finished  # killed midway, after a run was written
    stamp = {n: ((out / "runs" / n).stat().st_mtime_ns, (out / "runs" / n).read_bytes())
             for n in finished}  # fmt: skip

    again = []

    def counted(task):
        again.append(f"{task['config']}__{task['seed']}.json")
        return ex.run_task(task)

    res = run_sweep(load_sweep(tiny_toml), out, engine="serial", task_fn=counted, progress=False)
    assert sorted(again + finished) == sorted(p.name for p in (out / "runs").glob("*.json"))
    assert not set(again) & set(finished) and res.reused == len(finished)
    for name, (mtime, data) in stamp.items():
        p = out / "runs" / name
        assert (p.stat().st_mtime_ns, p.read_bytes()) == (mtime, data)
    np.testing.assert_array_equal(_metrics(res.runs), _metrics(serial.runs))


def test_changed_settings_rerun_only_that_configuration(serial, tiny_toml, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(serial.out, out)
    text = tiny_toml.read_text().replace('"l2(0.01)"', '"l2(0.02)"')
    changed = tmp_path / "changed.toml"
    changed.write_text(text)
    seen = []

    def counted(task):
        seen.append(task["config"])
        return ex.run_task(task)

    res = run_sweep(load_sweep(changed), out, engine="serial", task_fn=counted, progress=False)
    assert seen == ["kernel_l2", "kernel_l2"] and res.reused == 2


BAD = [
    ({"kernel_regularizer": "l3(0.01)"}, ["'bad'", "kernel_regularizer", "l3"]),
    ({"kernal_regularizer": "l2(0.01)"}, ["'bad'", "kernal_regularizer", "kernel_regularizer"]),
    ({"lstm_unit": 4}, ["'bad'", "lstm_unit", "lstm_units"]),
    ({"dropout": 1.5}, ["'bad'", "dropout"]),
    ({"recurrent_regularizer": "os.system('x')"}, ["'bad'", "recurrent_regularizer"]),
    ({"seed": 3}, ["'bad'", "seed"]),
]


@pytest.fixture
def no_training(monkeypatch):
    from btlstm.learners.lstm import LSTMLearner

    def boom(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(LSTMLearner, "fit", boom)
    monkeypatch.setattr(sweep_run, "run_task", boom)


@pytest.mark.parametrize("over,words", BAD)
def test_bad_grid_entry_fails_before_training(over, words, tiny_toml, tmp_path, no_training):
    text = tiny_toml.read_text() + '\n[[config]]\nname = "bad"\n'
    text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in over.items())
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(SweepError) as e:
        load_sweep(p)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
    assert not (tmp_path / "out").exists()


def test_bad_grid_from_cli_exit_2(tiny_toml, tmp_path, capsys, no_training):
    from btlstm.cli import main

    p = tmp_path / "bad.toml"
    p.write_text(tiny_toml.read_text() + '\n[sweep.grid]\nslots = ["kernal"]\n')
    assert main(["sweep", "--config", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "sweep.grid" in err and "'kernal'" in err and "did you mean 'kernel'" in err
    assert not (tmp_path / "o").exists()


def test_foreign_out_folder_refused(tiny_toml, tmp_path, no_training):
    (tmp_path / "mine.txt").write_text("not a sweep")
    with pytest.raises(SweepError, match="holds no sweep"):
        run_sweep(load_sweep(tiny_toml), tmp_path, engine="serial")


def test_grid_helpers():
    g = ex.regularizer_grid(callables=("seed_l1(0.01)",), axes={"dropout": [0.2]})
    assert list(g)[:4] == ["none", "bias_l1", "bias_l2", "bias_l1l2"]
    assert g["kernel_l1l2"] == {"kernel_regularizer": "l1l2(l1=0.01,l2=0.01)"}
    assert g["recurrent_seed_l1"] == {"recurrent_regularizer": "seed_l1(0.01)"}
    assert g["dropout_0.2"] == {"dropout": 0.2}
    assert len(g) == 1 + 4 * 4 + 1
    with pytest.raises(SweepError, match="kind 'l3'"):
        ex.regularizer_grid(kinds=("l3",))


def test_grid_validates_every_configuration_with_registered_callable(no_training):
    from btlstm.learners.models import register_regularizer_fn

    def sweep_test_l1(w):
        import keras

        return 0.01 * keras.ops.sum(keras.ops.abs(w))

    register_regularizer_fn(sweep_test_l1, name="btlstm_test>sweep_test_l1")
    base = {"data": {"data": "synthetic"}, "model": {"lstm_units": 4}}
    grid = ex.regularizer_grid(
        slots=("kernel",), kinds=(), callables=("btlstm_test>sweep_test_l1",)
    )
    s = make_sweep(base, grid, repeats=3)
    assert [t.name for t in s.tasks()][-1] == "kernel_sweep_test_l1__2"
    with pytest.raises(SweepError, match="kernel_nope.*not_registered"):
        make_sweep(base, {"none": {}, "kernel_nope": {"kernel_regularizer": "not_registered"}})


def test_summary_and_paired_tests_by_hand():
    rows = []
    for seed in range(5):
        rows.append({"config": "none", "seed": seed, **{m: 1.0 + seed for m in METRICS}})
        rows.append({"config": "x", "seed": seed, **{m: 1.5 + seed for m in METRICS}})
    runs = pd.DataFrame(rows)
    summ = ex.summarize(runs).set_index(["config", "metric"])
    assert summ.loc[("x", "rmse"), "mean"] == 3.5 and summ.loc[("x", "rmse"), "n"] == 5
    assert summ.loc[("none", "ic"), "median"] == 3.0
    t = ex.paired_tests(runs, "none").set_index("metric")
    assert t.loc["rmse", "mean_diff"] == 0.5
    assert t.loc["rmse", "better"] == 0 and t.loc["ic", "better"] == 5  # lower vs higher is better
    assert t.loc["rmse", "wilcoxon_p"] == pytest.approx(0.0625)  # the smallest p with 5 pairs
    # Holm and Benjamini-Hochberg over the configurations tested on one metric
    rng = np.random.default_rng(0)
    more = [
        {"config": c, "seed": seed, **{m: 1.0 + seed + rng.normal(shift, 0.3) for m in METRICS}}
        for c, shift in (("y", 0.1), ("z", 0.8))
        for seed in range(5)
    ]
    t = ex.paired_tests(pd.concat([runs, pd.DataFrame(more)]), "none")
    from statsmodels.stats.multitest import multipletests

    sharpe = t[t.metric == "sharpe"]
    assert list(sharpe["config"]) == ["x", "y", "z"]
    assert np.isnan(sharpe["ttest_p"].iloc[0]) and np.isnan(sharpe["p_holm"].iloc[0])  # d constant
    tested = sharpe.iloc[1:]  # two tests in the family
    assert np.allclose(tested["p_holm"], multipletests(tested["ttest_p"], method="holm")[1])
    assert np.allclose(tested["p_bh"], multipletests(tested["ttest_p"], method="fdr_bh")[1])
    assert (tested["p_holm"] >= tested["ttest_p"]).all()
    only_ref = ex.paired_tests(runs[runs.config == "none"], "none")
    assert only_ref.empty and list(only_ref.columns)[:3] == ["config", "metric", "n"]


ASHARE_BASE = {
    "data": {"data": "synthetic",
             "synthetic": {"n": 420, "start": "2008-01-02", "signal": 0.3, "price0": 10.0}},
    "model": {"learner": "ridge", "train_start": "2008-01-01", "train_end": "2008-12-31",
              "test_start": "2009-01-01"},
    "strategy": {"name": "hold", "hold": 5},
    "costs": {"market": "ashare", "cash": 10_000.0},
}  # fmt: skip


def test_ashare_sweep_pays_the_minimum_commission_and_the_stamp_tax(tmp_path, monkeypatch):
    """`[costs] market = "ashare"`: the sweep's backtests run under the A-share broker
    (the one cerebro factory): whole lots, 0.03% with a 5 CNY minimum per fill, 0.1%
    stamp tax on sales (2009), and the cash adds up to the reported return."""
    import btlstm.bt.cerebro as factory

    made = []
    real = factory.make_cerebro
    monkeypatch.setattr(
        factory, "make_cerebro", lambda *a, **k: made.append(real(*a, **k)) or made[-1]
    )
    res = run_sweep(make_sweep(ASHARE_BASE, {"none": {}}, repeats=1), tmp_path / "s", engine="serial",
                    progress=False, plots=False)  # fmt: skip
    strat = made[0].runstrats[0][0]  # the task's backtest (made[1]: the seed ensemble's)
    orders = [o for o in strat.analyzers.orders.get_analysis()["orders"]
              if o["status"] == "Completed"]  # fmt: skip
    buys = [o for o in orders if o["side"] == "buy"]
    sells = [o for o in orders if o["side"] == "sell"]
    assert len(buys) >= 3 and len(sells) >= 3
    assert all(o["size"] % 100 == 0 for o in buys)  # whole lots of 100 shares
    for o in orders:
        tax = 0.001 * o["value"] if o["side"] == "sell" else 0.0
        assert o["commission"] == pytest.approx(max(5.0, 0.0003 * o["value"]) + tax, rel=1e-9)
    assert any(0.0003 * o["value"] < 5.0 for o in orders)  # the minimum binds
    cash = 10_000.0 - sum(o["value"] + o["commission"] for o in buys)
    cash += sum(o["value"] - o["commission"] for o in sells)
    assert strat.broker.getcash() == pytest.approx(cash, abs=1e-6)
    run = res.runs.iloc[0]
    assert run["total_return"] == pytest.approx(strat.broker.getvalue() / 10_000.0 - 1, rel=1e-9)


def test_old_module_name_gives_the_same_api():
    import btlstm.experiments as old

    for name in old.__all__:
        assert getattr(old, name) is getattr(ex, name), name
    assert old.run_sweep.__module__ == "btlstm.sweep.run"


def _ridge_task_in_a_worker(task):
    import sys

    return {**ex.run_task(task), "tensorflow": "tensorflow" in sys.modules}


def test_a_worker_whose_tasks_train_no_lstm_never_imports_tensorflow():
    from btlstm.sweep.engines import local

    tasks = make_sweep(ASHARE_BASE, {"none": {}}, repeats=1).tasks()
    ((task, result),) = local(tasks, _ridge_task_in_a_worker, workers=1, threads=1)
    assert result["pid"] != os.getpid() and np.isfinite(result["total_return"])
    assert result["tensorflow"] is False


def test_a_sweep_without_out_gets_a_new_run_folder_and_latest(serial, tiny_toml, tmp_path,
                                                               monkeypatch):  # fmt: skip
    """Two sweeps without --out: two folders btlstm-out/sweep-<config>-<time>[-2], latest
    names the second, each holds the whole sweep (the runs replayed from the serial one)."""
    from btlstm.report.runs import read_latest

    monkeypatch.chdir(tmp_path)

    def replayed(task):
        return json.loads((serial.out / "runs" / f"{task['config']}__{task['seed']}.json")
                          .read_text())  # fmt: skip

    a, b = (run_sweep(load_sweep(tiny_toml), engine="serial", task_fn=replayed, progress=False)
            for _ in range(2))  # fmt: skip
    root = tmp_path / "btlstm-out"
    stem = os.path.splitext(os.path.basename(tiny_toml))[0]
    assert a.out != b.out and a.out.parent == b.out.parent == root
    assert a.out.name.startswith(f"sweep-{stem}-") and b.out.name.startswith(f"sweep-{stem}-")
    assert read_latest(root) == b.out and (a.ran, b.ran) == (4, 4)
    for res in (a, b):
        assert sorted(p.name for p in (res.out / "runs").glob("*.json")) == sorted(
            p.name for p in (serial.out / "runs").glob("*.json")
        )
        pd.testing.assert_frame_equal(res.summary, serial.summary)
