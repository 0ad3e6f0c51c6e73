//! Group sync: one background thread makes appended entries durable for
//! many appends at once.
//!
//! openraft hands entries to `append` one call at a time and wants to hear
//! (through `LogFlushed`) when they are on disk. The entries are written at
//! once without waiting; their completion is queued here. The thread takes
//! every completion queued so far, runs one sync, and then completes them
//! all with its result. While a sync runs, new completions pile up and
//! share the next one, so under load the log pays one fdatasync per group,
//! not per append.
//!
//! Correctness rests on one order: the caller writes its entries *before*
//! it submits the completion, and the thread starts its sync *after* it has
//! taken the completion, so that sync covers the entries.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the flusher tells once the entries before it are durable (or that
/// the sync covering them failed).
pub trait Completion: Send + 'static {
    fn complete(self, result: io::Result<()>);
}

impl<C: openraft::RaftTypeConfig> Completion for openraft::storage::LogFlushed<C> {
    fn complete(self, result: io::Result<()>) {
        self.log_io_completed(result);
    }
}

/// How many syncs ran and how many completions they covered; their ratio
/// is the mean group size.
#[derive(Debug, Default)]
pub struct FlushStats {
    syncs: AtomicU64,
    completions: AtomicU64,
}

impl FlushStats {
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
    pub fn completions(&self) -> u64 {
        self.completions.load(Ordering::Relaxed)
    }
}

pub struct Flusher<T: Completion> {
    tx: Option<mpsc::Sender<T>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<FlushStats>,
}

impl<T: Completion> Flusher<T> {
    /// Starts the thread. `sync` must make durable every write that
    /// returned before it was called.
    pub fn spawn<F>(name: &str, mut sync: F) -> io::Result<Flusher<T>>
    where
        F: FnMut() -> io::Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<T>();
        let stats = Arc::new(FlushStats::default());
        let counted = stats.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Ends when every sender is gone and the queue is drained.
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    group.extend(rx.try_iter());
                    let result = sync();
                    counted.syncs.fetch_add(1, Ordering::Relaxed);
                    counted
                        .completions
                        .fetch_add(group.len() as u64, Ordering::Relaxed);
                    for done in group {
                        done.complete(copy_result(&result));
                    }
                }
            })?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
            stats,
        })
    }

    /// Queues `done` for the next sync. Call it only after the write it
    /// stands for has returned. Gives `done` back if the thread is gone
    /// (it panicked), so that the caller can fail it.
    pub fn submit(&self, done: T) -> Result<(), T> {
        match &self.tx {
            Some(tx) => tx.send(done).map_err(|e| e.0),
            None => Err(done),
        }
    }

    pub fn stats(&self) -> &Arc<FlushStats> {
        &self.stats
    }
}

impl<T: Completion> Drop for Flusher<T> {
    /// Completes what is queued (with a last sync), then joins the thread.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `io::Error` is not `Clone`: each completion of a failed group gets an
/// error of the same kind and message.
fn copy_result(r: &io::Result<()>) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::time::Duration;

    /// A completion that reports its name and result on a channel.
    struct Probe(&'static str, Sender<(&'static str, io::Result<()>)>);
    impl Completion for Probe {
        fn complete(self, result: io::Result<()>) {
            self.1.send((self.0, result)).unwrap();
        }
    }

    /// A sync that waits for the test's go-ahead, and fails on the calls
    /// listed in `fail_on` (1-based).
    fn gated_sync(
        fail_on: &'static [u64],
    ) -> (
        impl FnMut() -> io::Result<()> + Send,
        Sender<()>,
        Receiver<u64>,
    ) {
        let (go_tx, go_rx) = channel::<()>();
        let (started_tx, started_rx) = channel::<u64>();
        let mut calls = 0;
        let sync = move || {
            calls += 1;
            started_tx.send(calls).unwrap();
            go_rx.recv().unwrap();
            if fail_on.contains(&calls) {
                Err(io::Error::other("injected EIO"))
            } else {
                Ok(())
            }
        };
        (sync, go_tx, started_rx)
    }

    fn nothing_within(rx: &Receiver<(&'static str, io::Result<()>)>) {
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn completions_wait_for_their_sync_and_share_the_next_one() {
        let (sync, go, started) = gated_sync(&[]);
        let f = Flusher::spawn("test-flusher", sync).unwrap();
        let (tx, rx) = channel();
        f.submit(Probe("a", tx.clone())).ok().unwrap();
        assert_eq!(started.recv().unwrap(), 1);
        // b and c arrive while sync 1 runs: neither is covered by it.
        f.submit(Probe("b", tx.clone())).ok().unwrap();
        f.submit(Probe("c", tx.clone())).ok().unwrap();
        nothing_within(&rx);
        go.send(()).unwrap();
        let (name, r) = rx.recv().unwrap();
        assert_eq!((name, r.is_ok()), ("a", true));
        assert_eq!(started.recv().unwrap(), 2);
        nothing_within(&rx);
        go.send(()).unwrap();
        let got: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), ["b", "c"]);
        assert!(got.iter().all(|g| g.1.is_ok()));
        assert_eq!((f.stats().syncs(), f.stats().completions()), (2, 3));
    }

    #[test]
    fn a_failed_sync_fails_every_completion_it_covered() {
        let (sync, go, started) = gated_sync(&[2]);
        let f = Flusher::spawn("test-flusher", sync).unwrap();
        let (tx, rx) = channel();
        f.submit(Probe("a", tx.clone())).ok().unwrap();
        started.recv().unwrap();
        f.submit(Probe("b", tx.clone())).ok().unwrap();
        f.submit(Probe("c", tx.clone())).ok().unwrap();
        go.send(()).unwrap();
        assert!(rx.recv().unwrap().1.is_ok());
        started.recv().unwrap();
        go.send(()).unwrap();
        for want in ["b", "c"] {
            let (name, r) = rx.recv().unwrap();
            let e = r.unwrap_err();
            assert_eq!(
                (name, e.kind(), e.to_string()),
                (want, io::ErrorKind::Other, "injected EIO".to_owned())
            );
        }
    }

    #[test]
    fn drop_completes_what_is_queued() {
        let (tx, rx) = channel();
        let f = Flusher::spawn("test-flusher", || Ok(())).unwrap();
        for name in ["a", "b", "c"] {
            f.submit(Probe(name, tx.clone())).ok().unwrap();
        }
        drop(f);
        let names: Vec<_> = rx.try_iter().map(|(n, r)| (n, r.is_ok())).collect();
        assert_eq!(names, [("a", true), ("b", true), ("c", true)]);
    }
}
