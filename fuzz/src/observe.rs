//! What an open store shows through its public API, checked for internal
//! consistency on the way: every read path (`retrieve`, `retrieve_into`,
//! `payload_len`, `damaged_ids`, `len`) must tell the same story.

use std::collections::{BTreeMap, BTreeSet};
use walstore::{Error, ErrorKind, Store};

/// What reading one present id gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Data(Vec<u8>),
    /// `Corruption`: the record failed its check (or `Salvage` marked it).
    Corrupt,
}

/// The observable state of a store: every present id among those probed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub ids: BTreeMap<u64, Read>,
    pub damaged: Vec<u64>,
}

impl Observed {
    /// The state a model map describes: every id readable, none damaged.
    pub fn from_model(model: &BTreeMap<u64, Vec<u8>>) -> Observed {
        Observed {
            ids: model
                .iter()
                .map(|(id, v)| (*id, Read::Data(v.clone())))
                .collect(),
            damaged: Vec::new(),
        }
    }
}

const FILL: u8 = 0xa5;

/// Reads every id in `probe`, and every id iteration yields, every way the
/// API allows and checks that the answers agree; together they must cover
/// every id the store holds (checked against `len()`; iteration cannot name
/// the ids whose payload fails its check, so `probe` must contain those).
pub fn observe(store: &Store, probe: &BTreeSet<u64>) -> Observed {
    // Iteration: ids strictly increasing, each payload as a read gives it.
    let mut iterated = BTreeMap::new();
    let mut iter_errors = 0usize;
    let it = store.iter();
    assert_eq!(
        it.size_hint().0,
        store.len(),
        "iteration and len() disagree"
    );
    for item in it {
        match item {
            Ok((id, data)) => {
                if let Some((&last, _)) = iterated.last_key_value() {
                    assert!(id > last, "iteration not in id order: {id} after {last}");
                }
                iterated.insert(id, data);
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    ErrorKind::Corruption,
                    "iteration failed with: {e}"
                );
                iter_errors += 1;
            }
        }
    }
    let mut probe = probe.clone();
    probe.extend(iterated.keys().copied());
    let probe = &probe;
    let damaged = store.damaged_ids();
    let damaged_set: BTreeSet<u64> = damaged.iter().copied().collect();
    assert!(
        damaged.windows(2).all(|w| w[0] < w[1]),
        "damaged_ids not sorted and unique: {damaged:?}"
    );
    let mut ids = BTreeMap::new();
    for &id in probe {
        let first = store.retrieve(id);
        let second = store.retrieve(id);
        let len = store.payload_len(id);
        match (&first, &second) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "id {id}: two reads returned different bytes"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "id {id}: {a} then {b}"),
            _ => panic!("id {id}: two reads disagree: {first:?} then {second:?}"),
        }
        match first {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                assert!(!damaged_set.contains(&id), "damaged id {id} reads NotFound");
                assert_eq!(
                    len.as_ref().err().map(Error::kind),
                    Some(ErrorKind::NotFound),
                    "id {id}: retrieve says NotFound, payload_len says {len:?}"
                );
                let mut buf = [FILL; 8];
                let r = store.retrieve_into(id, &mut buf);
                assert_eq!(r.as_ref().err().map(Error::kind), Some(ErrorKind::NotFound));
                assert_eq!(
                    buf, [FILL; 8],
                    "id {id}: a NotFound read wrote to the buffer"
                );
            }
            Ok(data) => {
                assert!(
                    !damaged_set.contains(&id),
                    "damaged id {id} reads back data"
                );
                assert_eq!(
                    len.as_ref().ok().copied(),
                    Some(data.len()),
                    "id {id}: payload_len {len:?} but retrieve returned {} bytes",
                    data.len()
                );
                check_retrieve_into_ok(store, id, &data);
                ids.insert(id, Read::Data(data));
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    ErrorKind::Corruption,
                    "id {id}: a read may fail only with NotFound or Corruption, got: {e}"
                );
                if damaged_set.contains(&id) {
                    assert_eq!(
                        len.as_ref().err().map(Error::kind),
                        Some(ErrorKind::Corruption),
                        "damaged id {id}: payload_len {len:?}"
                    );
                    let mut buf = vec![FILL; 16];
                    let r = store.retrieve_into(id, &mut buf);
                    assert_eq!(
                        r.as_ref().err().map(Error::kind),
                        Some(ErrorKind::Corruption)
                    );
                    assert!(
                        buf.iter().all(|&b| b == FILL),
                        "damaged id {id}: buffer written"
                    );
                } else {
                    // Present in the index but its record fails the check at
                    // read time: the length comes from the index, and a
                    // failed read must leave zeros, never unverified bytes.
                    let n = len.unwrap_or_else(|e| panic!("id {id}: payload_len failed: {e}"));
                    if n <= 1 << 20 {
                        let mut buf = vec![FILL; n + 3];
                        let r = store.retrieve_into(id, &mut buf);
                        assert_eq!(
                            r.as_ref().err().map(Error::kind),
                            Some(ErrorKind::Corruption),
                            "id {id}: retrieve failed but retrieve_into gave {r:?}"
                        );
                        assert!(
                            buf[..n].iter().all(|&b| b == 0),
                            "id {id}: failed read left bytes"
                        );
                        assert!(
                            buf[n..].iter().all(|&b| b == FILL),
                            "id {id}: wrote past the payload"
                        );
                    }
                }
                ids.insert(id, Read::Corrupt);
            }
        }
    }
    assert_eq!(
        store.len(),
        ids.len(),
        "len() counts ids that no probe found (probed {} ids)",
        probe.len()
    );
    assert_eq!(store.is_empty(), ids.is_empty());
    for id in &damaged {
        assert_eq!(ids.get(id), Some(&Read::Corrupt), "damaged id {id}");
    }
    let data: BTreeMap<u64, Vec<u8>> = ids
        .iter()
        .filter_map(|(id, r)| match r {
            Read::Data(d) => Some((*id, d.clone())),
            Read::Corrupt => None,
        })
        .collect();
    assert_eq!(iterated, data, "iteration and reads disagree");
    assert_eq!(
        iter_errors,
        ids.len() - data.len(),
        "iteration errors vs unreadable ids"
    );
    let stats = store.stats();
    assert_eq!(stats.live_ids, ids.len() as u64, "stats.live_ids");
    assert_eq!(stats.log_bytes, store.log_position(), "stats.log_bytes");
    if damaged.is_empty() {
        let live: usize = ids
            .keys()
            .map(|id| store.payload_len(*id).expect("payload_len of a present id"))
            .sum();
        assert_eq!(stats.live_bytes, live as u64, "stats.live_bytes");
    }
    Observed { ids, damaged }
}

