//! The application side of Malachite: answers the engine's requests from the chain.
//!
//! One task reads [`AppMsg`]s from the engine and answers each in turn: it builds blocks
//! (paced to the block time), streams them to peers as proposal parts, reassembles and checks
//! the peers' proposals, commits decided blocks with their certificates, and serves decided
//! blocks to peers that catch up. Chain calls run on tokio's blocking pool.
//!
//! A streamed proposal is `Init { height, round, valid_round, proposer }`, the SCALE encoding
//! of the value (block and author signature) in chunks of [`CHUNK_BYTES`], `Fin(signature)`
//! (the round proposer's signature over the proposal) and the stream's end. Peer input is
//! bounded ([`MAX_STREAMS`] open streams, the chain's block limit per stream,
//! [`MAX_PENDING`] complete proposals for later heights); anything malformed is logged and
//! dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::Next;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use parity_scale_codec::Encode;
use tokio::sync::{mpsc, oneshot};

use super::codec::{decode_value, encode_value};
use super::context::{Ctx, Height, ProposalPart, ValidatorSet, Value};
use super::signing::{Sig, proposal_message};
use crate::chain::block::{Certificate, SignedBlock, Vote};
use crate::chain::consensus::{Application, Budget};
use crate::chain::hashing::H256;
use crate::chain::keys::{self, AccountId, Pair, Signature};
use crate::chain::service::ChainService;

const TARGET: &str = "ganglion::consensus";

/// Bytes of encoded value per proposal part.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;
/// Most proposal streams being reassembled at once; when a new stream would exceed it, the
/// oldest one is dropped.
pub(crate) const MAX_STREAMS: usize = 64;
/// Most complete proposals kept for heights the chain has not reached; beyond it, the one for
/// the highest height is dropped (consensus gets it again through a restream or sync).
pub(crate) const MAX_PENDING: usize = 32;
/// Proposal streams for heights more than this far above the current one are dropped (a node
/// that far behind catches up by sync).
pub(crate) const MAX_HEIGHTS_AHEAD: u64 = 2;
/// Most values (and proposals) remembered for the current heights; beyond it, the oldest is
/// forgotten (a decided value that was forgotten is fetched again by sync).
pub(crate) const MAX_VALUES: usize = 1024;
/// How far (in milliseconds) a block's slot may lie ahead of this node's clock before the
/// block is refused as a proposal.
pub(crate) const MAX_SLOT_DRIFT_MS: u64 = 5_000;
/// Room left before the engine's propose timeout when waiting for the slot boundary.
const PROPOSE_MARGIN: Duration = Duration::from_millis(200);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A proposal this node has seen (or made): enough to stream it again.
#[derive(Clone)]
struct Seen {
    hash: H256,
    proposer: AccountId,
    valid_round: Round,
    signature: Signature,
}

/// A complete, authenticated proposal from a peer.
struct Complete {
    height: Height,
    round: Round,
    valid_round: Round,
    proposer: AccountId,
    signature: Signature,
    value: Value,
}

/// A proposal stream being reassembled.
struct Stream {
    born: u64,
    parts: BTreeMap<u64, ProposalPart>,
    end: Option<u64>,
    bytes: usize,
}

/// The application's state.
pub(crate) struct App {
    app: Arc<ChainService>,
    key: Pair,
    me: AccountId,
    genesis: H256,
    block_ms: u64,
    /// Most bytes of an encoded value (the chain's block limit and room for the header).
    max_value_bytes: usize,
    network: mpsc::Sender<NetworkMsg<Ctx>>,
    validators: ValidatorSet,
    height: Height,
    streams: BTreeMap<(PeerId, StreamId), Stream>,
    born: u64,
    pending: Vec<Complete>,
    values: BTreeMap<(Height, H256), (u64, Value)>,
    proposals: BTreeMap<(Height, Round), Seen>,
}

