//! What open does with the log on disk: replay every record (checking every
//! CRC), decide where damage is a torn tail and where it is corruption, and
//! cut a torn tail after saving its bytes.

mod replay;
mod tail;
mod verify;
mod window;

pub use replay::{replay, ReplayOp, ReplayStart, Replayed};
pub use tail::save_and_cut;
pub use verify::{verify_log, Damage, LogVerification};

/// What replay does when it finds damage. See `docs/FORMAT.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Damage followed by valid records fails the open; a torn tail is cut.
    #[default]
    Strict,
    /// Like `Strict`, but a damaged record whose header is intact does not
    /// fail the open: its id reads back as corruption.
    Salvage,
    /// No record is ever cut: a torn tail fails the open too. (A log that
    /// never got its complete header, being empty, a prefix of a header or
    /// at most 64 bytes of zeros, holds no record and is started afresh in every mode.)
    Absolute,
}
