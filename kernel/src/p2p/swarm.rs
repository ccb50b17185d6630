//! The swarm task: the libp2p behaviour, the event loop and peer hygiene.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::request_response::{self as rr, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, gossipsub,
    identify, kad, mdns, noise, ping, tcp, yamux,
};
use parity_scale_codec::{Decode, Encode};
use tokio::sync::{mpsc, oneshot};

use super::codec::{FrameCodec, FrameLimits};
use super::query::{QueryError, QueryRequest, QueryResponse, ReplayGuard};
use super::{
    Command, Misbehaviour, Network, NetworkConfig, NetworkError, NetworkEvent, NetworkLimits,
    PeerInfo, Services, Status, Topic,
};

/// At or below this score a peer is disconnected and banned.
const BAN_THRESHOLD: i32 = -100;
/// How long a ban lasts.
const BAN_TIME: Duration = Duration::from_secs(600);
/// Points lost for a message that does not decode or breaks a cap.
const MALFORMED: i32 = 25;
/// Points lost for a well-formed but invalid message.
const INVALID: i32 = 20;
/// Points lost for a useless answer or a refused query.
const USELESS: i32 = 5;
/// Query streams a connection accepts beyond `query_concurrency_per_peer`, so a burst over the
/// bound is answered `Busy` instead of having its streams dropped unread.
const QUERY_STREAM_HEADROOM: usize = 32;
/// How long sync and bundle requests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossip: Toggle<gossipsub::Behaviour>,
    sync: rr::Behaviour<FrameCodec>,
    query: rr::Behaviour<FrameCodec>,
    bundle: rr::Behaviour<FrameCodec>,
}

fn protocol(name: String) -> Result<StreamProtocol, NetworkError> {
    StreamProtocol::try_from_owned(name)
        .map_err(|e| NetworkError::Transport(format!("bad protocol name: {e}")))
}

fn request_response(
    name: String,
    limits: FrameLimits,
    support: ProtocolSupport,
    concurrency: usize,
    timeout: Duration,
) -> Result<rr::Behaviour<FrameCodec>, NetworkError> {
    let config = rr::Config::default()
        .with_request_timeout(timeout)
        .with_max_concurrent_streams(concurrency);
    Ok(rr::Behaviour::with_codec(
        FrameCodec::new(limits),
        [(protocol(name)?, support)],
        config,
    ))
}

fn build_behaviour(
    key: &libp2p::identity::Keypair,
    config: &NetworkConfig,
) -> Result<Behaviour, NetworkError> {
    let peer_id = key.public().to_peer_id();
    let limits = &config.limits;
    let conn_limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(limits.max_peers.saturating_mul(2)))
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(32))
        .with_max_pending_outgoing(Some(64));
    let identify = identify::Behaviour::new(
        identify::Config::new("/ganglion/1".into(), key.public())
            .with_agent_version(format!("ganglion/{}", env!("CARGO_PKG_VERSION"))),
    );
    let mdns = if config.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .map_err(|e| NetworkError::Transport(format!("mDNS: {e}")))?,
        )
    } else {
        None
    };
    let mut kad_config = kad::Config::new(StreamProtocol::new("/ganglion/kad/1"));
    kad_config.set_query_timeout(Duration::from_secs(20));
    // Without bootnodes there is nobody to bootstrap from (and Kademlia would warn so every
    // minute); peers found later by mDNS or inbound connections fill the routing table.
    kad_config.set_periodic_bootstrap_interval(
        (!config.bootnodes.is_empty()).then_some(Duration::from_secs(60)),
    );
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    kad.set_mode(Some(kad::Mode::Server));
    let gossip = match &config.chain {
        Some(_) => {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(limits.max_gossip_bytes)
                .heartbeat_interval(Duration::from_millis(500))
                .message_id_fn(|m: &gossipsub::Message| {
                    gossipsub::MessageId::from(&blake3::hash(&m.data).as_bytes()[..20])
                })
                .build()
                .map_err(|e| NetworkError::Transport(format!("gossipsub: {e}")))?;
            Some(
                gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )
                .map_err(|e| NetworkError::Transport(format!("gossipsub: {e}")))?,
            )
        }
        None => None,
    };
    let chain = config.chain.as_deref().unwrap_or("none");
    let sync_support = match (&config.chain, &config.services.sync) {
        (Some(_), Some(_)) => ProtocolSupport::Full,
        _ => ProtocolSupport::Outbound,
    };
    let query_support = if config.services.queries.is_some() {
        ProtocolSupport::Full
    } else {
        ProtocolSupport::Outbound
    };
    let bundle_support = if config.bundle_dir.is_some() {
        ProtocolSupport::Full
    } else {
        ProtocolSupport::Outbound
    };
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(conn_limits),
        blocked: allow_block_list::Behaviour::default(),
        identify,
        ping: ping::Behaviour::default(),
        mdns: mdns.into(),
        kad,
        gossip: gossip.into(),
        sync: request_response(
            format!("/ganglion/{chain}/sync/1"),
            limits.sync,
            sync_support,
            8,
            REQUEST_TIMEOUT,
        )?,
        query: request_response(
            "/ganglion/query/1".into(),
            limits.query,
            query_support,
            limits
                .query_concurrency_per_peer
                .saturating_add(QUERY_STREAM_HEADROOM),
            Duration::from_secs(60),
        )?,
        bundle: request_response(
            "/ganglion/bundle/1".into(),
            FrameLimits {
                request: 32,
                response: limits.max_bundle_bytes,
            },
            bundle_support,
            4,
            Duration::from_secs(60),
        )?,
    })
}

