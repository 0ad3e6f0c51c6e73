//! `open_snapshot`: a small store written through the API (snapshots
//! included), its log possibly cut short as a crash would leave it, plus a
//! snapshot file from the input: raw bytes, the real snapshot with bytes
//! changed, or a forgery (fields changed, CRCs made valid again). It gets a
//! snapshot name of the right or a wrong generation and some position, and
//! the store is opened (writable and read-only, in a recovery mode from the
//! input).
//!
//! The reference is a full replay: the same log opened with every snapshot
//! file removed, which must itself equal the model of the writes the log
//! still holds. Unless the open trusted a snapshot whose bytes the store
//! never wrote (only a forgery with valid CRCs can pass the checks), the
//! open must give exactly the reference's outcome: same state, same torn
//! tail, same error. It must then use the real snapshot whenever that is
//! still on disk and inside the log, leave at most the snapshot it used
//! (writable), keep a new write across a reopen, and replay fully to the
//! same state. Even after trusting a forgery, no read may return bytes that
//! were never stored under that id.

use crate::history::{build, decode_ops, History};
use crate::logcheck::opts;
use crate::observe::{observe, Observed, Read};
use crate::util::{copy_dir, list, read, Reader, TmpDir, LOCK_NAME, LOG_NAME};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use walstore::format::names::snapshot_file_name;
use walstore::{Durability, ErrorKind, OpenReport, RecoveryMode, Store};

const HEADER: usize = 64;
const ENTRY: usize = 20;
const DAMAGED: u64 = 1 << 62;
/// Version 3: a page count after the header, then page images of 16 bytes
/// of head (page number, ids) and 256 slots of 12 (location with bit 63
/// occupied, bit 61 odd generation; length).
const IMAGES_AT: usize = HEADER + 8;
const IMAGE: usize = 16 + 256 * 12;
const OCCUPIED: u64 = 1 << 63;
const ODD_GENERATION: u64 = 1 << 61;

/// Where a snapshot-shaped file's entries start, and its page images
/// (none before version 3).
fn layout(b: &[u8]) -> (usize, usize) {
    let version = b
        .get(8..12)
        .map_or(0, |v| u32::from_le_bytes(v.try_into().unwrap()));
    if version < 3 || b.len() < IMAGES_AT {
        return (HEADER.min(b.len()), 0);
    }
    let pages = usize::try_from(get_u64(b, HEADER)).unwrap_or(usize::MAX);
    let start = pages
        .checked_mul(IMAGE)
        .and_then(|n| n.checked_add(IMAGES_AT));
    (start.unwrap_or(usize::MAX).min(b.len()), pages)
}

pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let durability = match r.u8() % 3 {
        0 => Durability::Fsync,
        1 => Durability::Flush,
        _ => Durability::None,
    };
    let ops = decode_ops(&mut r, 20, true);
    let tmp = TmpDir::new();
    let built = tmp.sub("built");
    let h = build(&built, &ops, durability);
    let real = h.snapshot.clone();

    // The log, possibly cut where a crash could leave it.
    let mut log_len = h.log.len();
    if r.u8() & 3 == 0 {
        let b = h.bounds[usize::from(r.u8()) % h.bounds.len()] as usize;
        log_len = log_len.min(b + usize::from(r.u8() % 40));
        let f = fs::OpenOptions::new()
            .write(true)
            .open(built.join(LOG_NAME))
            .expect("open log");
        f.set_len(log_len as u64).expect("truncate log");
    }
    let writes = h.bounds.iter().filter(|&&b| b as usize <= log_len).count() - 1;

    // The snapshot file under test.
    let mode = r.u8() % 4;
    let fuzz_file: Option<(String, Vec<u8>)> = if mode == 3 {
        None
    } else {
        let bytes = match (mode, &real) {
            (1, Some((_, _, b, _))) => mutate(&mut r, b.clone()),
            (2, _) => forge(&mut r, &h),
            _ => {
                let n = usize::from(r.u16() % 2048);
                r.bytes(n).to_vec()
            }
        };
        let generation = match r.u8() % 16 {
            0 => 2,
            1 => 0,
            _ => 1,
        };
        let position = match r.u8() % 4 {
            0 => real.as_ref().map_or(64, |s| s.0),
            1 => h.bounds[usize::from(r.u8()) % h.bounds.len()],
            2 => r.u64(),
            _ => real.as_ref().map_or(64, |s| s.0) + u64::from(r.u8()),
        };
        Some((snapshot_file_name(generation, position), bytes))
    };
    if let Some((name, bytes)) = &fuzz_file {
        fs::write(built.join(name), bytes).expect("write snapshot");
    }
    let recovery = match r.u8() % 3 {
        0 => RecoveryMode::Strict,
        1 => RecoveryMode::Salvage,
        _ => RecoveryMode::Absolute,
    };

    // Reference: a full replay of the same log, read-only.
    let full = tmp.sub("full");
    copy_dir(&built, &full);
    remove_snapshots(&full);
    let mut probe = h.ids.clone();
    if let Some((_, bytes)) = &fuzz_file {
        probe.extend(entry_ids(bytes));
    }
    let reference = open(&full, recovery, true, &probe, &h);
    if let Ok((obs, rep)) = &reference {
        assert!(rep.snapshot_used.is_none());
        assert_eq!(
            *obs,
            Observed::from_model(&h.models[writes]),
            "a full replay does not give the first {writes} writes"
        );
    } else if recovery != RecoveryMode::Absolute {
        panic!("a full replay of a cleanly cut log failed: {reference:?}");
    }

    // With the snapshots, writable.
    let rw_dir = tmp.sub("rw");
    copy_dir(&built, &rw_dir);
    let rw = open(&rw_dir, recovery, false, &probe, &h);
    let kept: Vec<String> = list(&rw_dir)
        .into_iter()
        .filter(|n| n.starts_with("snapshot-"))
        .collect();
    if let Ok((_, rep)) = &rw {
        assert_eq!(
            kept.len(),
            usize::from(rep.snapshot_used.is_some()),
            "a writable open kept snapshots it did not use: {kept:?}"
        );
    }
    // A snapshot file the store did not write that an open may have trusted
    // (a failed open leaves the one it chose, if any).
    let forged = kept
        .iter()
        .any(|n| real.as_ref().is_none_or(|s| read(&rw_dir.join(n)) != s.2));
    // And read-only, on another copy.
    let ro_dir = tmp.sub("ro");
    copy_dir(&built, &ro_dir);
    let before = list(&ro_dir);
    let ro = open(&ro_dir, recovery, true, &probe, &h);
    assert_eq!(
        list(&ro_dir),
        before,
        "a read-only open changed the directory"
    );
    same(&ro, &rw, "read-only vs writable");
    if forged {
        return;
    }
    same(&rw, &reference, "with the snapshot vs a full replay");
    let real_usable = real.as_ref().is_some_and(|(pos, name, bytes, _)| {
        *pos as usize <= log_len
            && (fuzz_file
                .as_ref()
                .is_none_or(|(n, b)| n != name || b == bytes))
    });
    if let (Ok((_, rep)), true) = (&rw, real_usable) {
        let pos = real.as_ref().unwrap().0;
        assert_eq!(
            rep.snapshot_used,
            Some(pos),
            "the real snapshot was not used"
        );
    }
    if let Ok((obs, rep)) = &rw {
        after_open(&rw_dir, recovery, obs, rep, &probe);
    }
}

fn remove_snapshots(dir: &Path) {
    for n in list(dir) {
        if n.starts_with("snapshot-") {
            fs::remove_file(dir.join(n)).expect("remove snapshot");
        }
    }
}

/// The ids a snapshot-shaped file names (whether or not it is valid), so
/// that a store built from it can be probed for every id it may hold.
fn entry_ids(b: &[u8]) -> Vec<u64> {
    let (start, _) = layout(b);
    let images = b.get(IMAGES_AT.min(start)..start).unwrap_or(&[]);
    let imaged = images.chunks_exact(IMAGE).flat_map(|image| {
        let first = get_u64(image, 0).wrapping_shl(8);
        let slots = image[16..].chunks_exact(12).enumerate();
        slots
            .filter(|(_, s)| get_u64(s, 0) != 0)
            .map(move |(k, _)| first.wrapping_add(k as u64))
    });
    let entries = b[start..].chunks_exact(ENTRY).map(|c| get_u64(c, 0));
    imaged.chain(entries).collect()
}

type Open = Result<(Observed, OpenReport), ErrorKind>;

