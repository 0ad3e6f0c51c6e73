//! The one serde format of this crate: postcard (stable, documented wire
//! format; compact varints). Log entries, the vote, the log markers,
//! snapshots and every TCP frame go through these two functions, so the
//! format can be changed in one place.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;

/// Serialises `value`. Fails only for types postcard cannot describe (none
/// of openraft's or this crate's), reported as `InvalidData`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Deserialises bytes written by [`encode`]; damaged or foreign bytes give
/// `InvalidData`, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Vote};

    #[test]
    fn openraft_types_round_trip() {
        let vote = Vote::new_committed(7, 3u64);
        assert_eq!(decode::<Vote<u64>>(&encode(&vote).unwrap()).unwrap(), vote);
        let id = LogId::new(CommittedLeaderId::new(5, 2u64), 1234);
        assert_eq!(decode::<LogId<u64>>(&encode(&id).unwrap()).unwrap(), id);
    }

    #[test]
    fn damaged_bytes_are_invalid_data() {
        let err = decode::<LogId<u64>>(&[0xff]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
