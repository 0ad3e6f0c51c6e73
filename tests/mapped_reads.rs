//! Reads through the memory map of the log (no system call) against reads
//! with `pread`: the same bytes for every record, a log that outgrows its
//! mappings while writers append, readers read and compactions switch
//! generations, records still in the `Durability::None` buffer, damage in a
//! mapped record, and a file system that cannot map (`FaultVfs`).
//!
//! Every test lowers the first mapping's reservation to 4 KiB (a process-
//! wide setting, the same in every test), so logs outgrow their mappings
//! after a few records.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use walstore::vfs::FaultVfs;
use walstore::{Durability, ErrorKind, Options, Store};
mod common;
use common::{tmp, wait_for};

const HDR: u64 = walstore::format::RECORD_HEADER_LEN as u64;

fn small_maps() {
    Store::set_min_map_reservation(4096);
}

fn opts(d: Durability) -> Options {
    let mut o = Options::default();
    o.set_durability(d).set_auto_snapshot(false);
    o
}

fn log_path(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap()
}

/// A payload that names its id and version, so a reader can check any
/// version it finds. Lengths vary from 16 to 1215 bytes.
fn value(id: u64, version: u64) -> Vec<u8> {
    let len = 16 + ((id * 7919 + version * 104_729) % 1200) as usize;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&version.to_le_bytes());
    v.extend((16..len).map(|i| (id as usize ^ version as usize ^ i) as u8));
    v
}

fn check(id: u64, v: &[u8]) {
    assert!(v.len() >= 16, "id {id}: {} bytes", v.len());
    let version = u64::from_le_bytes(v[8..16].try_into().unwrap());
    assert!(v == value(id, version), "id {id}: not a value of it");
}

/// Every live id reads the same through the map, through pread and through
/// `retrieve` and `retrieve_into`; returns how many the map served.
fn assert_map_matches_pread(s: &Store, want: &BTreeMap<u64, Vec<u8>>) -> usize {
    let mut mapped = 0;
    let mut buf = vec![0u8; 2048];
    for (&id, v) in want {
        let by_pread = s.retrieve_via(id, false).unwrap().unwrap();
        assert_eq!(&by_pread, v, "id {id} by pread");
        if let Some(by_map) = s.retrieve_via(id, true).unwrap() {
            assert_eq!(by_map, by_pread, "id {id}: map and pread differ");
            mapped += 1;
        }
        assert_eq!(&s.retrieve(id).unwrap(), v, "id {id}");
        let n = s.retrieve_into(id, &mut buf).unwrap();
        assert_eq!(&buf[..n], &v[..], "id {id} into a buffer");
    }
    mapped
}

#[test]
fn map_and_pread_read_every_record_alike() {
    small_maps();
    let dir = tmp();
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    let mut want = BTreeMap::new();
    for id in 0..1500u64 {
        want.insert(id, value(id, 0));
        s.store(id, &want[&id]).unwrap();
        // Read as it grows: each read maps what the log holds then.
        if id % 100 == 0 {
            assert_eq!(s.retrieve_via(id, true).unwrap().as_ref(), want.get(&id));
        }
    }
    // Overwrites, deletes, empty payloads and batches.
    for id in (0..1500u64).step_by(3) {
        want.insert(id, value(id, 1));
        s.store(id, &want[&id]).unwrap();
    }
    for id in (1..1500u64).step_by(7) {
        want.remove(&id);
        s.delete(id).unwrap();
    }
    for id in 2000..2010u64 {
        want.insert(id, Vec::new());
        s.store(id, &[]).unwrap();
    }
    let batch: Vec<(u64, Vec<u8>)> = (3000..3100).map(|id| (id, value(id, 2))).collect();
    let refs: Vec<(u64, &[u8])> = batch.iter().map(|(id, v)| (*id, &v[..])).collect();
    s.store_batch(&refs).unwrap();
    want.extend(batch);

    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    let (maps, readable) = s.log_mappings();
    assert!(
        maps.len() > 1,
        "the log outgrew its first mapping: {maps:?}"
    );
    assert!(maps.windows(2).all(|w| w[1] > w[0]), "{maps:?}");
    assert_eq!(readable, s.log_position());
    s.close().unwrap();

    // Reopened: the whole replayed log is readable through the map.
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    assert!(s.log_mappings().0.is_empty(), "mapped only when first read");
    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    assert_eq!(s.log_mappings().0.len(), 1);
    s.close().unwrap();
}

