//! The 64-byte file header at offset 0 of every log file.
//!
//! ```text
//! offset size field
//!      0    8 magic "WALSTORE"
//!      8    4 format version, u32 LE (1)
//!     12    4 flags, u32 LE: bit 0 FOLDED (the folded sequence below is in
//!             use), bit 1 PREALLOCATED (zeros after the last record are
//!             free space); a set bit a reader does not know means a
//!             feature it lacks
//!     16    8 log identity, u64 LE, random per log file
//!     24    8 generation, u64 LE (the number in the file name)
//!     32    8 base sequence, u64 LE (every record's sequence is above it)
//!     40    8 folded sequence, u64 LE: 0, or in a log written by compaction
//!             the last sequence number the compaction folded (records up
//!             to it are only the live ones; new records number above it)
//!     48   12 reserved: written as zero, ignored when read
//!     60    4 CRC32 of bytes 0..60, u32 LE
//! ```

use super::crc::crc;

pub const MAGIC: [u8; 8] = *b"WALSTORE";
pub const FORMAT_VERSION: u32 = 1;
pub const FILE_HEADER_LEN: usize = 64;
/// Header flag: the log was written by compaction and `folded_seq` holds.
/// Walstore 0.1 refuses a log with it set (it would number new records
/// below the fold, where change cursors no longer look).
pub const FLAG_FOLDED: u32 = 1;
/// Header flag: the log's file may be longer than its records, the rest
/// being zeros that `fallocate` added ahead of appends. Replay treats zeros
/// from a record boundary to the end of a file whose length is a multiple
/// of `PREALLOCATION_STEP` as free space, not as a torn tail. Walstore
/// 0.2.0 and older refuse a log with it set (they would cut the free space
/// as a torn tail, and `ABSOLUTE` would refuse to open).
pub const FLAG_PREALLOCATED: u32 = 2;
const KNOWN_FLAGS: u32 = FLAG_FOLDED | FLAG_PREALLOCATED;
/// A preallocated log's file grows ahead of its records to a multiple of
/// this. Replay takes zeros for free space only in a file of such a length:
/// zeros at the end of any other length are not walstore's allocation but
/// lost bytes, judged by the older rule (a torn tail).
pub const PREALLOCATION_STEP: u64 = 1 << 20;
const CRC_AT: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub log_id: u64,
    pub generation: u64,
    pub base_seq: u64,
    /// Compaction wrote this log from the records up to this sequence
    /// number, keeping only the live ones (0: not a compacted log). Walstore
    /// 0.1 left these bytes zero and ignores them.
    pub folded_seq: u64,
    /// Zeros after the last record are free space (`FLAG_PREALLOCATED`).
    /// Every log this version creates has it; older logs do not, and keep
    /// the older rule that a zero tail is torn.
    pub preallocated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 64 bytes. `prefix_agrees` is true when every byte present
    /// matches the magic and version, which is what a crash during creation
    /// leaves behind.
    TooShort {
        len: usize,
        prefix_agrees: bool,
    },
    BadMagic {
        found: [u8; 8],
    },
    UnknownVersion {
        found: u32,
    },
    UnknownFlags {
        found: u32,
    },
    BadCrc {
        expected: u32,
        actual: u32,
    },
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let mut flags = if self.folded_seq != 0 { FLAG_FOLDED } else { 0 };
        if self.preallocated {
            flags |= FLAG_PREALLOCATED;
        }
        b[12..16].copy_from_slice(&flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.log_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.generation.to_le_bytes());
        b[32..40].copy_from_slice(&self.base_seq.to_le_bytes());
        b[40..48].copy_from_slice(&self.folded_seq.to_le_bytes());
        let c = crc(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Checks in the order that gives the most useful verdict: a foreign file
    /// is `BadMagic` before anything else, a newer format is `UnknownVersion`
    /// before its CRC (whose coverage a newer version may have changed) is
    /// judged.
    pub fn decode(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
        if bytes.len() < FILE_HEADER_LEN {
            let mut expected = [0u8; 12];
            expected[..8].copy_from_slice(&MAGIC);
            expected[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            let n = bytes.len().min(expected.len());
            return Err(HeaderError::TooShort {
                len: bytes.len(),
                prefix_agrees: bytes[..n] == expected[..n],
            });
        }
        let found: [u8; 8] = bytes[0..8].try_into().unwrap();
        if found != MAGIC {
            return Err(HeaderError::BadMagic { found });
        }
        let version = le_u32(&bytes[8..12]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnknownVersion { found: version });
        }
        let expected = le_u32(&bytes[CRC_AT..FILE_HEADER_LEN]);
        let actual = crc(&bytes[..CRC_AT]);
        if expected != actual {
            return Err(HeaderError::BadCrc { expected, actual });
        }
        let flags = le_u32(&bytes[12..16]);
        let folded_seq = le_u64(&bytes[40..48]);
        // A folded number without its flag is not something walstore
        // writes: judged like an unknown flag.
        if flags & !KNOWN_FLAGS != 0 || (flags & FLAG_FOLDED == 0) != (folded_seq == 0) {
            return Err(HeaderError::UnknownFlags { found: flags });
        }
        Ok(FileHeader {
            log_id: le_u64(&bytes[16..24]),
            generation: le_u64(&bytes[24..32]),
            base_seq: le_u64(&bytes[32..40]),
            folded_seq,
            preallocated: flags & FLAG_PREALLOCATED != 0,
        })
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooShort { len, .. } => {
                write!(f, "file is {len} bytes, shorter than the {FILE_HEADER_LEN}-byte header")
            }
            HeaderError::BadMagic { found } => {
                write!(f, "not a walstore log: magic is {found:02x?}, expected \"WALSTORE\"")
            }
            HeaderError::UnknownVersion { found } => write!(
                f,
                "format version {found} is unknown to this walstore (it reads version {FORMAT_VERSION})"
            ),
            HeaderError::UnknownFlags { found } => {
                write!(f, "header flags {found:#x} name features this walstore lacks")
            }
            HeaderError::BadCrc { expected, actual } => write!(
                f,
                "file header CRC mismatch: expected {expected:#010x}, actual {actual:#010x}"
            ),
        }
    }
}

