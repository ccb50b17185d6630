//! The network: one libp2p swarm per process carrying everything ganglion sends between
//! machines.
//!
//! - **Transports**: TCP and QUIC, noise, yamux; identify and ping; mDNS for local discovery
//!   (dev chains); Kademlia with bootnodes for wider networks.
//! - **Gossip** ([`Topic`]): transactions and decided blocks, per chain. Every message is handed
//!   to the owner as a [`NetworkEvent::Gossip`] and forwarded to other peers only once the
//!   owner has validated it ([`Network::validate`]): junk is not relayed.
//! - **Sync**: a request-response protocol the owner answers through a [`RequestHandler`]
//!   (the node serves blocks by height range from its store).
//! - **Miner queries** ([`query`]): signed requests from validators, answered by any async
//!   [`QueryHandler`] behind an [`Authorizer`], with size caps, timeouts and bounded
//!   concurrency per peer.
//! - **Bundles**: content-addressed by blake3 hash, announced as Kademlia provider records,
//!   fetched from any provider and verified against the hash before use.
//! - **Peer hygiene**: a peer sending malformed, oversized or invalid messages loses score and
//!   is disconnected and banned for a while below a threshold; connections are limited; every
//!   queue is bounded.
//!
//! The module knows nothing of the chain: `node` composes it with the chain service.
//! `docs/network.md` describes the protocols for operators.

pub mod codec;
pub mod key;
pub mod query;
mod swarm;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
pub use libp2p::gossipsub::{MessageAcceptance, MessageId};
pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

pub use codec::FrameLimits;
use query::{Authorizer, QueryError, QueryRequest};

use crate::chain::keys::AccountId;

/// A gossip topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// Signed extrinsics, validated before they are forwarded.
    Transactions,
    /// Decided blocks with their certificates.
    Blocks,
}

/// Bounds on what the network accepts and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkLimits {
    /// Most connected peers.
    pub max_peers: u32,
    /// Most bytes in a gossip message.
    pub max_gossip_bytes: usize,
    /// Caps on sync requests and responses.
    pub sync: FrameLimits,
    /// Caps on miner queries and answers.
    pub query: FrameLimits,
    /// Most queries one peer may have in flight at a miner.
    pub query_concurrency_per_peer: usize,
    /// Most queries in flight at a miner from everyone.
    pub query_concurrency: usize,
    /// Largest bundle served or fetched.
    pub max_bundle_bytes: usize,
}

impl Default for NetworkLimits {
    fn default() -> Self {
        NetworkLimits {
            max_peers: 64,
            max_gossip_bytes: 5 << 20,
            sync: FrameLimits {
                request: 1024,
                response: 16 << 20,
            },
            query: FrameLimits {
                request: 4 << 20,
                response: 4 << 20,
            },
            query_concurrency_per_peer: 64,
            query_concurrency: 1024,
            max_bundle_bytes: 16 << 20,
        }
    }
}

/// Answers one kind of request (the node answers sync requests with blocks).
pub trait RequestHandler: Send + Sync + 'static {
    /// The response to `request` from `peer`; `Err` drops the request and counts against the
    /// peer (it sent something malformed).
    fn handle(&self, peer: PeerId, request: Vec<u8>)
    -> BoxFuture<'static, Result<Vec<u8>, String>>;
}

/// Answers miner queries: any async function of (subnet, validator hotkey, payload).
pub trait QueryHandler: Send + Sync + 'static {
    /// The response payload, or why the miner could not answer.
    fn answer(
        &self,
        netuid: u16,
        validator: AccountId,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, String>>;
}

impl<F, Fut> QueryHandler for F
where
    F: Fn(u16, AccountId, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<u8>, String>> + Send + 'static,
{
    fn answer(
        &self,
        netuid: u16,
        validator: AccountId,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        Box::pin(self(netuid, validator, payload))
    }
}

/// What the swarm serves besides gossip.
#[derive(Default)]
pub struct Services {
    /// Answers sync requests (a node with a chain).
    pub sync: Option<Arc<dyn RequestHandler>>,
    /// Answers miner queries, with who may ask (a miner).
    pub queries: Option<(Arc<dyn QueryHandler>, Arc<dyn Authorizer>)>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("sync", &self.sync.is_some())
            .field("queries", &self.queries.is_some())
            .finish()
    }
}

