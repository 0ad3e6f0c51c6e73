//! Open options. Setters validate, so a bad value is refused where it is
//! given, not later at open.

use crate::error::{Error, Result};
pub use crate::recovery::RecoveryMode;

/// When a write call returns, what has happened to its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// After fdatasync: the write survives power loss.
    #[default]
    Fsync,
    /// After `write` handed the bytes to the OS: the write survives a crash
    /// of the process, not of the machine.
    Flush,
    /// The write may sit in a buffer inside the process until the buffer
    /// fills, `sync` or `close`. A crash of the process may lose it, never
    /// half of it.
    None,
}

/// The largest payload a record can describe (its length is a u32).
pub const MAX_PAYLOAD_LIMIT: usize = u32::MAX as usize;
pub const DEFAULT_MAX_PAYLOAD: usize = 64 << 20;
pub const DEFAULT_SNAPSHOT_THRESHOLD: u64 = 64 << 20;
pub const DEFAULT_WRITE_BUFFER: usize = 256 << 10;
/// Automatic compaction, by default: once the log is at least this long...
pub const DEFAULT_COMPACT_MIN_LOG_BYTES: u64 = 64 << 20;
/// ...and at least this fraction of its record bytes is dead.
pub const DEFAULT_COMPACT_DEAD_RATIO: f64 = 0.5;

/// Ratios are kept in millionths, so that `Options` stays `Eq`.
const RATIO_UNIT: f64 = 1_000_000.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    durability: Durability,
    recovery: RecoveryMode,
    max_payload: usize,
    read_only: bool,
    snapshot_threshold: u64,
    auto_snapshot: bool,
    write_buffer: usize,
    /// Dead-byte ratio in millionths that starts an automatic compaction
    /// (0: never), and the log length below which none starts.
    compact_ratio_ppm: u32,
    compact_min_log_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Fsync,
            recovery: RecoveryMode::Strict,
            max_payload: DEFAULT_MAX_PAYLOAD,
            read_only: false,
            snapshot_threshold: DEFAULT_SNAPSHOT_THRESHOLD,
            auto_snapshot: true,
            write_buffer: DEFAULT_WRITE_BUFFER,
            compact_ratio_ppm: (DEFAULT_COMPACT_DEAD_RATIO * RATIO_UNIT) as u32,
            compact_min_log_bytes: DEFAULT_COMPACT_MIN_LOG_BYTES,
        }
    }
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }
    pub fn recovery(&self) -> RecoveryMode {
        self.recovery
    }
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    pub fn snapshot_threshold(&self) -> u64 {
        self.snapshot_threshold
    }
    pub fn auto_snapshot(&self) -> bool {
        self.auto_snapshot
    }
    pub fn write_buffer(&self) -> usize {
        self.write_buffer
    }
    /// The dead-byte ratio and minimum log length that start an automatic
    /// compaction, or `None` when automatic compaction is off.
    pub fn auto_compact(&self) -> Option<(f64, u64)> {
        (self.compact_ratio_ppm != 0).then(|| {
            (
                f64::from(self.compact_ratio_ppm) / RATIO_UNIT,
                self.compact_min_log_bytes,
            )
        })
    }

    pub fn set_durability(&mut self, d: Durability) -> &mut Self {
        self.durability = d;
        self
    }

    pub fn set_recovery(&mut self, m: RecoveryMode) -> &mut Self {
        self.recovery = m;
        self
    }

    pub fn set_read_only(&mut self, ro: bool) -> &mut Self {
        self.read_only = ro;
        self
    }

    /// Bytes of log growth after which `should_snapshot` turns true, once
    /// the log after the newest snapshot also holds a quarter as many
    /// records as that snapshot has entries, or 16 times its size in bytes;
    /// 0 makes it always false.
    pub fn set_snapshot_threshold(&mut self, bytes: u64) -> &mut Self {
        self.snapshot_threshold = bytes;
        self
    }

    /// Whether the write after which `should_snapshot` is true starts a
    /// snapshot in the background (the default). Off, `should_snapshot`
    /// still reports when one is due, for callers that schedule `snapshot`
    /// themselves.
    pub fn set_auto_snapshot(&mut self, on: bool) -> &mut Self {
        self.auto_snapshot = on;
        self
    }

    /// The largest payload a write accepts: 1 byte to 4 GiB - 1.
    pub fn set_max_payload(&mut self, bytes: usize) -> Result<&mut Self> {
        if bytes == 0 || bytes > MAX_PAYLOAD_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "max payload {bytes} is outside 1..={MAX_PAYLOAD_LIMIT}"
            )));
        }
        self.max_payload = bytes;
        Ok(self)
    }

    /// Starts a compaction in the background when a write leaves the log at
    /// least `min_log_bytes` long with at least `dead_ratio` of its record
    /// bytes dead (default: 0.5 and 64 MiB). `dead_ratio` 0 turns automatic
    /// compaction off; otherwise it must lie in (0, 1).
    pub fn set_auto_compact(&mut self, dead_ratio: f64, min_log_bytes: u64) -> Result<&mut Self> {
        if !(0.0..1.0).contains(&dead_ratio) {
            return Err(Error::InvalidArgument(format!(
                "dead-byte ratio {dead_ratio} for automatic compaction is outside [0, 1)"
            )));
        }
        let ppm = (dead_ratio * RATIO_UNIT).round() as u32;
        if dead_ratio > 0.0 && ppm == 0 {
            return Err(Error::InvalidArgument(format!(
                "dead-byte ratio {dead_ratio} for automatic compaction is below one millionth"
            )));
        }
        self.compact_ratio_ppm = ppm;
        self.compact_min_log_bytes = min_log_bytes;
        Ok(self)
    }

    /// Size of the in-process buffer used by `Durability::None`: 1 byte to
    /// 1 GiB.
    pub fn set_write_buffer(&mut self, bytes: usize) -> Result<&mut Self> {
        if bytes == 0 || bytes > 1 << 30 {
            return Err(Error::InvalidArgument(format!(
                "write buffer {bytes} is outside 1..={}",
                1 << 30
            )));
        }
        self.write_buffer = bytes;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn defaults_are_the_documented_ones() {
        let o = Options::default();
        assert_eq!(o.durability(), Durability::Fsync);
        assert_eq!(o.recovery(), RecoveryMode::Strict);
        assert_eq!(o.max_payload(), 64 << 20);
        assert!(!o.read_only());
        assert_eq!(o.snapshot_threshold(), 64 << 20);
        assert_eq!(o.auto_compact(), Some((0.5, 64 << 20)));
    }

    #[test]
    fn auto_compaction_ratios_are_checked() {
        let mut o = Options::default();
        for bad in [-0.1, 1.0, 1.5, f64::NAN, 1e-9] {
            let e = o.set_auto_compact(bad, 0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        assert_eq!(o, Options::default());
        o.set_auto_compact(0.25, 1 << 20).unwrap();
        assert_eq!(o.auto_compact(), Some((0.25, 1 << 20)));
        o.set_auto_compact(0.0, 1 << 20).unwrap();
        assert_eq!(o.auto_compact(), None);
    }

    #[test]
    fn out_of_range_values_are_refused_and_change_nothing() {
        let mut o = Options::default();
        for bad in [0, MAX_PAYLOAD_LIMIT + 1] {
            assert_eq!(
                o.set_max_payload(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
        assert_eq!(
            o.set_write_buffer(0).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(o, Options::default());
        o.set_max_payload(MAX_PAYLOAD_LIMIT).unwrap();
        assert_eq!(o.max_payload(), MAX_PAYLOAD_LIMIT);
    }
}
