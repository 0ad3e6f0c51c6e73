"""walstore.Store: an open store, wrapping a ``wal_t *``."""

import ctypes
import enum
import operator
import os
import threading
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple, Union

from ._errors import (
    BufferTooSmallError,
    ClosedError,
    InvalidArgumentError,
    PanicError,
    Status,
    check,
    error_for_status,
    last_error,
)
from ._lib import has, lib, wal_entry, wal_write_op

_U64_MAX = 2**64 - 1
_SIZE_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

BytesLike = Union[bytes, bytearray, memoryview]


class Durability(enum.IntEnum):
    """``wal_durability``: when a write call returns."""

    FSYNC = 0  #: the default: after fdatasync; survives power loss
    FLUSH = 1  #: once write() handed it to the OS; survives a process crash
    NONE = 2  #: once in the in-process buffer (flushed when full, on sync, on close)


class Recovery(enum.IntEnum):
    """``wal_recovery_mode``: what opening does when replay finds damage."""

    STRICT = 0  #: the default: cut a torn tail (saved to a side file); fail on other damage
    SALVAGE = 1  #: like STRICT, but a damaged record with an intact header reads back as CorruptionError
    ABSOLUTE = 2  #: never cut anything: a torn tail fails the open too


class WriteOp(enum.IntEnum):
    """``wal_write_op_kind``: what one operation of a ``WriteBatch`` does."""

    STORE = 1  #: store a payload under an id
    DELETE = 2  #: delete an id (no error if it is not there)
    DELETE_RANGE = 3  #: delete every id from lo to hi, both included, as one record


@dataclass(frozen=True)
class TornTail:
    """The torn tail an open found at the end of the log."""

    offset: int  #: where it began (a writable open cut the log there)
    bytes: int  #: its length
    path: Optional[str]  #: the side file holding the cut bytes; None for a read-only open (nothing was cut)


@dataclass(frozen=True)
class OpenReport:
    """What recovery did when the store was opened."""

    records_replayed: int  #: store and delete records replayed (damaged ones SALVAGE marked included)
    damaged_records: int  #: damaged records a SALVAGE open passed over
    torn_tail: Optional[TornTail]  #: None when there was no torn tail
    snapshot_used: Optional[int]  #: the log position of the snapshot loaded; None for a full replay
    reinitialised: bool  #: the log had no complete header (a crash while creating it) and was started afresh
    duration_us: int = field(default=0, compare=False)  #: how long the open took, in microseconds


@dataclass(frozen=True)
class Stats:
    """Sizes of the store (``Store.stats()``)."""

    live_ids: int  #: live ids, damaged ones included
    live_bytes: int  #: the sum of the live ids' payload lengths
    log_bytes: int  #: the log's length (the log position)
    dead_bytes: int  #: record bytes (headers included) no longer serving a live id
    dead_ratio: float  #: dead bytes over all record bytes, in [0, 1] (0 for an empty log)
    auto_snapshots: Optional[int] = None  #: automatic snapshots completed since the open (None: the library has no automatic snapshots)
    auto_snapshot_failures: Optional[int] = None  #: automatic snapshots that failed since the open (None: as above)
    generation: int = 1  #: the log generation: 1 for a new store, one more after each compaction
    auto_compactions: int = 0  #: automatic compactions completed since the open
    auto_compaction_failures: int = 0  #: automatic compactions that failed since the open
    last_auto_snapshot_error: Optional[str] = None  #: the message of the last failed automatic snapshot since the open; None if none failed
    last_auto_compaction_error: Optional[str] = None  #: the message of the last failed automatic compaction since the open; None if none failed


def _invalid(message):
    return InvalidArgumentError(message, Status.INVALID_ARGUMENT)


def _int_in(name, value, lo, hi):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    value = operator.index(value)  # TypeError for non-integers
    if not lo <= value <= hi:
        raise _invalid(f"{name} {value} is out of range {lo}..{hi}")
    return value


def _u64(name, value):
    return _int_in(name, value, 0, _U64_MAX)


def _enum(name, value, cls):
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls)
            raise _invalid(f"unknown {name} {value!r} (expected one of {names})") from None
    # Other integers go to the library, which rejects unknown values.
    return _int_in(name, value, _I32_MIN, _I32_MAX)


