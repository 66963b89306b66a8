"""The ``btlstm`` command. Thin: it parses arguments and calls the library.

Commands:
  btlstm demo                 the whole journey on the embedded SYNTHETIC market (no data, no internet)
  btlstm run hold [...]       Backtest 1 (hold N days on an index) on real data
  btlstm data list            the datasets of the catalogue and whether they are present
  btlstm data summary NAME    rows, dates and symbols of a dataset
  btlstm fetch NAME|TICKER... download from Yahoo Finance into the data directory (needs internet)
"""

from __future__ import annotations

import argparse
import json
import sys

from btlstm.data.validate import DataError

__all__ = ["main"]


def _hold_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--config", help="TOML file with any of the settings below (flags win)")
    g.add_argument("--data", help="catalogue name (csi300, sse, spy, ...) or a CSV path [csi300]")
    g.add_argument(
        "--symbol", help="symbol within a panel dataset (e.g. --data sector_etfs --symbol XLK)"
    )
    g.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA or ~/.btlstm/data)")
    g.add_argument(
        "--repair", choices=["raise", "drop"], help="drop rows with known defects (reported)"
    )
    g = p.add_argument_group("split and schedule (defaults: the seed's 2005-2014 / 2015-2017-05)")
    for k in ("train-start", "train-end", "test-start", "test-end"):
        g.add_argument(f"--{k}", metavar="YYYY-MM-DD")
    g.add_argument(
        "--walkforward",
        action="store_true",
        default=None,
        help="retrain every --retrain-every bars over 2008..end of data",
    )
    g.add_argument("--retrain-every", type=int, help="bars between refits [21]")
    g.add_argument("--window", choices=["expanding", "rolling"])
    g.add_argument("--train-window", type=int, help="rolling window length in bars")
    g.add_argument("--min-train", type=int, help="labelled samples before the first fit [500]")
    g.add_argument(
        "--warm-start", action="store_true", default=None, help="refit from the previous model"
    )
    g = p.add_argument_group("model")
    g.add_argument("--lookback", type=int, help="bars per window [30]")
    g.add_argument("--horizon", type=int, help="forward bars of the target [5]")
    g.add_argument("--lstm-units", type=int)
    g.add_argument(
        "--dense-units",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        help="comma-separated hidden Dense units [32,16]",
    )
    g.add_argument("--dropout", type=float)
    g.add_argument("--recurrent-dropout", type=float)
    for k in ("kernel", "recurrent", "bias", "activity"):
        g.add_argument(
            f"--{k}-regularizer", metavar="SPEC", help="e.g. l2(0.01), l1l2(l1=0.01,l2=0.01)"
        )
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--seed", type=int)
    g = p.add_argument_group("strategy and costs")
    g.add_argument("--hold", type=int, help="bars to hold after a bullish signal [5]")
    g.add_argument("--threshold", type=float, help="bullish when prediction > threshold [0]")
    g.add_argument("--percent", type=float, help="percent of portfolio when long [95]")
    g.add_argument("--cash", type=float)
    g.add_argument("--commission", type=float, help="per side, fraction of value [0.0003]")
    g.add_argument("--slippage", type=float, help="fraction of price [0.0002]")
    g = p.add_argument_group("output")
    g.add_argument("--out", help="output folder [btlstm-out]")
    g.add_argument("--cache-dir", help="cache fitted models here (re-runs skip training)")
    g.add_argument("--no-plots", dest="plots", action="store_false", default=None)
    g.add_argument("--quiet", action="store_true", help="no progress, only the table")


def _settings(args) -> dict:
    from btlstm.pipeline import flatten_settings, load_toml

    d: dict = flatten_settings(load_toml(args.config)) if getattr(args, "config", None) else {}
    skip = {"config", "quiet", "command", "func", "what", "dataset"}
    for k, v in vars(args).items():
        if k not in skip and v is not None:
            d[k] = v  # flags win over the file
    return d


