//! The network over loopback TCP, both ends in this process on one tokio runtime.
//!
//! - `query_round_trip_256b` / `query_round_trip_256kib`: one signed miner query and its echoed
//!   answer, sequentially (signing the request is not timed; the miner's signature check, replay
//!   guard and authorizer are). p50 and p99 over 2,000 sequential queries are printed beside.
//! - `query_echo_64_in_flight`: queries per second one miner sustains from one validator
//!   keeping 64 queries of 256 bytes in flight (requests signed before timing).
//! - `gossip_propagation_4_nodes`: from A's publish of a 1 KiB block until B, C and D (a full
//!   mesh) have each received it and accepted it.
//!
//! - `sync_1000_blocks`: a fresh full node catching up 1,000 blocks (each with 16 transfers)
//!   from a node that has them, through the sync protocol: blocks per second, each one
//!   checked (seal, certificate) and re-executed before it is stored.
//!
//! Run with `cargo bench -p ganglion-kernel --bench p2p`.

#![allow(
    clippy::print_stderr,
    reason = "the bench prints latency percentiles beside criterion's report"
)]

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::p2p::query::{AllowAll, QueryRequest};
use ganglion_kernel::p2p::{
    self, Keypair, MessageAcceptance, Multiaddr, Network, NetworkConfig, NetworkEvent,
    NetworkLimits, PeerId, Topic,
};
use libp2p::multiaddr::Protocol;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(30);
const IN_FLIGHT: usize = 64;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn config() -> NetworkConfig {
    let mut config = NetworkConfig::new(Keypair::generate_ed25519(), 0);
    config.listen = p2p::default_listen(Ipv4Addr::LOCALHOST, 0)
        .into_iter()
        .filter(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .collect();
    config
}

fn noise(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(b"p2p bench")
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Signs queries round-robin with many hotkeys, so that nonces (milliseconds, unique per
/// hotkey) stay within the miner's window however fast the bench goes.
struct Signer {
    keys: Vec<Pair>,
    state: Mutex<(usize, Vec<u64>)>,
}

impl Signer {
    fn new(n: usize) -> Signer {
        let keys = (0..n)
            .map(|i| {
                let mut seed = [9u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Pair::from_seed(&seed)
            })
            .collect();
        Signer {
            keys,
            state: Mutex::new((0, vec![0; n])),
        }
    }

    fn sign(&self, miner: &PeerId, payload: Vec<u8>) -> QueryRequest {
        let mut state = self.state.lock().expect("lock");
        let (next, last) = &mut *state;
        let i = *next;
        *next = (i + 1) % self.keys.len();
        let nonce = now_ms().max(last[i] + 1);
        last[i] = nonce;
        QueryRequest::sign(&self.keys[i], miner, 1, nonce, payload)
    }
}

/// A miner echoing its payload and a validator connected to it.
struct Query {
    miner: Network,
    validator: Network,
    addrs: Vec<Multiaddr>,
    signer: Signer,
    _events: (mpsc::Receiver<NetworkEvent>, mpsc::Receiver<NetworkEvent>),
}

impl Query {
    async fn start() -> Query {
        let mut miner = config();
        miner.limits = NetworkLimits {
            query_concurrency_per_peer: IN_FLIGHT,
            ..NetworkLimits::default()
        };
        let echo = |_: u16, _: AccountId, payload: Vec<u8>| async move { Ok(payload) };
        miner.services.queries = Some((Arc::new(echo), Arc::new(AllowAll)));
        let (miner, miner_events) = Network::start(miner).await.expect("miner");
        let mut validator = config();
        validator.listen = Vec::new();
        let (validator, validator_events) = Network::start(validator).await.expect("validator");
        let query = Query {
            addrs: miner.listen_addrs(),
            miner,
            validator,
            signer: Signer::new(64),
            _events: (miner_events, validator_events),
        };
        query.one(b"warm".to_vec()).await;
        query
    }

    async fn send(&self, request: &QueryRequest) {
        let answer = self
            .validator
            .query(
                self.miner.local_peer_id(),
                self.addrs.clone(),
                request,
                TIMEOUT,
            )
            .await
            .expect("answered");
        assert_eq!(answer.len(), request.payload.len());
    }

    /// One query's round trip, not counting the signing.
    async fn one(&self, payload: Vec<u8>) -> Duration {
        let request = self.signer.sign(&self.miner.local_peer_id(), payload);
        let started = Instant::now();
        self.send(&request).await;
        started.elapsed()
    }
}

fn percentiles(rt: &Runtime, query: &Query, payload: &[u8], n: usize) {
    let mut times: Vec<Duration> = rt.block_on(async {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(query.one(payload.to_vec()).await);
        }
        times
    });
    times.sort();
    let at = |q: usize| times[(n * q / 100).min(n - 1)];
    eprintln!(
        "p2p/query_round_trip {} B over {n} sequential queries: p50 {:?}, p99 {:?}",
        payload.len(),
        at(50),
        at(99)
    );
}

fn queries(c: &mut Criterion) {
    let rt = runtime();
    let query = rt.block_on(Query::start());
    // `cargo test --benches` runs each bench once; percentiles only under `cargo bench`.
    let n = if std::env::args().any(|a| a == "--bench") {
        2_000
    } else {
        20
    };
    let mut group = c.benchmark_group("p2p");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, len) in [
        ("query_round_trip_256b", 256),
        ("query_round_trip_256kib", 256 << 10),
    ] {
        let payload = noise(len);
        percentiles(&rt, &query, &payload, n);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += query.one(payload.clone()).await;
                    }
                    total
                })
            });
        });
    }

    group.throughput(Throughput::Elements(1));
    let payload = noise(256);
    let miner = query.miner.local_peer_id();
    group.bench_function("query_echo_64_in_flight", |b| {
        b.iter_custom(|iters| {
            let requests: Vec<QueryRequest> = (0..iters)
                .map(|_| query.signer.sign(&miner, payload.clone()))
                .collect();
            rt.block_on(async {
                let started = Instant::now();
                let mut requests = requests.into_iter();
                let mut in_flight = FuturesUnordered::new();
                loop {
                    while in_flight.len() < IN_FLIGHT {
                        let Some(request) = requests.next() else {
                            break;
                        };
                        let query = &query;
                        in_flight.push(async move { query.send(&request).await });
                    }
                    if in_flight.next().await.is_none() {
                        break;
                    }
                }
                started.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(async {
        query.validator.stop().await;
        query.miner.stop().await;
    });
}

/// Accepts every gossip message at once and reports `(node, sequence number)`.
fn accept_all(
    node: usize,
    net: Network,
    mut events: mpsc::Receiver<NetworkEvent>,
    seen: mpsc::Sender<(usize, u64)>,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetworkEvent::Gossip {
                id, source, data, ..
            } = event
            {
                net.validate(id, source, MessageAcceptance::Accept);
                let seq = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
                if seen.send((node, seq)).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Publishes sequence number `seq` from `from` and waits until the three others have it.
async fn propagate(from: &Network, seen: &mut mpsc::Receiver<(usize, u64)>, seq: u64) {
    let mut data = vec![0xee; 1024];
    data[..8].copy_from_slice(&seq.to_le_bytes());
    from.publish(Topic::Blocks, data).await.expect("publish");
    let mut got = [false; 3];
    while got.iter().any(|g| !g) {
        let (node, n) = tokio::time::timeout(TIMEOUT, seen.recv())
            .await
            .expect("the block propagates")
            .expect("receivers run");
        if n == seq {
            got[node] = true;
        }
    }
}

fn gossip(c: &mut Criterion) {
    let rt = runtime();
    let (nodes, mut seen) = rt.block_on(async {
        let mut nodes: Vec<Network> = Vec::new();
        let (tx, rx) = mpsc::channel(1024);
        for i in 0..4 {
            let mut config = config();
            config.chain = Some("bench".into());
            config.bootnodes = nodes
                .iter()
                .map(|n| {
                    n.listen_addrs()
                        .into_iter()
                        .next()
                        .expect("a listen address")
                })
                .collect();
            let (net, events) = Network::start(config).await.expect("node");
            if i == 0 {
                // A publishes; it keeps its events only to drop them.
                tokio::spawn(async move {
                    let mut events = events;
                    while events.recv().await.is_some() {}
                });
            } else {
                accept_all(i - 1, net.clone(), events, tx.clone());
            }
            nodes.push(net);
        }
        let started = Instant::now();
        while nodes.iter().any(|n| n.peer_count() < 3) {
            assert!(started.elapsed() < TIMEOUT, "the mesh never connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (nodes, rx)
    });
    // Warm up until the gossip meshes carry A's blocks to everyone.
    let mut seq = 0u64;
    rt.block_on(async {
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < TIMEOUT, "gossip never reached everyone");
            seq += 1;
            if tokio::time::timeout(
                Duration::from_millis(300),
                propagate(&nodes[0], &mut seen, seq),
            )
            .await
            .is_ok()
            {
                break;
            }
        }
    });

    let mut group = c.benchmark_group("p2p");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("gossip_propagation_4_nodes", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    seq += 1;
                    propagate(&nodes[0], &mut seen, seq).await;
                }
                started.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(async {
        for node in &nodes {
            node.stop().await;
        }
    });
}

const SYNC_BLOCKS: u32 = 1000;
const TRANSFERS_PER_BLOCK: usize = 16;

/// A base path holding a dev chain of `SYNC_BLOCKS` blocks.
fn chain_with_blocks() -> tempfile::TempDir {
    use ganglion_kernel::chain::consensus::{Budget, SoloEngine};
    use ganglion_kernel::chain::era::Era;
    use ganglion_kernel::chain::extrinsic::{Additional, BalancesCall, Call, Extra, Extrinsic};
    use ganglion_kernel::chain::genesis::GenesisConfig;
    use ganglion_kernel::chain::pool::PoolLimits;
    use ganglion_kernel::chain::service::ChainService;
    use ganglion_kernel::chain::store::SledStore;
    use ganglion_kernel::chain::{Chain, consensus::Application as _};

    let dir = tempfile::tempdir().expect("tempdir");
    let genesis = GenesisConfig::dev();
    let store = SledStore::open(&dir.path().join("chain")).expect("sled");
    let chain = Chain::open(Arc::new(store), &genesis).expect("chain");
    let hash = chain.genesis_hash();
    let service = ChainService::new(chain, PoolLimits::default(), "bench".into());
    let alice = Pair::from_uri("//Alice").expect("key");
    let bob = Pair::from_uri("//Bob").expect("key").public();
    let engine = SoloEngine::new(alice.clone(), Duration::from_secs(1));
    let budget = Budget {
        max_bytes: usize::MAX,
        max_time: Duration::from_secs(60),
    };
    let additional = Additional::new(hash, hash);
    let mut nonce = 0;
    for _ in 0..SYNC_BLOCKS {
        for _ in 0..TRANSFERS_PER_BLOCK {
            let call = Call::Balances(BalancesCall::TransferKeepAlive {
                dest: bob.into(),
                value: 1_000_000,
            });
            let extra = Extra {
                era: Era::Immortal,
                nonce,
                tip: 0,
            };
            nonce += 1;
            let tx = Extrinsic::sign(&alice, call, extra, &additional).to_bytes();
            service.submit(&tx).expect("admitted");
        }
        let slot = service.chain().head().slot + 1;
        engine.step(&service, slot, budget).expect("block");
    }
    assert_eq!(service.next_height(), SYNC_BLOCKS + 1);
    dir
}

fn sync(c: &mut Criterion) {
    use ganglion_kernel::chain::genesis::GenesisConfig;
    use ganglion_kernel::chain::pool::PoolLimits;
    use ganglion_kernel::node::{NetworkOptions, Node, NodeConfig};

    let source = chain_with_blocks();
    let rt = runtime();
    let options = |bootnodes: Vec<Multiaddr>| NetworkOptions {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        bootnodes,
        mdns: false,
        limits: NetworkLimits::default(),
    };
    let node_config = |base: &std::path::Path, network| NodeConfig {
        base_path: base.to_owned(),
        genesis: GenesisConfig::dev(),
        rpc_addr: "127.0.0.1:0".parse().expect("addr"),
        authority: None,
        pool: PoolLimits::default(),
        rpc_max_connections: 4,
        network: Some(network),
    };
    let serving = rt
        .block_on(Node::start(node_config(source.path(), options(Vec::new()))))
        .expect("serving node");
    let boot = serving.network().expect("network").listen_addrs();
    let mut group = c.benchmark_group("sync");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(SYNC_BLOCKS)));
    group.bench_function("sync_1000_blocks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = tempfile::tempdir().expect("tempdir");
                let started = Instant::now();
                let node = rt
                    .block_on(Node::start(node_config(
                        fresh.path(),
                        options(boot.clone()),
                    )))
                    .expect("syncing node");
                while node.head_number() < SYNC_BLOCKS {
                    assert!(started.elapsed() < Duration::from_secs(120), "sync stalled");
                    std::thread::sleep(Duration::from_millis(2));
                }
                total += started.elapsed();
                rt.block_on(node.stop());
            }
            total
        });
    });
    group.finish();
    rt.block_on(serving.stop());
}

criterion_group!(benches, queries, gossip, sync);
criterion_main!(benches);