impl App {
    /// The application for `app`, signing with `key`, pacing blocks to `block_time`.
    pub(crate) fn new(
        app: Arc<ChainService>,
        key: Pair,
        block_time: Duration,
        max_value_bytes: usize,
        validators: ValidatorSet,
        network: mpsc::Sender<NetworkMsg<Ctx>>,
    ) -> App {
        let genesis = app.genesis_hash();
        let height = Height(u64::from(app.next_height()));
        App {
            me: key.public(),
            app,
            key,
            genesis,
            block_ms: u64::try_from(block_time.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            max_value_bytes,
            network,
            validators,
            height,
            streams: BTreeMap::new(),
            born: 0,
            pending: Vec::new(),
            values: BTreeMap::new(),
            proposals: BTreeMap::new(),
        }
    }

    /// The chain's next height.
    fn next_height(&self) -> Height {
        Height(u64::from(self.app.next_height()))
    }

    /// The current authorities (the last known set if the chain cannot be read).
    fn validator_set(&mut self) -> ValidatorSet {
        match self.app.chain().authorities() {
            Ok(authorities) => {
                let set = ValidatorSet::new(&authorities);
                if !set.validators().is_empty() {
                    self.validators = set;
                }
            }
            Err(e) => {
                tracing::warn!(target: TARGET, error = %e, "cannot read the authorities; using the last known set")
            }
        }
        self.validators.clone()
    }

    /// Handles one message from the engine.
    pub(crate) async fn handle(&mut self, msg: AppMsg<Ctx>) {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let height = self.next_height();
                self.height = height;
                tracing::info!(target: TARGET, %height, "consensus ready");
                let set = self.validator_set();
                if reply.send((height, set)).is_err() {
                    tracing::warn!(target: TARGET, "the engine dropped ConsensusReady");
                }
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                tracing::debug!(target: TARGET, %height, %round, %proposer, ?role, "started round");
                self.enter_height(height);
                let values = self.take_pending(height).await;
                if reply_value.send(values).is_err() {
                    tracing::warn!(target: TARGET, "the engine dropped StartedRound");
                }
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => self.get_value(height, round, timeout, reply).await,
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtension { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address,
                value_id,
            } => {
                self.restream(height, round, valid_round, address, value_id)
                    .await
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::ReceivedProposalPart { from, part, reply } => {
                let value = match self.on_part(from, part) {
                    Some(complete) => self.on_complete(complete).await,
                    None => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::GetValidatorSet { height: _, reply } => {
                let set = self.validator_set();
                let _ = reply.send(Some(set));
            }
            AppMsg::Decided {
                certificate,
                extensions: _,
                reply,
            } => {
                let height = certificate.height;
                let next = match self.decided(certificate).await {
                    Ok(()) => {
                        let next = self.next_height();
                        self.enter_height(next);
                        Next::Start(next, self.validator_set())
                    }
                    Err(()) => Next::Restart(height, self.validator_set()),
                };
                if reply.send(next).is_err() {
                    tracing::warn!(target: TARGET, "the engine dropped Decided");
                }
            }
            AppMsg::GetDecidedValue { height, reply } => {
                let _ = reply.send(self.decided_value(height).await);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let value = self
                    .synced_value(height, round, proposer, &value_bytes)
                    .await;
                let _ = reply.send(value);
            }
        }
    }

    /// Forgets everything below `height`.
    fn enter_height(&mut self, height: Height) {
        if height > self.height {
            self.height = height;
        }
        let current = self.height;
        self.streams.retain(|_, s| match s.parts.get(&0) {
            Some(ProposalPart::Init { height, .. }) => *height >= current,
            _ => true,
        });
        self.pending.retain(|p| p.height >= current);
        self.values.retain(|(h, _), _| *h >= current);
        self.proposals.retain(|(h, _), _| *h >= current);
    }

    /// Keeps `value` (a proposal or synced block for a current height) for `Decided` and
    /// restreams; forgets the oldest beyond [`MAX_VALUES`].
    fn keep_value(&mut self, height: Height, value: Value) {
        if self.values.len() >= MAX_VALUES && !self.values.contains_key(&(height, value.hash)) {
            let oldest = self
                .values
                .iter()
                .min_by_key(|(_, (born, _))| *born)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.values.remove(&k);
            }
        }
        self.born = self.born.wrapping_add(1);
        self.values.insert((height, value.hash), (self.born, value));
    }

    /// Keeps a proposal's value and how it was proposed (to stream it again).
    fn remember(&mut self, height: Height, round: Round, seen: Seen, value: Value) {
        if self.proposals.len() >= MAX_VALUES && !self.proposals.contains_key(&(height, round)) {
            let first = self.proposals.keys().next().copied();
            if let Some(k) = first {
                self.proposals.remove(&k);
            }
        }
        self.proposals.insert((height, round), seen);
        self.keep_value(height, value);
    }

    // ---------------------------------------------------------------------------------
    // Proposing
    // ---------------------------------------------------------------------------------

    async fn get_value(
        &mut self,
        height: Height,
        round: Round,
        timeout: Duration,
        reply: oneshot::Sender<LocallyProposedValue<Ctx>>,
    ) {
        let started = Instant::now();
        // A value already built for this round is proposed again, never a second one.
        if let Some(seen) = self.proposals.get(&(height, round)).cloned()
            && seen.proposer == self.me
            && let Some((_, value)) = self.values.get(&(height, seen.hash)).cloned()
        {
            let _ = reply.send(LocallyProposedValue::new(height, round, value.clone()));
            self.stream(height, round, &seen, &value).await;
            return;
        }
        let Some(number) = height.number() else {
            tracing::error!(target: TARGET, %height, "height beyond the chain's block numbers");
            return;
        };
        let deadline = started + timeout.saturating_sub(PROPOSE_MARGIN);
        // Pace to the block time: propose at the start of the first slot after the parent's.
        let parent_slot = self.app.chain().head().slot;
        let now = now_ms();
        let slot = (now / self.block_ms).max(parent_slot.saturating_add(1));
        let boundary = slot.saturating_mul(self.block_ms);
        if boundary > now {
            let wake = (Instant::now() + Duration::from_millis(boundary - now)).min(deadline);
            tokio::time::sleep_until(wake.into()).await;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let budget = Budget {
            max_bytes: self.max_value_bytes,
            max_time: (left / 2)
                .min(Duration::from_millis(self.block_ms / 2))
                .max(Duration::from_millis(10)),
        };
        let app = self.app.clone();
        let me = self.me;
        let built =
            tokio::task::spawn_blocking(move || app.propose(number, me, slot, budget)).await;
        let proposal = match built {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(target: TARGET, %height, %round, error = %e, "cannot build a block");
                return;
            }
            Err(e) => {
                tracing::error!(target: TARGET, %height, %round, error = %e, "block building failed");
                return;
            }
        };
        let author_signature = self.key.sign(proposal.hash.as_bytes());
        let value = Value::new(proposal.block, author_signature);
        tracing::info!(
            target: TARGET,
            %height,
            %round,
            hash = %value.hash,
            slot,
            extrinsics = value.block.extrinsics.len(),
            "proposing"
        );
        let seen = self.sign_proposal(height, round, Round::Nil, &value);
        self.remember(height, round, seen.clone(), value.clone());
        if reply
            .send(LocallyProposedValue::new(height, round, value.clone()))
            .is_err()
        {
            tracing::warn!(target: TARGET, "the engine dropped GetValue");
        }
        self.stream(height, round, &seen, &value).await;
    }

    fn sign_proposal(
        &self,
        height: Height,
        round: Round,
        valid_round: Round,
        value: &Value,
    ) -> Seen {
        let message = proposal_message(
            &self.genesis,
            height.0,
            round,
            valid_round,
            &value.hash,
            &self.me,
        );
        Seen {
            hash: value.hash,
            proposer: self.me,
            valid_round,
            signature: self.key.sign(&message),
        }
    }

    async fn restream(
        &mut self,
        height: Height,
        round: Round,
        valid_round: Round,
        address: AccountId,
        value_id: H256,
    ) {
        let Some((_, value)) = self.values.get(&(height, value_id)).cloned() else {
            tracing::debug!(target: TARGET, %height, %round, %value_id, "cannot restream an unknown value");
            return;
        };
        let seen = match self.proposals.get(&(height, round)) {
            Some(seen) if seen.hash == value_id && seen.proposer == address => seen.clone(),
            _ if address == self.me => {
                let seen = self.sign_proposal(height, round, valid_round, &value);
                self.remember(height, round, seen.clone(), value.clone());
                seen
            }
            _ => {
                tracing::debug!(target: TARGET, %height, %round, "no proposal to restream");
                return;
            }
        };
        tracing::debug!(target: TARGET, %height, %round, %valid_round, hash = %value_id, "restreaming");
        self.stream(height, round, &seen, &value).await;
    }

    /// Publishes a proposal as a stream of parts.
    async fn stream(&self, height: Height, round: Round, seen: &Seen, value: &Value) {
        let id = StreamId::new(Bytes::from(
            (height.0, round.as_u32(), seen.proposer, self.me).encode(),
        ));
        let encoded = Bytes::from(encode_value(value));
        let mut parts = Vec::with_capacity(encoded.len() / CHUNK_BYTES + 3);
        parts.push(ProposalPart::Init {
            height,
            round,
            valid_round: seen.valid_round,
            proposer: seen.proposer,
        });
        let mut at = 0;
        while at < encoded.len() {
            let end = (at + CHUNK_BYTES).min(encoded.len());
            parts.push(ProposalPart::Data(encoded.slice(at..end)));
            at = end;
        }
        parts.push(ProposalPart::Fin(seen.signature));
        let count = parts.len() as u64;
        let messages = parts
            .into_iter()
            .zip(0u64..)
            .map(|(part, seq)| StreamMessage::new(id.clone(), seq, StreamContent::Data(part)))
            .chain(std::iter::once(StreamMessage::new(
                id.clone(),
                count,
                StreamContent::Fin,
            )));
        for message in messages {
            if self
                .network
                .send(NetworkMsg::PublishProposalPart(message))
                .await
                .is_err()
            {
                tracing::warn!(target: TARGET, "the network is gone; cannot stream the proposal");
                return;
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Receiving proposals
    // ---------------------------------------------------------------------------------

    /// Adds a part to its stream; returns the proposal once the stream is complete and
    /// authentic.
    fn on_part(&mut self, from: PeerId, msg: StreamMessage<ProposalPart>) -> Option<Complete> {
        let max_parts = (self.max_value_bytes / CHUNK_BYTES + 4) as u64;
        if msg.sequence > max_parts {
            tracing::debug!(target: TARGET, %from, sequence = msg.sequence, "proposal part out of range; dropped");
            self.streams.remove(&(from, msg.stream_id));
            return None;
        }
        let key = (from, msg.stream_id.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.born)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                tracing::debug!(target: TARGET, peer = %k.0, "too many open proposal streams; dropping the oldest");
                self.streams.remove(&k);
            }
        }
        self.born = self.born.wrapping_add(1);
        let born = self.born;
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            born,
            parts: BTreeMap::new(),
            end: None,
            bytes: 0,
        });
        match msg.content {
            StreamContent::Fin => {
                if stream
                    .parts
                    .keys()
                    .next_back()
                    .is_some_and(|last| *last >= msg.sequence)
                {
                    tracing::debug!(target: TARGET, %from, "proposal stream ends before its parts; dropped");
                    self.streams.remove(&key);
                    return None;
                }
                stream.end = Some(msg.sequence);
            }
            StreamContent::Data(part) => {
                if stream.end.is_some_and(|end| msg.sequence >= end) {
                    tracing::debug!(target: TARGET, %from, "proposal part after the stream's end; dropped");
                    self.streams.remove(&key);
                    return None;
                }
                let ok = match &part {
                    ProposalPart::Init { height, round, .. } => {
                        msg.sequence == 0
                            && *height >= self.height
                            && height.0 <= self.height.0.saturating_add(MAX_HEIGHTS_AHEAD)
                            && round.as_u32().is_some()
                    }
                    ProposalPart::Data(bytes) => {
                        stream.bytes = stream.bytes.saturating_add(bytes.len());
                        msg.sequence > 0 && stream.bytes <= self.max_value_bytes
                    }
                    ProposalPart::Fin(_) => msg.sequence > 0,
                };
                if !ok {
                    tracing::debug!(target: TARGET, %from, sequence = msg.sequence, "unusable proposal part; stream dropped");
                    self.streams.remove(&key);
                    return None;
                }
                stream.parts.insert(msg.sequence, part);
            }
        }
        let end = stream.end?;
        if stream.parts.len() as u64 != end {
            return None;
        }
        let stream = self.streams.remove(&key)?;
        match self.assemble(stream) {
            Ok(complete) => Some(complete),
            Err(why) => {
                tracing::debug!(target: TARGET, %from, why, "proposal stream refused");
                None
            }
        }
    }

    /// Checks a stream's structure and the proposer's signature, and decodes the value.
    fn assemble(&self, stream: Stream) -> Result<Complete, &'static str> {
        let mut parts = stream.parts.into_values();
        let Some(ProposalPart::Init {
            height,
            round,
            valid_round,
            proposer,
        }) = parts.next()
        else {
            return Err("the stream does not open with Init");
        };
        let Some(ProposalPart::Fin(signature)) = parts.next_back() else {
            return Err("the stream does not close with Fin");
        };
        let mut encoded = Vec::with_capacity(stream.bytes);
        for part in parts {
            match part {
                ProposalPart::Data(bytes) => encoded.extend_from_slice(&bytes),
                _ => return Err("Init or Fin inside the stream"),
            }
        }
        let Some(expected) = self.validators.proposer(height, round) else {
            return Err("no validators");
        };
        if expected.account != proposer {
            return Err("not from the round's proposer");
        }
        let value = decode_value(&encoded).map_err(|_| "the value does not decode")?;
        let message = proposal_message(
            &self.genesis,
            height.0,
            round,
            valid_round,
            &value.hash,
            &proposer,
        );
        if !keys::verify(&signature, &message, &proposer) {
            return Err("the proposer's signature does not verify");
        }
        Ok(Complete {
            height,
            round,
            valid_round,
            proposer,
            signature,
            value,
        })
    }

