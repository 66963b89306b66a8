"""Writing a report's files (JSON, CSV, PNG, HTML) and reading them back."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from btlstm.report.collect import (
    _prediction_rows,
    _series,
    _trade_rows,
    to_jsonable,
)
from btlstm.report.html import _html
from btlstm.report.plots import _plot_drawdown, _plot_equity, _plot_predictions

__all__ = ["write_report", "load_report"]


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder + ``os.replace``."""
    from btlstm.data.cache import atomic_write_bytes

    return atomic_write_bytes(path, data)


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if _isnan(v) else _cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _isnan(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v)))


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # shortest exact round-trip representation
    if isinstance(v, (_dt.datetime, _dt.date)):
        return to_jsonable(v)
    return v


def write_report(report: Mapping, strategy, outdir, plots: bool = True) -> dict[str, Path]:
    """Write the report files of a finished run into ``outdir`` (created if needed).

    Files (each written atomically: temp file in ``outdir`` + ``os.replace``):

      - ``report.json``: ``report`` as JSON (NaN -> null, keys sorted, 2-space indent);
      - ``predictions.csv``: ``date, prediction, realised_return, realised_target``
        for every bar PredictionQuality recorded (``realised_return`` =
        ``close[t+h]/close[t]-1``, ``realised_target`` = ``clip(realised_return,
        +-clip) * scale`` with ``horizon/clip/scale`` from the report, defaults
        5 / 0.2 / 10; empty cells for NaN); header only without PredictionQuality;
      - ``trades.csv``: one row per entry of ``strategy.trades_log`` (header only
        when the strategy keeps none);
      - ``equity.csv``: ``date, value, benchmark_value`` (benchmark scaled to the
        portfolio value at its first bar);
      - with ``plots``: ``equity.png``, ``drawdown.png``, ``predictions.png``
        (Agg canvas, no display needed) and ``report.html``, one self-contained
        file with inline CSS and the PNGs as base64 data URIs. Without ``plots``
        the HTML is still written, without images.

    Args:
        report: the dict from :func:`build_report` for this ``strategy``.
        strategy: the finished strategy instance the report was built from.
        outdir: output folder (str or Path).
        plots: draw and embed the PNG plots.

    Returns:
        ``{file name: Path}`` of every file written.

    Example:
        >>> paths = write_report(report, strat, "runs/csi300")
        >>> sorted(paths)[:3]
        ['drawdown.png', 'equity.csv', 'equity.png']
    """
    if not isinstance(report, Mapping) or "strategy" not in report:
        raise ValueError(
            f"`report` must be a dict from build_report(), got {type(report).__name__}"
        )
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report = to_jsonable(report)
    written: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        written[name] = _atomic_write(outdir / name, data)

    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
    put("report.json", text.encode("utf-8"))

    p_header, p_rows = _prediction_rows(strategy, report)
    put("predictions.csv", _csv_bytes(p_header, p_rows))
    t_header, t_rows = _trade_rows(strategy)
    put("trades.csv", _csv_bytes(t_header, t_rows))
    series = _series(strategy)
    put(
        "equity.csv",
        _csv_bytes(
            ["date", "value", "benchmark_value"],
            [
                [d, float(v), float(b)]
                for d, v, b in zip(
                    series["dates"], series["values"], series["benchmark"], strict=True
                )
            ],
        ),
    )

    images: dict[str, bytes] = {}
    if plots:
        images["equity.png"] = _plot_equity(series, report)
        images["drawdown.png"] = _plot_drawdown(series, report)
        if report.get("prediction") is not None:
            images["predictions.png"] = _plot_predictions(p_header, p_rows, report)
        for name, data in images.items():
            put(name, data)
    put("report.html", _html(report, images))
    return written


def load_report(path) -> dict:
    """Read a ``report.json`` written by :func:`write_report`.

    Args:
        path: the JSON file, or the folder that holds ``report.json``.

    Returns:
        The report dict (NaN values read back as ``None``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not valid JSON or not a report (no ``strategy`` key).

    Example:
        >>> load_report("runs/csi300")["strategy"]["sharpe"]
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"report: no such file {str(path)!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"report: {str(path)!r} is not valid JSON ({e})") from e
    if not isinstance(data, dict) or "strategy" not in data:
        raise ValueError(f"report: {str(path)!r} is not a btlstm report (no 'strategy' key)")
    return data
