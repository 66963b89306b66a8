"""Does weight regularization help the seed's LSTM? A sweep over regularizers and seeds.

The grid of docs/results.md, "Weight regularization", built in Python
instead of TOML (``examples/sweep_regularizers.toml`` is the same grid for
``btlstm sweep``), plus the seed article's own custom regularizer as a plain
function, to show how a custom callable joins a sweep:

- ``none`` (the reference), L1 / L2 / L1L2 on the input kernel, L2 on the
  recurrent kernel, L2 on the bias, L1 on the activity, dropout 0.2, and
  ``kernel_l1_reg`` (the article's ``def l1_reg(weight_matrix)``);
- each configuration trained with seeds 0 .. R-1 on the seed's CSI 300 static
  split (train 2005-2014, test 2015-01-01 .. 2017-05-01), scored on the test
  period and backtested with hold-5 on its predictions.

Usage::

    python scripts/sweep_regularizers.py --repeats 5 --workers 2 --out sweep-regularizers
    python scripts/sweep_regularizers.py --engine ray --address 10.0.0.5:6379 --repeats 10
    python scripts/sweep_regularizers.py --tiny   # 4-unit LSTM, 2 epochs: a quick look

Resumable: run the same command again after an interruption and only the
missing runs are trained.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from btlstm.sweep import make_sweep, regularizer_grid, run_sweep  # noqa: E402


def l1_reg(weight_matrix):
    """The seed article's custom regularizer: 0.01 * sum(|w|)."""
    import keras

    return 0.01 * keras.ops.sum(keras.ops.abs(weight_matrix))


def setup():
    """Runs in every worker (and here) before any model is built: register ``l1_reg``."""
    from btlstm.learners.models import register_regularizer_fn, registered_regularizer_fns

    if "sweep>l1_reg" not in registered_regularizer_fns():
        register_regularizer_fn(l1_reg, name="sweep>l1_reg")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=10, help="seeds per configuration")
    ap.add_argument("--engine", choices=["local", "ray", "serial"], default="local")
    ap.add_argument("--address", help="Ray cluster address (--engine ray)")
    ap.add_argument("--workers", type=int, help="parallel runs (default: cores)")
    ap.add_argument("--out", default="sweep-regularizers")
    ap.add_argument("--tiny", action="store_true", help="4-unit LSTM, 2 epochs")
    args = ap.parse_args(argv)

    setup()
    configs = regularizer_grid(slots=("kernel",), kinds=("l1", "l2", "l1l2"), strength=0.01)
    configs.update(
        recurrent_l2={"recurrent_regularizer": "l2(0.01)"},
        bias_l2={"bias_regularizer": "l2(0.01)"},
        activity_l1={"activity_regularizer": "l1(0.01)"},
        kernel_l1_reg={"kernel_regularizer": "sweep>l1_reg"},
    )
    configs["dropout_0.2"] = {"dropout": 0.2}
    model = {"lstm_units": 4, "dense_units": [4], "epochs": 2} if args.tiny else {}
    base = {"data": {"data": "csi300"}, "model": model, "strategy": {"name": "hold", "hold": 5}}
    sweep = make_sweep(base, configs, repeats=args.repeats)  # every entry checked here
    result = run_sweep(
        sweep, args.out, engine=args.engine, workers=args.workers, address=args.address,
        setup=setup,
    )  # fmt: skip
    means = result.summary.pivot_table(index="config", columns="metric", values="mean", sort=False)
    print(means.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"{result.ran} runs, {result.reused} reused, {result.seconds:.0f}s -> {result.out}")


if __name__ == "__main__":
    main()
