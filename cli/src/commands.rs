//! The commands. Each one opens the store read-only or runs
//! `walstore::verify` (except `compact`, which opens it writable), writes
//! its report to `out`, and returns the exit code, or a `Failure` whose
//! lines go to stderr.

use crate::code;
use crate::progress::Progress;
use crate::Failure;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use walstore::recovery::Damage;
use walstore::{CompactReport, Error, ErrorKind, Options, RecoveryMode, Store, StoreVerification};

/// The first record's offset: the log's file header comes before it.
const LOG_HEADER_BYTES: u64 = walstore::format::FILE_HEADER_LEN as u64;

pub fn verify(dir: &Path, out: &mut dyn Write) -> Result<u8, Failure> {
    let mut bar = Progress::for_stderr();
    let result = walstore::verify(dir, &mut |done, total| bar.update(done, total));
    bar.finish();
    let v = result.map_err(|e| failure(dir, "cannot verify the store in", e, None))?;
    write_out(out, verify_report(&v))?;
    Ok(if v.is_clean() {
        code::OK
    } else {
        code::DAMAGED_OR_NOT_FOUND
    })
}

/// The text `verify` prints: every damaged region, every snapshot's
/// verdict, counts and a one-line result.
pub fn verify_report(v: &StoreVerification) -> String {
    let mut s = String::new();
    let log = &v.log;
    let _ = writeln!(s, "log: {} ({} bytes)", v.log_path.display(), log.file_len);
    if let Some(problem) = &v.header_problem {
        let _ = writeln!(s, "log header: DAMAGED: {problem}");
        let _ = writeln!(
            s,
            "result: DAMAGED: the log header is unusable, so no record was checked"
        );
        return s;
    }
    for d in &log.damage {
        let _ = writeln!(s, "{}", damage_line(d));
    }
    if v.snapshots.is_empty() {
        let _ = writeln!(s, "snapshots: none");
    }
    for (path, verdict) in &v.snapshots {
        match verdict {
            Ok(pos) => {
                let _ = writeln!(
                    s,
                    "snapshot {}: valid, covers the log up to offset {pos}",
                    path.display()
                );
            }
            Err(why) => {
                let _ = writeln!(s, "snapshot {}: REJECTED: {why}", path.display());
            }
        }
    }
    let damaged: u64 = log.damage.iter().map(|d| d.length).sum();
    let intact = log
        .file_len
        .saturating_sub(LOG_HEADER_BYTES)
        .saturating_sub(damaged)
        .saturating_sub(log.free_bytes);
    let mut counts = vec![
        plural(log.stores, "store", "stores"),
        plural(log.deletes, "delete", "deletes"),
        plural(log.batches, "batch", "batches"),
    ];
    if log.range_deletes > 0 {
        counts.push(plural(log.range_deletes, "range delete", "range deletes"));
    }
    if log.damaged_markers > 0 {
        counts.push(plural(
            log.damaged_markers,
            "damaged marker",
            "damaged markers",
        ));
    }
    let _ = writeln!(s, "records: {}", counts.join(", "));
    let free = if log.free_bytes > 0 {
        format!(", {} free (allocated ahead of appends)", log.free_bytes)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "bytes: {} in the log: {LOG_HEADER_BYTES} header, {intact} in intact records, \
         {damaged} damaged{free}",
        log.file_len
    );
    let mut problems = Vec::new();
    if !log.damage.is_empty() {
        let tail = if log.damage.last().is_some_and(|d| d.at_tail) {
            " (the last is a torn tail)"
        } else {
            ""
        };
        problems.push(format!(
            "{}, {damaged} bytes{tail}",
            plural(log.damage.len() as u64, "damaged region", "damaged regions")
        ));
    }
    let rejected = v.snapshots.iter().filter(|(_, r)| r.is_err()).count();
    if rejected > 0 {
        problems.push(format!(
            "{rejected} of {} rejected",
            plural(v.snapshots.len() as u64, "snapshot", "snapshots")
        ));
    }
    if problems.is_empty() {
        let _ = writeln!(s, "result: clean");
    } else {
        let _ = writeln!(s, "result: DAMAGED: {}", problems.join("; "));
    }
    s
}

fn damage_line(d: &Damage) -> String {
    let id = match d.id {
        Some(id) => format!("id {id}"),
        None => "id unknown".to_owned(),
    };
    let tail = if d.at_tail {
        ", torn tail: a writable open saves it to a side file and cuts it"
    } else {
        ""
    };
    format!(
        "damage at offset {} ({} bytes, {id}{tail}): {}",
        d.offset, d.length, d.what
    )
}

pub fn stats(dir: &Path, salvage: bool, out: &mut dyn Write) -> Result<u8, Failure> {
    let store = open(dir, salvage, "stats")?;
    write_out(out, stats_report(&store, salvage))?;
    Ok(code::OK)
}

