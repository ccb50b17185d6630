//! The node service: the chain, the pool, a consensus engine and the JSON-RPC server, running.
//!
//! [`Node::start`] opens (or creates) the chain under a base path, starts the RPC server on
//! its address and, when the node holds an authority key, the block-authoring loop. Every
//! block is committed in one atomic, durable batch, so stopping the node at any moment (even
//! with SIGKILL) loses nothing that was committed; [`Node::stop`] ends it cleanly.

pub mod client;
mod rpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::chain::consensus::{Budget, SoloEngine};
use crate::chain::genesis::GenesisConfig;
use crate::chain::keys::{AccountId, Pair};
use crate::chain::ledger::{Chain, ChainError};
use crate::chain::pool::PoolLimits;
use crate::chain::service::{ChainEvent, ChainService};
use crate::chain::store::SledStore;

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
    /// Something else.
    #[error("{0}")]
    Other(String),
}

/// A running node.
pub struct Node {
    shared: Arc<ChainService>,
    stop: Arc<AtomicBool>,
    engine: Option<JoinHandle<()>>,
    rpc: jsonrpsee::server::ServerHandle,
    rpc_addr: SocketAddr,
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
        if let Some(key) = &config.authority {
            let authorities = chain.authorities()?;
            if !authorities.iter().any(|a| a.id == key.public()) {
                return Err(NodeError::NotAnAuthority(key.public()));
            }
        }
        let block_time = Duration::from_millis(chain.block_time_ms());
        let shared = Arc::new(ChainService::new(
            chain,
            config.pool,
            config.genesis.name.clone(),
        ));
        let (rpc, rpc_addr) =
            rpc::start(shared.clone(), config.rpc_addr, config.rpc_max_connections)
                .await
                .map_err(|source| NodeError::Rpc {
                    addr: config.rpc_addr,
                    source,
                })?;
        tracing::info!(%rpc_addr, "JSON-RPC server listening (HTTP and WebSocket)");
        let stop = Arc::new(AtomicBool::new(false));
        let engine = config.authority.map(|key| {
            let engine = SoloEngine::new(key, block_time);
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("ganglion-author".into())
                .spawn(move || author_loop(&engine, &shared, &stop))
        });
        let engine = engine
            .transpose()
            .map_err(|e| NodeError::Other(format!("cannot start the authoring thread: {e}")))?;
        Ok(Node {
            shared,
            stop,
            engine,
            rpc,
            rpc_addr,
        })
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
        let head = self.head_number();
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        tracing::info!(head, "node stopped");
    }
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
