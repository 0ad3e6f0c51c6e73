//! Status codes. The numbers are part of the ABI: once released, a value is
//! never renumbered, changed in meaning or reused. New codes take new numbers.

use crate::error::ErrorKind;
use std::ffi::{c_char, CStr};

/// The result of every walstore call that can fail. `WAL_OK` is 0; every
/// other value is a failure, and `wal_last_error()` then says what failed
/// and where.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wal_status {
    /// Success.
    WAL_OK = 0,
    /// The id is not in the store (or, for a report getter, there is nothing
    /// to report).
    WAL_NOT_FOUND = 1,
    /// A NULL pointer, a bad option value, an oversized payload, or a write
    /// to a read-only store. Nothing was written.
    WAL_INVALID_ARGUMENT = 2,
    /// The caller's buffer is smaller than the payload; the needed length is
    /// in `*out_len`.
    WAL_BUFFER_TOO_SMALL = 3,
    /// An operating-system call failed. A failed append was rolled back and
    /// the handle stays usable; a failed fdatasync or flush of the NONE
    /// buffer poisons the handle (later writes get WAL_POISONED).
    WAL_IO = 4,
    /// The disk is full (ENOSPC). As for WAL_IO: a failed append was rolled
    /// back and the handle stays usable; a failed fdatasync or buffer flush
    /// poisons it.
    WAL_NO_SPACE = 5,
    /// Bytes on disk failed their CRC or structure check; the message names
    /// the file, the offset and the expected and actual CRC.
    WAL_CORRUPTION = 6,
    /// Another handle (in this process or another) holds the store's lock.
    WAL_LOCKED = 7,
    /// The directory holds a file that is not a walstore log, or a log of a
    /// format version this library does not know. It was left untouched.
    WAL_INCOMPATIBLE = 8,
    /// An earlier fsync (or an unrecoverable write) failed; the handle
    /// refuses writes. Reads still work. Close and reopen to recover.
    WAL_POISONED = 9,
    /// walstore panicked inside this call (a bug); the panic was caught at
    /// the API boundary.
    WAL_PANIC = 10,
    /// A change cursor was asked to start at a sequence number that a
    /// compaction has folded away: the log keeps only the result of the
    /// records up to it. Copy the store with an iterator, then follow
    /// changes from the iterator's sequence number + 1.
    WAL_COMPACTED = 11,
}

impl From<ErrorKind> for wal_status {
    fn from(k: ErrorKind) -> wal_status {
        match k {
            ErrorKind::NotFound => wal_status::WAL_NOT_FOUND,
            ErrorKind::InvalidArgument => wal_status::WAL_INVALID_ARGUMENT,
            ErrorKind::BufferTooSmall => wal_status::WAL_BUFFER_TOO_SMALL,
            ErrorKind::Io => wal_status::WAL_IO,
            ErrorKind::NoSpace => wal_status::WAL_NO_SPACE,
            ErrorKind::Corruption => wal_status::WAL_CORRUPTION,
            ErrorKind::Locked => wal_status::WAL_LOCKED,
            ErrorKind::Incompatible => wal_status::WAL_INCOMPATIBLE,
            ErrorKind::Poisoned => wal_status::WAL_POISONED,
            ErrorKind::Compacted => wal_status::WAL_COMPACTED,
        }
    }
}

pub(crate) fn status_message(status: i32) -> &'static CStr {
    match status {
        0 => c"ok",
        1 => c"not found",
        2 => c"invalid argument",
        3 => c"buffer too small",
        4 => c"I/O error",
        5 => c"no space left on device",
        6 => c"corruption",
        7 => c"store is locked by another open",
        8 => c"incompatible file or format version",
        9 => c"handle poisoned by an earlier failure; reopen the store",
        10 => c"panic inside walstore",
        11 => c"sequence number folded away by compaction",
        _ => c"unknown status",
    }
}

/// A static, NUL-terminated description of any status value, including
/// values this version does not know ("unknown status"). Never NULL; the
/// caller must not free it.
#[no_mangle]
pub extern "C" fn wal_status_str(status: i32) -> *const c_char {
    status_message(status).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed() {
        use wal_status::*;
        let all = [
            (WAL_OK, 0),
            (WAL_NOT_FOUND, 1),
            (WAL_INVALID_ARGUMENT, 2),
            (WAL_BUFFER_TOO_SMALL, 3),
            (WAL_IO, 4),
            (WAL_NO_SPACE, 5),
            (WAL_CORRUPTION, 6),
            (WAL_LOCKED, 7),
            (WAL_INCOMPATIBLE, 8),
            (WAL_POISONED, 9),
            (WAL_PANIC, 10),
            (WAL_COMPACTED, 11),
        ];
        for (s, n) in all {
            assert_eq!(s as i32, n);
            assert_ne!(status_message(n), c"unknown status");
        }
        assert_eq!(status_message(12), c"unknown status");
        assert_eq!(status_message(-1), c"unknown status");
    }
}