#[test]
fn a_file_system_that_cannot_map_reads_with_pread() {
    small_maps();
    let dir = tmp();
    let s = Store::open_with_vfs(FaultVfs::new(), dir.path(), &opts(Durability::Flush)).unwrap();
    for id in 0..200u64 {
        s.store(id, &value(id, 0)).unwrap();
    }
    for id in 0..200u64 {
        assert_eq!(s.retrieve_via(id, true).unwrap(), None, "id {id}");
        assert_eq!(s.retrieve(id).unwrap(), value(id, 0));
    }
    assert!(s.log_mappings().0.is_empty());
    s.close().unwrap();
}

#[test]
fn reads_follow_a_growing_log_across_mappings_and_compactions() {
    small_maps();
    let dir = tmp();
    let s = Arc::new(Store::open(dir.path(), &opts(Durability::Flush)).unwrap());
    // Ids below `acked` have been stored (some several times).
    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Every `STEP` ids the writer names its newest id in `checkpoint` and
    // waits until each reader has read it (`served`). This ties the test to
    // no machine's speed: readers read the log's end at 30 points of its
    // growth however fast the writer runs, so the log outgrows its first
    // mapping (each covers at most twice what the log held when it was
    // made) while being read, before the first compaction at IDS / 4.
    let checkpoint = Arc::new(AtomicU64::new(0));
    let served: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    const IDS: u64 = 6000;
    const STEP: u64 = 200;

    let writer = {
        let (s, acked) = (s.clone(), acked.clone());
        let (checkpoint, served) = (checkpoint.clone(), served.clone());
        thread::spawn(move || {
            let mut maps_before_first_compaction = 0;
            for id in 0..IDS {
                s.store(id, &value(id, 0)).unwrap();
                acked.store(id + 1, Ordering::Release);
                if id % 5 == 0 {
                    // An overwrite leaves dead bytes for compaction.
                    let old = id / 2;
                    s.store(old, &value(old, id)).unwrap();
                }
                if (id + 1) % STEP == 0 {
                    checkpoint.store(id + 1, Ordering::Release);
                    wait_for("readers reading the log's end", || {
                        served.iter().all(|r| r.load(Ordering::Acquire) == id + 1)
                    });
                    if id + 1 < IDS / 4 {
                        maps_before_first_compaction = s.log_mappings().0.len();
                    }
                }
            }
            maps_before_first_compaction
        })
    };
    let readers: Vec<_> = (0..2usize)
        .map(|r| {
            let (s, acked, done) = (s.clone(), acked.clone(), done.clone());
            let (checkpoint, served) = (checkpoint.clone(), served.clone());
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ r as u64;
                let mut checkpoints = 0u64;
                let mut buf = vec![0u8; 2048];
                while !done.load(Ordering::Acquire) {
                    let c = checkpoint.load(Ordering::Acquire);
                    let n = acked.load(Ordering::Acquire);
                    let id = if c > served[r].load(Ordering::Relaxed) {
                        c - 1
                    } else if n == 0 {
                        thread::yield_now();
                        continue;
                    } else {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly the newest records, which need the newest map.
                        if x & 1 == 0 {
                            n - 1 - (x >> 8) % n.min(50)
                        } else {
                            (x >> 8) % n
                        }
                    };
                    let v = s.retrieve(id).unwrap();
                    check(id, &v);
                    let len = s.retrieve_into(id, &mut buf).unwrap();
                    check(id, &buf[..len]);
                    if c > served[r].load(Ordering::Relaxed) && id == c - 1 {
                        served[r].store(c, Ordering::Release);
                        checkpoints += 1;
                    }
                }
                checkpoints
            })
        })
        .collect();
    let compactor = {
        let (s, acked) = (s.clone(), acked.clone());
        thread::spawn(move || {
            let mut generations = Vec::new();
            for at in [IDS / 4, IDS / 2, 3 * IDS / 4] {
                while acked.load(Ordering::Acquire) < at {
                    thread::yield_now();
                }
                generations.push(s.compact().unwrap().generation);
            }
            generations
        })
    };
    let maps_before_first_compaction = writer.join().unwrap();
    let generations = compactor.join().unwrap();
    done.store(true, Ordering::Release);
    for r in readers {
        assert_eq!(
            r.join().unwrap(),
            IDS / STEP,
            "checkpoints each reader served"
        );
    }
    assert_eq!(generations, vec![2, 3, 4]);
    assert!(
        maps_before_first_compaction > 1,
        "the first log outgrew its first mapping while read: {maps_before_first_compaction}"
    );

    // Everything reads back the same both ways.
    let want: BTreeMap<u64, Vec<u8>> = s.iter().map(|r| r.unwrap()).collect();
    assert_eq!(want.len() as u64, IDS);
    want.iter().for_each(|(id, v)| check(*id, v));
    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    // (The last generation may fit its first mapping: each mapping
    // reserves at least twice what the log holds when it is made.)
    let (maps, readable) = s.log_mappings();
    assert!(!maps.is_empty());
    assert_eq!(readable, s.log_position());
}