/// The key column of `stats`, wide enough for the longest key.
const KEY_WIDTH: usize = 21;

pub fn stats_report(store: &Store, salvage: bool) -> String {
    let r = store.open_report();
    let st = store.stats();
    let mut lines: Vec<(&str, String)> = vec![
        ("store", store.dir().display().to_string()),
        ("log", r.log_path.display().to_string()),
        (
            "opened",
            format!("read-only, {} recovery", mode_name(salvage)),
        ),
        ("live ids", st.live_ids.to_string()),
    ];
    if st.log_bytes < LOG_HEADER_BYTES {
        // A read-only open of a log that never got its complete header
        // (what a crash while it was created leaves) sees an empty store.
        lines.insert(
            2,
            (
                "log header",
                "incomplete (a crash while the log was created): no record; a writable open \
                 starts the log afresh"
                    .to_owned(),
            ),
        );
    }
    let mut damaged_ids = store.damaged_ids();
    if !damaged_ids.is_empty() {
        damaged_ids.sort_unstable();
        let ids: Vec<String> = damaged_ids.iter().map(u64::to_string).collect();
        lines.push(("damaged ids", ids.join(", ")));
    }
    lines.extend([
        ("live payload bytes", st.live_bytes.to_string()),
        ("log bytes", st.log_bytes.to_string()),
        (
            "dead bytes",
            format!(
                "{} ({:.1}% of the record bytes serve no live id)",
                st.dead_bytes,
                st.dead_ratio * 100.0
            ),
        ),
        ("snapshot position", st.snapshot_position.to_string()),
        ("index memory bytes", st.index_memory_bytes.to_string()),
        ("records replayed", r.records_replayed.to_string()),
        ("damaged records", r.damaged_records.to_string()),
        (
            "snapshot used",
            match r.snapshot_used {
                Some(pos) => format!("up to offset {pos} (the open replayed the log after it)"),
                None => "none (the open replayed the whole log)".to_owned(),
            },
        ),
    ]);
    for why in &r.snapshots_rejected {
        lines.push(("snapshot rejected", why.clone()));
    }
    lines.push((
        "torn tail",
        match &r.torn_tail {
            Some(t) => format!(
                "{} bytes at offset {} (left in place: a writable open saves it to a side \
                 file and cuts it)",
                t.bytes, t.offset
            ),
            None => "none".to_owned(),
        },
    ));
    lines.push((
        "open time",
        format!("{:.3} ms", r.duration.as_secs_f64() * 1000.0),
    ));
    let mut s = String::new();
    for (key, value) in lines {
        let _ = writeln!(s, "{:<KEY_WIDTH$}{value}", format!("{key}:"));
    }
    s
}

pub fn get(dir: &Path, id: u64, salvage: bool, out: &mut dyn Write) -> Result<u8, Failure> {
    let store = open(dir, salvage, "get")?;
    match store.retrieve(id) {
        Ok(payload) => {
            write_out(out, &payload)?;
            Ok(code::OK)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Failure::new(
            code::DAMAGED_OR_NOT_FOUND,
            format!("id {id} not found in {}", dir.display()),
        )),
        Err(e) if e.kind() == ErrorKind::Corruption => Err(Failure::new(
            code::DAMAGED_OR_NOT_FOUND,
            format!("cannot read id {id}: {e}"),
        )
        .with(format!(
            "`walstore verify {}` lists every damaged region",
            dir.display()
        ))),
        Err(e) => Err(Failure::new(
            code::ERROR,
            format!("cannot read id {id}: {e}"),
        )),
    }
}

/// Every live id in id order with its payload length (and the payload in
/// hex), read and CRC-checked one by one. stdout gets only intact entries;
/// each entry that cannot be read goes to stderr as it comes, and the exit
/// code is 1 (or 4 for an error other than corruption) once the listing is
/// done.
pub fn dump(dir: &Path, hex: bool, salvage: bool, out: &mut dyn Write) -> Result<u8, Failure> {
    let store = open(dir, salvage, "dump")?;
    let mut out = io::BufWriter::new(out);
    let mut cursor = store.cursor();
    let total = cursor.remaining();
    let mut payload = Vec::new();
    let mut line = String::new();
    let mut exit = code::OK;
    let mut unreadable = 0usize;
    while let Some(entry) = cursor.next_into(&store, &mut payload) {
        line.clear();
        match entry {
            Ok(id) => {
                let _ = write!(
                    line,
                    "id {id}: {}",
                    plural(payload.len() as u64, "byte", "bytes")
                );
                if hex && !payload.is_empty() {
                    line.push_str(": ");
                    for b in &payload {
                        let _ = write!(line, "{b:02x}");
                    }
                }
                line.push('\n');
                out.write_all(line.as_bytes()).map_err(stdout_failure)?;
            }
            Err(e) => {
                unreadable += 1;
                exit = exit.max(if e.kind() == ErrorKind::Corruption {
                    code::DAMAGED_OR_NOT_FOUND
                } else {
                    code::ERROR
                });
                // In order with stdout on a terminal. The message names the
                // id: the cursor does not hand it out with an error.
                out.flush().map_err(stdout_failure)?;
                let _ = writeln!(io::stderr(), "walstore: cannot read an entry: {e}");
            }
        }
    }
    out.flush().map_err(stdout_failure)?;
    if unreadable == 0 {
        return Ok(code::OK);
    }
    Err(Failure::new(
        exit,
        format!(
            "{unreadable} of {total} entries could not be read; `walstore verify {}` lists \
             every damaged region",
            dir.display()
        ),
    ))
}

