//! Malachite's configuration for a chain, and the node description it starts from.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, P2pConfig, PubSubProtocol, TimeoutConfig, ValuePayload,
    ValueSyncConfig,
};
use malachitebft_app_channel::app::events::RxEvent;
use malachitebft_app_channel::app::node::{Node, NodeConfig, NodeHandle};

use super::context::Ctx;
use super::signing::Signer;
use crate::chain::hashing::H256;
use crate::chain::keys::{AccountId, Pair};

/// Most bytes of one gossiped message (a vote, or one proposal part).
pub(crate) const PUBSUB_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Room over the chain's block limit for a synced block's header, signatures and framing.
const RPC_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// What Malachite reads through [`Node::load_config`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

/// Timeouts for blocks every `block_time`: the proposer may wait up to a block time for its
/// slot, so the propose timeout is a block time and a second; votes travel on a local
/// network, so half a second each, growing by a tenth of a second per failed round.
pub(crate) fn timeouts(block_time: Duration) -> TimeoutConfig {
    let timeout_propose = block_time.saturating_add(Duration::from_secs(1));
    let timeout_prevote = Duration::from_millis(500);
    let timeout_precommit = Duration::from_millis(500);
    TimeoutConfig {
        timeout_propose,
        timeout_propose_delta: Duration::from_millis(250),
        timeout_prevote,
        timeout_prevote_delta: Duration::from_millis(100),
        timeout_precommit,
        timeout_precommit_delta: Duration::from_millis(100),
        timeout_rebroadcast: timeout_propose
            .saturating_add(timeout_prevote)
            .saturating_add(timeout_precommit),
    }
}

/// The engine's configuration: TCP on `listen`, gossipsub, the other authorities as
/// persistent peers, discovery and value sync on, and blocks up to `max_block_bytes`.
pub(crate) fn engine_config(
    moniker: String,
    listen: Multiaddr,
    peers: Vec<Multiaddr>,
    block_time: Duration,
    max_block_bytes: u64,
) -> EngineConfig {
    let rpc_max = max_block_bytes
        .saturating_add(RPC_OVERHEAD_BYTES)
        .max(10 * 1024 * 1024);
    let p2p = P2pConfig {
        listen_addr: listen,
        persistent_peers: peers,
        discovery: DiscoveryConfig {
            enabled: true,
            ..DiscoveryConfig::default()
        },
        protocol: PubSubProtocol::default(),
        pubsub_max_size: ByteSize::b(PUBSUB_MAX_BYTES),
        rpc_max_size: ByteSize::b(rpc_max),
    };
    let consensus = ConsensusConfig {
        timeouts: timeouts(block_time),
        p2p,
        value_payload: ValuePayload::PartsOnly,
        queue_capacity: 0,
    };
    let value_sync = ValueSyncConfig {
        enabled: true,
        status_update_interval: block_time
            .clamp(Duration::from_millis(250), Duration::from_secs(2)),
        request_timeout: Duration::from_secs(5),
        max_request_size: ByteSize::mib(1),
        max_response_size: ByteSize::b(rpc_max),
        parallel_requests: 5,
        inactive_threshold: Duration::from_secs(60),
        ..ValueSyncConfig::default()
    };
    EngineConfig {
        moniker,
        consensus,
        value_sync,
    }
}

/// The node Malachite starts: the authority key, its libp2p identity, the home directory
/// and the configuration. Only the accessors `start_engine` calls are meaningful.
pub(crate) struct EngineNode {
    pub(crate) home: PathBuf,
    pub(crate) key: Pair,
    pub(crate) identity: Keypair,
    pub(crate) genesis: H256,
    pub(crate) config: EngineConfig,
}

/// An unused node handle ([`Node::start`] is never called: the engine starts through
/// `start_engine`).
pub(crate) enum NoHandle {}

#[async_trait::async_trait]
impl NodeHandle<Ctx> for NoHandle {
    fn subscribe(&self) -> RxEvent<Ctx> {
        match *self {}
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        match *self {}
    }
}

#[async_trait::async_trait]
impl Node for EngineNode {
    type Context = Ctx;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = ();
    type SigningProvider = Signer;
    type NodeHandle = NoHandle;

    async fn start(&self) -> eyre::Result<NoHandle> {
        Err(eyre::eyre!(
            "the ganglion engine starts through BftEngine::start, not Node::start"
        ))
    }

    async fn run(self) -> eyre::Result<()> {
        Err(eyre::eyre!(
            "the ganglion engine starts through BftEngine::start, not Node::run"
        ))
    }

    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }

    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }

    fn get_address(&self, pk: &AccountId) -> AccountId {
        *pk
    }

    fn get_public_key(&self, pk: &Pair) -> AccountId {
        pk.public()
    }

    fn get_keypair(&self, _pk: Pair) -> Keypair {
        self.identity.clone()
    }

    fn load_private_key(&self, _file: ()) -> Pair {
        self.key.clone()
    }

    fn load_private_key_file(&self) -> eyre::Result<()> {
        Ok(())
    }

    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }

    fn get_signing_provider(&self, private_key: Pair) -> Signer {
        Signer::new(private_key, self.genesis)
    }
}