/// How to start the network.
#[derive(Debug)]
pub struct NetworkConfig {
    /// The node key (its peer id).
    pub keypair: Keypair,
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/30333`, `/ip4/0.0.0.0/udp/30333/quic-v1`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial first and seed Kademlia with, each with its `/p2p/` peer id.
    pub bootnodes: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// The chain this node follows (a short id of its genesis hash): it names the gossip
    /// topics and the sync protocol, so nodes of different chains do not mix. `None` for a
    /// process that only serves or sends queries and bundles.
    pub chain: Option<String>,
    /// Where bundles this node serves are kept (`HASH.gnglb`); `None` keeps none.
    pub bundle_dir: Option<PathBuf>,
    /// What the node answers.
    pub services: Services,
    /// Bounds.
    pub limits: NetworkLimits,
}

impl NetworkConfig {
    /// A config listening on TCP and QUIC at `port` on every interface, with defaults.
    pub fn new(keypair: Keypair, port: u16) -> NetworkConfig {
        NetworkConfig {
            keypair,
            listen: default_listen(std::net::Ipv4Addr::UNSPECIFIED, port),
            bootnodes: Vec::new(),
            mdns: false,
            chain: None,
            bundle_dir: None,
            services: Services::default(),
            limits: NetworkLimits::default(),
        }
    }
}

/// TCP and QUIC listen addresses for `ip` and `port`.
pub fn default_listen(ip: std::net::Ipv4Addr, port: u16) -> Vec<Multiaddr> {
    let tcp = Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4(ip))
        .with(libp2p::multiaddr::Protocol::Tcp(port));
    let quic = Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4(ip))
        .with(libp2p::multiaddr::Protocol::Udp(port))
        .with(libp2p::multiaddr::Protocol::QuicV1);
    vec![tcp, quic]
}

/// Splits `/.../p2p/ID` into the peer id and the address before it.
pub fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}

/// Something that happened on the network, for the owner.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A gossip message to validate: answer with [`Network::validate`] (until then it is not
    /// forwarded).
    Gossip {
        /// Its topic.
        topic: Topic,
        /// Its id.
        id: MessageId,
        /// The peer it came from.
        source: PeerId,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A peer connected (its first connection).
    PeerConnected(PeerId),
    /// A peer disconnected (its last connection).
    PeerDisconnected(PeerId),
}

/// What is known about a connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its id.
    pub peer_id: PeerId,
    /// Its agent (`ganglion/VERSION`), once identified.
    pub agent: Option<String>,
    /// The addresses it listens on, once identified.
    pub listen_addrs: Vec<Multiaddr>,
    /// Its score (0 is neutral; at the ban threshold it is dropped).
    pub score: i32,
}

/// The network's shared, always-readable status.
#[derive(Debug, Default)]
pub(crate) struct Status {
    listen_addrs: Vec<Multiaddr>,
    peers: BTreeMap<PeerId, PeerInfo>,
}

/// Why the network failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {reason}. Is another node using the port? Pick another with --p2p-port"
    )]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A bootnode address lacks its peer id.
    #[error(
        "bootnode {0} has no /p2p/PEER_ID at the end; copy the address from system_localListenAddresses"
    )]
    Bootnode(Multiaddr),
    /// The transport could not be built.
    #[error("cannot build the network transport: {0}")]
    Transport(String),
    /// The network task has stopped.
    #[error("the network has stopped")]
    Stopped,
    /// A request failed.
    #[error("{0}")]
    Request(String),
    /// A message was refused.
    #[error("{0}")]
    Publish(String),
    /// A bundle could not be found or was wrong.
    #[error("{0}")]
    Bundle(String),
}

/// Kinds of misbehaviour the owner reports (what it found invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Sent something that does not decode.
    Malformed,
    /// Sent something well-formed but invalid (a block that does not check).
    Invalid,
    /// Answered a request uselessly (an empty or wrong sync response).
    Useless,
}

pub(crate) enum Command {
    Publish(Topic, Vec<u8>, oneshot::Sender<Result<(), NetworkError>>),
    Validate(MessageId, PeerId, MessageAcceptance),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetworkError>>),
    Sync(
        PeerId,
        Vec<u8>,
        oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    ),
    Query(
        PeerId,
        Vec<Multiaddr>,
        Vec<u8>,
        oneshot::Sender<Result<Vec<u8>, QueryError>>,
    ),
    Provide([u8; 32], Vec<u8>, oneshot::Sender<Result<(), NetworkError>>),
    Fetch([u8; 32], oneshot::Sender<Result<Vec<u8>, NetworkError>>),
    Report(PeerId, Misbehaviour),
    Stop,
}

/// A handle on the running network (cheap to clone).
#[derive(Clone)]
pub struct Network {
    commands: mpsc::Sender<Command>,
    status: Arc<RwLock<Status>>,
    peer_id: PeerId,
    task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the swarm (inside a tokio runtime): binds every listen address, dials the
    /// bootnodes. Returns the handle and the owner's bounded event stream (events are dropped,
    /// never queued without bound, if the owner falls behind).
    pub async fn start(
        config: NetworkConfig,
    ) -> Result<(Network, mpsc::Receiver<NetworkEvent>), NetworkError> {
        swarm::start(config).await
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses this node listens on, each ending in `/p2p/PEER_ID`.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let status = self
            .status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status
            .listen_addrs
            .iter()
            .map(|a| a.clone().with_p2p(self.peer_id).unwrap_or_else(|a| a))
            .collect()
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let status = self
            .status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.peers.values().cloned().collect()
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        let status = self
            .status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.peers.len()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Gossips `data` on `topic`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|tx| Command::Publish(topic, data, tx)).await?
    }

    /// Gossips `data` on `topic` without waiting (dropped if the swarm is saturated; gossip is
    /// best effort and sync repairs what it misses).
    pub fn gossip(&self, topic: Topic, data: Vec<u8>) {
        let (tx, _) = oneshot::channel();
        let _ = self.commands.try_send(Command::Publish(topic, data, tx));
    }

    /// Reports the owner's verdict on a gossip message: accepted messages are forwarded,
    /// rejected ones count against the peer, ignored ones are dropped.
    pub fn validate(&self, id: MessageId, source: PeerId, verdict: MessageAcceptance) {
        // Never block the owner: if the swarm is saturated the message simply expires.
        let _ = self
            .commands
            .try_send(Command::Validate(id, source, verdict));
    }

    /// Reports a peer's misbehaviour found by the owner.
    pub fn report(&self, peer: PeerId, what: Misbehaviour) {
        let _ = self.commands.try_send(Command::Report(peer, what));
    }

    /// Dials an address (with or without `/p2p/`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// Sends a sync request to `peer` and waits for the answer (up to 10 s).
    pub async fn sync_request(
        &self,
        peer: PeerId,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, NetworkError> {
        self.ask(|tx| Command::Sync(peer, request, tx)).await?
    }

    /// Queries a miner at `peer` (dialing `addrs` if not connected) and waits up to `timeout`.
    pub async fn query(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: &QueryRequest,
        timeout: Duration,
    ) -> Result<Vec<u8>, QueryError> {
        use parity_scale_codec::Encode as _;
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Query(peer, addrs, request.encode(), tx))
            .await
            .map_err(|_| QueryError::Network("the network has stopped".into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(QueryError::Timeout(timeout.as_millis() as u64)),
            Ok(Err(_)) => Err(QueryError::Network("the network has stopped".into())),
            Ok(Ok(answer)) => answer,
        }
    }

    /// Keeps `bytes` (whose blake3 hash must be `hash`) and announces this node as a provider.
    pub async fn provide_bundle(&self, hash: [u8; 32], bytes: Vec<u8>) -> Result<(), NetworkError> {
        if *blake3::hash(&bytes).as_bytes() != hash {
            return Err(NetworkError::Bundle(
                "the bundle's bytes do not hash to the given hash".into(),
            ));
        }
        self.ask(|tx| Command::Provide(hash, bytes, tx)).await?
    }

    /// Finds a provider of the bundle `hash` and fetches it, verified against the hash.
    pub async fn fetch_bundle(
        &self,
        hash: [u8; 32],
        timeout: Duration,
    ) -> Result<Vec<u8>, NetworkError> {
        match tokio::time::timeout(timeout, self.ask(|tx| Command::Fetch(hash, tx))).await {
            Err(_) => Err(NetworkError::Bundle(format!(
                "no peer delivered bundle {} within {} s",
                hex::encode(hash),
                timeout.as_secs()
            ))),
            Ok(r) => r?,
        }
    }

    /// Stops the swarm and waits for it.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
        let task = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