#[test]
fn a_reader_of_the_replaced_generation_reads_it_through_its_map() {
    small_maps();
    let dir = tmp();
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    let mut want = BTreeMap::new();
    for id in 0..500u64 {
        want.insert(id, value(id, 0));
        s.store(id, &want[&id]).unwrap();
        s.store(id, &value(id, 1)).unwrap();
        want.insert(id, value(id, 1));
    }
    // Map the log, then capture it in an iterator.
    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    let old_log = log_path(dir.path());
    let mut it = s.iter();
    let first = it.next().unwrap().unwrap();
    s.compact().unwrap();
    assert!(!old_log.exists(), "the replaced log is unlinked");
    // The iterator reads the unlinked, still mapped old generation.
    let rest: Vec<(u64, Vec<u8>)> = it.map(|r| r.unwrap()).collect();
    let seen: BTreeMap<u64, Vec<u8>> = std::iter::once(first).chain(rest).collect();
    assert_eq!(seen, want);
    // And the new generation through its own map.
    assert!(s.log_mappings().0.is_empty());
    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    s.close().unwrap();
}

#[test]
fn a_cursor_kept_past_close_reads_with_pread() {
    small_maps();
    let dir = tmp();
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    for id in 0..50u64 {
        s.store(id, &value(id, 0)).unwrap();
    }
    let mut cursor = s.cursor();
    let mut buf = Vec::new();
    assert_eq!(cursor.next_into(&s, &mut buf).unwrap().unwrap(), 0);
    s.close().unwrap();
    // The lock is gone: another open could cut the log's tail, so the
    // cursor's log no longer reads through its map. Cut it here, pages
    // below what the closed store had mapped, as such an open would (a
    // mapped read of those pages would raise SIGBUS).
    let log = log_path(dir.path());
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > 5 * 4096);
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len / 4)
        .unwrap();
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    let mut read = 1;
    let mut past_the_end = 0;
    while let Some(r) = cursor.next_into(&s, &mut buf) {
        match r {
            Ok(id) => {
                check(id, &buf);
                read += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
                past_the_end += 1;
            }
        }
    }
    assert_eq!(read + past_the_end, 50);
    assert!(past_the_end > 0 && read > 1, "{read} {past_the_end}");
    s.close().unwrap();
}

