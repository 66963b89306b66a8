"""Market data: one canonical frame for every source (see ``validate.py``).

- :mod:`~btlstm.data.readers`: files and DataFrames -> canonical frames (:func:`read_mapped`).
- :mod:`~btlstm.data.columnmap`: the declared column map (``[data]`` keys).
- :mod:`~btlstm.data.presets`: the layouts users bring (Yahoo, NetEase, tushare ...), sniffing.
- :mod:`~btlstm.data.inspect`: ``btlstm data inspect FILE``.
- :mod:`~btlstm.data.catalog`: dataset names -> files in the data directory.
- :mod:`~btlstm.data.yahoo`: Yahoo Finance downloads into the data directory.
- :mod:`~btlstm.data.cache`: crash-safe writes and checksum manifests.
"""

from btlstm.data.cache import (
    atomic_write_bytes,
    atomic_write_text,
    verify_manifest,
    write_yahoo_csv,
)
from btlstm.data.catalog import (
    CATALOG,
    SECTORS,
    data_dir,
    describe,
    get_dataset,
    list_datasets,
    load,
)
from btlstm.data.columnmap import MAP_KEYS, ColumnMap
from btlstm.data.inspect import Inspection, inspect_file
from btlstm.data.presets import PRESETS, sniff
from btlstm.data.readers import (
    read_akshare_index,
    read_baostock_long,
    read_csv_auto,
    read_dataframe,
    read_kaggle_long,
    read_mapped,
    read_yahoo_csv,
    sniff_layout,
)
from btlstm.data.validate import (
    CANONICAL_COLUMNS,
    DataError,
    RepairReport,
    repair_frame,
    require_history,
    validate_frame,
)
from btlstm.data.yahoo import fetch_dataset, fetch_yahoo, frames_from_download

__all__ = [
    "CANONICAL_COLUMNS",
    "CATALOG",
    "ColumnMap",
    "Inspection",
    "MAP_KEYS",
    "PRESETS",
    "DataError",
    "RepairReport",
    "SECTORS",
    "atomic_write_bytes",
    "atomic_write_text",
    "data_dir",
    "describe",
    "fetch_dataset",
    "fetch_yahoo",
    "frames_from_download",
    "get_dataset",
    "inspect_file",
    "list_datasets",
    "load",
    "read_akshare_index",
    "read_baostock_long",
    "read_csv_auto",
    "read_dataframe",
    "read_kaggle_long",
    "read_mapped",
    "read_yahoo_csv",
    "repair_frame",
    "require_history",
    "sniff",
    "sniff_layout",
    "validate_frame",
    "verify_manifest",
    "write_yahoo_csv",
]
