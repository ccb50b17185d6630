//! The node service: the chain, the pool, a consensus engine and the JSON-RPC server, running.
//!
//! [`Node::start`] opens (or creates) the chain under a base path, starts the RPC server on
//! its address and, when the node holds an authority key, the block-authoring loop. Every
//! block is committed in one atomic, durable batch, so stopping the node at any moment (even
//! with SIGKILL) loses nothing that was committed; [`Node::stop`] ends it cleanly.

pub mod client;
pub mod net;
mod rpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::chain::consensus::{BftConfig, BftEngine, Budget, SoloEngine};
use crate::chain::genesis::GenesisConfig;
use crate::chain::keys::{AccountId, Pair};
use crate::chain::ledger::{Chain, ChainError};
use crate::chain::pool::PoolLimits;
use crate::chain::service::{ChainEvent, ChainService};
use crate::chain::store::SledStore;
use crate::p2p::{self, Multiaddr, Network, NetworkConfig, Services};

/// How to run a node.
#[derive(Debug)]
pub struct NodeConfig {
    /// Where the database lives (`BASE/chain`).
    pub base_path: PathBuf,
    /// The chain.
    pub genesis: GenesisConfig,
    /// The RPC server's address (port 0 picks a free port).
    pub rpc_addr: SocketAddr,
    /// The authority key this node decides blocks with, if it is an authority.
    pub authority: Option<Pair>,
    /// Pool bounds.
    pub pool: PoolLimits,
    /// Most simultaneous RPC connections.
    pub rpc_max_connections: u32,
    /// The peer-to-peer network, or `None` for a node on its own.
    pub network: Option<NetworkOptions>,
}