def _payload(data):
    """The payload as bytes: a bytes object as is, any other bytes-like
    object (bytearray, memoryview, array.array, ...) copied once."""
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"a payload must be a bytes-like object, not {type(data).__name__}"
        ) from None
    with view:
        return view.tobytes()


class WriteBatch:
    """A mixed batch of stores, deletes and range deletes for
    ``Store.write_batch``, applied in the order they were added: a later
    operation for the same id wins.

        b = walstore.WriteBatch().delete_range(3, 5).store(3, b"new").delete(9)
        store.write_batch(b)

    The adders return the batch, so they chain. They check their arguments'
    types and that ids are in 0..2**64-1 (``TypeError``,
    ``InvalidArgumentError``); everything else (a range with lo > hi, a
    payload over ``max_payload``) is checked by the library when the batch
    is written. Payloads are copied when added (a ``bytes`` object is kept
    as is: it cannot change). A batch may be written any number of times.
    """

    __slots__ = ("_ops",)

    def __init__(self):
        self._ops: List[Tuple[WriteOp, int, int, Optional[bytes]]] = []

    def store(self, id: int, data: BytesLike) -> "WriteBatch":
        """Adds a store of ``data`` (any bytes-like object) under ``id``."""
        self._ops.append((WriteOp.STORE, _u64("id", id), 0, _payload(data)))
        return self

    def delete(self, id: int) -> "WriteBatch":
        """Adds a delete of ``id``; unlike ``Store.delete``, an id that is
        not in the store is no error."""
        self._ops.append((WriteOp.DELETE, _u64("id", id), 0, None))
        return self

    def delete_range(self, lo: int, hi: int) -> "WriteBatch":
        """Adds a delete of every id from ``lo`` to ``hi``, both included."""
        self._ops.append((WriteOp.DELETE_RANGE, _u64("lo", lo), _u64("hi", hi), None))
        return self

    def clear(self) -> None:
        """Removes every operation."""
        self._ops.clear()

    def __len__(self):
        return len(self._ops)

    def __iter__(self):
        """The operations as tuples, in order: ``(WriteOp.STORE, id,
        payload)``, ``(WriteOp.DELETE, id)``, ``(WriteOp.DELETE_RANGE, lo,
        hi)`` (the form ``Store.write_batch`` also accepts)."""
        for kind, id, id_hi, data in self._ops:
            if kind is WriteOp.STORE:
                yield (kind, id, data)
            elif kind is WriteOp.DELETE:
                yield (kind, id)
            else:
                yield (kind, id, id_hi)

    def __repr__(self):
        return f"<walstore.WriteBatch of {len(self._ops)} operations>"


def _write_op_kind(value):
    if isinstance(value, WriteOp):
        return value
    if isinstance(value, str):
        try:
            return WriteOp[value.upper()]
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return WriteOp(value)
        except ValueError:
            pass
    names = ", ".join(m.name.lower() for m in WriteOp)
    raise _invalid(f"unknown write operation {value!r} (expected a WriteOp or one of {names})")


def _as_write_batch(ops):
    """``ops`` (a WriteBatch, or an iterable of operation tuples) as a
    WriteBatch."""
    if isinstance(ops, WriteBatch):
        return ops
    if isinstance(ops, (str, bytes, Mapping)):
        raise TypeError(f"write_batch takes a WriteBatch or operation tuples, not {type(ops).__name__}")
    batch = WriteBatch()
    arity = {WriteOp.STORE: 3, WriteOp.DELETE: 2, WriteOp.DELETE_RANGE: 3}
    for op in ops:
        if not isinstance(op, tuple) or not op:
            raise TypeError(f"write_batch takes operation tuples, not {op!r:.60}")
        kind = _write_op_kind(op[0])
        if len(op) != arity[kind]:
            raise TypeError(
                f"a {kind.name.lower()} operation is a tuple of {arity[kind]}, not {op!r:.60}"
            )
        if kind is WriteOp.STORE:
            batch.store(op[1], op[2])
        elif kind is WriteOp.DELETE:
            batch.delete(op[1])
        else:
            batch.delete_range(op[1], op[2])
    return batch


