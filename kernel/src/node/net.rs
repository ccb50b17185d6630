//! The node's side of the network: gossip of transactions and blocks, block sync, and the
//! sync server, joining [`crate::p2p`] to the chain service.
//!
//! - A transaction admitted through RPC is gossiped; a gossiped transaction is admitted to
//!   the pool (so it reaches the authorities) and forwarded only if it is valid.
//! - Every block this node commits through its own engine is gossiped with its certificate;
//!   a gossiped block for the next height is imported through the same checked path as a
//!   local one ([`Application::commit`]: seal, certificate, re-execution, state root).
//! - A node behind its peers (seen from their status or from a gossiped block ahead) asks
//!   one of them for blocks by height range, [`MAX_BLOCKS_PER_REQUEST`] at a time, until it
//!   has caught up; a peer serving invalid blocks is reported and skipped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use parity_scale_codec::{Decode, Encode};
use tokio::sync::{broadcast, mpsc};

use crate::chain::block::SignedBlock;
use crate::chain::consensus::Application;
use crate::chain::execute::TxError;
use crate::chain::hashing::H256;
use crate::chain::pool::PoolError;
use crate::chain::service::{ChainEvent, ChainService};
use crate::p2p::{
    MessageAcceptance, Misbehaviour, Network, NetworkEvent, PeerId, RequestHandler, Topic,
};

/// Most blocks in one sync response.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 128;
/// Most bytes of blocks in one sync response.
const MAX_SYNC_BYTES: usize = 8 << 20;

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// The peer's genesis and head.
    Status,
    /// Decided blocks from `from`, at most `max`.
    Blocks {
        /// The first height.
        from: u32,
        /// Most blocks.
        max: u32,
    },
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// The peer's genesis and head.
    Status {
        /// Genesis hash.
        genesis: H256,
        /// Head height.
        head: u32,
        /// Head hash.
        head_hash: H256,
    },
    /// Consecutive decided blocks, possibly fewer than asked.
    Blocks(Vec<SignedBlock>),
}

/// Serves sync requests from the chain's store.
pub(crate) struct SyncServer {
    pub(crate) service: Arc<ChainService>,
}

impl RequestHandler for SyncServer {
    fn handle(
        &self,
        _peer: PeerId,
        request: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let service = self.service.clone();
        Box::pin(async move {
            let request = SyncRequest::decode(&mut &request[..])
                .map_err(|e| format!("sync request does not decode: {e}"))?;
            tokio::task::spawn_blocking(move || serve(&service, request))
                .await
                .map_err(|e| e.to_string())?
        })
    }
}

fn serve(service: &ChainService, request: SyncRequest) -> Result<Vec<u8>, String> {
    let chain = service.chain();
    let response = match request {
        SyncRequest::Status => SyncResponse::Status {
            genesis: chain.genesis_hash(),
            head: chain.head().number,
            head_hash: chain.head_hash(),
        },
        SyncRequest::Blocks { from, max } => {
            let mut blocks = Vec::new();
            let mut bytes = 0;
            let last = from
                .saturating_add(max.min(MAX_BLOCKS_PER_REQUEST))
                .saturating_sub(1);
            for number in from..=last.min(chain.head().number) {
                let Some(hash) = chain.block_hash(number).map_err(|e| e.to_string())? else {
                    break;
                };
                let Some(block) = chain.block(&hash).map_err(|e| e.to_string())? else {
                    break;
                };
                bytes += block.encoded_size();
                if bytes > MAX_SYNC_BYTES && !blocks.is_empty() {
                    break;
                }
                blocks.push(block);
            }
            SyncResponse::Blocks(blocks)
        }
    };
    Ok(response.encode())
}

/// What the node's network glue shares with RPC.
#[derive(Debug, Default)]
pub(crate) struct SyncStatus {
    /// Whether the node knows of blocks it has not imported.
    pub(crate) syncing: AtomicBool,
    /// The best height each connected peer has shown.
    pub(crate) best: Mutex<BTreeMap<PeerId, u32>>,
}

