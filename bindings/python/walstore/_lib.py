"""Finding and loading libwalstore, and declaring its C functions.

Every function of include/walstore.h is declared here with its exact
argument and result types; status results are declared as ``c_int`` (the C
``wal_status`` is an ``int32_t``).

The library is looked for, in this order:

1. the path in the environment variable ``WALSTORE_LIB`` (if it is set, it
   must work: there is no fallback);
2. ``libwalstore.so.0`` or ``libwalstore.so`` next to this package;
3. ``ctypes.util.find_library("walstore")`` (the loader's cache);
4. the installed location, ``/usr/local/lib/libwalstore.so.0``.
"""

import ctypes
import ctypes.util
import os

# The ABI major version these bindings are written for (the soname's 0).
ABI_MAJOR = 0

_SONAMES = ("libwalstore.so.0", "libwalstore.so")
_INSTALLED = "/usr/local/lib/libwalstore.so.0"


class LibraryNotFoundError(ImportError):
    """libwalstore could not be found or loaded, or is of another ABI."""


def _candidates():
    env = os.environ.get("WALSTORE_LIB")
    if env:
        # An explicit choice: use it or fail, never silently load another.
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.path.join(here, n) for n in _SONAMES if os.path.exists(os.path.join(here, n))]
    name = ctypes.util.find_library("walstore")
    if name:
        found.append(name)
    found.append(_INSTALLED)
    return found, False


def _load():
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    if explicit:
        raise LibraryNotFoundError(
            f"cannot load libwalstore from WALSTORE_LIB={paths[0]!r}: {errors[0]}"
        )
    raise LibraryNotFoundError(
        "cannot find libwalstore: set WALSTORE_LIB to the path of libwalstore.so "
        "(tried: " + "; ".join(errors) + ")"
    )


lib, path = _load()


class wal_entry(ctypes.Structure):
    """``wal_entry``: one entry of a batch."""

    # c_char_p rather than POINTER(c_uint8): same ABI, and assigning a bytes
    # object stores a pointer to its buffer (no copy) and keeps it alive.
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("data", ctypes.c_char_p),
        ("len", ctypes.c_size_t),
    ]


class wal_write_op(ctypes.Structure):
    """``wal_write_op``: one operation of a mixed batch (``op`` is a
    ``wal_write_op_kind``; ``id_hi`` is read for a range delete only,
    ``data``/``len`` for a store only)."""

    _fields_ = [
        ("op", ctypes.c_int32),
        ("id", ctypes.c_uint64),
        ("id_hi", ctypes.c_uint64),
        ("data", ctypes.c_char_p),  # as in wal_entry
        ("len", ctypes.c_size_t),
    ]


_c_int = ctypes.c_int  # wal_status
_u64 = ctypes.c_uint64
_size = ctypes.c_size_t
_p = ctypes.c_void_p  # opaque wal_t *, wal_iter_t * and wal_options *
_pu64 = ctypes.POINTER(ctypes.c_uint64)
_psize = ctypes.POINTER(ctypes.c_size_t)
_pbool = ctypes.POINTER(ctypes.c_bool)
_pint = ctypes.POINTER(ctypes.c_int)
_pu8 = ctypes.POINTER(ctypes.c_uint8)

