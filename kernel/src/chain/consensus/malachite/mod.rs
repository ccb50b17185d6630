//! Tendermint BFT for chains with several authorities: Malachite behind the consensus seam.
//!
//! [`BftEngine`] runs [Malachite] (Informal Systems' Tendermint engine) for one authority of
//! a chain and drives the chain through [`Application`]: the round's proposer builds a block
//! (`propose`), the others re-execute it (`check`) and vote, and a block decided by more than
//! two thirds of the voting power is committed with its certificate (`commit`). Finality is
//! immediate, there are no forks, and the chain stays safe while fewer than a third of the
//! voting power is faulty; it makes progress while more than two thirds is online and
//! connected.
//!
//! - Types (`context`): a height is a block number, a value is a block with its author's
//!   signature (its id is the block hash), the validators are the chain's authorities sorted
//!   by account, and the proposer of `(height, round)` is the authority at index
//!   `(height + round) mod n`.
//! - Signatures (`signing`): sr25519 with the authority keys. A precommit for a block signs
//!   exactly [`vote_message`], so the commit certificate Malachite assembles is the chain's
//!   [`Certificate`]; other votes and proposals sign distinct, domain-separated messages.
//! - Network: libp2p over TCP with gossipsub for votes and proposal parts, the other
//!   authorities as persistent peers, discovery, and value sync for nodes that fall behind.
//!   The libp2p identity is an ed25519 key derived from the authority key
//!   ([`Pair::derive_secret`]), so an authority keeps its peer id across restarts.
//! - Pacing: the proposer of a height waits for the first slot boundary after its parent's
//!   slot (never past the propose timeout), so blocks come about one per block time.
//! - Storage: Malachite's write-ahead log lives in `home/wal`; the chain keeps every block,
//!   so any authority can serve any height to a peer that catches up.
//!
//! [Malachite]: https://github.com/informalsystems/malachite
//! [`Application`]: super::Application
//! [`vote_message`]: crate::chain::block::vote_message
//! [`Certificate`]: crate::chain::block::Certificate

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::float_arithmetic
)]

mod app;
mod codec;
mod config;
mod context;
mod signing;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use malachitebft_app_channel::app::node::EngineHandle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Application, ConsensusError};
use crate::chain::keys::{AccountId, Pair};
use crate::chain::service::ChainService;
use context::{Ctx, Height, ValidatorSet};

/// The domain of the engine's libp2p identity key, derived from the authority key.
const IDENTITY_DOMAIN: &[u8] = b"ganglion/bft/libp2p-ed25519/v1";
/// How long [`BftEngine::stop`] waits for each part of the engine to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Room over the chain's block limit for an encoded value's header and signature.
const VALUE_OVERHEAD_BYTES: usize = 64 * 1024;

/// How to run the BFT engine for one authority.
#[derive(Debug, Clone)]
pub struct BftConfig {
    /// This authority's key; its account must be one of the chain's authorities.
    pub key: Pair,
    /// The engine's own listen address, e.g. `/ip4/127.0.0.1/tcp/30334` (TCP only).
    pub listen: Multiaddr,
    /// The other authorities' engine addresses (dialled and kept connected).
    pub peers: Vec<Multiaddr>,
    /// The directory for the engine's write-ahead log (created if missing). One engine per
    /// directory.
    pub home: PathBuf,
    /// Target time between blocks: proposals are paced to it.
    pub block_time: Duration,
}

