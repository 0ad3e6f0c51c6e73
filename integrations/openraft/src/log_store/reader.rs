//! The log reader openraft's replication tasks use, beside the store.

use super::{read_err, Shared, StorageResult};
use crate::codec::decode;
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use walstore::vfs::{StdVfs, Vfs};
use walstore::ErrorKind;

/// Reads entries by index. Cheap to clone: it shares the store.
pub struct WalLogReader<C: RaftTypeConfig, V: Vfs = StdVfs> {
    shared: Arc<Shared<C, V>>,
}

impl<C: RaftTypeConfig, V: Vfs> Clone for WalLogReader<C, V> {
    fn clone(&self) -> Self {
        WalLogReader {
            shared: self.shared.clone(),
        }
    }
}

impl<C: RaftTypeConfig, V: Vfs> WalLogReader<C, V> {
    pub(crate) fn new(shared: Arc<Shared<C, V>>) -> Self {
        WalLogReader { shared }
    }

    /// The part of `range` that can hold entries: after the purged id, up
    /// to the last one. Half-open.
    fn present(&self, range: &impl RangeBounds<u64>) -> (u64, u64) {
        let b = self.shared.bounds.lock().unwrap_or_else(|p| p.into_inner());
        let first = b.purged.as_ref().map_or(0, |p| p.index + 1);
        let end = b.last.as_ref().map_or(0, |l| l.index + 1);
        let lo = match range.start_bound() {
            Bound::Included(&x) => x,
            Bound::Excluded(&x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&x) => x.saturating_add(1),
            Bound::Excluded(&x) => x,
            Bound::Unbounded => u64::MAX,
        };
        (lo.max(first), hi.min(end))
    }
}

impl<C: RaftTypeConfig, V: Vfs> RaftLogReader<C> for WalLogReader<C, V> {
    /// Entries in `range`, in order. An index missing from the store (only
    /// possible while a purge or truncate races this read) is skipped, as
    /// the trait allows.
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<C::Entry>, C> {
        let (lo, hi) = self.present(&range);
        let mut out = Vec::with_capacity(hi.saturating_sub(lo) as usize);
        for index in lo..hi {
            match self.shared.store.retrieve(index) {
                Ok(bytes) => out.push(decode(&bytes).map_err(|e| super::read_at::<C>(index, e))?),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(read_err::<C>(e)),
            }
        }
        Ok(out)
    }
}
