//! Compaction interrupted at each of its steps. A compaction's file
//! operations are counted once; then, for every k, a fresh store crashes
//! just before the k-th of them, as a process crash (files as the page
//! cache had them) and as a power loss (unsynced data and un-fsynced
//! directory changes lost, under several treatments). The reopened store
//! must read exactly what it held before, hold one complete generation
//! (old or new), and no leftover of the compaction; and with a failed step
//! instead of a crash, the handle either goes on with the old log or
//! refuses writes.

use std::collections::BTreeMap;
use std::path::Path;

use walstore::vfs::{CrashPolicy, FaultKind, FaultVfs, FileCrash, Op};
use walstore::{Durability, ErrorKind, Options, Store, WriteBatch};
mod common;
use common::tmp;

type Model = BTreeMap<u64, Vec<u8>>;

fn opts() -> Options {
    let mut o = Options::default();
    o.set_durability(Durability::Fsync).set_auto_snapshot(false);
    o
}

/// Overwrites, deletes of each kind and a snapshot: everything a
/// compaction has to fold.
fn populate(vfs: &FaultVfs, dir: &Path) -> (Store<FaultVfs>, Model) {
    let s = Store::open_with_vfs(vfs.clone(), dir, &opts()).unwrap();
    let mut want = Model::new();
    for round in 0..3u64 {
        let mut b = WriteBatch::new();
        for id in 0..40u64 {
            let v = format!("id {id} round {round}").into_bytes();
            b.store(id, &v);
            want.insert(id, v);
        }
        s.write_batch(&b).unwrap();
    }
    s.delete(3).unwrap();
    s.delete_range(10, 19).unwrap();
    for id in [3].into_iter().chain(10..20) {
        want.remove(&id);
    }
    s.snapshot().unwrap();
    s.store(50, b"after the snapshot").unwrap();
    want.insert(50, b"after the snapshot".to_vec());
    (s, want)
}

/// The directory after a writable open: one log, no leftovers. Returns
/// the generation of the log.
fn single_generation(dir: &Path) -> u64 {
    let mut logs = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".tmp"), "leftover {name}");
        if let Some(g) = name
            .strip_prefix("wal-")
            .and_then(|n| n.strip_suffix(".log"))
        {
            logs.push(u64::from_str_radix(g, 16).unwrap());
        }
    }
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0]
}

fn assert_reads(s: &Store, want: &Model) {
    let got: Model = s.iter().map(|r| r.unwrap()).collect();
    assert_eq!(&got, want);
    for id in 0..60u64 {
        match want.get(&id) {
            Some(v) => assert_eq!(&s.retrieve(id).unwrap(), v),
            None => assert_eq!(s.retrieve(id).unwrap_err().kind(), ErrorKind::NotFound),
        }
    }
}

fn compaction_ops(power_loss: bool) -> u64 {
    let t = tmp();
    let vfs = if power_loss {
        FaultVfs::with_power_loss()
    } else {
        FaultVfs::new()
    };
    let (s, _) = populate(&vfs, t.path());
    let before = vfs.total_ops();
    s.compact().unwrap();
    vfs.total_ops() - before
}

#[test]
fn a_crash_at_every_step_of_a_compaction_leaves_one_whole_generation() {
    let policies = |k: u64| {
        [
            CrashPolicy::Random(k),
            CrashPolicy::Every(FileCrash::Drop, k),
            CrashPolicy::Every(FileCrash::KeepAll, k),
            CrashPolicy::Every(FileCrash::Garbage, k),
        ]
    };
    for power_loss in [false, true] {
        let n = compaction_ops(power_loss);
        let (mut cases, mut old_kept, mut new_kept) = (0, 0, 0);
        for k in 1..=n + 1 {
            let runs: Vec<CrashPolicy> = if power_loss {
                policies(k).to_vec()
            } else {
                vec![CrashPolicy::Random(k)]
            };
            for policy in runs {
                let t = tmp();
                let vfs = if power_loss {
                    FaultVfs::with_power_loss()
                } else {
                    FaultVfs::new()
                };
                let (s, want) = populate(&vfs, t.path());
                vfs.crash_at(k, policy);
                let r = s.compact();
                drop(s);
                let ctx =
                    format!("power loss {power_loss}, crash before op {k} of {n}, {policy:?}");
                if k <= n {
                    assert!(vfs.crashed(), "{ctx}");
                } else {
                    // Past the last step: the compaction completed.
                    assert_eq!(r.as_ref().map(|r| r.generation).ok(), Some(2), "{ctx}");
                    vfs.crash_now(policy);
                }
                let s = Store::open(t.path(), &opts()).unwrap();
                assert_reads(&s, &want);
                match single_generation(t.path()) {
                    1 => old_kept += 1,
                    2 => new_kept += 1,
                    g => panic!("{ctx}: generation {g}"),
                }
                // It goes on: a write, and a compaction, then a reopen.
                s.store(99, b"later").unwrap();
                s.compact().unwrap();
                drop(s);
                let s = Store::open(t.path(), &opts()).unwrap();
                let mut more = want.clone();
                more.insert(99, b"later".to_vec());
                assert_reads(&s, &more);
                assert_eq!(s.retrieve(99).unwrap(), b"later", "{ctx}");
                cases += 1;
            }
        }
        println!(
            "compaction crash points ({}): {n} file operations per compaction, {cases} crashes; \
             reopened on the old generation {old_kept} times, on the new one {new_kept} times",
            if power_loss {
                "power loss"
            } else {
                "process crash"
            }
        );
        assert!(old_kept > 0 && new_kept > 0);
    }
}

