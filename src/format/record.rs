//! Log records: a 32-byte header, then the payload.
//!
//! ```text
//! offset size field
//!      0    1 type: 1 store, 2 delete, 3 batch begin, 4 batch commit,
//!             5 range delete, 6 damaged marker; 7..=127 reserved for
//!             later versions; 0 and 128..=255 never written
//!      1    1 flags (0)
//!      2    2 reserved (0)
//!      4    4 payload length, u32 LE
//!      8    8 sequence number, u64 LE, strictly increasing in a log
//!     16    8 id, u64 LE (for batch framing: the number of entries; for
//!             a range delete: the lowest id of the range)
//!     24    4 payload CRC = crc32(log identity LE ++ payload)
//!     28    4 header CRC  = crc32(log identity LE ++ bytes 0..28)
//! ```
//!
//! A range delete's payload is the highest id of the range (8 bytes, u64
//! LE; the range includes both ends). A damaged marker stands for an id
//! whose newest record a `SALVAGE` open found damaged, carried into a
//! compacted log so that the id keeps reading as damaged; its payload is
//! the UTF-8 description of the damage.
//!
//! The header CRC is checked before the length is trusted, so a damaged
//! length can never make replay swallow the records after it.

use super::crc::crc_with_identity;
use super::header::{le_u32, le_u64};

pub const RECORD_HEADER_LEN: usize = 32;
const HEADER_CRC_AT: usize = 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    Put = 1,
    Delete = 2,
    BatchBegin = 3,
    BatchCommit = 4,
    DeleteRange = 5,
    DamagedMarker = 6,
}

/// Type values a later format may give meaning to. A record that carries
/// one, with a good CRC, was written by a newer walstore.
pub const RESERVED_TYPES: std::ops::RangeInclusive<u8> = 7..=127;

/// Length of a range delete's payload: the high end of the range.
pub const RANGE_PAYLOAD_LEN: usize = 8;

/// The high end of a range delete's range, if the payload is one.
pub fn decode_range_end(payload: &[u8]) -> Option<u64> {
    (payload.len() == RANGE_PAYLOAD_LEN).then(|| le_u64(payload))
}

impl RecordType {
    fn from_u8(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Put),
            2 => Some(RecordType::Delete),
            3 => Some(RecordType::BatchBegin),
            4 => Some(RecordType::BatchCommit),
            5 => Some(RecordType::DeleteRange),
            6 => Some(RecordType::DamagedMarker),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub ty: RecordType,
    pub len: u32,
    pub seq: u64,
    pub id: u64,
    pub payload_crc: u32,
}

impl RecordHeader {
    /// Header plus payload.
    pub fn total_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHeaderError {
    /// The header is damaged (or is not a header at all): nothing in it,
    /// the length least of all, may be trusted.
    BadCrc { expected: u32, actual: u32 },
    /// The CRC is good but the type or flags are ones this version does not
    /// know: the log was written by a newer walstore.
    Unsupported { ty: u8, flags: u8 },
}

impl std::fmt::Display for RecordHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordHeaderError::BadCrc { expected, actual } => write!(
                f,
                "record header CRC mismatch: expected {expected:#010x}, actual {actual:#010x}"
            ),
            RecordHeaderError::Unsupported { ty, .. } => write!(f, "unknown record type {ty}"),
        }
    }
}

/// Appends one record (header and payload) to `out`.
pub fn encode_record(
    out: &mut Vec<u8>,
    log_id: u64,
    ty: RecordType,
    seq: u64,
    id: u64,
    payload: &[u8],
) {
    let len = u32::try_from(payload.len()).expect("payload length checked by the caller");
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0] = ty as u8;
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    h[24..28].copy_from_slice(&payload_crc(log_id, payload).to_le_bytes());
    let hc = crc_with_identity(log_id, &[&h[..HEADER_CRC_AT]]);
    h[HEADER_CRC_AT..].copy_from_slice(&hc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
}