/// An inbound request's answer, ready to send.
enum Answer {
    Sync(ResponseChannel<Vec<u8>>, PeerId, Result<Vec<u8>, String>),
    Query(ResponseChannel<Vec<u8>>, PeerId, QueryResponse, i32),
    Bundle(ResponseChannel<Vec<u8>>, Vec<u8>),
}

/// A bundle being fetched.
#[derive(Default)]
struct Fetch {
    waiters: Vec<oneshot::Sender<Result<Vec<u8>, NetworkError>>>,
    candidates: VecDeque<PeerId>,
    tried: BTreeSet<PeerId>,
    asking: Option<rr::OutboundRequestId>,
    searching: bool,
}

struct Loop {
    swarm: Swarm<Behaviour>,
    status: Arc<RwLock<Status>>,
    events: mpsc::Sender<NetworkEvent>,
    services: Services,
    topics: BTreeMap<gossipsub::TopicHash, Topic>,
    topic_names: BTreeMap<Topic, gossipsub::IdentTopic>,
    sync_waiting: HashMap<rr::OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetworkError>>>,
    query_waiting: HashMap<rr::OutboundRequestId, oneshot::Sender<Result<Vec<u8>, QueryError>>>,
    bundle_asks: HashMap<rr::OutboundRequestId, [u8; 32]>,
    fetches: BTreeMap<[u8; 32], Fetch>,
    provider_queries: HashMap<kad::QueryId, [u8; 32]>,
    answers: FuturesUnordered<BoxFuture<'static, Option<Answer>>>,
    queries_in_flight: BTreeMap<PeerId, usize>,
    queries_total: usize,
    scores: BTreeMap<PeerId, i32>,
    bans: BTreeMap<PeerId, Instant>,
    bundle_dir: Option<PathBuf>,
    limits: NetworkLimits,
    replay: Arc<Mutex<ReplayGuard>>,
    local: PeerId,
}