/// A running Malachite engine deciding blocks for a chain. Stop it with
/// [`BftEngine::stop`]; dropping it asks the engine to stop without waiting.
///
/// ```no_run
/// # async fn demo(service: std::sync::Arc<ganglion_kernel::chain::service::ChainService>)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use ganglion_kernel::chain::consensus::{BftConfig, BftEngine};
/// use ganglion_kernel::chain::keys::Pair;
///
/// let engine = BftEngine::start(service, BftConfig {
///     key: Pair::from_uri("//Alice")?,
///     listen: "/ip4/127.0.0.1/tcp/30334".parse()?,
///     peers: vec!["/ip4/127.0.0.1/tcp/30335".parse()?],
///     home: "/tmp/ganglion-alice/bft".into(),
///     block_time: std::time::Duration::from_secs(1),
/// })
/// .await?;
/// println!("engine peer id: {}", engine.peer_id());
/// engine.stop().await;
/// # Ok(())
/// # }
/// # let _ = demo;
/// ```
pub struct BftEngine {
    peer_id: PeerId,
    authority: AccountId,
    engine: Option<EngineHandle>,
    app: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for BftEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BftEngine")
            .field("peer_id", &self.peer_id)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

fn start_error(message: String) -> ConsensusError {
    ConsensusError::Start(message)
}

/// The TCP socket address of a `/ip4|ip6/ADDR/tcp/PORT` multiaddr.
fn tcp_socket(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut ip: Option<IpAddr> = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::Ip4(a) => ip = Some(a.into()),
            Protocol::Ip6(a) => ip = Some(a.into()),
            Protocol::Tcp(port) => return ip.map(|ip| SocketAddr::new(ip, port)),
            _ => {}
        }
    }
    None
}

impl BftEngine {
    /// Starts Malachite for `app` with `config`: the engine listens, dials the peers and
    /// starts deciding at the chain's next height (after replaying its write-ahead log).
    /// Must be called inside a multi-threaded tokio runtime.
    ///
    /// Fails with [`ConsensusError::Start`] if the key is not an authority of the chain, the
    /// listen address is not a free TCP address, or the home directory cannot be used, and
    /// with [`ConsensusError::Node`] if the chain cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future after the engine's actors have started leaves
    /// them running until the runtime shuts down.
    pub async fn start(
        app: Arc<ChainService>,
        config: BftConfig,
    ) -> Result<BftEngine, ConsensusError> {
        let me = config.key.public();
        let (authorities, next, max_block_bytes) = {
            let chain = app.chain();
            let node = |e: crate::chain::ChainError| ConsensusError::Node(e.to_string());
            let authorities = chain.authorities().map_err(node)?;
            let params = chain.params().map_err(node)?;
            (
                authorities,
                u64::from(chain.head().number).saturating_add(1),
                params.max_block_bytes,
            )
        };
        let validators = ValidatorSet::new(&authorities);
        if !validators.contains(&me) {
            return Err(start_error(format!(
                "{me} is not one of this chain's authorities (the genesis config's \
                 `authorities`), so it cannot vote; start the engine with an authority's key"
            )));
        }
        let Some(socket) = tcp_socket(&config.listen) else {
            return Err(start_error(format!(
                "the engine's listen address {} is not /ip4/ADDRESS/tcp/PORT (or ip6); \
                 give one such as /ip4/127.0.0.1/tcp/30334",
                config.listen
            )));
        };
        if socket.port() != 0 {
            // Malachite only logs a listen failure; find it here, with a clear message.
            TcpListener::bind(socket).map_err(|e| {
                start_error(format!(
                    "cannot listen on {} ({e}); is another node or engine using the port? \
                     pick another port",
                    config.listen
                ))
            })?;
        }
        std::fs::create_dir_all(&config.home).map_err(|e| {
            start_error(format!(
                "cannot create the engine's home directory {}: {e}; check the path and its \
                 permissions",
                config.home.display()
            ))
        })?;
        let mut secret = config.key.derive_secret(IDENTITY_DOMAIN);
        let identity = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
            .map_err(|e| start_error(format!("cannot derive the engine's libp2p key: {e}")))?;
        let peer_id = identity.public().to_peer_id();
        let engine_config = config::engine_config(
            format!("ganglion-{me}"),
            config.listen.clone(),
            config.peers.clone(),
            config.block_time,
            u64::from(max_block_bytes),
        );
        let node = config::EngineNode {
            home: config.home.clone(),
            key: config.key.clone(),
            identity,
            genesis: app.genesis_hash(),
            config: engine_config.clone(),
        };
        tracing::info!(
            target: "ganglion::consensus",
            authority = %me,
            %peer_id,
            listen = %config.listen,
            peers = config.peers.len(),
            height = next,
            "starting the BFT engine"
        );
        let (channels, engine) = malachitebft_app_channel::start_engine(
            Ctx,
            node,
            engine_config,
            codec::ScaleCodec,
            codec::ScaleCodec,
            Some(Height(next)),
            validators.clone(),
        )
        .await
        .map_err(|e| {
            start_error(format!(
                "Malachite did not start: {e:#}; is another engine using the home directory \
                 {}?",
                config.home.display()
            ))
        })?;
        let state = app::App::new(
            app,
            config.key,
            config.block_time,
            usize::try_from(max_block_bytes)
                .unwrap_or(usize::MAX)
                .saturating_add(VALUE_OVERHEAD_BYTES),
            validators,
            channels.network.clone(),
        );
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(app::run(state, channels, stopped));
        Ok(BftEngine {
            peer_id,
            authority: me,
            engine: Some(engine),
            app: Some(task),
            stop: Some(stop),
        })
    }