pub fn payload_crc(log_id: u64, payload: &[u8]) -> u32 {
    crc_with_identity(log_id, &[payload])
}

/// A cheap test that rejects most non-headers (zeros, random bytes) before a
/// CRC is computed; used when scanning byte by byte past damage.
pub fn plausible_header(h: &[u8]) -> bool {
    h.len() >= RECORD_HEADER_LEN && RecordType::from_u8(h[0]).is_some() && h[1..4] == [0, 0, 0]
}

pub fn decode_header(h: &[u8], log_id: u64) -> Result<RecordHeader, RecordHeaderError> {
    let h = &h[..RECORD_HEADER_LEN];
    let expected = le_u32(&h[HEADER_CRC_AT..]);
    let actual = crc_with_identity(log_id, &[&h[..HEADER_CRC_AT]]);
    if expected != actual {
        return Err(RecordHeaderError::BadCrc { expected, actual });
    }
    let ty = match RecordType::from_u8(h[0]) {
        Some(ty) if h[1..4] == [0, 0, 0] => ty,
        _ => {
            return Err(RecordHeaderError::Unsupported {
                ty: h[0],
                flags: h[1],
            })
        }
    };
    Ok(RecordHeader {
        ty,
        len: le_u32(&h[4..8]),
        seq: le_u64(&h[8..16]),
        id: le_u64(&h[16..24]),
        payload_crc: le_u32(&h[24..28]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: u64 = 0xfeed_f00d_dead_beef;

    fn one(ty: RecordType, seq: u64, id: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(&mut v, LOG, ty, seq, id, payload);
        v
    }

    #[test]
    fn round_trips_every_type() {
        for ty in [
            RecordType::Put,
            RecordType::Delete,
            RecordType::BatchBegin,
            RecordType::BatchCommit,
            RecordType::DeleteRange,
            RecordType::DamagedMarker,
        ] {
            let r = one(ty, 9, 42, b"abc");
            assert_eq!(r.len(), RECORD_HEADER_LEN + 3);
            assert!(plausible_header(&r));
            let h = decode_header(&r, LOG).unwrap();
            assert_eq!(
                h,
                RecordHeader {
                    ty,
                    len: 3,
                    seq: 9,
                    id: 42,
                    payload_crc: payload_crc(LOG, b"abc")
                }
            );
            assert_eq!(h.total_len(), 35);
        }
    }

    #[test]
    fn every_header_bit_flip_fails_the_header_crc() {
        let r = one(RecordType::Put, 1, 7, b"payload");
        for bit in 0..RECORD_HEADER_LEN * 8 {
            let mut d = r.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(
                    decode_header(&d, LOG),
                    Err(RecordHeaderError::BadCrc { .. })
                ),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn another_log_identity_fails_the_check() {
        let r = one(RecordType::Put, 1, 7, b"x");
        assert!(matches!(
            decode_header(&r, LOG ^ 1),
            Err(RecordHeaderError::BadCrc { .. })
        ));
        assert_ne!(payload_crc(LOG, b"x"), payload_crc(LOG ^ 1, b"x"));
    }

    #[test]
    fn zeros_are_not_a_record() {
        let z = [0u8; RECORD_HEADER_LEN];
        assert!(!plausible_header(&z));
        assert!(matches!(
            decode_header(&z, LOG),
            Err(RecordHeaderError::BadCrc { .. })
        ));
    }

    #[test]
    fn reserved_type_with_good_crc_is_unsupported() {
        let mut r = one(RecordType::Put, 1, 7, b"");
        r[0] = *RESERVED_TYPES.start();
        let c = crc_with_identity(LOG, &[&r[..HEADER_CRC_AT]]);
        r[HEADER_CRC_AT..RECORD_HEADER_LEN].copy_from_slice(&c.to_le_bytes());
        assert_eq!(
            decode_header(&r, LOG),
            Err(RecordHeaderError::Unsupported { ty: 7, flags: 0 })
        );
    }
}
