//! Verifying a record read back for a lookup. Everything the index promised
//! is checked against the bytes: both CRCs, the type, the id and the length.

use crate::error::{Error, Result};
use crate::format::{decode_header, payload_crc, RecordHeaderError, RecordType};
use std::path::Path;

/// Checks that `head` and `payload`, read from `offset`, are the intact
/// store record of `id` with a payload of `payload.len()` bytes.
pub(crate) fn verify_record(
    path: &Path,
    log_id: u64,
    id: u64,
    offset: u64,
    head: &[u8],
    payload: &[u8],
) -> Result<()> {
    let h = match decode_header(head, log_id) {
        Ok(h) => h,
        Err(RecordHeaderError::BadCrc { expected, actual }) => {
            return Err(Error::corruption(
                path,
                offset,
                format!(
                    "record header of id {id}: header CRC mismatch: expected {expected:#010x}, \
                     actual {actual:#010x}"
                ),
            ))
        }
        Err(RecordHeaderError::Unsupported { ty, .. }) => {
            return Err(Error::corruption(
                path,
                offset,
                format!("record of id {id}: found record type {ty} where a store record was"),
            ))
        }
    };
    if h.ty != RecordType::Put || h.id != id || h.len as usize != payload.len() {
        return Err(Error::corruption(
            path,
            offset,
            format!(
                "expected the store record of id {id} ({} bytes), found a {:?} record of id {} \
                 ({} bytes)",
                payload.len(),
                h.ty,
                h.id,
                h.len
            ),
        ));
    }
    let actual = payload_crc(log_id, payload);
    if actual != h.payload_crc {
        return Err(Error::corruption(
            path,
            offset,
            format!(
                "payload of id {id}: CRC mismatch: expected {:#010x}, actual {actual:#010x}",
                h.payload_crc
            ),
        ));
    }
    Ok(())
}