    /// The engine's libp2p peer id (derived from the authority key: the same at every
    /// start).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The authority this engine votes for.
    pub fn authority(&self) -> AccountId {
        self.authority
    }

    /// Stops the engine and waits for it: the network closes its connections and listener,
    /// the write-ahead log is flushed and closed, and the application task ends. Blocks
    /// already committed stay committed; a restart with the same home directory resumes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in effect: dropping the future part-way drops the engine, which asks
    /// whatever is still running to stop.
    pub async fn stop(mut self) {
        if let Some(engine) = self.engine.take() {
            // Stop the actors gracefully (not a kill): the network's post-stop shuts its
            // swarm down and the WAL's closes its file.
            let children = engine.actor.get_children();
            futures::future::join_all(
                children
                    .iter()
                    .map(|c| c.stop_and_wait(Some("engine stopped".into()), Some(STOP_TIMEOUT))),
            )
            .await;
            let _ = engine.actor.stop_and_wait(None, Some(STOP_TIMEOUT)).await;
            let _ = tokio::time::timeout(STOP_TIMEOUT, engine.handle).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(app) = self.app.take() {
            let _ = tokio::time::timeout(STOP_TIMEOUT, app).await;
        }
        tracing::info!(target: "ganglion::consensus", authority = %self.authority, "BFT engine stopped");
    }
}

impl Drop for BftEngine {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            for child in engine.actor.get_children() {
                child.stop(Some("engine dropped".into()));
            }
            engine.actor.stop(None);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_derived_from_the_authority_key() {
        let key = Pair::from_uri("//A1").unwrap();
        let id = |k: &Pair| {
            let mut secret = k.derive_secret(IDENTITY_DOMAIN);
            libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
                .unwrap()
                .public()
                .to_peer_id()
        };
        assert_eq!(id(&key), id(&Pair::from_uri("//A1").unwrap()));
        assert_ne!(id(&key), id(&Pair::from_uri("//A2").unwrap()));
    }

    #[test]
    fn listen_addresses_must_be_tcp() {
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/30334".parse().unwrap();
        assert_eq!(tcp_socket(&tcp), Some("127.0.0.1:30334".parse().unwrap()));
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/30334/quic-v1".parse().unwrap();
        assert_eq!(tcp_socket(&quic), None);
    }

    #[allow(dead_code, reason = "compile-time check only")]
    fn futures_are_send(app: Arc<ChainService>, config: BftConfig, engine: BftEngine) {
        fn send<T: Send>(_: T) {}
        send(BftEngine::start(app, config));
        send(engine.stop());
    }
}
