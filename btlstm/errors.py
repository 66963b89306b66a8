"""Every error btlstm raises on purpose, in one place (the bottom layer: it imports nothing of btlstm).

Each is a ``ValueError`` whose message names what the user gave (the file,
column and row; the flag or TOML key; the model file) and repeats the bad
value, so ``except ValueError`` catches them all and the CLI prints one line
(``btlstm: error: ...``, exit code 2). The modules that raise them re-export
them under their old homes (``btlstm.data.validate.DataError``,
``btlstm.learners.models.ModelFileError``, ``btlstm.settings.SettingsError``, ...).

- :class:`SettingsError`: a bad setting (TOML key, flag, strategy param);
- :class:`SweepError`: a bad sweep (a :class:`SettingsError`);
- :class:`DataError`: bad market data (names the file, the column and the row);
- :class:`ModelFileError`: a model file that is missing, corrupt or does not fit;
- :class:`RegularizerNotAllowedError`: text names a function nobody registered;
- :class:`ReportError`: a report folder that cannot be written or read;
- :class:`StateError`: a paper-trading state folder that cannot be used;
- :class:`TrainingError`: a fit that diverged (names the epoch and the loss).
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ModelFileError",
    "RegularizerNotAllowedError",
    "ReportError",
    "SettingsError",
    "StateError",
    "SweepError",
    "TrainingError",
    "row_text",
]


class SettingsError(ValueError):
    """A bad setting; the message names the TOML key or flag and repeats the value."""


class SweepError(SettingsError):
    """A bad sweep: an unknown key, slot or regularizer, named with its configuration."""


class DataError(ValueError):
    """Bad market data: names the file, the column and the row where it is wrong.

    Attributes:
        source: the file (or ``yahoo:TICKER``) the data came from, or None.
        column: the offending column, or None.
        row: the offending row label (usually a date), or None.

    Example:
        >>> import pandas as pd
        >>> str(DataError("NaN close", "spy.csv", column="close", row=pd.Timestamp("2020-01-02")))
        "file spy.csv, column 'close', row 2020-01-02: NaN close"
    """

    def __init__(self, problem: str, source=None, column=None, row=None):
        self.problem = problem
        self.source = source
        self.column = column
        self.row = row
        where = []
        if source is not None:
            where.append(f"file {source}")
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row_text(row)}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + problem)


def row_text(row) -> str:
    """A row label as a user finds it in the file: a day as ``YYYY-MM-DD``."""
    import pandas as pd

    if isinstance(row, pd.Timestamp):
        return row.strftime("%Y-%m-%d") if row == row.normalize() else str(row)
    return str(row)


class ModelFileError(ValueError):
    """A model file is missing, empty, truncated, not a ``.keras`` archive or unloadable.

    The message names the file and what is wrong with it. Defined here, not
    beside the Keras code, so that a learner which needs no TensorFlow (ridge,
    LightGBM) can raise and catch it without importing TensorFlow.
    """


class RegularizerNotAllowedError(ValueError):
    """A spec string, a dict or a model file names a function that is not on the allow-list.

    Raised before anything is called. The message names the function (and the
    spec or file) and says how to register it.
    """


class ReportError(ValueError):
    """A report folder that cannot be written or read (names the folder and the file)."""


class StateError(ValueError):
    """A state folder that cannot be used for this run (the message says why and what to do)."""


class TrainingError(ValueError):
    """A fit that cannot give a model: its loss diverged (``training diverged at epoch E
    (loss nan)``), with the settings that usually cause it."""