def _need(name):
    if not has(name):
        raise NotImplementedError(f"the loaded libwalstore has no {name}")


class Store:
    """An open walstore store in directory ``path``.

    Options left as None keep the library's defaults (FSYNC durability,
    STRICT recovery, 64 MiB max_payload, 64 MiB snapshot_threshold, 256 KiB
    write_buffer). ``durability`` and ``recovery`` take a ``Durability`` /
    ``Recovery`` member, its int value or its name ("fsync", "salvage"...).
    ``auto_snapshot`` (library default: on) makes the write after which
    ``should_snapshot()`` is true start a snapshot in the background; off,
    the caller checks ``should_snapshot()`` and calls ``snapshot()`` itself.
    ``auto_compact=(dead_ratio, min_log_bytes)`` (library default: (0.5,
    64 MiB)) makes a write that leaves the log at least ``min_log_bytes``
    long with at least ``dead_ratio`` of its record bytes dead start a
    compaction in the background; ``auto_compact=False`` (or a ratio of 0)
    turns that off, and a ratio outside [0, 1) or NaN raises
    ``InvalidArgumentError``.

    A Store may be used from many threads at once. It is a context manager
    that closes it on exit. ``close()`` is idempotent; any other call after
    it raises ``ClosedError``. ``close()`` waits for calls in progress on
    other threads to return.

    Failures raise a subclass of ``walstore.Error`` for the library's status
    with the library's message (``wal_last_error``). Bad values caught here
    before reaching the library (an id outside 0..2**64-1, a negative size,
    an unknown durability name, a path with a NUL byte) raise
    ``InvalidArgumentError`` too; arguments of the wrong type raise
    ``TypeError``.
    """

    def __init__(
        self,
        path: Union[str, bytes, "os.PathLike"],
        *,
        durability: Union[Durability, int, str, None] = None,
        recovery: Union[Recovery, int, str, None] = None,
        max_payload: Optional[int] = None,
        read_only: bool = False,
        snapshot_threshold: Optional[int] = None,
        write_buffer: Optional[int] = None,
        auto_snapshot: Optional[bool] = None,
        auto_compact: Union[Tuple[float, int], bool, None] = None,
    ):
        self._h = None  # first, so that __del__ works whatever fails below
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._close_lock = threading.Lock()
        self._cursors = weakref.WeakSet()
        bpath = os.fsencode(path)
        if b"\0" in bpath:
            raise _invalid(f"path {path!r} contains a NUL byte")
        self.path = os.fsdecode(bpath)
        self.read_only = bool(read_only)

        setters = []
        if durability is not None:
            setters.append((lib.wal_options_set_durability, _enum("durability", durability, Durability)))
        if recovery is not None:
            setters.append((lib.wal_options_set_recovery_mode, _enum("recovery", recovery, Recovery)))
        if max_payload is not None:
            setters.append((lib.wal_options_set_max_payload, _int_in("max_payload", max_payload, 0, _SIZE_MAX)))
        if read_only:
            setters.append((lib.wal_options_set_read_only, True))
        if snapshot_threshold is not None:
            setters.append(
                (lib.wal_options_set_snapshot_threshold, _u64("snapshot_threshold", snapshot_threshold))
            )
        if write_buffer is not None:
            setters.append((lib.wal_options_set_write_buffer, _int_in("write_buffer", write_buffer, 0, _SIZE_MAX)))
        if auto_snapshot is not None:
            if has("wal_options_set_auto_snapshot"):
                setters.append((lib.wal_options_set_auto_snapshot, bool(auto_snapshot)))
            elif auto_snapshot:
                raise NotImplementedError(
                    "auto_snapshot=True: the loaded libwalstore has no automatic snapshots "
                    "(no wal_options_set_auto_snapshot)"
                )
            # auto_snapshot=False with such a library: it never snapshots by itself
        if auto_compact is not None:
            if auto_compact is False:
                ratio, min_log_bytes = 0.0, 0
            elif isinstance(auto_compact, tuple) and len(auto_compact) == 2:
                ratio, min_log_bytes = auto_compact
            else:
                raise TypeError(
                    f"auto_compact must be a (dead_ratio, min_log_bytes) tuple or False, not {auto_compact!r}"
                )
            if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
                raise TypeError(f"auto_compact's dead_ratio must be a float, not {type(ratio).__name__}")
            min_log_bytes = _u64("auto_compact's min_log_bytes", min_log_bytes)
            setters.append((lambda o, v: lib.wal_options_set_auto_compact(o, *v), (float(ratio), min_log_bytes)))

        opts = lib.wal_options_new()
        if not opts:
            raise PanicError(last_error(), Status.PANIC)
        handle = ctypes.c_void_p()
        try:
            for setter, value in setters:
                check(setter(opts, value))
            check(lib.wal_open(bpath, opts, ctypes.byref(handle)))
        finally:
            lib.wal_options_free(opts)
        try:
            self._report = _read_report(handle.value)
        except BaseException:
            lib.wal_close(handle.value)
            raise
        self._h = handle.value

    # -- lifetime ---------------------------------------------------------

    def _enter(self):
        with self._cond:
            if self._h is None:
                raise ClosedError(f"walstore store {self.path!r} is closed")
            self._busy += 1
            return self._h

    def _leave(self):
        with self._cond:
            self._busy -= 1
            if self._busy == 0:
                self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._h is None

    def close(self) -> None:
        """Syncs, releases the lock and frees the handle (wal_close).

        Idempotent. Waits for calls in progress on other threads. The store
        is closed even when the final sync fails; that failure is raised.
        """
        with self._close_lock:
            with self._cond:
                h = self._h
                if h is None:
                    return
                self._h = None  # new calls now raise ClosedError
                while self._busy:
                    self._cond.wait()
                cursors = list(self._cursors)
            for cursor in cursors:  # wal_iter_free must come before wal_close
                cursor._free()
            check(lib.wal_close(h))

    def __enter__(self):
        if self._h is None:
            raise ClosedError(f"walstore store {self.path!r} is closed")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is None:
            return
        self._h = None
        try:
            warnings.warn(f"unclosed walstore store {self.path!r}", ResourceWarning, source=self)
        except Exception:
            pass
        try:
            lib.wal_close(h)
        except Exception:  # the interpreter may be shutting down
            pass

    def __repr__(self):
        state = "closed" if self._h is None else "open"
        ro = ", read-only" if self.read_only else ""
        return f"<walstore.Store {self.path!r} ({state}{ro})>"

    # -- writes -------------------------------------------------------------

    def store(self, id: int, data: BytesLike) -> None:
        """Stores ``data`` (any bytes-like object; b"" is valid) under ``id``,
        replacing any earlier payload. Returns once the write is as durable
        as the store's durability level says."""
        id = _u64("id", id)
        data = _payload(data)
        h = self._enter()
        try:
            check(lib.wal_store(h, id, data, len(data)))
        finally:
            self._leave()

    def store_batch(self, entries: Union[Iterable[Tuple[int, BytesLike]], Mapping]) -> None:
        """Stores (id, bytes-like) pairs (or a mapping's items) with one write
        and one flush or fsync: after a crash either all are there or none.
        A later entry for the same id wins. An invalid entry rejects the
        whole batch before anything is written. An empty batch does nothing
        (InvalidArgumentError on a read-only store)."""
        if isinstance(entries, Mapping):
            entries = entries.items()
        items = []
        for entry in entries:
            try:
                id, data = entry
            except (TypeError, ValueError):
                raise TypeError(
                    f"store_batch takes (id, bytes-like) pairs, not {entry!r:.60}"
                ) from None
            items.append((_u64("id", id), _payload(data)))
        array = (wal_entry * len(items))() if items else None
        for i, (id, data) in enumerate(items):
            array[i].id = id
            array[i].data = data  # a pointer into the bytes object, kept alive by items
            array[i].len = len(data)
        h = self._enter()
        try:
            check(lib.wal_store_batch(h, array, len(items)))
        finally:
            self._leave()

    def delete(self, id: int) -> None:
        """Deletes ``id`` (writes a tombstone). NotFoundError if absent."""
        id = _u64("id", id)
        h = self._enter()
        try:
            check(lib.wal_delete(h, id))
        finally:
            self._leave()

    def write_batch(self, ops: Union[WriteBatch, Iterable[tuple]]) -> None:
        """Writes a mixed batch of stores, deletes and range deletes with one
        write and one flush or fsync: after a crash either all of them are
        there or none is. ``ops`` is a ``WriteBatch`` or an iterable of
        tuples ``(WriteOp.STORE, id, data)``, ``(WriteOp.DELETE, id)``,
        ``(WriteOp.DELETE_RANGE, lo, hi)`` (the kind may also be given by
        name, "store", "delete" or "delete_range"). Operations apply in
        order; deleting an id that is not there is no error. One invalid
        operation (lo > hi, a payload over the limit) raises
        InvalidArgumentError and nothing is written. An empty batch does
        nothing (InvalidArgumentError on a read-only store)."""
        _need("wal_write_batch")
        ops = _as_write_batch(ops)._ops
        array = (wal_write_op * len(ops))() if ops else None
        for i, (kind, id, id_hi, data) in enumerate(ops):
            array[i].op = kind
            array[i].id = id
            array[i].id_hi = id_hi
            if data is not None:
                array[i].data = data  # kept alive by ops
                array[i].len = len(data)
        h = self._enter()
        try:
            check(lib.wal_write_batch(h, array, len(ops)))
        finally:
            self._leave()

    def delete_range(self, lo: int, hi: int) -> None:
        """Deletes every id from ``lo`` to ``hi``, both included, with one
        record, whatever the number of ids. Ids in the range that are not in
        the store are no error. lo > hi raises InvalidArgumentError and
        writes nothing."""
        _need("wal_delete_range")
        lo = _u64("lo", lo)
        hi = _u64("hi", hi)
        h = self._enter()
        try:
            check(lib.wal_delete_range(h, lo, hi))
        finally:
            self._leave()

    def sync(self) -> None:
        """Makes every write acknowledged so far survive power loss, whatever
        the durability level. Does nothing on a read-only store."""
        h = self._enter()
        try:
            check(lib.wal_sync(h))
        finally:
            self._leave()

    def compact(self) -> None:
        """Rewrites the live records into a new log generation and switches
        to it with one rename, reclaiming the space of overwritten and
        deleted payloads (wal_compact). Reads and writes from other threads
        go on meanwhile. A crash at any point leaves the old generation or
        the new one, whole. Raises InvalidArgumentError on a read-only
        store, CorruptionError if a live record fails its check (nothing
        changes then), WalIOError or NoSpaceError (the store goes on with
        its old log)."""
        h = self._enter()
        try:
            check(lib.wal_compact(h))
        finally:
            self._leave()

    @property
    def generation(self) -> int:
        """The log generation: 1 for a new store, one more after each
        compaction."""
        return self._get_u64(lib.wal_stat_generation)

    def snapshot(self) -> None:
        """Writes a snapshot of the index so the next open replays only the
        log written after it."""
        h = self._enter()
        try:
            check(lib.wal_snapshot(h))
        finally:
            self._leave()

    # -- reads --------------------------------------------------------------

    def retrieve(self, id: int) -> bytes:
        """The payload of ``id`` as bytes. NotFoundError if absent,
        CorruptionError if the record fails its CRC check."""
        id = _u64("id", id)
        out = ctypes.POINTER(ctypes.c_uint8)()
        length = ctypes.c_size_t()
        h = self._enter()
        try:
            check(lib.wal_retrieve_alloc(h, id, ctypes.byref(out), ctypes.byref(length)))
        finally:
            self._leave()
        try:
            address = ctypes.cast(out, ctypes.c_void_p).value
            return (ctypes.c_char * length.value).from_address(address).raw
        finally:
            lib.wal_buf_free(out)

    def retrieve_into(self, id: int, buffer) -> int:
        """Reads the payload of ``id`` into the start of ``buffer`` (a
        writable, contiguous bytes-like object) and returns its length.
        BufferTooSmallError (with ``.needed``, the payload's length) if the
        buffer is too small; an empty buffer makes this a size query."""
        id = _u64("id", id)
        try:
            view = memoryview(buffer)
        except TypeError:
            raise TypeError(
                f"retrieve_into needs a writable bytes-like object, not {type(buffer).__name__}"
            ) from None
        with view:
            if view.readonly:
                raise TypeError("retrieve_into needs a writable buffer")
            if not view.c_contiguous:
                raise TypeError("retrieve_into needs a contiguous buffer")
            with view.cast("B") as flat:
                cap = flat.nbytes
                target = (ctypes.c_char * cap).from_buffer(flat) if cap else None
                length = ctypes.c_size_t()
                try:
                    h = self._enter()
                    try:
                        status = lib.wal_retrieve(h, id, target, cap, ctypes.byref(length))
                        if status == Status.BUFFER_TOO_SMALL:
                            err = BufferTooSmallError(last_error(), status)
                            err.needed = length.value
                            raise err
                        check(status)
                    finally:
                        self._leave()
                finally:
                    del target  # release the export so the buffer can be resized again
                return length.value

    def should_snapshot(self) -> bool:
        """True when the log has grown by at least the snapshot threshold
        since the newest snapshot, with at least a quarter of that
        snapshot's entries in records written after it or 16 times its size
        in bytes (always False with a threshold of 0)."""
        h = self._enter()
        try:
            return bool(lib.wal_should_snapshot(h))
        finally:
            self._leave()

    @property
    def log_position(self) -> int:
        """The offset where the next record goes."""
        return self._get_u64(lib.wal_log_position)

    @property
    def snapshot_position(self) -> int:
        """The log position the newest snapshot covers (64, the first
        record's offset, when there is none)."""
        return self._get_u64(lib.wal_snapshot_position)

    def _get_u64(self, fn):
        out = ctypes.c_uint64()
        h = self._enter()
        try:
            check(fn(h, ctypes.byref(out)))
        finally:
            self._leave()
        return out.value

    def stats(self) -> Stats:
        """Sizes of the store now (each read separately: under concurrent
        writes they need not add up exactly)."""
        ratio = ctypes.c_double()
        h = self._enter()
        try:
            values = []
            for fn in (lib.wal_stat_live_ids, lib.wal_stat_live_bytes, lib.wal_stat_log_bytes, lib.wal_stat_dead_bytes):
                out = ctypes.c_uint64()
                check(fn(h, ctypes.byref(out)))
                values.append(out.value)
            check(lib.wal_stat_dead_ratio(h, ctypes.byref(ratio)))
            values.append(ratio.value)
            for name in ("wal_stat_auto_snapshots", "wal_stat_auto_snapshot_failures"):
                if has(name):
                    out = ctypes.c_uint64()
                    check(getattr(lib, name)(h, ctypes.byref(out)))
                    values.append(out.value)
                else:
                    values.append(None)
            for fn in (lib.wal_stat_generation, lib.wal_stat_auto_compactions, lib.wal_stat_auto_compaction_failures):
                out = ctypes.c_uint64()
                check(fn(h, ctypes.byref(out)))
                values.append(out.value)
            values.append(_message(h, lib.wal_stat_last_auto_snapshot_error))
            values.append(_message(h, lib.wal_stat_last_auto_compaction_error))
        finally:
            self._leave()
        return Stats(*values)

    def items(self) -> "Cursor":
        """A cursor over the live (id, payload) pairs as they are now, in id
        order: later writes do not show, and entries deleted or overwritten
        later still read as they were. See ``Cursor``."""
        return Cursor(self)

    @property
    def open_report(self) -> OpenReport:
        """What recovery did at open. Read once at open, so it stays
        available after close()."""
        return self._report


