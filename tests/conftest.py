"""Shared fixtures.

The real market data lives beside the project in ``../shared/data``; CI makes it
known through ``BTLSTM_DATA``. Tests never download anything.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
# btlstm's home (the secret that signs caches and paper state): a folder of the test
# session, never the user's ~/.btlstm (child processes inherit it)
if "BTLSTM_HOME" not in os.environ:
    import tempfile

    os.environ["BTLSTM_HOME"] = tempfile.mkdtemp(prefix="btlstm-test-home-")

ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("BTLSTM_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline data directory (``$BTLSTM_DATA`` or ``../shared/data``)."""
    d = _shared_data()
    if not d.is_dir():
        pytest.fail(f"real data not found at {d}: set BTLSTM_DATA to the shared data folder")
    return d