impl SyncStatus {
    fn best(&self) -> std::sync::MutexGuard<'_, BTreeMap<PeerId, u32>> {
        self.best
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Each peer's best height.
    pub(crate) fn peer_best(&self, peer: &PeerId) -> Option<u32> {
        self.best().get(peer).copied()
    }
}

/// The gossip verdict for a transaction's admission.
fn tx_verdict(
    result: &Result<(H256, crate::chain::pool::Admission), PoolError>,
) -> MessageAcceptance {
    match result {
        Ok(_) => MessageAcceptance::Accept,
        Err(PoolError::Invalid(
            TxError::Malformed(_) | TxError::ZeroSender | TxError::BadSignature { .. },
        )) => MessageAcceptance::Reject,
        Err(_) => MessageAcceptance::Ignore,
    }
}

/// Imports one decided block (blocking). `Ok(true)` if it was new, `Ok(false)` if the chain
/// already has it.
fn import(service: &ChainService, block: SignedBlock) -> Result<bool, String> {
    let number = block.block.header.number;
    let hash = block.block.header.hash();
    {
        let chain = service.chain();
        if number <= chain.head().number {
            return match chain.block_hash(number) {
                Ok(Some(h)) if h == hash => Ok(false),
                Ok(_) => Err(format!("block #{number} {hash} conflicts with the chain")),
                Err(e) => Err(e.to_string()),
            };
        }
    }
    match service.commit(block) {
        Ok(()) => Ok(true),
        Err(e) => {
            // Another path (the engine, or sync) may have committed it meanwhile.
            let chain = service.chain();
            if chain.block_hash(number).ok().flatten() == Some(hash) {
                Ok(false)
            } else {
                Err(e.to_string())
            }
        }
    }
}

/// Hashes of the last blocks imported from the network (not gossiped again by this node).
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<H256>,
    set: BTreeSet<H256>,
}

impl Recent {
    fn insert(&mut self, hash: H256) {
        if self.set.insert(hash) {
            self.order.push_back(hash);
            if self.order.len() > 256
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, hash: &H256) -> bool {
        self.set.contains(hash)
    }
}

/// The glue task: runs until `stop` is set or the network stops.
pub(crate) async fn drive(
    service: Arc<ChainService>,
    network: Network,
    mut events: mpsc::Receiver<NetworkEvent>,
    status: Arc<SyncStatus>,
    stop: Arc<AtomicBool>,
) {
    let mut chain_events = service.subscribe();
    let mut imported = Recent::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut ask_status: VecDeque<PeerId> = VecDeque::new();
    while !stop.load(Ordering::SeqCst) {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match event {
                    NetworkEvent::Gossip { topic: Topic::Transactions, id, source, data } => {
                        let s = service.clone();
                        let verdict = tokio::task::spawn_blocking(move || tx_verdict(&s.submit(&data)))
                            .await
                            .unwrap_or(MessageAcceptance::Ignore);
                        network.validate(id, source, verdict);
                    }
                    NetworkEvent::Gossip { topic: Topic::Blocks, id, source, data } => {
                        let Ok(block) = SignedBlock::decode(&mut &data[..]) else {
                            network.validate(id, source, MessageAcceptance::Reject);
                            continue;
                        };
                        let number = block.block.header.number;
                        let head = service.chain().head().number;
                        {
                            let mut best = status.best();
                            let b = best.entry(source).or_insert(0);
                            *b = (*b).max(number);
                        }
                        if number > head + 1 {
                            // Ahead of us: catch up by sync first.
                            network.validate(id, source, MessageAcceptance::Ignore);
                            continue;
                        }
                        let hash = block.block.header.hash();
                        let s = service.clone();
                        let result = tokio::task::spawn_blocking(move || import(&s, block))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                        match result {
                            Ok(true) => {
                                imported.insert(hash);
                                network.validate(id, source, MessageAcceptance::Accept);
                            }
                            Ok(false) => network.validate(id, source, MessageAcceptance::Ignore),
                            Err(e) => {
                                tracing::warn!(%source, number, error = %e, "refused a gossiped block");
                                network.validate(id, source, MessageAcceptance::Reject);
                            }
                        }
                    }
                    NetworkEvent::PeerConnected(peer) => ask_status.push_back(peer),
                    NetworkEvent::PeerDisconnected(peer) => {
                        status.best().remove(&peer);
                    }
                }
            }
            event = chain_events.recv() => match event {
                Ok(ChainEvent::Block { hash, .. }) => {
                    if imported.contains(&hash) {
                        continue;
                    }
                    let block = service.chain().block(&hash).ok().flatten();
                    if let Some(block) = block {
                        network.gossip(Topic::Blocks, block.encode());
                    }
                }
                Ok(ChainEvent::Removed(_)) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                while let Some(peer) = ask_status.pop_front() {
                    ask_peer_status(&service, &network, &status, peer).await;
                }
                catch_up(&service, &network, &status, &mut imported).await;
            }
        }
    }
}

