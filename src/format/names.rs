//! Names of every file walstore creates in a store directory. Keeping them in
//! one place keeps `docs/FORMAT.md` honest.

/// The lock file, held with `flock` for as long as a handle is open.
pub const LOCK_FILE: &str = "LOCK";

const LOG_PREFIX: &str = "wal-";
const LOG_SUFFIX: &str = ".log";

/// Log generation 1 is the first log of a store; compaction writes higher
/// generations, each complete before its name appears (written under a
/// temporary name, then renamed). The highest-numbered log is current.
pub const FIRST_GENERATION: u64 = 1;

/// `wal-<generation as 16 hex digits>.log`
pub fn log_file_name(generation: u64) -> String {
    format!("{LOG_PREFIX}{generation:016x}{LOG_SUFFIX}")
}

/// The generation of a log file name, or `None` if the name is not one.
pub fn parse_log_file_name(name: &str) -> Option<u64> {
    parse_hex16(name.strip_prefix(LOG_PREFIX)?.strip_suffix(LOG_SUFFIX)?)
}

/// `wal-<generation>.log.tmp`: a log generation that compaction is still
/// writing. It becomes `wal-<generation>.log` by a rename once complete and
/// durable; an open removes any left behind by a crash.
pub fn log_temp_file_name(generation: u64) -> String {
    format!("{}{TEMP_SUFFIX}", log_file_name(generation))
}

/// The generation of a compaction's temporary log name.
pub fn parse_log_temp_file_name(name: &str) -> Option<u64> {
    parse_log_file_name(name.strip_suffix(TEMP_SUFFIX)?)
}

/// Where the bytes of a torn tail are kept before the log is cut:
/// `wal-<generation>.log.cut-<offset as 16 hex>-<unix nanoseconds>[-<n>]`.
pub fn tail_cut_file_name(generation: u64, offset: u64, unix_nanos: u128, attempt: u32) -> String {
    let base = format!(
        "{}.cut-{offset:016x}-{unix_nanos}",
        log_file_name(generation)
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}-{attempt}")
    }
}

const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
/// Appended to a file's name while it is being written; renamed away once
/// it is complete and durable.
pub const TEMP_SUFFIX: &str = ".tmp";

/// `snapshot-<generation as 16 hex>-<log position as 16 hex>.snap`
pub fn snapshot_file_name(generation: u64, position: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{generation:016x}-{position:016x}{SNAPSHOT_SUFFIX}")
}

/// The (generation, position) of a snapshot file name.
pub fn parse_snapshot_file_name(name: &str) -> Option<(u64, u64)> {
    let rest = name
        .strip_prefix(SNAPSHOT_PREFIX)?
        .strip_suffix(SNAPSHOT_SUFFIX)?;
    let (g, p) = rest.split_once('-')?;
    Some((parse_hex16(g)?, parse_hex16(p)?))
}

/// Exactly 16 lowercase hex digits: the only form this module writes.
fn parse_hex16(hex: &str) -> Option<u64> {
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_round_trip_and_reject_lookalikes() {
        assert_eq!(log_file_name(1), "wal-0000000000000001.log");
        assert_eq!(parse_log_file_name("wal-0000000000000001.log"), Some(1));
        assert_eq!(parse_log_file_name("wal-00000000000000ff.log"), Some(255));
        assert_eq!(parse_log_file_name("wal-1.log"), None);
        assert_eq!(parse_log_file_name("wal-000000000000000g.log"), None);
        assert_eq!(parse_log_file_name("wal-00000000000000FF.log"), None);
        assert_eq!(
            parse_log_file_name("wal-0000000000000001.log.cut-0000000000000040-5"),
            None
        );
    }

    #[test]
    fn temporary_log_names_never_parse_as_logs() {
        let n = log_temp_file_name(2);
        assert_eq!(n, "wal-0000000000000002.log.tmp");
        assert_eq!(parse_log_temp_file_name(&n), Some(2));
        assert_eq!(parse_log_file_name(&n), None);
        assert_eq!(parse_log_temp_file_name("wal-0000000000000002.log"), None);
    }

    #[test]
    fn snapshot_names_round_trip() {
        let n = snapshot_file_name(1, 0x1000);
        assert_eq!(n, "snapshot-0000000000000001-0000000000001000.snap");
        assert_eq!(parse_snapshot_file_name(&n), Some((1, 0x1000)));
        assert_eq!(parse_snapshot_file_name(&format!("{n}{TEMP_SUFFIX}")), None);
        assert_eq!(parse_snapshot_file_name("snapshot-1-2.snap"), None);
    }

    #[test]
    fn cut_names_carry_offset_and_stay_unique() {
        assert_eq!(
            tail_cut_file_name(1, 0x40, 7, 0),
            "wal-0000000000000001.log.cut-0000000000000040-7"
        );
        assert_eq!(
            tail_cut_file_name(1, 0x40, 7, 2),
            "wal-0000000000000001.log.cut-0000000000000040-7-2"
        );
    }
}
