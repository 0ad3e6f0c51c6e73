//! walstore as the Raft log store of openraft 0.9 (storage-v2 API).
//!
//! - [`log_store`]: the adapter, [`WalLogStore`] (`RaftLogStorage` and
//!   `RaftLogReader`), with group syncs through a flusher thread.
//! - [`mem_log_store`]: an in-memory log, the bench's upper bound.
//! - [`state_machine`]: a small key-value state machine for the example.
//! - [`network`] and [`node`]: a plain TCP transport (postcard frames) and a
//!   node that serves Raft and client requests on one port.
//! - [`batcher`]: the leader's group commit of client writes into entries.
//! - [`client`]: the client the example binary, the tests and the bench use.

// openraft's traits fix the error types (`StorageError`, `RPCError`, ~200
// bytes); helpers return them as they are rather than boxing and unboxing.
#![allow(clippy::result_large_err)]

pub mod batcher;
pub mod client;
pub mod codec;
pub mod load;
pub mod log_store;
pub mod mem_log_store;
pub mod network;
pub mod node;
pub mod state_machine;
pub mod types;

pub use log_store::{WalLogReader, WalLogStore};
pub use mem_log_store::MemLogStore;
pub use state_machine::KvStateMachine;
pub use types::TypeConfig;