#[inline]
pub(crate) fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap())
}

#[inline]
pub(crate) fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: FileHeader = FileHeader {
        log_id: 0x1122_3344_5566_7788,
        generation: 1,
        base_seq: 0,
        folded_seq: 0,
        preallocated: false,
    };

    #[test]
    fn the_folded_sequence_round_trips_and_is_covered_by_the_crc() {
        let h = FileHeader {
            folded_seq: 0x0102_0304_0506_0708,
            ..H
        };
        let b = h.encode();
        assert_eq!(b[12..16], [1, 0, 0, 0]);
        assert_eq!(H.encode()[12..16], [0; 4]);
        assert_eq!(b[40..48], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(b[48..60], [0; 12]);
        assert_eq!(FileHeader::decode(&b), Ok(h));
        let mut d = b;
        d[41] ^= 1;
        assert!(matches!(
            FileHeader::decode(&d),
            Err(HeaderError::BadCrc { .. })
        ));
        // The flag and the number go together, under a good CRC.
        for (flags, folded) in [(0u32, 5u64), (1, 0), (2, 5), (3, 0), (5, 5), (6, 0)] {
            let mut d = H.encode();
            d[12..16].copy_from_slice(&flags.to_le_bytes());
            d[40..48].copy_from_slice(&folded.to_le_bytes());
            let c = crc(&d[..CRC_AT]);
            d[CRC_AT..].copy_from_slice(&c.to_le_bytes());
            assert_eq!(
                FileHeader::decode(&d),
                Err(HeaderError::UnknownFlags { found: flags }),
                "{flags} {folded}"
            );
        }
    }

    #[test]
    fn the_preallocated_flag_is_bit_1_and_goes_with_either_folded_state() {
        for folded_seq in [0, 9] {
            let h = FileHeader {
                folded_seq,
                preallocated: true,
                ..H
            };
            let b = h.encode();
            let flags = if folded_seq == 0 { 2 } else { 3 };
            assert_eq!(b[12..16], [flags, 0, 0, 0]);
            assert_eq!(FileHeader::decode(&b), Ok(h));
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(FileHeader::decode(&H.encode()), Ok(H));
    }

    #[test]
    fn every_prefix_of_a_valid_header_is_too_short_and_agrees() {
        let b = H.encode();
        for len in 0..FILE_HEADER_LEN {
            assert_eq!(
                FileHeader::decode(&b[..len]),
                Err(HeaderError::TooShort {
                    len,
                    prefix_agrees: true
                })
            );
        }
    }

    #[test]
    fn short_foreign_bytes_do_not_agree() {
        assert_eq!(
            FileHeader::decode(b"WALSTORX"),
            Err(HeaderError::TooShort {
                len: 8,
                prefix_agrees: false
            })
        );
        let mut b = H.encode();
        b[8] = 2;
        assert_eq!(
            FileHeader::decode(&b[..10]),
            Err(HeaderError::TooShort {
                len: 10,
                prefix_agrees: false
            })
        );
    }

    #[test]
    fn each_field_is_judged_in_order() {
        let mut b = H.encode();
        b[3] ^= 1;
        assert!(matches!(
            FileHeader::decode(&b),
            Err(HeaderError::BadMagic { .. })
        ));
        let mut b = H.encode();
        b[8] = 2;
        assert_eq!(
            FileHeader::decode(&b),
            Err(HeaderError::UnknownVersion { found: 2 })
        );
        let mut b = H.encode();
        b[20] ^= 0x80;
        assert!(matches!(
            FileHeader::decode(&b),
            Err(HeaderError::BadCrc { .. })
        ));
        let mut b = H.encode();
        b[12] = 1;
        let c = crc(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&c.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&b),
            Err(HeaderError::UnknownFlags { found: 1 })
        );
    }
}