pub fn compact(dir: &Path, salvage: bool, out: &mut dyn Write) -> Result<u8, Failure> {
    // A writable open would create a missing store: a read-only one first
    // makes sure there is one, and changes nothing.
    drop(open(dir, salvage, "compact")?);
    let mut opts = Options::default();
    // Nothing else runs in the background while the command works.
    opts.set_auto_snapshot(false)
        .set_auto_compact(0.0, 0)
        .expect("0 turns automatic compaction off");
    if salvage {
        opts.set_recovery(RecoveryMode::Salvage);
    }
    let store = Store::open(dir, &opts).map_err(|e| {
        failure(
            dir,
            "cannot open the store in",
            e,
            Some(("compact", salvage)),
        )
    })?;
    let report = store
        .compact()
        .map_err(|e| failure(dir, "cannot compact the store in", e, None))?;
    store
        .close()
        .map_err(|e| failure(dir, "cannot close the store in", e, None))?;
    write_out(out, compact_report(dir, &report))?;
    Ok(code::OK)
}

/// The text `compact` prints.
pub fn compact_report(dir: &Path, r: &CompactReport) -> String {
    let reclaimed = r.bytes_before.saturating_sub(r.bytes_after);
    let percent = if r.bytes_before == 0 {
        0.0
    } else {
        reclaimed as f64 * 100.0 / r.bytes_before as f64
    };
    let mut s = String::new();
    let _ = writeln!(s, "store:            {}", dir.display());
    let _ = writeln!(
        s,
        "generation:       {} -> {}",
        r.generation - 1,
        r.generation
    );
    let _ = writeln!(
        s,
        "log bytes:        {} -> {} ({reclaimed} reclaimed, {percent:.1}%)",
        r.bytes_before, r.bytes_after
    );
    let _ = writeln!(s, "live ids:         {}", r.live_ids);
    let _ = writeln!(s, "folded sequence:  {}", r.folded_seq);
    if let Some(e) = &r.cleanup_error {
        let _ = writeln!(
            s,
            "cleanup:          {e} (the next open removes what is left)"
        );
    }
    let _ = writeln!(s, "took:             {} ms", r.duration.as_millis());
    s
}

/// A read-only open, STRICT unless `salvage`.
fn open(dir: &Path, salvage: bool, command: &str) -> Result<Store, Failure> {
    let mut opts = Options::default();
    opts.set_read_only(true);
    if salvage {
        opts.set_recovery(RecoveryMode::Salvage);
    }
    Store::open(dir, &opts)
        .map_err(|e| failure(dir, "cannot open the store in", e, Some((command, salvage))))
}

fn mode_name(salvage: bool) -> &'static str {
    if salvage {
        "SALVAGE"
    } else {
        "STRICT"
    }
}

/// The failure for an error of `verify` or of an open: locked (3),
/// corruption (1, with what to run next), anything else (4). `open` is the
/// command and whether it asked for SALVAGE, for an open's failure.
fn failure(dir: &Path, doing: &str, e: Error, open: Option<(&str, bool)>) -> Failure {
    let shown = dir.display();
    match &e {
        Error::Locked { path } => {
            return Failure::new(
                code::LOCKED,
                format!(
                    "store is locked by a writer: {} is held by a writable open. walstore \
                     never waits for it: run it again once the writer has closed the store",
                    path.display()
                ),
            )
        }
        Error::Io { path, source, .. }
            if source.kind() == io::ErrorKind::NotFound
                && path.file_name().is_some_and(|n| n == "LOCK") =>
        {
            return Failure::new(code::ERROR, format!("{doing} {shown}: {e}")).with(format!(
                "{shown} has no LOCK file: it is not a walstore directory, or no writable \
                 open has used it yet"
            ))
        }
        _ => {}
    }
    if e.kind() != ErrorKind::Corruption {
        return Failure::new(code::ERROR, format!("{doing} {shown}: {e}"));
    }
    let f = Failure::new(code::DAMAGED_OR_NOT_FOUND, format!("{doing} {shown}: {e}"));
    match open {
        Some((command, false)) => f.with(format!(
            "a STRICT open refuses a log with damage before its last valid record. \
             `walstore verify {shown}` lists every damaged region; \
             `walstore {command} --salvage {shown}` opens the store with the damaged ids marked"
        )),
        Some((_, true)) => f.with(format!(
            "SALVAGE passes over only damaged records whose header is intact. \
             `walstore verify {shown}` lists every damaged region"
        )),
        None => f,
    }
}