fn open(dir: &Path, mode: RecoveryMode, ro: bool, probe: &BTreeSet<u64>, h: &History) -> Open {
    let st = match Store::open(dir, &opts(mode, ro)) {
        Ok(s) => s,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Corruption | ErrorKind::Incompatible),
                "open failed with {:?}: {e}",
                e.kind()
            );
            return Err(e.kind());
        }
    };
    let obs = observe(&st, probe);
    for (id, r) in &obs.ids {
        if let Read::Data(d) = r {
            assert!(
                h.versions.get(id).is_some_and(|v| v.contains(d)),
                "id {id}: {} bytes that were never stored under it",
                d.len()
            );
        }
    }
    let rep = st.open_report().clone();
    st.close().expect("close");
    Ok((obs, rep))
}

fn same(a: &Open, b: &Open, what: &str) {
    match (a, b) {
        (Ok((oa, ra)), Ok((ob, rb))) => {
            assert_eq!(oa, ob, "{what}: different states");
            let t = |r: &OpenReport| r.torn_tail.as_ref().map(|t| (t.offset, t.bytes));
            assert_eq!(t(ra), t(rb), "{what}: different torn tails");
        }
        (Err(ka), Err(kb)) => assert_eq!(ka, kb, "{what}: different errors"),
        _ => panic!(
            "{what}: {:?} vs {:?}",
            a.as_ref().map(|o| &o.1.snapshot_used),
            b.as_ref().map(|o| &o.1.snapshot_used)
        ),
    }
}

/// After a trusted open: a reopen gives the same state with no tail; a new
/// write survives a close and a reopen; a full replay agrees.
fn after_open(
    dir: &Path,
    mode: RecoveryMode,
    obs: &Observed,
    rep: &OpenReport,
    probe: &BTreeSet<u64>,
) {
    let id = 0x5eed_0000_0000_0001;
    let st = Store::open(dir, &opts(mode, false)).expect("reopen");
    assert!(
        st.open_report().torn_tail.is_none(),
        "torn tail on the second open"
    );
    assert_eq!(
        st.open_report().snapshot_used,
        rep.snapshot_used,
        "second open"
    );
    assert_eq!(
        &observe(&st, probe),
        obs,
        "the second open gives another state"
    );
    st.store(id, b"probe").expect("write");
    if st.log_position() & 1 == 0 {
        st.snapshot().expect("snapshot after recovery");
    }
    st.close().expect("close");
    let mut probe = probe.clone();
    probe.insert(id);
    let mut want = obs.clone();
    want.ids.insert(id, Read::Data(b"probe".to_vec()));
    let st = Store::open(dir, &opts(mode, false)).expect("open after a write");
    assert_eq!(
        observe(&st, &probe),
        want,
        "the write after recovery, or older state, lost"
    );
    st.close().expect("close");
    let full = dir.with_extension("full");
    copy_dir(dir, &full);
    remove_snapshots(&full);
    let st = Store::open(&full, &opts(mode, true)).expect("full replay after a write");
    assert_eq!(
        observe(&st, &probe),
        want,
        "a full replay disagrees with the snapshot"
    );
    drop(st);
    let _ = fs::remove_dir_all(&full);
    assert!(list(dir).contains(&LOCK_NAME.to_string()));
}

