//! Filling the index from a replay: the operations the log yields are
//! applied in log order, on a helper thread for a long replay, with their
//! slots prefetched a few operations ahead, and a full replay resizes the
//! index once it can tell how many ids the log holds.

use crate::error::Result;
use crate::format::FILE_HEADER_LEN;
use crate::index::{Entry, Index, Locked};
use crate::recovery::ReplayOp;
use std::collections::VecDeque;

/// Replays through `read` (given the sink for what it recovers) into
/// `index`, which a snapshot or the log's length sized, starting at
/// `start` in a log of `file_len` bytes. Returns what `read` returned, the
/// index and the live payload bytes (`live` plus the replay's changes).
pub(super) fn replay_into<R>(
    index: Index,
    generation: u64,
    live: u64,
    start: u64,
    file_len: u64,
    read: impl FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<R>,
) -> Result<(R, Index, u64)> {
    // A full replay's index was sized on the log's length alone.
    let resize =
        (start == FILE_HEADER_LEN as u64).then(|| Resize::after_a_sixteenth(start, file_len));
    // A short replay is not worth a thread.
    if file_len.saturating_sub(start) < REPLAY_IN_TWO_BYTES {
        replay_here(index, generation, live, resize, read)
    } else {
        replay_in_two(index, generation, live, resize, read)
    }
}

/// Logs with fewer bytes to replay than this replay on the calling thread.
const REPLAY_IN_TWO_BYTES: u64 = 1 << 20;
/// Operations handed from the reading thread to the applying one at a time.
const REPLAY_BATCH: usize = 1024;
/// Batches that may wait for the applying thread.
const REPLAY_BATCHES_QUEUED: usize = 4;

/// Replays on two threads: this one reads the log, checks and decodes its
/// records (`read`, given the sink for what it recovers); a helper applies
/// the operations to `index`, in log order, a batch at a time. Reading no
/// longer waits for the index's cache misses, nor they for the reading.
/// When no thread can be had (a process limit, a sandbox), it all runs on
/// this one. Returns what `read` returned, the index and the live payload
/// bytes.
///
/// The index is handed to the helper once it runs, and back when it is
/// done, rather than lent in a thread scope: a scope registers the calling
/// thread with std, which for a C caller's thread is an allocation never
/// freed.
fn replay_in_two<R>(
    index: Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    read: impl FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<R>,
) -> Result<(R, Index, u64)> {
    let (to_applier, batches) =
        std::sync::mpsc::sync_channel::<Vec<ReplayOp>>(REPLAY_BATCHES_QUEUED);
    let (hand_over, handed) = std::sync::mpsc::sync_channel::<Index>(1);
    let spawned = std::thread::Builder::new()
        .name("walstore-replay".into())
        .spawn(move || {
            let mut index = handed.recv().ok()?;
            let live = fill_index(&mut index, generation, live, resize, |push| {
                batches.into_iter().flatten().for_each(push)
            });
            Some((index, live))
        });
    let Ok(applier) = spawned else {
        return replay_here(index, generation, live, resize, read);
    };
    // The helper waits for nothing else, so this cannot fail.
    let _ = hand_over.send(index);
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    let read = read(&mut |op| {
        batch.push(op);
        if batch.len() == REPLAY_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
            // A send fails only if the applier has panicked, which the join
            // below passes on.
            let _ = to_applier.send(full);
        }
    });
    // On an error too: the applier is joined before anything returns.
    let _ = to_applier.send(batch);
    drop(to_applier);
    let (index, live) = applier
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .expect("the index was handed over");
    read.map(|r| (r, index, live))
}

/// `replay_in_two` on the calling thread alone.
fn replay_here<R>(
    mut index: Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    read: impl FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<R>,
) -> Result<(R, Index, u64)> {
    let mut read_result = None;
    let live = fill_index(&mut index, generation, live, resize, |push| {
        read_result = Some(read(push));
    });
    let r = read_result.expect("fill_index calls its feed")?;
    Ok((r, index, live))
}

/// Applies the operations `feed` passes on to `index`, in order, through a
/// `Lookahead`; returns the live payload bytes.
fn fill_index(
    index: &mut Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    feed: impl FnOnce(&mut dyn FnMut(ReplayOp)),
) -> u64 {
    let mut fill = index.exclusive();
    let mut ahead = Lookahead::new(&mut fill, generation, live, resize);
    feed(&mut |op| ahead.push(op));
    let live = ahead.finish();
    // The log's length guessed the tables' size; ids that came in runs
    // went to pages instead, and overwrites make fewer ids than records.
    fill.shrink_tables();
    live
}

/// How many replayed operations lie between the prefetch of an id's slot
/// and the change to it. 8, 16 and 32 timed alike.
const REPLAY_AHEAD: usize = 16;

/// Replayed operations on their way to the index, in log order. Each one's
/// slot is prefetched as it arrives and changed `REPLAY_AHEAD` operations
/// later, so that the index's cache misses (its table is tens of MB at a
/// million ids) overlap instead of following one another.
struct Lookahead<'i, 'a> {
    index: &'i mut Locked<'a>,
    pending: VecDeque<ReplayOp>,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
}

/// When a full replay resizes the index from what it has read: at the
/// first record at or past `at`, the ids in the index tell how many the
/// log's `bytes` bytes after `start` hold, if ids keep coming at that rate
/// (ids, not records: a log of overwrites projects few). For a log of 1M
/// small records, the length alone guessed half as many ids, and the
/// shards grew twice near the end.
#[derive(Debug, Clone, Copy)]
struct Resize {
    start: u64,
    at: u64,
    bytes: u64,
}