/// Asks `peer` for its status and records its head.
async fn ask_peer_status(
    service: &ChainService,
    network: &Network,
    status: &SyncStatus,
    peer: PeerId,
) {
    let Ok(bytes) = network
        .sync_request(peer, SyncRequest::Status.encode())
        .await
    else {
        return; // Not a chain node (a miner), or gone.
    };
    match SyncResponse::decode(&mut &bytes[..]) {
        Ok(SyncResponse::Status { genesis, head, .. }) => {
            if genesis != service.chain().genesis_hash() {
                network.report(peer, Misbehaviour::Invalid);
                return;
            }
            status.best().insert(peer, head);
        }
        _ => network.report(peer, Misbehaviour::Malformed),
    }
}

/// While some peer is ahead, fetches and imports blocks from the best one.
async fn catch_up(
    service: &Arc<ChainService>,
    network: &Network,
    status: &SyncStatus,
    imported: &mut Recent,
) {
    loop {
        let head = service.chain().head().number;
        let best = status
            .best()
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(p, n)| (*p, *n));
        let Some((peer, best)) = best.filter(|(_, n)| *n > head) else {
            status.syncing.store(false, Ordering::SeqCst);
            return;
        };
        status.syncing.store(best > head + 1, Ordering::SeqCst);
        let request = SyncRequest::Blocks {
            from: head + 1,
            max: MAX_BLOCKS_PER_REQUEST,
        };
        let response = match network.sync_request(peer, request.encode()).await {
            Ok(bytes) => SyncResponse::decode(&mut &bytes[..]),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "sync request failed");
                status.best().remove(&peer);
                continue;
            }
        };
        let blocks = match response {
            Ok(SyncResponse::Blocks(blocks)) if !blocks.is_empty() => blocks,
            Ok(_) => {
                network.report(peer, Misbehaviour::Useless);
                status.best().remove(&peer);
                continue;
            }
            Err(_) => {
                network.report(peer, Misbehaviour::Malformed);
                status.best().remove(&peer);
                continue;
            }
        };
        let count = blocks.len();
        let s = service.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut hashes = Vec::new();
            for block in blocks {
                let hash = block.block.header.hash();
                match import(&s, block) {
                    Ok(true) => hashes.push(hash),
                    Ok(false) => {}
                    Err(e) => return (hashes, Some(e)),
                }
            }
            (hashes, None)
        })
        .await;
        let Ok((hashes, error)) = result else { return };
        for hash in hashes {
            imported.insert(hash);
        }
        if let Some(e) = error {
            tracing::warn!(%peer, error = %e, "a synced block was refused");
            network.report(peer, Misbehaviour::Invalid);
            status.best().remove(&peer);
            continue;
        }
        tracing::debug!(%peer, count, "synced blocks");
    }
}
