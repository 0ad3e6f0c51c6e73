//! What the last open found and did, for callers and operators.

use std::path::PathBuf;
use std::time::Duration;

/// Sizes of a store, from `Store::stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Ids in the store (damaged ones included).
    pub live_ids: u64,
    /// Sum of their payload lengths.
    pub live_bytes: u64,
    /// Length of the log: the log position.
    pub log_bytes: u64,
    /// Record bytes in the log that no longer serve a live id (overwritten
    /// payloads, tombstones, batch framing), which compaction would reclaim.
    pub dead_bytes: u64,
    /// `dead_bytes` over all record bytes (0 for an empty log).
    pub dead_ratio: f64,
    pub snapshot_position: u64,
    pub index_memory_bytes: usize,
    /// Automatic snapshots completed since the open.
    pub auto_snapshots: u64,
    /// Automatic snapshots that failed (the writes that triggered them did
    /// not), and the last failure's message.
    pub auto_snapshot_failures: u64,
    pub last_auto_snapshot_error: Option<String>,
    /// The current log generation (1 until the first compaction).
    pub generation: u64,
    /// Automatic compactions completed since the open, those that failed
    /// (the writes that triggered them did not), and the last failure's
    /// message.
    pub auto_compactions: u64,
    pub auto_compaction_failures: u64,
    pub last_auto_compaction_error: Option<String>,
}

/// A torn tail found at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the tail began: the log now ends here.
    pub offset: u64,
    pub bytes: u64,
    /// The side file holding the cut bytes. `None` for a read-only open,
    /// which leaves the tail in place and ignores it.
    pub saved_to: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Store and delete records replayed (batch framing not counted;
    /// damaged records a `Salvage` open marked are counted, and also in
    /// `damaged_records`).
    pub records_replayed: u64,
    /// Records that `Salvage` found damaged; their ids read as corruption.
    pub damaged_records: u64,
    pub torn_tail: Option<TornTail>,
    /// The log never got its complete header (empty, a prefix of a header,
    /// or at most 64 bytes of zeros: a crash while it was being created) and was initialised
    /// afresh.
    pub reinitialised: bool,
    /// The log position of the snapshot the open loaded (it replayed only
    /// the log after it); `None` for a full replay.
    pub snapshot_used: Option<u64>,
    /// Snapshot files the open could not trust, each with the reason; a
    /// writable open removed them.
    pub snapshots_rejected: Vec<String>,
    pub log_path: PathBuf,
    pub duration: Duration,
}