    /// Hands a complete proposal to consensus, or keeps it until the chain reaches its height.
    async fn on_complete(&mut self, p: Complete) -> Option<ProposedValue<Ctx>> {
        if p.height < self.height {
            return None;
        }
        if p.height > self.height || p.height > self.next_height() {
            if self.pending.len() >= MAX_PENDING {
                // Drop the proposal for the highest height (the least useful soon).
                if let Some(i) = self
                    .pending
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, q)| q.height)
                    .map(|(i, _)| i)
                {
                    self.pending.swap_remove(i);
                }
            }
            tracing::debug!(target: TARGET, height = %p.height, round = %p.round, "proposal for a later height kept");
            self.pending.push(p);
            return None;
        }
        Some(self.accept(p).await)
    }

    /// Checks a proposal for the current height and remembers it.
    async fn accept(&mut self, p: Complete) -> ProposedValue<Ctx> {
        let validity = self.validity(p.height, &p.value).await;
        tracing::debug!(
            target: TARGET,
            height = %p.height,
            round = %p.round,
            hash = %p.value.hash,
            ?validity,
            "received proposal"
        );
        let seen = Seen {
            hash: p.value.hash,
            proposer: p.proposer,
            valid_round: p.valid_round,
            signature: p.signature,
        };
        self.remember(p.height, p.round, seen, p.value.clone());
        ProposedValue {
            height: p.height,
            round: p.round,
            valid_round: p.valid_round,
            proposer: p.proposer,
            value: p.value,
            validity,
        }
    }

    /// The kept proposals for `height`, checked, for consensus.
    async fn take_pending(&mut self, height: Height) -> Vec<ProposedValue<Ctx>> {
        if height > self.next_height() {
            return Vec::new();
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.height == height);
        self.pending = later;
        let mut values = Vec::with_capacity(now.len());
        for p in now {
            values.push(self.accept(p).await);
        }
        values
    }

    /// Whether `value` is a valid block for `height`: re-executed on the head for the next
    /// height, compared with the stored block for a height already committed.
    async fn validity(&self, height: Height, value: &Value) -> Validity {
        let next = self.next_height();
        if u64::from(value.number()) != height.0 {
            return Validity::Invalid;
        }
        if height < next {
            let stored = self.app.chain().block_hash(value.number());
            return Validity::from_bool(matches!(stored, Ok(Some(h)) if h == value.hash));
        }
        if height > next {
            return Validity::Invalid;
        }
        if !self.validators.contains(&value.block.header.author) {
            tracing::debug!(target: TARGET, author = %value.block.header.author, "block by a non-authority");
            return Validity::Invalid;
        }
        let slot_ms = value.block.header.slot.saturating_mul(self.block_ms);
        let limit = now_ms()
            .saturating_add(MAX_SLOT_DRIFT_MS)
            .saturating_add(self.block_ms);
        if slot_ms > limit {
            tracing::debug!(target: TARGET, slot = value.block.header.slot, "block slot too far in the future");
            return Validity::Invalid;
        }
        let app = self.app.clone();
        let block = value.block.clone();
        let signature = value.author_signature;
        match tokio::task::spawn_blocking(move || app.check(&block, &signature)).await {
            Ok(Ok(())) => Validity::Valid,
            Ok(Err(e)) => {
                tracing::info!(target: TARGET, %height, hash = %value.hash, error = %e, "invalid proposal");
                Validity::Invalid
            }
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, "checking a proposal failed");
                Validity::Invalid
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Deciding and sync
    // ---------------------------------------------------------------------------------

    /// Commits the decided block. Errors are logged; `Err` asks consensus to restart the
    /// height (sync then fetches the block from peers).
    async fn decided(&mut self, certificate: CommitCertificate<Ctx>) -> Result<(), ()> {
        let height = certificate.height;
        let hash = certificate.value_id;
        let Some(number) = height.number() else {
            tracing::error!(target: TARGET, %height, "decided height beyond the chain's block numbers");
            return Err(());
        };
        if self.already_committed(number, &hash)? {
            return Ok(());
        }
        let Some((_, value)) = self.values.get(&(height, hash)).cloned() else {
            tracing::warn!(target: TARGET, %height, %hash, "decided a block this node does not hold; restarting the height to sync it");
            return Err(());
        };
        let Some(round) = certificate.round.as_u32() else {
            tracing::error!(target: TARGET, %height, "decided in no round");
            return Err(());
        };
        let votes = certificate
            .commit_signatures
            .iter()
            .map(|s| Vote {
                authority: s.address,
                signature: s.signature.0,
            })
            .collect();
        let signed = SignedBlock {
            block: (*value.block).clone(),
            author_signature: value.author_signature,
            certificate: Certificate { round, votes },
        };
        let app = self.app.clone();
        let outcome = tokio::task::spawn_blocking(move || app.commit(signed)).await;
        match outcome {
            Ok(Ok(())) => {
                tracing::info!(target: TARGET, %height, %round, %hash, "finalized");
                Ok(())
            }
            Ok(Err(e)) => {
                if self.already_committed(number, &hash)? {
                    return Ok(());
                }
                tracing::error!(target: TARGET, %height, %hash, error = %e, "cannot commit the decided block");
                Err(())
            }
            Err(e) => {
                tracing::error!(target: TARGET, %height, error = %e, "committing failed");
                Err(())
            }
        }
    }

    /// Whether block `number` is already committed: `Ok(true)` with hash `hash`, `Err` with
    /// another hash (which consensus cannot undo).
    fn already_committed(&self, number: u32, hash: &H256) -> Result<bool, ()> {
        let chain = self.app.chain();
        if chain.head().number < number {
            return Ok(false);
        }
        match chain.block_hash(number) {
            Ok(Some(h)) if h == *hash => Ok(true),
            Ok(other) => {
                tracing::error!(
                    target: TARGET,
                    number,
                    decided = %hash,
                    committed = ?other,
                    "consensus decided another block than the one committed at this height"
                );
                Err(())
            }
            Err(e) => {
                tracing::error!(target: TARGET, number, error = %e, "cannot read the chain");
                Err(())
            }
        }
    }

    /// A committed block and its certificate, for a peer catching up.
    async fn decided_value(&self, height: Height) -> Option<RawDecidedValue<Ctx>> {
        let number = height.number()?;
        let app = self.app.clone();
        let signed = tokio::task::spawn_blocking(move || {
            let chain = app.chain();
            let hash = chain.block_hash(number).ok()??;
            chain.block(&hash).ok()?
        })
        .await
        .ok()??;
        let hash = signed.block.header.hash();
        let certificate = CommitCertificate {
            height,
            round: Round::new(signed.certificate.round),
            value_id: hash,
            commit_signatures: signed
                .certificate
                .votes
                .iter()
                .map(|v| CommitSignature::new(v.authority, Sig(v.signature)))
                .collect(),
        };
        let value = Value::new(signed.block, signed.author_signature);
        Some(RawDecidedValue::new(
            Bytes::from(encode_value(&value)),
            certificate,
        ))
    }

    /// A block a peer sent by sync, decoded and checked.
    async fn synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: AccountId,
        bytes: &[u8],
    ) -> Option<ProposedValue<Ctx>> {
        if bytes.len() > self.max_value_bytes {
            tracing::debug!(target: TARGET, %height, "synced value too large; dropped");
            return None;
        }
        let value = match decode_value(bytes) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(target: TARGET, %height, error = %e, "synced value does not decode");
                return None;
            }
        };
        let validity = self.validity(height, &value).await;
        tracing::debug!(target: TARGET, %height, %round, hash = %value.hash, ?validity, "synced value");
        if validity.is_valid() {
            self.keep_value(height, value.clone());
        }
        Some(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value,
            validity,
        })
    }
}

