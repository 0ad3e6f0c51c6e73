"""Python bindings (ctypes) for walstore, a crash-safe, append-only store
mapping 64-bit ids to byte payloads.

    import walstore

    with walstore.Store("/tmp/demo", durability=walstore.Durability.FSYNC) as s:
        s.store(1, b"hello")
        assert s.retrieve(1) == b"hello"
        s.write_batch(walstore.WriteBatch().delete_range(0, 9).store(2, b"two"))

The shared library is found through the environment variable WALSTORE_LIB
(a path to libwalstore.so), else next to this package, else through
ctypes.util.find_library("walstore"), else at /usr/local/lib/libwalstore.so.0.
"""

from ._lib import ABI_MAJOR, LibraryNotFoundError
from ._lib import path as LIBRARY_PATH
from ._lib import version as _version
from ._errors import (
    ERRORS_BY_STATUS,
    BufferTooSmallError,
    ClosedError,
    CompactedError,
    CorruptionError,
    Error,
    IncompatibleError,
    InvalidArgumentError,
    LockedError,
    NoSpaceError,
    NotFoundError,
    PanicError,
    PoisonedError,
    Status,
    WalIOError,
    status_str,
)
from ._store import Cursor, Durability, OpenReport, Recovery, Stats, Store, TornTail, WriteBatch, WriteOp

__version__ = "0.2.0"

# Show the public classes as walstore.X (not walstore._errors.X) in tracebacks.
for _cls in (
    BufferTooSmallError, ClosedError, CompactedError, CorruptionError, Cursor,
    Durability, Error, IncompatibleError, InvalidArgumentError,
    LibraryNotFoundError, LockedError, NoSpaceError, NotFoundError, OpenReport,
    PanicError, PoisonedError, Recovery, Stats, Status, Store, TornTail,
    WalIOError, WriteBatch, WriteOp,
):
    _cls.__module__ = __name__
del _cls


def library_version():
    """The loaded libwalstore's version string, "MAJOR.MINOR.PATCH"."""
    return _version()[1]


def library_version_info():
    """The loaded libwalstore's version as a (major, minor, patch) tuple."""
    return _version()[0]


__all__ = [
    "ABI_MAJOR",
    "BufferTooSmallError",
    "ClosedError",
    "CompactedError",
    "CorruptionError",
    "Cursor",
    "Durability",
    "ERRORS_BY_STATUS",
    "Error",
    "IncompatibleError",
    "InvalidArgumentError",
    "LIBRARY_PATH",
    "LibraryNotFoundError",
    "LockedError",
    "NoSpaceError",
    "NotFoundError",
    "OpenReport",
    "PanicError",
    "PoisonedError",
    "Recovery",
    "Stats",
    "Status",
    "Store",
    "TornTail",
    "WalIOError",
    "WriteBatch",
    "WriteOp",
    "library_version",
    "library_version_info",
    "status_str",
]
