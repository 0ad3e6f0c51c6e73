//! walstore: a crash-safe, append-only payload store.
//!
//! Layers, each in its own module and testable alone:
//! [`format`] (bytes, no I/O) → [`vfs`] (every file operation) → `log`
//! (append, group commit, verified reads) → [`recovery`] (replay, torn
//! tails, corruption policy) → `index` → [`Store`] (the safe API) → `ffi`
//! (the C ABI, `include/walstore.h`).

mod error;
pub mod format;
mod index;
mod log;
pub mod recovery;
mod snapshot;
mod store;
mod version;
pub mod vfs;

pub mod ffi;

pub use error::{Error, ErrorKind, Result};
pub use store::{
    verify, BatchOp, Change, ChangeCursor, Changes, CompactReport, Cursor, Durability, Iter,
    OpenReport, Options, RecoveryMode, Stats, Store, StoreVerification, TornTail, WriteBatch,
    DEFAULT_COMPACT_DEAD_RATIO, DEFAULT_COMPACT_MIN_LOG_BYTES, DEFAULT_MAX_PAYLOAD,
    DEFAULT_SNAPSHOT_THRESHOLD, MAX_PAYLOAD_LIMIT,
};
pub use version::{VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH, VERSION_STRING};