def _cmd_run_hold(args) -> int:
    from btlstm.pipeline import HoldRun, run_hold

    run = HoldRun.from_dict(_settings(args))
    run_hold(run, progress=not args.quiet)
    return 0


def _cmd_demo(args) -> int:
    from btlstm.pipeline import HoldRun, run_hold

    d = dict(
        data="synthetic",
        train_start="2008-01-01",
        train_end="2013-12-31",
        test_start="2014-01-01",
        test_end="2099-12-31",
        out=args.out,
        seed=args.seed,
        epochs=args.epochs,
        synthetic=dict(n=2000, start="2008-01-02", signal=args.signal, seed=args.seed),
    )
    print(
        "btlstm demo: SYNTHETIC DATA. A generated index with a planted, partly predictable\n"
        f"trend component (signal={args.signal}); nothing here is a market result. For real data\n"
        "see `btlstm run hold --data csi300` (needs ../shared/data or `btlstm fetch`).\n",
        file=sys.stderr,
    )
    run = HoldRun.from_dict(d)
    run_hold(run, progress=not args.quiet, title="btlstm demo: hold 5 days on a SYNTHETIC index")
    return 0


def _cmd_data(args) -> int:
    from btlstm.data import catalog

    if args.what == "list":
        rows = catalog.list_datasets(args.data_dir)
        for r in rows:
            mark = "ok " if r.get("present") else "-- "
            print(f"{mark}{r['name']:<22} {r.get('kind', ''):<6} {r.get('description', '')}")
        return 0
    if not args.dataset:
        print("error: btlstm data summary needs a dataset name", file=sys.stderr)
        return 2
    repair = "drop" if args.repair else "raise"
    obj = catalog.load(args.dataset, data_dir=args.data_dir, repair=repair)
    print(json.dumps(catalog.describe(obj), indent=2, default=str))
    return 0


def _cmd_fetch(args) -> int:
    from btlstm.data import catalog
    from btlstm.data.yahoo import fetch_dataset, fetch_yahoo

    names = set(catalog.CATALOG) if hasattr(catalog, "CATALOG") else set()
    for item in args.names:
        if item in names:
            out = fetch_dataset(
                item, data_dir=args.data_dir, refresh=args.refresh, start=args.start, end=args.end
            )
        else:
            out = fetch_yahoo(
                [item], start=args.start, end=args.end, data_dir=args.data_dir, refresh=args.refresh
            )
        for sym, f in out.items():
            print(f"{sym}: {len(f)} rows {f.index[0].date()}..{f.index[-1].date()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="btlstm", description="Walk-forward LSTM forecasting inside Backtrader"
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the full journey on a SYNTHETIC market (no data, no internet)")
    d.add_argument("--out", default="btlstm-demo")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--epochs", type=int, default=20)
    d.add_argument(
        "--signal", type=float, default=0.3, help="planted predictable share [0.3]; 0 = noise"
    )
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_demo)

    r = sub.add_parser("run", help="run a backtest")
    rs = r.add_subparsers(dest="what", required=True)
    h = rs.add_parser("hold", help="Backtest 1: hold N days on an index on the LSTM signal")
    _hold_args(h)
    h.set_defaults(func=_cmd_run_hold)

    da = sub.add_parser("data", help="the dataset catalogue")
    da.add_argument("what", choices=["list", "summary"])
    da.add_argument("dataset", nargs="?")
    da.add_argument("--data-dir")
    da.add_argument("--repair", action="store_true", help="drop rows with known defects")
    da.set_defaults(func=_cmd_data)

    f = sub.add_parser("fetch", help="download Yahoo Finance data into the data directory")
    f.add_argument("names", nargs="+", help="catalogue names (sector_etfs, spy) or Yahoo tickers")
    f.add_argument("--data-dir")
    f.add_argument("--start")
    f.add_argument("--end")
    f.add_argument("--refresh", action="store_true")
    f.set_defaults(func=_cmd_fetch)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ValueError) as e:
        print(f"btlstm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
