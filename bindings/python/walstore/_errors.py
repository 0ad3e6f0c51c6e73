"""Status codes and the exception classes, one per failure status."""

import enum

from ._lib import lib


class Status(enum.IntEnum):
    """``wal_status``: the result of every walstore call that can fail."""

    OK = 0
    NOT_FOUND = 1
    INVALID_ARGUMENT = 2
    BUFFER_TOO_SMALL = 3
    IO = 4
    NO_SPACE = 5
    CORRUPTION = 6
    LOCKED = 7
    INCOMPATIBLE = 8
    POISONED = 9
    PANIC = 10
    COMPACTED = 11


def status_str(status):
    """The library's fixed description of any status value (wal_status_str)."""
    return lib.wal_status_str(int(status)).decode("utf-8", "replace")


class Error(Exception):
    """Base class of every walstore exception.

    ``status`` is the ``Status`` the library returned (a plain ``int`` for a
    status this version does not know; ``None`` for ``ClosedError``), and
    ``message`` the library's ``wal_last_error()`` text for the failed call,
    which names the call and what failed where (file, offset, CRCs).
    """

    status = None

    def __init__(self, message, status=None):
        if status is not None:
            try:
                status = Status(status)
            except ValueError:
                status = int(status)
            self.status = status
        self.message = message
        super().__init__(message)


class NotFoundError(Error):
    """WAL_NOT_FOUND: the id is not in the store."""

    status = Status.NOT_FOUND


class InvalidArgumentError(Error):
    """WAL_INVALID_ARGUMENT: a bad option value, an oversized payload, an id
    or size out of range, or a write to a read-only store. Nothing was
    written."""

    status = Status.INVALID_ARGUMENT


class BufferTooSmallError(Error):
    """WAL_BUFFER_TOO_SMALL: ``retrieve_into``'s buffer is smaller than the
    payload; ``needed`` is the payload's length."""

    status = Status.BUFFER_TOO_SMALL
    needed = None


class WalIOError(Error):
    """WAL_IO: an operating-system call failed."""

    status = Status.IO


class NoSpaceError(Error):
    """WAL_NO_SPACE: the disk is full (ENOSPC)."""

    status = Status.NO_SPACE


class CorruptionError(Error):
    """WAL_CORRUPTION: bytes on disk failed their CRC or structure check."""

    status = Status.CORRUPTION


class LockedError(Error):
    """WAL_LOCKED: another handle (in this process or another) holds the
    store's lock."""

    status = Status.LOCKED


class IncompatibleError(Error):
    """WAL_INCOMPATIBLE: not a walstore log, or an unknown format version.
    The file was left untouched."""

    status = Status.INCOMPATIBLE


class PoisonedError(Error):
    """WAL_POISONED: an earlier fsync or unrecoverable write failed; the
    store refuses writes until it is closed and reopened. Reads still work."""

    status = Status.POISONED


class PanicError(Error):
    """WAL_PANIC: walstore panicked inside the call (a bug in walstore)."""

    status = Status.PANIC


class CompactedError(Error):
    """WAL_COMPACTED: a change cursor was asked to start at a sequence number
    that a compaction has folded away."""

    status = Status.COMPACTED


class ClosedError(Error, ValueError):
    """The Store was closed; no library call was made. ``status`` is None."""

    status = None


ERRORS_BY_STATUS = {
    cls.status: cls
    for cls in (
        NotFoundError,
        InvalidArgumentError,
        BufferTooSmallError,
        WalIOError,
        NoSpaceError,
        CorruptionError,
        LockedError,
        IncompatibleError,
        PoisonedError,
        PanicError,
        CompactedError,
    )
}


def error_for_status(status, message):
    """The exception for a failure ``status`` (the base ``Error`` for a
    status this version does not know)."""
    cls = ERRORS_BY_STATUS.get(status, Error)
    return cls(message, status)


def last_error():
    """wal_last_error(): the message of the last failed call on this thread."""
    return lib.wal_last_error().decode("utf-8", "replace")


def check(status):
    """Raise the exception for ``status`` unless it is WAL_OK.

    Must be called right after the failing library call, on the same thread
    and with no walstore call in between: the message is thread-local and
    only valid until the next call.
    """
    if status != 0:
        raise error_for_status(status, last_error())