impl Resize {
    /// The smallest sample it trusts.
    const MIN_SAMPLE: u64 = 1 << 20;

    fn after_a_sixteenth(start: u64, file_len: u64) -> Resize {
        let bytes = file_len.saturating_sub(start);
        Resize {
            start,
            at: start + (bytes / 16).max(Resize::MIN_SAMPLE),
            bytes,
        }
    }

    /// The ids a log holds at the density of the `ids` found before
    /// `offset`.
    fn projected(&self, ids: usize, offset: u64) -> u64 {
        let read = offset.saturating_sub(self.start).max(1);
        (ids as u128 * u128::from(self.bytes) / u128::from(read)) as u64
    }
}

impl<'i, 'a> Lookahead<'i, 'a> {
    fn new(index: &'i mut Locked<'a>, generation: u64, live: u64, resize: Option<Resize>) -> Self {
        Lookahead {
            index,
            pending: VecDeque::with_capacity(REPLAY_AHEAD + 1),
            generation,
            live,
            resize,
        }
    }

    fn push(&mut self, op: ReplayOp) {
        match op {
            ReplayOp::Put { id, offset, .. } | ReplayOp::Damaged { id, offset, .. } => {
                if self.resize.as_ref().is_some_and(|r| offset >= r.at) {
                    let r = self.resize.take().expect("checked above");
                    self.apply_all();
                    self.index
                        .reserve_guess(r.projected(self.index.table_len(), offset));
                }
                self.index.prefetch(id)
            }
            ReplayOp::Delete { id } => self.index.prefetch(id),
            ReplayOp::DeleteRange { .. } => {}
        }
        self.pending.push_back(op);
        if self.pending.len() > REPLAY_AHEAD {
            self.apply_oldest();
        }
    }

    fn apply_oldest(&mut self) {
        if let Some(op) = self.pending.pop_front() {
            apply(self.index, self.generation, op, &mut self.live);
        }
    }

    fn apply_all(&mut self) {
        while !self.pending.is_empty() {
            self.apply_oldest();
        }
    }

    /// Applies what is still pending; returns the live payload bytes.
    fn finish(mut self) -> u64 {
        self.apply_all();
        self.live
    }
}

/// Applies one replayed record to the index, and its change to the live
/// payload bytes to `live`.
fn apply(index: &mut Locked<'_>, generation: u64, op: ReplayOp, live: &mut u64) {
    let odd_gen = generation & 1 == 1;
    let gone = |e: Option<Entry>| e.map_or(0, |e| u64::from(e.len));
    let (id, offset, len, damaged) = match op {
        ReplayOp::Put { id, offset, len } => (id, offset, len, false),
        ReplayOp::Damaged { id, offset, len } => (id, offset, len, true),
        ReplayOp::Delete { id } => {
            *live -= gone(index.remove(id));
            return;
        }
        ReplayOp::DeleteRange { lo, hi } => {
            index.remove_range(lo, hi, |e| *live -= u64::from(e.len));
            return;
        }
    };
    let e = Entry {
        offset,
        len,
        damaged,
        odd_gen,
    };
    *live = *live + u64::from(len) - gone(index.insert(id, e));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// 3,000 operations over 50 ids (more than two batches), ending with a
    /// range delete: id 7 holds its last put, ids 20..=29 are gone.
    fn ops() -> Vec<ReplayOp> {
        let mut ops: Vec<ReplayOp> = (0..3000u64)
            .map(|i| match i % 7 {
                3 => ReplayOp::Delete { id: i % 50 },
                _ => ReplayOp::Put {
                    id: i % 50,
                    offset: 64 + i * 40,
                    len: (i % 11) as u32,
                },
            })
            .collect();
        ops.push(ReplayOp::DeleteRange { lo: 20, hi: 29 });
        ops
    }

    type Read = Box<dyn FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<u32>>;
    type Replay = fn(Index, u64, u64, Option<Resize>, Read) -> Result<(u32, Index, u64)>;

    fn replayed(how: Replay, fail: bool) -> Result<(u32, Index, u64)> {
        how(
            Index::default(),
            1,
            0,
            None,
            Box::new(move |push| {
                ops().into_iter().for_each(push);
                if fail {
                    Err(Error::NothingToReport("read failed"))
                } else {
                    Ok(7)
                }
            }),
        )
    }

    /// The helper thread and the fallback on the calling thread (taken
    /// when no thread can be spawned) build the same index, in log order,
    /// and both pass on what reading returned.
    #[test]
    fn both_ways_of_replaying_apply_the_same_operations_in_order() {
        let mut model = std::collections::BTreeMap::new();
        for op in ops() {
            match op {
                ReplayOp::Put { id, offset, len } => {
                    model.insert(id, (offset, len));
                }
                ReplayOp::Delete { id } => {
                    model.remove(&id);
                }
                ReplayOp::DeleteRange { lo, hi } => model.retain(|id, _| !(lo..=hi).contains(id)),
                ReplayOp::Damaged { .. } => unreachable!(),
            }
        }
        for how in [replay_in_two::<u32> as _, replay_here::<u32> as _] {
            let (r, index, live) = replayed(how, false).unwrap();
            assert_eq!(r, 7);
            assert_eq!(index.len(), model.len());
            for (&id, &(offset, len)) in &model {
                let e = index.get(id).unwrap();
                assert_eq!((e.offset, e.len, e.odd_gen), (offset, len, true), "id {id}");
            }
            assert_eq!(live, model.values().map(|&(_, len)| u64::from(len)).sum());
            let err = replayed(how, true).err().unwrap();
            assert_eq!(
                err.to_string(),
                Error::NothingToReport("read failed").to_string()
            );
        }
    }
}
