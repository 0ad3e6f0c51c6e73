//! CRC32 (IEEE, crc32fast) with the log identity mixed in first, so a record
//! left from an earlier use of the same disk space, or copied from another
//! log, fails its check here.

pub(crate) fn crc_with_identity(log_id: u64, parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&log_id.to_le_bytes());
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

pub(crate) fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
