//! On-disk layout of the log: the file header and the records. Pure
//! encode/decode, no I/O, so that every byte rule is testable on its own.
//! `docs/FORMAT.md` is the prose version of this module.

pub(crate) mod crc;
pub mod header;
pub mod names;
pub mod record;

pub use header::{
    FileHeader, HeaderError, FILE_HEADER_LEN, FLAG_FOLDED, FLAG_PREALLOCATED, FORMAT_VERSION,
    MAGIC, PREALLOCATION_STEP,
};
pub use record::{
    decode_header, encode_record, payload_crc, plausible_header, RecordHeader, RecordHeaderError,
    RecordType, RECORD_HEADER_LEN, RESERVED_TYPES,
};
