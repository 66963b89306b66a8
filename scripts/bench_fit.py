"""Benchmark: how the LSTM learner trains, chosen by measurement (one process, same data).

The reference is a plain Keras ``fit`` of the default model (LSTM 32 + Dense
32/16/1) on 2,500 random windows of 30 x 6 at batch 64 (what every training
benchmark of btlstm prints beside its own numbers, so they compare across
machines). The variants train the same model from the same seed on the same
data and are printed as ms per epoch (median of the epochs after the first),
the first epoch (tracing and compiling), and the largest difference of their
predictions on 500 held-out windows from the reference's:

  keras fit             the reference (Keras' own step, one call per batch)
  model.fit, compiled   :func:`btlstm.learners.models.compile_training` + ``model.fit``:
                        Keras' step, 64 batches per call, traced once per model
                        (for users who call ``fit`` themselves)
  btlstm                :func:`btlstm.learners.models.fit_compiled` (the LSTM learner's
                        default): Keras' loop and step without its per-fit
                        ``tf.data`` pipeline (the same numbers, bit for bit)
  btlstm xla            ``[model] xla = true``: full batches run an XLA-compiled
                        step, the partial one Keras' step, 64 batches per call
                        (faster; other float rounding, so other predictions)
  refit                 the same long-lived model refitted on 2,521 windows
                        (another partial batch) from fresh weights: its first
                        epoch and whole fit show what a walk-forward's next fit
                        costs (nothing traced or compiled again)

Besides ms per epoch, each row gives the whole ``fit`` call in ms (its
epochs plus its set-up).

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 python scripts/bench_fit.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def reference_epoch(epochs: int = 5, seed: int = 0) -> float:
    """Seconds per epoch of the plain Keras reference fit (median of the epochs after
    the first), measured in this process."""
    import btlstm  # noqa: F401,I001  (quiet TensorFlow)
    import keras

    from btlstm.learners.models import build_model

    X, y = _data(2500, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(30, 6)
    clock = _clock()
    model.fit(X, y, epochs=max(2, epochs), batch_size=64, verbose=0, callbacks=[clock])
    return float(np.median(clock.epochs[1:]))


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 30, 6)).astype("float32"), rng.standard_normal(n).astype(
        "float32"
    )


def _clock():
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._t)

    return Clock()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args(argv)
    import btlstm  # noqa: F401,I001
    import keras

    from btlstm.learners.models import build_model, compile_training, fit_compiled, seed_keras

    X, y = _data(3021, 0)
    Xt = X[2521:]

    def run(label, setup, n=2500, model=None, loop=None):
        if loop is None:
            keras.utils.set_random_seed(0)
        else:  # the learner's seeding: TensorFlow's global seed (and kernel cache) kept
            seed_keras(0)
        fresh = build_model(30, 6)
        if model is None:
            model = fresh
            setup(model)
        else:  # the same long-lived model, fresh weights and optimizer
            for dst, src in zip(model.variables, fresh.variables):
                dst.assign(src)
            for v in model.optimizer.variables:
                if v is not getattr(model.optimizer, "_learning_rate", None):
                    v.assign(np.zeros(v.shape, v.dtype))
        clock = _clock()
        t0 = time.perf_counter()
        if loop is None:
            model.fit(X[:n], y[:n], epochs=args.epochs, batch_size=64, verbose=0, shuffle=True,
                      callbacks=[clock])  # fmt: skip
        else:  # btlstm's loop, the shuffle of set_random_seed(0)
            fit_compiled(model, X[:n], y[:n], epochs=args.epochs, batch_size=64,
                         callbacks=[clock], xla=loop == "xla", shuffle_seed=0)  # fmt: skip
        total = time.perf_counter() - t0
        pred = model.predict(Xt, verbose=0)[:, 0]
        return label, clock.epochs, pred, model, total

    rows = [run("keras fit", lambda m: None)]
    rows.append(run("model.fit, compiled", lambda m: compile_training(m, 64)))
    rows.append(run("btlstm", lambda m: None, loop="plain"))
    rows.append(run("refit (btlstm, 2,521 windows)", None, n=2521, model=rows[-1][3], loop="plain"))
    rows.append(run("btlstm xla", lambda m: None, loop="xla"))
    rows.append(run("refit (xla, 2,521 windows)", None, n=2521, model=rows[-1][3], loop="xla"))
    ref = rows[0][1]
    ref_ms = float(np.median(ref[1:])) * 1000
    print(f"\nreference: plain Keras fit, default model, 2,500 windows x 30 x 6, batch 64: "
          f"{ref_ms:.0f} ms / epoch\n")  # fmt: skip
    print("| variant | ms / epoch | x reference | first epoch ms | whole fit ms "
          "| max abs pred diff |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for label, ep, pred, _, total in rows:
        ms = float(np.median(ep[1:])) * 1000
        d = (
            "n/a (other data)"
            if label.startswith("refit")
            else f"{np.abs(pred - rows[0][2]).max():.1e}"
        )
        print(f"| {label} | {ms:.0f} | {ms / ref_ms:.2f} | {ep[0] * 1000:.0f} "
              f"| {total * 1000:.0f} | {d} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
