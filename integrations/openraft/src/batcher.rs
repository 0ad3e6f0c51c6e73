//! Group commit for client writes on the leader: writes that arrive while
//! earlier entries are on their way become one Raft entry
//! ([`Request::SetMany`]).
//!
//! openraft 0.9's core hands the log one append at a time and waits for its
//! `LogFlushed` before it reads the next message (`RaftCore::append_to_log`),
//! and it makes one entry of each `client_write`. One write per entry would
//! so cost the leader a whole fdatasync per write, however many clients
//! wait, and the log store's flusher would find nothing to group. Grouping
//! has to happen before `client_write`, and this is where: at most
//! [`IN_FLIGHT`] entries are handed to Raft at a time; whatever arrives
//! meanwhile waits here and goes into the next entry, up to
//! [`MAX_WRITES`] writes or [`MAX_BYTES`] bytes. A lone write is not held
//! back: with an entry slot free it goes at once, as a plain
//! [`Request::Set`].
//!
//! Every write of an entry gets the same answer: the entry's log index once
//! it is committed and applied, or the entry's error (a leader change
//! fails them all, and each client retries on its own).

use crate::network::{ClientError, ClientReply};
use crate::types::{Raft, Request};
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Entries handed to Raft and not yet answered. Two let the leader append
/// one entry while the one before is replicated; more make the entries
/// smaller. `make raft-bench` (64 clients, 30,000 writes of 64 B) measured
/// 32k writes/s with 1, 32k with 2 and 15k with 8, walstore log.
pub const IN_FLIGHT: usize = 2;
/// Writes in one entry, at most.
pub const MAX_WRITES: usize = 4096;
/// Key and value bytes in one entry, at most (a whole entry is one walstore
/// record and one network frame).
pub const MAX_BYTES: usize = 4 << 20;

type Reply = Result<ClientReply, ClientError>;

struct Pending {
    key: String,
    value: String,
    reply: oneshot::Sender<Reply>,
}

/// The write path of one node. Cloning shares it.
#[derive(Clone)]
pub struct Batcher {
    raft: Raft,
    tx: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the grouping task for `raft`; it ends when every clone of the
    /// batcher is dropped.
    pub fn start(raft: Raft) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(group(raft.clone(), rx));
        Batcher { raft, tx }
    }

    /// Replicates and applies `req`; answered once its entry is committed
    /// and applied.
    pub async fn write(&self, req: Request) -> Reply {
        match req {
            Request::Set { key, value } => self.set(key, value).await,
            // Already a group: an entry of its own, so that it stays atomic.
            group @ Request::SetMany(_) => submit(&self.raft, group).await,
        }
    }

    /// The Raft instance it writes through.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    async fn set(&self, key: String, value: String) -> Reply {
        let (reply, answer) = oneshot::channel();
        let gone = || ClientError::Failed("the node is shutting down".into());
        self.tx
            .send(Pending { key, value, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn group(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut bytes = first.key.len() + first.value.len();
        let mut batch = vec![first];
        while batch.len() < MAX_WRITES && bytes < MAX_BYTES {
            let Ok(p) = rx.try_recv() else { break };
            bytes += p.key.len() + p.value.len();
            batch.push(p);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (sets, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|p| ((p.key, p.value), p.reply))
                .unzip();
            let req = match <[_; 1]>::try_from(sets) {
                Ok([(key, value)]) => Request::Set { key, value },
                Err(sets) => Request::SetMany(sets),
            };
            let answer = submit(&raft, req).await;
            drop(slot);
            for r in replies {
                let _ = r.send(answer.clone());
            }
        });
    }
}

