//! openraft's own storage test suite (`openraft::testing::Suite`) against
//! the walstore log store: once whole (`test_all`), and case by case so
//! that a failure names its case. The in-memory baseline of the bench is
//! checked with `test_all` too.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;
use walstore_openraft::{KvStateMachine, MemLogStore, TypeConfig, WalLogStore};

type Log = WalLogStore<TypeConfig>;

/// Each case gets a fresh directory holding the log and the snapshots.
struct WalBuilder;

impl StoreBuilder<TypeConfig, Log, KvStateMachine, TempDir> for WalBuilder {
    async fn build(&self) -> Result<(TempDir, Log, KvStateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = Log::open(dir.path().join("log"))?;
        let sm = KvStateMachine::open(dir.path().join("snapshot"))?;
        Ok((dir, log, sm))
    }
}

struct MemBuilder;

impl StoreBuilder<TypeConfig, MemLogStore<TypeConfig>, KvStateMachine> for MemBuilder {
    async fn build(
        &self,
    ) -> Result<((), MemLogStore<TypeConfig>, KvStateMachine), StorageError<u64>> {
        Ok(((), MemLogStore::default(), KvStateMachine::in_memory()))
    }
}

type WalSuite = Suite<TypeConfig, Log, KvStateMachine, WalBuilder, TempDir>;

#[test]
fn suite_test_all_on_walstore() {
    WalSuite::test_all(WalBuilder).unwrap();
}

#[test]
fn suite_test_all_on_the_in_memory_baseline() {
    Suite::test_all(MemBuilder).unwrap();
}

/// Runs one case the way `test_all` does: a fresh store, a fresh runtime.
fn run_case<F, Fut>(case: F)
where
    F: FnOnce(Log, KvStateMachine) -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError<u64>>>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_dir, log, sm) = WalBuilder.build().await.unwrap();
        case(log, sm).await.unwrap();
    });
}

/// One `#[test]` per case of `Suite::test_store`, in its order.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod case {
            use super::*;
            $(
                #[test]
                fn $case() {
                    run_case(WalSuite::$case);
                }
            )*
        }
    };
}

cases!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_membership_from_log_and_sm,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

#[test]
fn case_transfer_snapshot() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(WalSuite::transfer_snapshot(&WalBuilder))
        .unwrap();
}