/// How a node joins the network.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// Addresses to listen on (TCP and QUIC; see [`p2p::default_listen`]).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial first, each ending in `/p2p/PEER_ID`.
    pub bootnodes: Vec<Multiaddr>,
    /// Discover peers on the local network (on by default for dev chains).
    pub mdns: bool,
    /// Bounds.
    pub limits: p2p::NetworkLimits,
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The chain could not be opened.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The RPC server could not start.
    #[error(
        "cannot start the RPC server on {addr}: {source}. Is another node using the port? Pick another with --rpc-port"
    )]
    Rpc {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The authority key is not in the genesis authority set.
    #[error("{0} is not an authority of this chain, so it cannot author blocks")]
    NotAnAuthority(AccountId),
    /// The network could not start.
    #[error(transparent)]
    Network(#[from] p2p::NetworkError),
    /// The node key could not be loaded.
    #[error(transparent)]
    NodeKey(#[from] p2p::key::NodeKeyError),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

/// A running node.
pub struct Node {
    shared: Arc<ChainService>,
    stop: Arc<AtomicBool>,
    engine: Option<JoinHandle<()>>,
    bft: Option<BftEngine>,
    rpc: jsonrpsee::server::ServerHandle,
    rpc_addr: SocketAddr,
    network: Option<(Network, tokio::task::JoinHandle<()>)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("rpc_addr", &self.rpc_addr)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Opens the chain and starts the RPC server and, for an authority, block authoring.
    /// Must be called inside a tokio runtime.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let db_path = config.base_path.join("chain");
        std::fs::create_dir_all(&config.base_path).map_err(|e| {
            NodeError::Other(format!(
                "cannot create the base path {}: {e}",
                config.base_path.display()
            ))
        })?;
        let store = SledStore::open(&db_path).map_err(ChainError::from)?;
        let chain = Chain::open(Arc::new(store), &config.genesis)?;
        tracing::info!(
            genesis = %chain.genesis_hash(),
            head = chain.head().number,
            path = %db_path.display(),
            "chain opened"
        );
        let authorities = chain.authorities()?;
        if let Some(key) = &config.authority
            && !authorities.iter().any(|a| a.id == key.public())
        {
            return Err(NodeError::NotAnAuthority(key.public()));
        }
        let several = authorities.len() > 1;
        let block_time = Duration::from_millis(chain.block_time_ms());
        let shared = Arc::new(ChainService::new(
            chain,
            config.pool,
            config.genesis.name.clone(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let mut net = None;
        let bootnodes = config
            .network
            .as_ref()
            .map(|o| o.bootnodes.clone())
            .unwrap_or_default();
        if let Some(options) = config.network {
            let keypair = p2p::key::load_or_create(
                &config
                    .base_path
                    .join("network")
                    .join(p2p::key::NODE_KEY_FILE),
            )?;
            let genesis = shared.chain().genesis_hash();
            let network_config = NetworkConfig {
                keypair,
                listen: options.listen,
                bootnodes: options.bootnodes,
                mdns: options.mdns,
                chain: Some(hex::encode(&genesis.as_bytes()[..8])),
                bundle_dir: Some(config.base_path.join("bundles")),
                services: Services {
                    sync: Some(Arc::new(net::SyncServer {
                        service: shared.clone(),
                    })),
                    queries: None,
                },
                limits: options.limits,
            };
            let (network, events) = Network::start(network_config).await?;
            for addr in network.listen_addrs() {
                tracing::info!(%addr, "listening for peers");
            }
            let status = Arc::new(net::SyncStatus::default());
            let task = tokio::spawn(net::drive(
                shared.clone(),
                network.clone(),
                events,
                status.clone(),
                stop.clone(),
            ));
            net = Some((network, status, task));
        }
        let rpc_context = rpc::RpcContext {
            service: shared.clone(),
            network: net.as_ref().map(|(n, s, _)| (n.clone(), s.clone())),
        };
        let (rpc, rpc_addr) = rpc::start(rpc_context, config.rpc_addr, config.rpc_max_connections)
            .await
            .map_err(|source| NodeError::Rpc {
                addr: config.rpc_addr,
                source,
            })?;
        tracing::info!(%rpc_addr, "JSON-RPC server listening (HTTP and WebSocket)");
        let mut engine = None;
        let mut bft = None;
        match config.authority {
            Some(key) if several => {
                let Some((network, _, _)) = &net else {
                    return Err(NodeError::Other(
                        "a chain with several authorities decides blocks over the network: drop --no-network".into(),
                    ));
                };
                let (listen, peers) = bft_addresses(&network.listen_addrs(), &bootnodes)?;
                tracing::info!(%listen, peers = peers.len(), "starting the BFT engine (Malachite)");
                let started = BftEngine::start(
                    shared.clone(),
                    BftConfig {
                        key,
                        listen,
                        peers,
                        home: config.base_path.join("bft"),
                        block_time,
                    },
                )
                .await
                .map_err(|e| NodeError::Other(format!("cannot start the BFT engine: {e}")))?;
                bft = Some(started);
            }
            Some(key) => {
                let solo = SoloEngine::new(key, block_time);
                let shared = shared.clone();
                let stop = stop.clone();
                let handle = std::thread::Builder::new()
                    .name("ganglion-author".into())
                    .spawn(move || author_loop(&solo, &shared, &stop))
                    .map_err(|e| {
                        NodeError::Other(format!("cannot start the authoring thread: {e}"))
                    })?;
                engine = Some(handle);
            }
            None => {}
        }
        Ok(Node {
            shared,
            stop,
            engine,
            bft,
            rpc,
            rpc_addr,
            network: net.map(|(n, _, t)| (n, t)),
        })
    }

    /// The network, when the node is on one.
    pub fn network(&self) -> Option<&Network> {
        self.network.as_ref().map(|(n, _)| n)
    }

    /// The chain service.
    pub fn service(&self) -> &Arc<ChainService> {
        &self.shared
    }

    /// The RPC server's address.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// The head block's number.
    pub fn head_number(&self) -> u32 {
        self.shared.chain().head().number
    }

    /// Subscribes to chain events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.shared.subscribe()
    }

    /// Stops authoring and the RPC server, and waits for both.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(engine) = self.engine.take() {
            let _ = tokio::task::spawn_blocking(move || engine.join()).await;
        }
        if let Some(bft) = self.bft.take() {
            bft.stop().await;
        }
        if let Some((network, task)) = self.network.take() {
            network.stop().await;
            let _ = task.await;
        }
        let head = self.head_number();
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        tracing::info!(head, "node stopped");
    }
}

/// The BFT engine's own address and its peers', derived from the node's: the engine listens
/// on TCP at the node's first TCP port plus one (same IP), and reaches each bootnode's engine
/// at that node's port plus one. One `--p2p-port` and one `--bootnodes` list serve both.
fn bft_addresses(
    listen: &[Multiaddr],
    bootnodes: &[Multiaddr],
) -> Result<(Multiaddr, Vec<Multiaddr>), NodeError> {
    use crate::p2p::Protocol;
    fn next_port(addr: &Multiaddr) -> Option<Multiaddr> {
        let mut out = Multiaddr::empty();
        let mut port = None;
        for part in addr.iter() {
            match part {
                Protocol::Ip4(_)
                | Protocol::Ip6(_)
                | Protocol::Dns(_)
                | Protocol::Dns4(_)
                | Protocol::Dns6(_) => out.push(part),
                Protocol::Tcp(p) | Protocol::Udp(p) => port = Some(p),
                _ => {}
            }
        }
        let port = port?.checked_add(1)?;
        Some(out.with(Protocol::Tcp(port)))
    }
    let own = listen
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .and_then(next_port)
        .ok_or_else(|| {
            NodeError::Other(
                "the BFT engine needs a TCP listen address (add /ip4/0.0.0.0/tcp/PORT to --listen-addr)".into(),
            )
        })?;
    let peers = bootnodes.iter().filter_map(next_port).collect();
    Ok((own, peers))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Authors a block at each slot boundary until `stop` is set.
fn author_loop(engine: &SoloEngine, shared: &ChainService, stop: &AtomicBool) {
    let block_ms = engine.block_time().as_millis().max(1) as u64;
    while !stop.load(Ordering::SeqCst) {
        let now = now_ms();
        let next_boundary = (now / block_ms + 1) * block_ms;
        // Sleep in short steps so that a stop request is seen quickly.
        let wake = Instant::now() + Duration::from_millis(next_boundary.saturating_sub(now));
        while Instant::now() < wake {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep((wake - Instant::now()).min(Duration::from_millis(20)));
        }
        let last = shared.chain().head().slot;
        let slot = (now_ms() / block_ms).max(last + 1);
        let budget = Budget {
            max_bytes: usize::MAX,
            max_time: Duration::from_millis(block_ms / 2),
        };
        if let Err(e) = engine.step(shared, slot, budget) {
            tracing::warn!(error = %e, "could not author a block");
        }
    }
}
