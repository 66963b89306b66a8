"""Market data: one canonical frame for every source (see ``validate.py``)."""

from btlstm.data.validate import (
    CANONICAL_COLUMNS,
    DataError,
    RepairReport,
    repair_frame,
    require_history,
    validate_frame,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "DataError",
    "RepairReport",
    "repair_frame",
    "require_history",
    "validate_frame",
]