fn write_out(out: &mut dyn Write, bytes: impl AsRef<[u8]>) -> Result<(), Failure> {
    out.write_all(bytes.as_ref()).map_err(stdout_failure)
}

pub fn stdout_failure(e: io::Error) -> Failure {
    Failure::new(code::ERROR, format!("cannot write to stdout: {e}"))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use walstore::recovery::LogVerification;

    fn clean(file_len: u64) -> StoreVerification {
        StoreVerification {
            log_path: PathBuf::from("/s/wal-0000000000000001.log"),
            header_problem: None,
            log: LogVerification {
                file_len,
                stores: 1,
                deletes: 2,
                batches: 0,
                damage: Vec::new(),
                ..Default::default()
            },
            snapshots: Vec::new(),
        }
    }

    #[test]
    fn a_clean_report() {
        assert_eq!(
            verify_report(&clean(101)),
            "log: /s/wal-0000000000000001.log (101 bytes)\n\
             snapshots: none\n\
             records: 1 store, 2 deletes, 0 batches\n\
             bytes: 101 in the log: 64 header, 37 in intact records, 0 damaged\n\
             result: clean\n"
        );
    }

    #[test]
    fn free_space_after_the_records_is_counted_apart_and_is_clean() {
        let mut v = clean(1 << 20);
        v.log.free_bytes = (1 << 20) - 101;
        let r = verify_report(&v);
        assert!(r.contains(
            "bytes: 1048576 in the log: 64 header, 37 in intact records, 0 damaged, \
             1048475 free (allocated ahead of appends)\n"
        ));
        assert!(r.ends_with("result: clean\n"), "{r}");
    }

    #[test]
    fn range_deletes_and_damaged_markers_are_counted_when_present() {
        let mut v = clean(101);
        v.log.range_deletes = 1;
        v.log.damaged_markers = 2;
        assert!(verify_report(&v).contains(
            "records: 1 store, 2 deletes, 0 batches, 1 range delete, 2 damaged markers\n"
        ));
    }

    #[test]
    fn a_rejected_snapshot_alone_is_damage() {
        let mut v = clean(101);
        v.snapshots = vec![
            (PathBuf::from("/s/a.snap"), Ok(101)),
            (PathBuf::from("/s/b.snap"), Err("bad CRC".into())),
        ];
        assert_eq!(
            verify_report(&v),
            "log: /s/wal-0000000000000001.log (101 bytes)\n\
             snapshot /s/a.snap: valid, covers the log up to offset 101\n\
             snapshot /s/b.snap: REJECTED: bad CRC\n\
             records: 1 store, 2 deletes, 0 batches\n\
             bytes: 101 in the log: 64 header, 37 in intact records, 0 damaged\n\
             result: DAMAGED: 1 of 2 snapshots rejected\n"
        );
    }

    #[test]
    fn damage_without_a_tail_and_a_bad_header() {
        let mut v = clean(200);
        v.log.damage = vec![Damage {
            offset: 64,
            length: 40,
            id: None,
            what: "record header CRC mismatch".into(),
            at_tail: false,
        }];
        v.snapshots = vec![(PathBuf::from("/s/b.snap"), Err("gone".into()))];
        assert_eq!(
            verify_report(&v),
            "log: /s/wal-0000000000000001.log (200 bytes)\n\
             damage at offset 64 (40 bytes, id unknown): record header CRC mismatch\n\
             snapshot /s/b.snap: REJECTED: gone\n\
             records: 1 store, 2 deletes, 0 batches\n\
             bytes: 200 in the log: 64 header, 96 in intact records, 40 damaged\n\
             result: DAMAGED: 1 damaged region, 40 bytes; 1 of 1 snapshot rejected\n"
        );
        v.header_problem = Some("bad magic".into());
        assert_eq!(
            verify_report(&v),
            "log: /s/wal-0000000000000001.log (200 bytes)\n\
             log header: DAMAGED: bad magic\n\
             result: DAMAGED: the log header is unusable, so no record was checked\n"
        );
    }
}