#[test]
fn records_in_the_none_buffer_are_read_from_it_not_the_map() {
    small_maps();
    let dir = tmp();
    let mut o = opts(Durability::None);
    o.set_write_buffer(64 << 10).unwrap();
    let s = Store::open(dir.path(), &o).unwrap();
    let start = s.log_position();
    let mut want = BTreeMap::new();
    // Fits the buffer: nothing reaches the file yet.
    for id in 0..20u64 {
        want.insert(id, value(id, 0));
        s.store(id, &want[&id]).unwrap();
    }
    assert_eq!(s.log_mappings().1, start, "nothing below the watermark");
    for (&id, v) in &want {
        assert_eq!(&s.retrieve(id).unwrap(), v);
        assert_eq!(
            s.retrieve_via(id, true).unwrap(),
            None,
            "id {id} is buffered"
        );
    }
    // Past the buffer: the older records are flushed and mapped, the newest
    // stay buffered; both read.
    for id in 20..400u64 {
        want.insert(id, value(id, 0));
        s.store(id, &want[&id]).unwrap();
    }
    let (_, readable) = s.log_mappings();
    assert!(readable > start && readable < s.log_position());
    let mut buffered = 0;
    for (&id, v) in &want {
        assert_eq!(&s.retrieve(id).unwrap(), v, "id {id}");
        match s.retrieve_via(id, true).unwrap() {
            Some(m) => assert_eq!(&m, v, "id {id}"),
            None => buffered += 1,
        }
    }
    assert!(buffered > 0 && buffered < want.len(), "{buffered}");
    // After a sync every record reads through the map.
    s.sync().unwrap();
    assert_eq!(s.log_mappings().1, s.log_position());
    assert_eq!(assert_map_matches_pread(&s, &want), want.len());
    s.close().unwrap();
}

#[test]
fn a_flipped_byte_in_a_mapped_record_is_corruption() {
    small_maps();
    let dir = tmp();
    let s = Store::open(dir.path(), &opts(Durability::Flush)).unwrap();
    let mut offsets = BTreeMap::new();
    for id in 0..100u64 {
        offsets.insert(id, s.log_position());
        s.store(id, &value(id, 0)).unwrap();
    }
    for id in 0..100u64 {
        assert_eq!(s.retrieve_via(id, true).unwrap().unwrap(), value(id, 0));
    }
    let log = OpenOptions::new()
        .read(true)
        .write(true)
        .open(log_path(dir.path()))
        .unwrap();
    let flip = |at: u64| {
        let mut b = [0u8];
        log.read_exact_at(&mut b, at).unwrap();
        log.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    };
    // A payload byte, then a header byte (the id field), each of its own id.
    for (id, at) in [(40u64, offsets[&40] + HDR + 9), (70, offsets[&70] + 17)] {
        flip(at);
        let len = value(id, 0).len();
        for mapped in [true, false] {
            let err = s.retrieve_via(id, mapped).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corruption, "id {id}: {err}");
        }
        let err = s.retrieve(id).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "id {id}: {err}");
        // The caller's buffer holds zeros, never the unverified bytes.
        let mut buf = vec![0xAAu8; 2048];
        let err = s.retrieve_into(id, &mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "id {id}: {err}");
        assert!(
            buf[..len].iter().all(|&b| b == 0),
            "id {id}: buffer not zeroed"
        );
        // Neighbours are untouched; the byte put back reads intact again.
        assert_eq!(s.retrieve(id + 1).unwrap(), value(id + 1, 0));
        flip(at);
        assert_eq!(s.retrieve_via(id, true).unwrap().unwrap(), value(id, 0));
        assert_eq!(s.retrieve(id).unwrap(), value(id, 0));
    }
    s.close().unwrap();
}
