"""Headless Backtrader plotting: save ``cerebro.plot`` figures as PNG files.

Importing ``backtrader.plot`` calls ``matplotlib.use('TkAgg')``, which fails on
machines without a display. :func:`headless` imports it first and then forces
matplotlib's non-interactive ``Agg`` backend, so plotting works with
``MPLBACKEND`` unset and no ``DISPLAY``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["headless", "plot_cerebro"]


def headless() -> None:
    """Switch matplotlib to ``Agg`` after Backtrader's plot module forced TkAgg.

    Safe to call any number of times; figures already open are closed by
    matplotlib when the backend changes.

    Example:

    >>> headless()
    >>> import matplotlib
    >>> matplotlib.get_backend().lower()
    'agg'
    """
    import backtrader.plot  # noqa: F401  (its import selects TkAgg: undo that below)
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)


def plot_cerebro(
    cerebro,
    path,
    width: float = 16,
    height: float = 9,
    dpi: int = 100,
    **plot_kwargs,
) -> list[Path]:
    """Plot a cerebro that has run and save every figure to a PNG file.

    Args:
        cerebro: a ``bt.Cerebro`` after ``run()`` (and not with ``exactbars > 0``,
            which keeps no history to plot).
        path: the PNG file. With several figures (several strategies or
            ``numfigs > 1``) they are saved as ``<stem>-1.png``, ``<stem>-2.png``
            ... beside it. Parent folders are created.
        width: figure width in inches.
        height: figure height in inches.
        dpi: resolution.
        **plot_kwargs: passed to ``cerebro.plot`` (``numfigs``, ``start``,
            ``end``, ``style='candle'``, ``volume=False`` ...).

    Returns:
        The paths written, in figure order.

    Raises:
        ValueError: cerebro has not run, ran with ``exactbars > 0``, or produced
            no figure.

    Example::

        cerebro.run()
        plot_cerebro(cerebro, "out/equity.png")  # [PosixPath('out/equity.png')]
    """
    headless()
    import matplotlib.pyplot as plt

    if not getattr(cerebro, "runstrats", None):
        raise ValueError("cerebro: nothing to plot; call cerebro.run() first")
    if getattr(cerebro, "_exactbars", 0) > 0:
        raise ValueError(
            f"cerebro: ran with exactbars={cerebro._exactbars}, which keeps no history to "
            "plot; run with exactbars=0 (default) or <= 0"
        )
    for bad in ("iplot", "width", "height", "dpi", "use"):
        if bad in plot_kwargs:
            raise ValueError(f"{bad}: set by plot_cerebro; got {bad}={plot_kwargs[bad]!r}")
    with warnings.catch_warnings():
        # plt.show() on Agg warns "non-interactive"; that is the point here.
        warnings.simplefilter("ignore", UserWarning)
        groups = cerebro.plot(iplot=False, **plot_kwargs)
    figs = [fig for group in (groups or []) if group for fig in group]
    if not figs:
        raise ValueError("cerebro.plot produced no figure (no data or no bars)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix or ".png"
    if len(figs) == 1:
        targets = [path.with_suffix(suffix)]
    else:
        targets = [path.with_name(f"{path.stem}-{i}{suffix}") for i in range(1, len(figs) + 1)]
    try:
        for fig, target in zip(figs, targets, strict=True):
            fig.set_size_inches(width, height)
            fig.savefig(target, dpi=dpi, bbox_inches="tight")
    finally:
        for fig in figs:
            plt.close(fig)
    return targets