/// Runs the application until the engine closes its channel or `stop` fires.
pub(crate) async fn run(
    mut app: App,
    mut channels: Channels<Ctx>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let msg = tokio::select! {
            _ = &mut stop => break,
            msg = channels.consensus.recv() => match msg {
                Some(msg) => msg,
                None => break,
            },
        };
        app.handle(msg).await;
    }
    tracing::debug!(target: TARGET, "consensus application stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::chain::genesis::GenesisConfig;
    use crate::chain::pool::PoolLimits;
    use crate::chain::state::Authority;
    use crate::chain::store::MemStore;

    fn keys() -> Vec<Pair> {
        (1..=4)
            .map(|i| Pair::from_uri(&format!("//A{i}")).unwrap())
            .collect()
    }

    fn app(key: &Pair) -> (App, mpsc::Receiver<NetworkMsg<Ctx>>) {
        let mut genesis = GenesisConfig::dev();
        genesis.authorities = keys()
            .iter()
            .map(|k| Authority {
                id: k.public(),
                power: 1,
            })
            .collect();
        let chain = Chain::open(Arc::new(MemStore::default()), &genesis).unwrap();
        let authorities = chain.authorities().unwrap();
        let service = Arc::new(ChainService::new(chain, PoolLimits::default(), "t".into()));
        let (tx, rx) = mpsc::channel(1024);
        let app = App::new(
            service,
            key.clone(),
            Duration::from_millis(100),
            1 << 20,
            ValidatorSet::new(&authorities),
            tx,
        );
        (app, rx)
    }

    fn peer() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).unwrap()
    }

    /// The proposer of height 1, round 0, and a value it built.
    async fn proposal() -> (Pair, Seen, Value, Vec<StreamMessage<ProposalPart>>) {
        let keys = keys();
        let (probe, _) = app(&keys[0]);
        let proposer = probe
            .validators
            .proposer(Height(1), Round::ZERO)
            .unwrap()
            .account;
        let key = keys.into_iter().find(|k| k.public() == proposer).unwrap();
        let (mut sender, mut rx) = app(&key);
        let budget = Budget {
            max_bytes: 1 << 20,
            max_time: Duration::from_secs(1),
        };
        let p = sender.app.propose(1, proposer, 1, budget).unwrap();
        let value = Value::new(p.block, key.sign(p.hash.as_bytes()));
        let seen = sender.sign_proposal(Height(1), Round::ZERO, Round::Nil, &value);
        sender.remember(Height(1), Round::ZERO, seen.clone(), value.clone());
        sender.stream(Height(1), Round::ZERO, &seen, &value).await;
        drop(sender);
        let mut parts = Vec::new();
        while let Some(NetworkMsg::PublishProposalPart(m)) = rx.recv().await {
            parts.push(m);
        }
        (key, seen, value, parts)
    }

    #[tokio::test]
    async fn a_streamed_proposal_reassembles_in_any_order_and_checks_valid() {
        let (key, _, value, mut parts) = proposal().await;
        let other = keys()
            .into_iter()
            .find(|k| k.public() != key.public())
            .unwrap();
        let (mut receiver, _rx) = app(&other);
        parts.reverse();
        let from = peer();
        let mut complete = None;
        for part in parts {
            assert!(complete.is_none());
            complete = receiver.on_part(from, part);
        }
        let complete = complete.expect("complete");
        assert_eq!(complete.value, value);
        assert_eq!(complete.proposer, key.public());
        let proposed = receiver
            .on_complete(complete)
            .await
            .expect("current height");
        assert_eq!(proposed.validity, Validity::Valid);
        assert!(receiver.streams.is_empty());
    }

    #[tokio::test]
    async fn forged_or_oversized_streams_are_dropped() {
        let (key, _, _, parts) = proposal().await;
        let other = keys()
            .into_iter()
            .find(|k| k.public() != key.public())
            .unwrap();
        let (mut receiver, _rx) = app(&other);
        let from = peer();

        // A wrong signature on Fin.
        let mut forged = parts.clone();
        let fin = forged.len() - 2;
        forged[fin].content = StreamContent::Data(ProposalPart::Fin(Signature([7; 64])));
        assert!(
            forged
                .into_iter()
                .all(|p| receiver.on_part(from, p).is_none())
        );

        // Another authority claiming the round.
        let mut claimed = parts.clone();
        claimed[0].content = StreamContent::Data(ProposalPart::Init {
            height: Height(1),
            round: Round::ZERO,
            valid_round: Round::Nil,
            proposer: other.public(),
        });
        assert!(
            claimed
                .into_iter()
                .all(|p| receiver.on_part(from, p).is_none())
        );

        // Too much data (the limit here is 1 MiB): the fourth chunk drops the stream.
        let id = StreamId::new(Bytes::from_static(b"big"));
        let big = Bytes::from(vec![0u8; 300_000]);
        for seq in 1..=4 {
            let part = StreamMessage::new(
                id.clone(),
                seq,
                StreamContent::Data(ProposalPart::Data(big.clone())),
            );
            assert!(receiver.on_part(from, part).is_none());
        }
        assert!(!receiver.streams.contains_key(&(from, id)));

        // Garbage where the value should be.
        let id = StreamId::new(Bytes::from_static(b"junk"));
        let junk = [
            StreamContent::Data(ProposalPart::Init {
                height: Height(1),
                round: Round::ZERO,
                valid_round: Round::Nil,
                proposer: key.public(),
            }),
            StreamContent::Data(ProposalPart::Data(Bytes::from_static(b"not a block"))),
            StreamContent::Data(ProposalPart::Fin(Signature([1; 64]))),
            StreamContent::Fin,
        ];
        for (seq, content) in (0..).zip(junk) {
            assert!(
                receiver
                    .on_part(from, StreamMessage::new(id.clone(), seq, content))
                    .is_none()
            );
        }

        // Open streams are bounded.
        for i in 0..(MAX_STREAMS as u64 + 10) {
            let part = StreamMessage::new(
                StreamId::new(Bytes::from(i.to_le_bytes().to_vec())),
                1,
                StreamContent::Data(ProposalPart::Data(Bytes::from_static(b"x"))),
            );
            receiver.on_part(from, part);
        }
        assert!(receiver.streams.len() <= MAX_STREAMS);
    }
}