fn check_retrieve_into_ok(store: &Store, id: u64, data: &[u8]) {
    let n = data.len();
    // Exactly the right size, and larger: the bytes past the payload stay.
    let mut buf = vec![FILL; n + 5];
    let r = store.retrieve_into(id, &mut buf);
    assert_eq!(
        r.ok(),
        Some(n),
        "id {id}: retrieve_into into {} bytes",
        n + 5
    );
    assert_eq!(
        &buf[..n],
        data,
        "id {id}: retrieve_into returned other bytes"
    );
    assert!(
        buf[n..].iter().all(|&b| b == FILL),
        "id {id}: wrote past the payload"
    );
    let mut exact = vec![FILL; n];
    assert_eq!(store.retrieve_into(id, &mut exact).ok(), Some(n));
    assert_eq!(exact, data);
    if n > 0 {
        let mut small = vec![FILL; n - 1];
        match store.retrieve_into(id, &mut small) {
            Err(Error::BufferTooSmall {
                id: eid,
                needed,
                capacity,
            }) => {
                assert_eq!((eid, needed, capacity), (id, n, n - 1));
            }
            other => panic!("id {id}: a too-small buffer gave {other:?}"),
        }
        assert!(
            small.iter().all(|&b| b == FILL),
            "id {id}: too-small buffer written"
        );
    }
}