def _message(h, fn):
    """A message getter's message (wal_stat_last_auto_*_error), or None
    when there is none. A newer, longer message may replace it between the
    size query and the copy: then it asks again."""
    length = ctypes.c_size_t()
    status = fn(h, None, 0, ctypes.byref(length))
    while status == Status.BUFFER_TOO_SMALL:
        buf = (ctypes.c_uint8 * (length.value + 1))()
        status = fn(h, buf, len(buf), ctypes.byref(length))
        if status == Status.OK:
            return bytes(buf[: length.value]).decode("utf-8", "replace")
    if status == Status.NOT_FOUND:
        return None
    raise error_for_status(status, last_error())


def _read_report(h):
    u64 = ctypes.c_uint64()
    check(lib.wal_open_records_replayed(h, ctypes.byref(u64)))
    replayed = u64.value
    check(lib.wal_open_damaged_records(h, ctypes.byref(u64)))
    damaged = u64.value
    flag = ctypes.c_bool()
    check(lib.wal_open_reinitialised(h, ctypes.byref(flag)))

    tail = None
    offset, length = ctypes.c_uint64(), ctypes.c_uint64()
    status = lib.wal_open_torn_tail(h, ctypes.byref(offset), ctypes.byref(length))
    if status == Status.OK:
        side = ctypes.c_char_p()
        status = lib.wal_open_torn_tail_path(h, ctypes.byref(side))
        if status == Status.OK:
            path = os.fsdecode(side.value)
        elif status == Status.NOT_FOUND:  # a read-only open cuts nothing
            path = None
        else:
            raise error_for_status(status, last_error())
        tail = TornTail(offset.value, length.value, path)
    elif status != Status.NOT_FOUND:
        raise error_for_status(status, last_error())

    snapshot_used = None
    status = lib.wal_open_snapshot_used(h, ctypes.byref(u64))
    if status == Status.OK:
        snapshot_used = u64.value
    elif status != Status.NOT_FOUND:
        raise error_for_status(status, last_error())

    check(lib.wal_open_duration_us(h, ctypes.byref(u64)))
    return OpenReport(replayed, damaged, tail, snapshot_used, bool(flag.value), u64.value)


