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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    durability: Durability,
    recovery: RecoveryMode,
    max_payload: usize,
    read_only: bool,
    snapshot_threshold: u64,
    auto_snapshot: bool,
    write_buffer: usize,
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

    /// Bytes of log growth after which `should_snapshot` turns true; 0
    /// makes it always false.
    pub fn set_snapshot_threshold(&mut self, bytes: u64) -> &mut Self {
        self.snapshot_threshold = bytes;
        self
    }

    /// Whether crossing the snapshot threshold starts a snapshot in the
    /// background (the default). Off, `should_snapshot` still reports the
    /// threshold, for callers that schedule `snapshot` themselves.
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