_SIGNATURES = {
    "wal_last_error": (ctypes.c_char_p, []),
    "wal_open": (_c_int, [ctypes.c_char_p, _p, ctypes.POINTER(_p)]),
    "wal_close": (_c_int, [_p]),
    "wal_store": (_c_int, [_p, _u64, ctypes.c_void_p, _size]),
    "wal_store_batch": (_c_int, [_p, ctypes.POINTER(wal_entry), _size]),
    "wal_retrieve": (_c_int, [_p, _u64, ctypes.c_void_p, _size, _psize]),
    "wal_retrieve_alloc": (_c_int, [_p, _u64, ctypes.POINTER(_pu8), _psize]),
    "wal_buf_free": (None, [_pu8]),
    "wal_delete": (_c_int, [_p, _u64]),
    "wal_sync": (_c_int, [_p]),
    "wal_snapshot": (_c_int, [_p]),
    "wal_snapshot_position": (_c_int, [_p, _pu64]),
    "wal_open_snapshot_used": (_c_int, [_p, _pu64]),
    "wal_should_snapshot": (ctypes.c_bool, [_p]),
    "wal_log_position": (_c_int, [_p, _pu64]),
    "wal_open_records_replayed": (_c_int, [_p, _pu64]),
    "wal_open_damaged_records": (_c_int, [_p, _pu64]),
    "wal_open_reinitialised": (_c_int, [_p, _pbool]),
    "wal_open_torn_tail": (_c_int, [_p, _pu64, _pu64]),
    "wal_open_torn_tail_path": (_c_int, [_p, ctypes.POINTER(ctypes.c_char_p)]),
    "wal_open_duration_us": (_c_int, [_p, _pu64]),
    "wal_iter_open": (_c_int, [_p, ctypes.POINTER(_p)]),
    # data: const uint8_t ** (a c_void_p out-parameter gives the address)
    "wal_iter_next": (_c_int, [_p, _pbool, _pu64, ctypes.POINTER(ctypes.c_void_p), _psize]),
    "wal_iter_free": (None, [_p]),
    "wal_stat_live_ids": (_c_int, [_p, _pu64]),
    "wal_stat_live_bytes": (_c_int, [_p, _pu64]),
    "wal_stat_log_bytes": (_c_int, [_p, _pu64]),
    "wal_stat_dead_bytes": (_c_int, [_p, _pu64]),
    "wal_stat_dead_ratio": (_c_int, [_p, ctypes.POINTER(ctypes.c_double)]),
    "wal_options_new": (_p, []),
    "wal_options_free": (None, [_p]),
    "wal_options_set_durability": (_c_int, [_p, ctypes.c_int32]),
    "wal_options_set_recovery_mode": (_c_int, [_p, ctypes.c_int32]),
    "wal_options_set_max_payload": (_c_int, [_p, _size]),
    "wal_options_set_read_only": (_c_int, [_p, ctypes.c_bool]),
    "wal_options_set_snapshot_threshold": (_c_int, [_p, _u64]),
    "wal_options_set_write_buffer": (_c_int, [_p, _size]),
    "wal_options_set_auto_snapshot": (_c_int, [_p, ctypes.c_bool]),
    "wal_stat_auto_snapshots": (_c_int, [_p, _pu64]),
    "wal_stat_auto_snapshot_failures": (_c_int, [_p, _pu64]),
    "wal_store_seq": (_c_int, [_p, _u64, ctypes.c_void_p, _size, _pu64]),
    "wal_store_batch_seq": (_c_int, [_p, ctypes.POINTER(wal_entry), _size, _pu64]),
    "wal_delete_seq": (_c_int, [_p, _u64, _pu64]),
    "wal_write_batch": (_c_int, [_p, ctypes.POINTER(wal_write_op), _size]),
    "wal_write_batch_seq": (_c_int, [_p, ctypes.POINTER(wal_write_op), _size, _pu64]),
    "wal_delete_range": (_c_int, [_p, _u64, _u64]),
    "wal_delete_range_seq": (_c_int, [_p, _u64, _u64, _pu64]),
    # Compaction.
    "wal_compact": (_c_int, [_p]),
    "wal_stat_generation": (_c_int, [_p, _pu64]),
    "wal_stat_auto_compactions": (_c_int, [_p, _pu64]),
    "wal_stat_auto_compaction_failures": (_c_int, [_p, _pu64]),
    "wal_stat_last_auto_snapshot_error": (_c_int, [_p, _pu8, _size, _psize]),
    "wal_stat_last_auto_compaction_error": (_c_int, [_p, _pu8, _size, _psize]),
    "wal_iter_seq": (_c_int, [_p, _pu64]),
    "wal_options_set_auto_compact": (_c_int, [_p, ctypes.c_double, _u64]),
    "wal_changes_open": (_c_int, [_p, _u64, ctypes.POINTER(_p)]),
    "wal_changes_next": (
        _c_int,
        [_p, _pbool, ctypes.POINTER(ctypes.c_int32), _pu64, _pu64, ctypes.POINTER(ctypes.c_void_p), _psize],
    ),
    "wal_changes_free": (None, [_p]),
    "wal_status_str": (ctypes.c_char_p, [ctypes.c_int32]),
    "wal_version": (ctypes.c_char_p, [_pint, _pint, _pint]),
}

# Functions newer than the rest: a library without them still loads, and
# the features that need them say so when used (see has()).
OPTIONAL = frozenset(
    {
        "wal_options_set_auto_snapshot",
        "wal_stat_auto_snapshots",
        "wal_stat_auto_snapshot_failures",
        "wal_write_batch",
        "wal_write_batch_seq",
        "wal_delete_range",
        "wal_delete_range_seq",
    }
)

missing = set()
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        if _name in OPTIONAL:
            missing.add(_name)
            continue
        raise LibraryNotFoundError(
            f"{path} is not a compatible libwalstore: it lacks {_name}"
        ) from None
    _fn.restype = _restype
    _fn.argtypes = _argtypes


def has(name):
    """Whether the loaded library has the (optional) function ``name``."""
    return name not in missing


def version():
    """The library's (major, minor, patch) and its version string."""
    major, minor, patch = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    s = lib.wal_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    return (major.value, minor.value, patch.value), s.decode("ascii")


if version()[0][0] != ABI_MAJOR:
    raise LibraryNotFoundError(
        f"{path} is libwalstore {version()[1]}; these bindings need ABI {ABI_MAJOR}"
    )
