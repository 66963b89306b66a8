"""Progress and log output for the ``btlstm`` command.

Library code only logs (loggers ``btlstm.*``) and accepts a ``progress``
callable; this module is what the CLI plugs in: a tqdm bar for walk-forward
fits (:class:`FitProgress`) and a log handler that prints ``[btlstm] ...``
lines to stderr without breaking the bar (:func:`setup_logging`). ``--quiet``
silences both (warnings and errors still print).
"""

from __future__ import annotations

import contextlib
import logging
import sys

__all__ = ["FitProgress", "setup_logging", "steps"]


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
    each :class:`~btlstm.walkforward.FitRecord`).

    Args:
        desc: the bar's label.
        disable: no bar at all (``--quiet``).
    """

    def __init__(self, desc: str = "model fits", disable: bool = False):
        self.desc = desc
        self.disable = disable
        self.bar = None
        self.count = 0

    def __call__(self, rec) -> None:
        self.count += 1
        if self.disable:
            return
        from tqdm import tqdm

        total = getattr(rec, "total", None)
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="fit", file=sys.stderr, leave=True)
        elif total and self.bar.total != total:
            self.bar.total = total
        how = "cache" if rec.cached else f"{rec.epochs} ep"
        self.bar.set_postfix_str(f"{rec.date} {how} {rec.seconds:.1f}s", refresh=False)
        self.bar.update(1)
        if self.bar.total and self.bar.n >= self.bar.total:
            self.close()  # the last fit of the run: later log lines print below the bar

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
