//! The one error type of the safe API. Every variant says what failed and
//! where; the ffi layer maps each kind to a fixed status number.

use std::io;
use std::path::PathBuf;

/// What kind of failure an [`Error`] is. The ffi layer maps each kind to one
/// `wal_status` value; Rust callers can match on it without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    BufferTooSmall,
    Io,
    NoSpace,
    Corruption,
    Locked,
    Incompatible,
    Poisoned,
    Compacted,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("id {id} not found")]
    NotFound { id: u64 },

    /// A report getter has nothing to report (no torn tail, say).
    #[error("{0}")]
    NothingToReport(&'static str),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("buffer too small for id {id}: payload is {needed} bytes, buffer holds {capacity}")]
    BufferTooSmall {
        id: u64,
        needed: usize,
        capacity: usize,
    },

    /// A caller's buffer cannot hold a message (with its NUL).
    #[error(
        "buffer too small for the {what}: it needs {needed} bytes, the buffer holds {capacity}"
    )]
    MessageTooLong {
        what: &'static str,
        needed: usize,
        capacity: usize,
    },

    /// An operating-system call failed. `ENOSPC` is reported as
    /// [`ErrorKind::NoSpace`] so that callers can tell a full disk apart.
    #[error("{op} {}{}: {source}", path.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
    Io {
        op: &'static str,
        path: PathBuf,
        offset: Option<u64>,
        #[source]
        source: io::Error,
    },

    /// Bytes on disk fail their check. The message names the file and offset
    /// and, for CRC failures, the expected and actual CRC.
    #[error("corruption in {} at offset {offset}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        offset: u64,
        detail: String,
    },

    #[error("{} is locked by another open (this process or another); close it first", path.display())]
    Locked { path: PathBuf },

    #[error("{} is not a log this walstore version can open: {detail}", path.display())]
    Incompatible { path: PathBuf, detail: String },

    /// A failed fsync or an unrecoverable write left the handle unable to
    /// vouch for what is on disk; only reopening (which replays the disk)
    /// recovers.
    #[error("handle is poisoned and refuses writes; close and reopen the store to recover (cause: {cause})")]
    Poisoned { cause: String },

    /// A change cursor cannot start at `from_seq`: a compaction folded the
    /// records up to `first - 1` into their result.
    #[error("sequence number {from_seq} was folded away by a compaction of {}: its change stream starts at {first}; copy the store with a cursor and follow changes from the cursor's sequence number + 1", path.display())]
    Compacted {
        from_seq: u64,
        first: u64,
        path: PathBuf,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } | Error::NothingToReport(_) => ErrorKind::NotFound,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::BufferTooSmall { .. } | Error::MessageTooLong { .. } => {
                ErrorKind::BufferTooSmall
            }
            Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                ErrorKind::NoSpace
            }
            Error::Io { .. } => ErrorKind::Io,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Incompatible { .. } => ErrorKind::Incompatible,
            Error::Poisoned { .. } => ErrorKind::Poisoned,
            Error::Compacted { .. } => ErrorKind::Compacted,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        source: io::Error,
    ) -> Error {
        Error::Io {
            op,
            path: path.into(),
            offset,
            source,
        }
    }

    pub(crate) fn corruption(path: impl Into<PathBuf>, offset: u64, detail: String) -> Error {
        Error::Corruption {
            path: path.into(),
            offset,
            detail,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_maps_to_no_space_and_other_errno_to_io() {
        let full = Error::io(
            "write",
            "/x/wal.log",
            Some(64),
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(full.kind(), ErrorKind::NoSpace);
        assert!(full
            .to_string()
            .starts_with("write /x/wal.log at offset 64: "));
        let eio = Error::io("fsync", "/x", None, io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(eio.kind(), ErrorKind::Io);
    }

    #[test]
    fn corruption_message_names_file_and_offset() {
        let e = Error::corruption("/d/wal.log", 96, "header CRC mismatch".into());
        assert_eq!(
            e.to_string(),
            "corruption in /d/wal.log at offset 96: header CRC mismatch"
        );
    }
}