async fn submit(raft: &Raft, req: Request) -> Reply {
    match raft.client_write(req).await {
        Ok(resp) => Ok(ClientReply::Written(resp.log_id.index)),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(
            ClientError::ForwardToLeader(f.leader_id.zip(f.leader_node.map(|n| n.addr))),
        ),
        Err(e) => Err(ClientError::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Peers;
    use crate::node::raft_config;
    use crate::types::{Node, TypeConfig};
    use crate::{KvStateMachine, MemLogStore};
    use openraft::ServerState;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A one-node cluster on an in-memory log; `lead` makes it leader.
    async fn one_node(lead: bool) -> (Raft, KvStateMachine) {
        let config = Arc::new(raft_config().validate().unwrap());
        let sm = KvStateMachine::in_memory();
        let log = MemLogStore::<TypeConfig>::default();
        let raft = Raft::new(1, config, Peers, log, sm.clone()).await.unwrap();
        if lead {
            let members = BTreeMap::from([(1, Node::new("127.0.0.1:1"))]);
            raft.initialize(members).await.unwrap();
            raft.wait(Some(Duration::from_secs(30)))
                .state(ServerState::Leader, "leads")
                .await
                .unwrap();
        }
        (raft, sm)
    }

    fn key(i: usize) -> (String, String) {
        (format!("k{i}"), format!("v{i}"))
    }

    /// Sends `n` writes through a batcher whose grouping task starts only
    /// once all of them are queued; their answers.
    async fn queued_writes(raft: &Raft, n: usize) -> Vec<Reply> {
        let (tx, rx) = mpsc::unbounded_channel();
        let b = Batcher {
            raft: raft.clone(),
            tx,
        };
        let writes: Vec<_> = (0..n)
            .map(|i| {
                let (b, (key, value)) = (b.clone(), key(i));
                tokio::spawn(async move { b.write(Request::Set { key, value }).await })
            })
            .collect();
        while rx.len() < n {
            tokio::task::yield_now().await;
        }
        tokio::spawn(group(raft.clone(), rx));
        let mut answers = Vec::new();
        for w in writes {
            answers.push(w.await.unwrap());
        }
        answers
    }

    #[tokio::test]
    async fn writes_queued_together_make_one_entry_and_share_its_answer() {
        let (raft, sm) = one_node(true).await;
        let before = raft.metrics().borrow().last_log_index.unwrap();
        let answers = queued_writes(&raft, 100).await;
        assert_eq!(answers, vec![Ok(ClientReply::Written(before + 1)); 100]);
        assert_eq!(raft.metrics().borrow().last_log_index, Some(before + 1));
        {
            let state = sm.state();
            let kv = &state.read().unwrap().kv;
            assert_eq!(kv.len(), 100);
            assert!((0..100).all(|i| kv.get(&key(i).0) == Some(&key(i).1)));
        }
        raft.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn an_entry_holds_at_most_max_writes() {
        let (raft, _) = one_node(true).await;
        let before = raft.metrics().borrow().last_log_index.unwrap();
        let answers = queued_writes(&raft, MAX_WRITES + 1).await;
        let first = Ok(ClientReply::Written(before + 1));
        assert!(answers[..MAX_WRITES].iter().all(|a| *a == first));
        assert_eq!(answers[MAX_WRITES], Ok(ClientReply::Written(before + 2)));
        raft.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_group_sent_by_a_client_stays_one_entry() {
        let (raft, sm) = one_node(true).await;
        let b = Batcher::start(raft.clone());
        let before = raft.metrics().borrow().last_log_index.unwrap();
        let sets: Vec<_> = (0..10).map(key).collect();
        let answer = b.write(Request::SetMany(sets)).await;
        assert_eq!(answer, Ok(ClientReply::Written(before + 1)));
        assert_eq!(sm.state().read().unwrap().kv.len(), 10);
        raft.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn every_write_of_a_refused_entry_gets_the_refusal() {
        let (raft, _) = one_node(false).await;
        let answers = queued_writes(&raft, 5).await;
        assert_eq!(answers, vec![Err(ClientError::ForwardToLeader(None)); 5]);
        raft.shutdown().await.unwrap();
    }
}