/// The real snapshot with bytes changed, CRCs left as they are.
fn mutate(r: &mut Reader, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + r.u8() % 4 {
        let len = b.len();
        let at = |v: u16| if len == 0 { 0 } else { usize::from(v) % len };
        match r.u8() % 4 {
            0 => {
                let o = at(r.u16());
                if len > 0 {
                    b[o] ^= r.u8().max(1);
                }
            }
            1 => b.truncate(usize::from(r.u16()) % (len + 1)),
            2 => {
                let n = usize::from(r.u8());
                b.extend_from_slice(r.bytes(n));
            }
            _ => {
                let o = at(r.u16());
                if len > 0 {
                    b[o] = r.u8();
                }
            }
        }
    }
    b
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A snapshot with valid CRCs whose fields the input changed: the real one
/// if there is one, else an empty one at the start of the log.
fn forge(r: &mut Reader, h: &History) -> Vec<u8> {
    let mut b = match &h.snapshot {
        Some((_, _, bytes, _)) => bytes.clone(),
        None => {
            let mut b = vec![0u8; IMAGES_AT];
            b[..8].copy_from_slice(b"WALSSNAP");
            b[8..12].copy_from_slice(&3u32.to_le_bytes());
            put_u64(&mut b, 16, h.log_id);
            put_u64(&mut b, 24, 1);
            put_u64(&mut b, 32, 64);
            b
        }
    };
    let offsets: Vec<u64> = h.recs.iter().map(|x| x.offset).collect();
    for _ in 0..1 + r.u8() % 4 {
        let (start, pages) = layout(&b);
        let n = (b.len() - start) / ENTRY;
        let e = |i: u8| start + ENTRY * (usize::from(i) % n.max(1));
        match r.u8() % 10 {
            // A page image of a few ids before the entries, usually valid.
            8 if start >= IMAGES_AT => {
                let mut image = vec![0u8; IMAGE];
                let page = crate::history::id_from(r.u8()) >> 8;
                put_u64(&mut image, 0, page);
                let mut ids = 0u32;
                for _ in 0..1 + r.u8() % 4 {
                    let slot = 16 + 12 * usize::from(r.u8());
                    let off = offsets.get(usize::from(r.u8()) % offsets.len().max(1));
                    let parity = if r.u8() % 8 == 0 { 0 } else { ODD_GENERATION };
                    ids += u32::from(get_u64(&image, slot) == 0);
                    put_u64(
                        &mut image,
                        slot,
                        OCCUPIED | parity | off.copied().unwrap_or(64),
                    );
                    image[slot + 8..slot + 12].copy_from_slice(&u32::from(r.u8()).to_le_bytes());
                }
                ids -= u32::from(r.u8() % 8 == 0);
                image[8..12].copy_from_slice(&ids.to_le_bytes());
                b.splice(start..start, image);
                put_u64(&mut b, HEADER, pages as u64 + 1);
            }
            0 if n > 0 => {
                let at = e(r.u8());
                b.drain(at..at + ENTRY);
            }
            1 => {
                let mut entry = [0u8; ENTRY];
                entry[..8].copy_from_slice(&crate::history::id_from(r.u8()).to_le_bytes());
                let off = offsets.get(usize::from(r.u8()) % offsets.len().max(1));
                entry[8..16].copy_from_slice(&off.copied().unwrap_or(64).to_le_bytes());
                entry[16..20].copy_from_slice(&u32::from(r.u8()).to_le_bytes());
                b.extend_from_slice(&entry);
            }
            2 if n > 0 => {
                let at = e(r.u8());
                let off = offsets.get(usize::from(r.u8()) % offsets.len().max(1));
                let off = off.copied().unwrap_or(64) + u64::from(r.u8() % 4);
                put_u64(&mut b, at + 8, off);
            }
            3 if n > 0 => {
                let at = e(r.u8());
                let len = u32::from(r.u16());
                b[at + 16..at + 20].copy_from_slice(&len.to_le_bytes());
            }
            4 if n > 0 => {
                let at = e(r.u8());
                let loc = get_u64(&b, at + 8) ^ DAMAGED;
                put_u64(&mut b, at + 8, loc);
            }
            5 if n > 0 => {
                let at = e(r.u8());
                put_u64(&mut b, at, crate::history::id_from(r.u8()));
            }
            6 => {
                let pos = match r.u8() % 3 {
                    0 => h.bounds[usize::from(r.u8()) % h.bounds.len()],
                    1 => get_u64(&b, 32) + u64::from(r.u8() % 40),
                    _ => r.u64(),
                };
                put_u64(&mut b, 32, pos);
            }
            7 => {
                let seq = get_u64(&b, 40);
                let v = match r.u8() % 3 {
                    0 => seq.wrapping_add(1 + u64::from(r.u8() % 8)),
                    1 => seq.saturating_sub(1 + u64::from(r.u8() % 8)),
                    _ => r.u64(),
                };
                put_u64(&mut b, 40, v);
            }
            _ => {
                let (at, v) = (usize::from(r.u8()) % HEADER, r.u8());
                if !(56..64).contains(&at) {
                    b[at] = v;
                }
            }
        }
    }
    let count = ((b.len() - layout(&b).0) / ENTRY) as u64;
    put_u64(&mut b, 48, count);
    let id = get_u64(&b, 16);
    let mut c = crc32fast::Hasher::new();
    c.update(&id.to_le_bytes());
    c.update(&b[HEADER..]);
    let ec = c.finalize();
    b[56..60].copy_from_slice(&ec.to_le_bytes());
    let hc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&hc.to_le_bytes());
    b
}