/// A failed step (an errno, not a crash): before the rename the store goes
/// on with its old log and can compact again; a failed directory fsync
/// after the rename leaves the handle refusing writes; either way a reopen
/// reads exactly what was written.
#[test]
fn a_failed_step_of_a_compaction_loses_nothing() {
    let n = compaction_ops(false);
    let kinds = [
        Op::Open,
        Op::Read,
        Op::Write,
        Op::SyncData,
        Op::SyncAll,
        Op::SyncDir,
        Op::Rename,
        Op::Remove,
        Op::ListDir,
    ];
    let (mut tried, mut went_on, mut poisoned, mut cleanup_only) = (0, 0, 0, 0);
    for op in kinds {
        for nth in 1..=n {
            let t = tmp();
            let vfs = FaultVfs::new();
            let (s, mut want) = populate(&vfs, t.path());
            let count_before = vfs.count(op);
            vfs.fail_nth(op, nth, FaultKind::Errno(libc::EIO));
            let r = s.compact();
            vfs.clear();
            if vfs.count(op) < count_before + nth {
                // The compaction makes fewer calls of this kind.
                continue;
            }
            tried += 1;
            let ctx = format!("{op:?} #{nth} failed");
            match r {
                Ok(rep) => {
                    // Only removing the old generation failed.
                    assert!(rep.cleanup_error.is_some(), "{ctx}");
                    cleanup_only += 1;
                }
                Err(e) if e.kind() == ErrorKind::Io => {
                    let st = s.store(98, b"next");
                    match st {
                        Ok(()) => {
                            want.insert(98, b"next".to_vec());
                            went_on += 1;
                        }
                        Err(e2) => {
                            assert_eq!(e2.kind(), ErrorKind::Poisoned, "{ctx}: {e2}");
                            assert_eq!((op, nth), (Op::SyncDir, nth), "{ctx}");
                            poisoned += 1;
                        }
                    }
                }
                Err(e) => panic!("{ctx}: {e}"),
            }
            let got: Model = s.iter().map(|r| r.unwrap()).collect();
            assert_eq!(got, want, "{ctx}");
            drop(s);
            let s = Store::open(t.path(), &opts()).unwrap();
            assert_reads(&s, &want);
            single_generation(t.path());
        }
    }
    println!(
        "failed compaction steps: {tried} tried; went on with the old log {went_on}, poisoned \
         {poisoned}, compacted with a failed cleanup {cleanup_only}"
    );
    assert!(went_on > 0 && poisoned > 0 && cleanup_only > 0);
}

#[test]
fn a_poisoned_handle_refuses_to_compact_and_reads_on() {
    let t = tmp();
    let vfs = FaultVfs::new();
    let (s, want) = populate(&vfs, t.path());
    vfs.fail_nth(Op::SyncData, 1, FaultKind::Errno(libc::EIO));
    assert_eq!(s.store(77, b"lost?").unwrap_err().kind(), ErrorKind::Io);
    vfs.clear();
    let e = s.compact().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned);
    assert!(
        e.to_string()
            .starts_with("handle is poisoned and refuses writes"),
        "{e}"
    );
    let got: Model = s.iter().map(|r| r.unwrap()).collect();
    assert_eq!(got, want);
    drop(s);
    assert_eq!(single_generation(t.path()), 1);
}