class Cursor:
    """A point-in-time iterator over a store's live entries, in id order,
    yielding (id, payload bytes) pairs (``Store.items()``).

    Each payload is CRC-checked as it is read: a damaged one raises
    ``CorruptionError`` from ``next()``, and the following ``next()`` moves
    on to the next entry. Closing the cursor (or leaving its ``with`` block,
    or exhausting it) frees it; closing the store frees its cursors, whose
    ``next()`` then raises ``ClosedError``. A cursor may be shared between
    threads (calls are serialised); several cursors may run at once, beside
    readers and writers.
    """

    def __init__(self, store):
        self._it = None
        self._done = False
        self._lock = threading.Lock()
        self._store = store  # keeps the store alive while the cursor is
        out = ctypes.c_void_p()
        seq = ctypes.c_uint64()
        h = store._enter()
        try:
            check(lib.wal_iter_open(h, ctypes.byref(out)))
            self._it = out.value
            store._cursors.add(self)
            check(lib.wal_iter_seq(self._it, ctypes.byref(seq)))
        finally:
            store._leave()
        self._seq = seq.value

    @property
    def seq(self) -> int:
        """The sequence number of the last write the cursor's entries
        reflect (0 for none): a replica that copies them follows the store
        from ``seq + 1``. Read when the cursor was opened, so it stays
        available after close."""
        return self._seq

    def __iter__(self):
        return self

    def __next__(self) -> Tuple[int, bytes]:
        with self._lock:
            if self._done:
                raise StopIteration
            if self._it is None:  # freed by Store.close
                raise ClosedError(f"walstore store {self._store.path!r} is closed")
            has_entry = ctypes.c_bool()
            id = ctypes.c_uint64()
            data = ctypes.c_void_p()
            length = ctypes.c_size_t()
            self._store._enter()  # close() waits until this call returns
            try:
                check(
                    lib.wal_iter_next(
                        self._it, ctypes.byref(has_entry), ctypes.byref(id), ctypes.byref(data), ctypes.byref(length)
                    )
                )
                if not has_entry.value:
                    self._done = True
                    self._free_locked()
                    raise StopIteration
                # *data is valid until the next call on the cursor: copy now
                n = length.value
                return id.value, (ctypes.c_char * n).from_address(data.value).raw if n else b""
            finally:
                self._store._leave()

    def close(self) -> None:
        """Frees the cursor; ``next()`` then raises StopIteration. Idempotent."""
        with self._lock:
            self._done = True
            self._free_locked()

    def _free(self):
        with self._lock:
            self._free_locked()

    def _free_locked(self):
        it, self._it = self._it, None
        if it is not None:
            lib.wal_iter_free(it)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __del__(self):
        try:
            self._free()
        except Exception:  # the interpreter may be shutting down
            pass