fn status_write(status: &RwLock<Status>) -> std::sync::RwLockWriteGuard<'_, Status> {
    status
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) async fn start(
    config: NetworkConfig,
) -> Result<(Network, mpsc::Receiver<NetworkEvent>), NetworkError> {
    let key = config.keypair.clone();
    let peer_id = key.public().to_peer_id();
    let mut bootnodes = Vec::new();
    for addr in &config.bootnodes {
        let (peer, base) =
            super::split_peer(addr).ok_or_else(|| NetworkError::Bootnode(addr.clone()))?;
        bootnodes.push((peer, base, addr.clone()));
    }
    let behaviour = build_behaviour(&key, &config)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_quic()
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();

    let mut listeners = HashMap::new();
    for addr in &config.listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        listeners.insert(id, addr.clone());
    }
    let status = Arc::new(RwLock::new(Status::default()));
    // Wait until every listener is bound, so the addresses are known when `start` returns.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut bound = std::collections::HashSet::new();
    while bound.len() < listeners.len() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await;
        match event {
            Err(_) => break,
            Ok(SwarmEvent::NewListenAddr {
                listener_id,
                address,
            }) => {
                bound.insert(listener_id);
                status_write(&status).listen_addrs.push(address);
            }
            Ok(SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            }) => {
                let addr = listeners
                    .get(&listener_id)
                    .cloned()
                    .unwrap_or_else(Multiaddr::empty);
                let reason = match reason {
                    Ok(()) => "closed".to_string(),
                    Err(e) => e.to_string(),
                };
                return Err(NetworkError::Listen { addr, reason });
            }
            Ok(SwarmEvent::ListenerError { listener_id, error }) => {
                let addr = listeners
                    .get(&listener_id)
                    .cloned()
                    .unwrap_or_else(Multiaddr::empty);
                return Err(NetworkError::Listen {
                    addr,
                    reason: error.to_string(),
                });
            }
            Ok(_) => {}
        }
    }

    let mut topics = BTreeMap::new();
    let mut topic_names = BTreeMap::new();
    if let (Some(chain), Some(gossip)) = (&config.chain, swarm.behaviour_mut().gossip.as_mut()) {
        for (topic, name) in [(Topic::Transactions, "tx"), (Topic::Blocks, "block")] {
            let ident = gossipsub::IdentTopic::new(format!("/ganglion/{chain}/{name}/1"));
            gossip
                .subscribe(&ident)
                .map_err(|e| NetworkError::Transport(format!("gossipsub: {e}")))?;
            topics.insert(ident.hash(), topic);
            topic_names.insert(topic, ident);
        }
    }
    for (peer, base, full) in &bootnodes {
        swarm.behaviour_mut().kad.add_address(peer, base.clone());
        if let Err(e) = swarm.dial(full.clone()) {
            tracing::warn!(bootnode = %full, error = %e, "cannot dial bootnode");
        }
    }
    if !bootnodes.is_empty() {
        let _ = swarm.behaviour_mut().kad.bootstrap();
    }
    if let Some(dir) = &config.bundle_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            NetworkError::Bundle(format!(
                "cannot create bundle directory {}: {e}",
                dir.display()
            ))
        })?;
        // Announce what is already kept.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if let Some(hash) = name
                    .strip_suffix(".gnglb")
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                {
                    let _ = swarm
                        .behaviour_mut()
                        .kad
                        .start_providing(kad::RecordKey::new(&hash));
                }
            }
        }
    }

    let (commands_tx, commands_rx) = mpsc::channel(1024);
    let (events_tx, events_rx) = mpsc::channel(4096);
    let mut state = Loop {
        swarm,
        status: status.clone(),
        events: events_tx,
        services: config.services,
        topics,
        topic_names,
        sync_waiting: HashMap::new(),
        query_waiting: HashMap::new(),
        bundle_asks: HashMap::new(),
        fetches: BTreeMap::new(),
        provider_queries: HashMap::new(),
        answers: FuturesUnordered::new(),
        queries_in_flight: BTreeMap::new(),
        queries_total: 0,
        scores: BTreeMap::new(),
        bans: BTreeMap::new(),
        bundle_dir: config.bundle_dir,
        limits: config.limits,
        replay: Arc::new(Mutex::new(ReplayGuard::new(4096, 1024))),
        local: peer_id,
    };
    let task = tokio::spawn(async move { state.run(commands_rx).await });
    tracing::info!(%peer_id, "network started");
    Ok((
        Network {
            commands: commands_tx,
            status,
            peer_id,
            task: Arc::new(std::sync::Mutex::new(Some(task))),
        },
        events_rx,
    ))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Loop {
    async fn run(&mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(command) => self.on_command(command),
                },
                Some(answer) = self.answers.next(), if !self.answers.is_empty() => {
                    if let Some(answer) = answer {
                        self.send_answer(answer);
                    }
                }
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::info!("network stopped");
    }

    fn penalize(&mut self, peer: PeerId, points: i32, why: &str) {
        let score = self.scores.entry(peer).or_insert(0);
        *score = score.saturating_sub(points);
        let score = *score;
        tracing::debug!(%peer, score, why, "peer penalized");
        if let Some(info) = status_write(&self.status).peers.get_mut(&peer) {
            info.score = score;
        }
        if score <= BAN_THRESHOLD && !self.bans.contains_key(&peer) {
            tracing::warn!(%peer, why, "banning a misbehaving peer for {} s", BAN_TIME.as_secs());
            self.bans.insert(peer, Instant::now() + BAN_TIME);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            if let Some(gossip) = self.swarm.behaviour_mut().gossip.as_mut() {
                gossip.blacklist_peer(&peer);
            }
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.bans.remove(&peer);
            self.scores.insert(peer, BAN_THRESHOLD / 2);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            if let Some(gossip) = self.swarm.behaviour_mut().gossip.as_mut() {
                gossip.remove_blacklisted_peer(&peer);
            }
        }
        // Scores recover slowly: a peer that erred once is not marked forever.
        self.scores.retain(|peer, score| {
            *score = (*score + 1).min(0);
            *score < 0 || self.bans.contains_key(peer)
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish(topic, data, reply) => {
                let result = match (
                    self.topic_names.get(&topic).cloned(),
                    self.swarm.behaviour_mut().gossip.as_mut(),
                ) {
                    (Some(ident), Some(gossip)) => match gossip.publish(ident, data) {
                        Ok(_)
                        | Err(gossipsub::PublishError::Duplicate)
                        | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                        Err(e) => Err(NetworkError::Publish(format!("cannot gossip: {e}"))),
                    },
                    _ => Err(NetworkError::Publish(
                        "this network follows no chain, so it has no gossip".into(),
                    )),
                };
                let _ = reply.send(result);
            }
            Command::Validate(id, source, verdict) => {
                if matches!(verdict, gossipsub::MessageAcceptance::Reject) {
                    self.penalize(source, INVALID, "invalid gossip");
                }
                if let Some(gossip) = self.swarm.behaviour_mut().gossip.as_mut() {
                    gossip.report_message_validation_result(&id, &source, verdict);
                }
            }
            Command::Dial(addr, reply) => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetworkError::Request(format!("cannot dial {addr}: {e}")));
                let _ = reply.send(result);
            }
            Command::Sync(peer, request, reply) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.sync_waiting.insert(id, reply);
            }
            Command::Query(peer, addrs, request, reply) => {
                if request.len() > self.limits.query.request {
                    let _ = reply.send(Err(QueryError::Network(format!(
                        "the query is {} bytes, over the cap of {} set for this node",
                        request.len(),
                        self.limits.query.request
                    ))));
                    return;
                }
                for addr in addrs {
                    self.swarm.add_peer_address(peer, addr);
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .query
                    .send_request(&peer, request);
                self.query_waiting.insert(id, reply);
            }
            Command::Provide(hash, bytes, reply) => {
                let result = self.store_bundle(hash, &bytes);
                let _ = reply.send(result);
            }
            Command::Fetch(hash, reply) => self.start_fetch(hash, reply),
            Command::Report(peer, what) => {
                let points = match what {
                    Misbehaviour::Malformed => MALFORMED,
                    Misbehaviour::Invalid => INVALID,
                    Misbehaviour::Useless => USELESS,
                };
                self.penalize(peer, points, "reported by the node");
            }
            Command::Stop => {}
        }
    }

    fn bundle_path(&self, hash: &[u8; 32]) -> Option<PathBuf> {
        self.bundle_dir
            .as_ref()
            .map(|d| d.join(format!("{}.gnglb", hex::encode(hash))))
    }

    fn store_bundle(&mut self, hash: [u8; 32], bytes: &[u8]) -> Result<(), NetworkError> {
        if bytes.len() > self.limits.max_bundle_bytes {
            return Err(NetworkError::Bundle(format!(
                "the bundle is {} bytes, over the cap of {}",
                bytes.len(),
                self.limits.max_bundle_bytes
            )));
        }
        let path = self.bundle_path(&hash).ok_or_else(|| {
            NetworkError::Bundle("this node keeps no bundles (it has no base path)".into())
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| NetworkError::Bundle(format!("cannot keep the bundle: {e}")))?;
        self.swarm
            .behaviour_mut()
            .kad
            .start_providing(kad::RecordKey::new(&hash))
            .map_err(|e| NetworkError::Bundle(format!("cannot announce the bundle: {e}")))?;
        tracing::info!(hash = %hex::encode(hash), bytes = bytes.len(), "providing bundle");
        Ok(())
    }

    fn start_fetch(
        &mut self,
        hash: [u8; 32],
        reply: oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    ) {
        if let Some(path) = self.bundle_path(&hash)
            && let Ok(bytes) = std::fs::read(&path)
            && *blake3::hash(&bytes).as_bytes() == hash
        {
            let _ = reply.send(Ok(bytes));
            return;
        }
        let fresh = !self.fetches.contains_key(&hash);
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        let fetch = self.fetches.entry(hash).or_default();
        fetch.waiters.push(reply);
        if fresh {
            fetch.searching = true;
            fetch.candidates.extend(connected);
            let id = self
                .swarm
                .behaviour_mut()
                .kad
                .get_providers(kad::RecordKey::new(&hash));
            self.provider_queries.insert(id, hash);
        }
        self.advance_fetch(hash);
    }

    fn advance_fetch(&mut self, hash: [u8; 32]) {
        let local = self.local;
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        if fetch.asking.is_some() {
            return;
        }
        while let Some(peer) = fetch.candidates.pop_front() {
            if peer == local || !fetch.tried.insert(peer) {
                continue;
            }
            let id = self
                .swarm
                .behaviour_mut()
                .bundle
                .send_request(&peer, hash.to_vec());
            fetch.asking = Some(id);
            self.bundle_asks.insert(id, hash);
            return;
        }
        if !fetch.searching {
            let fetch = self.fetches.remove(&hash).unwrap_or_default();
            for waiter in fetch.waiters {
                let _ = waiter.send(Err(NetworkError::Bundle(format!(
                    "no reachable peer has bundle {}",
                    hex::encode(hash)
                ))));
            }
        }
    }

    fn finish_bundle_ask(
        &mut self,
        id: rr::OutboundRequestId,
        peer: PeerId,
        bytes: Option<Vec<u8>>,
    ) {
        let Some(hash) = self.bundle_asks.remove(&id) else {
            return;
        };
        if let Some(fetch) = self.fetches.get_mut(&hash) {
            fetch.asking = None;
        }
        match bytes {
            Some(bytes) if !bytes.is_empty() => {
                if *blake3::hash(&bytes).as_bytes() != hash {
                    self.penalize(
                        peer,
                        INVALID,
                        "served a bundle that does not match its hash",
                    );
                } else {
                    if self.bundle_dir.is_some()
                        && let Err(e) = self.store_bundle(hash, &bytes)
                    {
                        tracing::warn!(error = %e, "cannot keep a fetched bundle");
                    }
                    if let Some(fetch) = self.fetches.remove(&hash) {
                        for waiter in fetch.waiters {
                            let _ = waiter.send(Ok(bytes.clone()));
                        }
                    }
                    return;
                }
            }
            _ => {}
        }
        self.advance_fetch(hash);
    }

    fn send_answer(&mut self, answer: Answer) {
        match answer {
            Answer::Sync(channel, peer, result) => match result {
                Ok(bytes) => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, bytes);
                }
                Err(why) => {
                    drop(channel);
                    self.penalize(peer, MALFORMED, &why);
                }
            },
            Answer::Query(channel, peer, response, penalty) => {
                if let Some(n) = self.queries_in_flight.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.queries_in_flight.remove(&peer);
                    }
                }
                self.queries_total = self.queries_total.saturating_sub(1);
                if penalty > 0 {
                    self.penalize(peer, penalty, "refused query");
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .query
                    .send_response(channel, response.encode());
            }
            Answer::Bundle(channel, bytes) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .bundle
                    .send_response(channel, bytes);
            }
        }
    }

    fn on_inbound_query(
        &mut self,
        peer: PeerId,
        request: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let Some((handler, authorizer)) = self.services.queries.clone() else {
            return;
        };
        let in_flight = self.queries_in_flight.get(&peer).copied().unwrap_or(0);
        if in_flight >= self.limits.query_concurrency_per_peer
            || self.queries_total >= self.limits.query_concurrency
        {
            let _ = self
                .swarm
                .behaviour_mut()
                .query
                .send_response(channel, QueryResponse::Busy.encode());
            return;
        }
        *self.queries_in_flight.entry(peer).or_insert(0) += 1;
        self.queries_total += 1;
        let local = self.local;
        let replay = self.replay.clone();
        let work = tokio::spawn(async move {
            let request = match QueryRequest::decode(&mut &request[..]) {
                Ok(r) => r,
                Err(e) => {
                    return (
                        QueryResponse::Refused(format!("the request does not decode: {e}")),
                        MALFORMED,
                    );
                }
            };
            if !request.verify(&local) {
                return (
                    QueryResponse::Refused(
                        "the signature is not the validator's over this request to this miner"
                            .into(),
                    ),
                    MALFORMED,
                );
            }
            if let Err(why) = authorizer.authorize(request.netuid, &request.validator) {
                return (QueryResponse::Refused(why), USELESS);
            }
            let fresh = replay
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .check(&request.validator, request.nonce, now_ms());
            if let Err(why) = fresh {
                return (QueryResponse::Refused(why), USELESS);
            }
            match handler
                .answer(request.netuid, request.validator, request.payload)
                .await
            {
                Ok(payload) => (QueryResponse::Answer(payload), 0),
                Err(why) => (QueryResponse::Failed(why), 0),
            }
        });
        self.answers.push(Box::pin(async move {
            let (response, penalty) = work
                .await
                .unwrap_or_else(|e| (QueryResponse::Failed(format!("the handler failed: {e}")), 0));
            Some(Answer::Query(channel, peer, response, penalty))
        }));
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut status = status_write(&self.status);
                if !status.listen_addrs.contains(&address) {
                    status.listen_addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                status_write(&self.status)
                    .listen_addrs
                    .retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                status_write(&self.status).peers.insert(
                    peer_id,
                    PeerInfo {
                        peer_id,
                        agent: None,
                        listen_addrs: Vec::new(),
                        score: self.scores.get(&peer_id).copied().unwrap_or(0),
                    },
                );
                let _ = self.events.try_send(NetworkEvent::PeerConnected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                status_write(&self.status).peers.remove(&peer_id);
                let _ = self
                    .events
                    .try_send(NetworkEvent::PeerDisconnected(peer_id));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
            }
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                for addr in &info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                if let Some(peer) = status_write(&self.status).peers.get_mut(&peer_id) {
                    peer.agent = Some(info.agent_version);
                    peer.listen_addrs = info.listen_addrs;
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if peer == self.local || self.bans.contains_key(&peer) {
                        continue;
                    }
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => {
                let Some(hash) = self.provider_queries.get(&id).copied() else {
                    return;
                };
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result
                    && let Some(fetch) = self.fetches.get_mut(&hash)
                {
                    fetch.candidates.extend(providers);
                }
                if step.last {
                    self.provider_queries.remove(&id);
                    if let Some(fetch) = self.fetches.get_mut(&hash) {
                        fetch.searching = false;
                    }
                }
                self.advance_fetch(hash);
            }
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let Some(topic) = self.topics.get(&message.topic).copied() else {
                    return;
                };
                let event = NetworkEvent::Gossip {
                    topic,
                    id: message_id.clone(),
                    source: propagation_source,
                    data: message.data,
                };
                if self.events.try_send(event).is_err()
                    && let Some(gossip) = self.swarm.behaviour_mut().gossip.as_mut()
                {
                    gossip.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
                }
            }
            BehaviourEvent::Sync(event) if !self.refuse_empty(&event) => self.on_sync(event),
            BehaviourEvent::Query(event) if !self.refuse_empty(&event) => self.on_query(event),
            BehaviourEvent::Bundle(event) if !self.refuse_empty(&event) => self.on_bundle(event),
            _ => {}
        }
    }

    /// An empty request is what the codec makes of an over-long or truncated one: count it
    /// against the peer and drop it (its stream closes unanswered).
    fn refuse_empty(&mut self, event: &rr::Event<Vec<u8>, Vec<u8>>) -> bool {
        if let rr::Event::Message {
            peer,
            message: rr::Message::Request { request, .. },
            ..
        } = event
            && request.is_empty()
        {
            self.penalize(*peer, MALFORMED, "oversized or malformed request");
            return true;
        }
        false
    }

    fn inbound_failure(&mut self, peer: PeerId, error: &rr::InboundFailure) {
        if let rr::InboundFailure::Io(e) = error
            && e.kind() == std::io::ErrorKind::InvalidData
        {
            self.penalize(peer, MALFORMED, "oversized or malformed request");
        }
    }

    fn outbound_malformed(&mut self, peer: PeerId, error: &rr::OutboundFailure) -> bool {
        if let rr::OutboundFailure::Io(e) = error
            && e.kind() == std::io::ErrorKind::InvalidData
        {
            self.penalize(peer, MALFORMED, "oversized or malformed response");
            return true;
        }
        false
    }

    fn on_sync(&mut self, event: rr::Event<Vec<u8>, Vec<u8>>) {
        match event {
            rr::Event::Message { peer, message, .. } => match message {
                rr::Message::Request {
                    request, channel, ..
                } => {
                    let Some(handler) = self.services.sync.clone() else {
                        return;
                    };
                    let work = tokio::spawn(handler.handle(peer, request));
                    self.answers.push(Box::pin(async move {
                        let result = work
                            .await
                            .unwrap_or_else(|e| Err(format!("the handler failed: {e}")));
                        Some(Answer::Sync(channel, peer, result))
                    }));
                }
                rr::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.sync_waiting.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            rr::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.outbound_malformed(peer, &error);
                if let Some(reply) = self.sync_waiting.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Request(format!(
                        "sync request to {peer} failed: {error}"
                    ))));
                }
            }
            rr::Event::InboundFailure { peer, error, .. } => self.inbound_failure(peer, &error),
            rr::Event::ResponseSent { .. } => {}
        }
    }

    fn on_query(&mut self, event: rr::Event<Vec<u8>, Vec<u8>>) {
        match event {
            rr::Event::Message { peer, message, .. } => match message {
                rr::Message::Request {
                    request, channel, ..
                } => self.on_inbound_query(peer, request, channel),
                rr::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some(reply) = self.query_waiting.remove(&request_id) else {
                        return;
                    };
                    let answer = match QueryResponse::decode(&mut &response[..]) {
                        Ok(QueryResponse::Answer(payload)) => Ok(payload),
                        Ok(QueryResponse::Refused(why)) => Err(QueryError::Refused(why)),
                        Ok(QueryResponse::Busy) => Err(QueryError::Busy),
                        Ok(QueryResponse::Failed(why)) => Err(QueryError::Failed(why)),
                        Err(e) => {
                            self.penalize(peer, MALFORMED, "malformed query response");
                            Err(QueryError::Malformed(e.to_string()))
                        }
                    };
                    let _ = reply.send(answer);
                }
            },
            rr::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let malformed = self.outbound_malformed(peer, &error);
                if let Some(reply) = self.query_waiting.remove(&request_id) {
                    let error = match error {
                        _ if malformed => QueryError::Malformed(error.to_string()),
                        rr::OutboundFailure::Timeout => QueryError::Timeout(60_000),
                        rr::OutboundFailure::DialFailure => {
                            QueryError::Unreachable(format!("cannot dial {peer}"))
                        }
                        other => QueryError::Unreachable(other.to_string()),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            rr::Event::InboundFailure { peer, error, .. } => self.inbound_failure(peer, &error),
            rr::Event::ResponseSent { .. } => {}
        }
    }

    fn on_bundle(&mut self, event: rr::Event<Vec<u8>, Vec<u8>>) {
        match event {
            rr::Event::Message { peer, message, .. } => match message {
                rr::Message::Request {
                    request, channel, ..
                } => {
                    let Ok(hash) = <[u8; 32]>::try_from(request.as_slice()) else {
                        self.penalize(peer, MALFORMED, "malformed bundle request");
                        return;
                    };
                    let path = self.bundle_path(&hash);
                    let cap = self.limits.max_bundle_bytes;
                    self.answers.push(Box::pin(async move {
                        let bytes = match path {
                            Some(p) => tokio::fs::read(p).await.unwrap_or_default(),
                            None => Vec::new(),
                        };
                        let bytes = if bytes.len() <= cap {
                            bytes
                        } else {
                            Vec::new()
                        };
                        Some(Answer::Bundle(channel, bytes))
                    }));
                }
                rr::Message::Response {
                    request_id,
                    response,
                } => self.finish_bundle_ask(request_id, peer, Some(response)),
            },
            rr::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.outbound_malformed(peer, &error);
                self.finish_bundle_ask(request_id, peer, None);
            }
            rr::Event::InboundFailure { peer, error, .. } => self.inbound_failure(peer, &error),
            rr::Event::ResponseSent { .. } => {}
        }
    }
}
