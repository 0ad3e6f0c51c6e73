import os
import pathlib

import pytest

# The repository root (bindings/python/tests -> ../../..), for the header.
REPO = pathlib.Path(__file__).resolve().parents[3]
HEADER = REPO / "include" / "walstore.h"

LOG_NAME = "wal-0000000000000001.log"
FILE_HEADER = 64  # bytes of the log's file header (docs/FORMAT.md 3.1)
RECORD_HEADER = 32  # bytes of each record header (docs/FORMAT.md 3.2)


@pytest.fixture
def store_dir(tmp_path):
    """A store directory that does not exist yet (a writable open creates it)."""
    return tmp_path / "store"


def log_of(store_dir):
    return pathlib.Path(store_dir) / LOG_NAME


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def pytest_report_header(config):
    import walstore

    return (
        f"walstore bindings {walstore.__version__} from {os.path.dirname(walstore.__file__)}; "
        f"library {walstore.library_version()} from {walstore.LIBRARY_PATH}"
    )
