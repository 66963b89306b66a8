"""Progress and log output for the ``btlstm`` command.

Library code only logs (loggers ``btlstm.*``) and accepts a ``progress``
callable; this module is what the CLI plugs in: a tqdm bar for walk-forward
fits (:class:`FitProgress`) and a log handler that prints ``[btlstm] ...``
lines to stderr without breaking the bar (:func:`setup_logging`). ``--quiet``
silences both (warnings and errors still print).

The bar reads ``model fits: 3/8 |###   | elapsed 1m 30s, left ~2m 30s; 2016-03-01
20 ep 31.2s``: fits done of the total, the time since the first fit began and an
estimate of the time left (:func:`fit_status`); no per-second rate (a fit loaded
from the cache in a millisecond would read "21183.35fit/s").
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time

__all__ = ["FitProgress", "setup_logging", "steps", "duration", "fit_status"]


def duration(seconds) -> str:
    """Seconds as a person reads them: ``45s``, ``3m 05s``, ``2h 04m`` (``?``: unknown).

    Example:
        >>> duration(0.4), duration(45), duration(185), duration(7440), duration(None)
        ('0s', '45s', '3m 05s', '2h 04m', '?')
    """
    try:
        x = float(seconds)
    except (TypeError, ValueError):
        return "?"
    if not math.isfinite(x) or x < 0:
        return "?"
    x = int(round(x))
    if x < 60:
        return f"{x}s"
    if x < 3600:
        return f"{x // 60}m {x % 60:02d}s"
    return f"{x // 3600}h {x % 3600 // 60:02d}m"


def fit_status(done: int, total: int | None, elapsed: float) -> str:
    """``elapsed 1m 30s, left ~30s``: the time since the first fit began and the time
    left at the mean pace so far (``left ?`` while the total is unknown).

    Example:
        >>> fit_status(3, 4, 90.0), fit_status(4, 4, 120.0), fit_status(2, None, 5.0)
        ('elapsed 1m 30s, left ~30s', 'elapsed 2m 00s, done', 'elapsed 5s, left ?')
    """
    text = f"elapsed {duration(elapsed)}"
    if total and done >= total:
        return text + ", done"
    if not total or done <= 0:
        return text + ", left ?"
    return text + f", left ~{duration(elapsed / done * (total - done))}"


class _TqdmHandler(logging.Handler):
    """Writes records through ``tqdm.write`` to the current ``sys.stderr``."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def setup_logging(quiet: bool = False, verbose: bool = False):
    """Route the ``btlstm`` loggers to stderr while the block runs: INFO (``verbose``:
    DEBUG), WARNING when quiet. The logger's previous handlers, level and
    propagation come back afterwards, so a CLI call inside a notebook or a test
    leaves the process's logging as it found it."""
    logger = logging.getLogger("btlstm")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    for h in [h for h in logger.handlers if isinstance(h, _TqdmHandler)]:
        logger.removeHandler(h)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("[btlstm] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


class FitProgress:
    """A tqdm bar over walk-forward fits; pass it as ``progress=`` (it is called with
    each :class:`~btlstm.forecast.walkforward.FitRecord`).

    The bar shows the fits done of the total, the time elapsed since the first fit
    began (its end minus its own ``seconds``) and the time left at the mean pace
    (:func:`fit_status`), then the latest fit's date, epochs and seconds.

    Args:
        desc: the bar's label.
        disable: no bar at all (``--quiet``).
        clock: seconds, monotonic (default :func:`time.monotonic`; a test passes a
            fake one).
        file: where the bar is written (default: the current ``sys.stderr``).
    """

    WIDTH = 20
    """Characters of the bar itself."""

    def __init__(self, desc: str = "model fits", disable: bool = False, clock=None, file=None):
        self.desc = desc
        self.disable = disable
        self.clock = clock or time.monotonic
        self.file = file
        self.bar = None
        self.count = 0
        self.started: float | None = None
        self.status = ""  # the times and the latest fit (after the counts)
        self.line = ""  # the whole line the bar shows

    def __call__(self, rec) -> None:
        self.count += 1
        now = self.clock()
        if self.started is None:  # the first fit began its own seconds ago
            self.started = now - max(float(getattr(rec, "seconds", 0.0) or 0.0), 0.0)
        total = getattr(rec, "total", None)
        how = "cache" if rec.cached else f"{rec.epochs} ep"
        self.status = (
            f"{fit_status(self.count, total, now - self.started)}; {rec.date} {how} "
            f"{rec.seconds:.1f}s"
        )
        self.line = f"{self.desc}: {self._counts(total)} {self.status}"
        if self.disable:
            return
        from tqdm import tqdm

        if self.bar is None:  # tqdm only writes the line (and keeps log lines above it)
            self.bar = tqdm(total=total, leave=True, file=self.file or sys.stderr,
                            bar_format="{desc}")  # fmt: skip
        elif total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = self.count
        self.bar.set_description_str(self.line, refresh=True)  # every fit shows
        if total and self.count >= total:
            self.close()  # the last fit of the run: later log lines print below the bar

    def _counts(self, total) -> str:
        """``3/8 |#######             |`` (``3 |`` ... without a total)."""
        if not total:
            return f"{self.count}"
        filled = min(self.WIDTH, int(self.WIDTH * self.count / total))
        return f"{self.count}/{total} |{'#' * filled}{' ' * (self.WIDTH - filled)}|"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def steps(iterable, desc: str, total: int | None = None, disable: bool = False):
    """Wrap a long loop (e.g. many feeds or runs) in a tqdm bar on stderr."""
    if disable:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False)
