//! The network over real loopback sockets: signed miner queries (TCP and QUIC) with their
//! refusals, caps, timeouts and concurrency bound; bundles fetched by hash and re-provided;
//! gossip forwarded only after validation; misbehaving peers banned; sync request-response.
//!
//! Every node listens on 127.0.0.1 port 0 with mDNS off. Where a test needs a strict topology
//! (gossip must reach C only through B), the outer nodes do not listen at all: they dial the
//! middle node, which therefore learns no address of them to hand out through Kademlia.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::p2p::query::{AllowAll, Authorizer, QueryError, QueryRequest};
use ganglion_kernel::p2p::{
    self, Keypair, MessageAcceptance, Misbehaviour, Multiaddr, Network, NetworkConfig,
    NetworkError, NetworkEvent, NetworkLimits, PeerId, RequestHandler, Services, Topic,
};
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;

/// The longest any single wait in these tests may take before it counts as a failure.
const DEADLINE: Duration = Duration::from_secs(15);

type Events = mpsc::Receiver<NetworkEvent>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn tcp_listen() -> Vec<Multiaddr> {
    p2p::default_listen(Ipv4Addr::LOCALHOST, 0)
        .into_iter()
        .filter(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .collect()
}

/// A config with a fresh key, TCP on loopback, no mDNS, default limits.
fn config() -> NetworkConfig {
    let mut config = NetworkConfig::new(Keypair::generate_ed25519(), 0);
    config.listen = tcp_listen();
    config.mdns = false;
    config
}

async fn start(config: NetworkConfig) -> (Network, Events) {
    Network::start(config).await.expect("the network starts")
}

/// The listen address of `net` whose transport `pick` matches, with its `/p2p/`.
fn addr_of(net: &Network, pick: fn(&Protocol<'_>) -> bool) -> Multiaddr {
    net.listen_addrs()
        .into_iter()
        .find(|a| a.iter().any(|p| pick(&p)))
        .expect("a listen address of that transport")
}

fn tcp_addr(net: &Network) -> Multiaddr {
    addr_of(net, |p| matches!(p, Protocol::Tcp(_)))
}

/// Polls `cond` every 50 ms until it holds; panics with `what` after [`DEADLINE`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connected(net: &Network, peer: PeerId) -> bool {
    net.peers().iter().any(|p| p.peer_id == peer)
}

/// Pseudo-random bytes from a seed.
fn noise(seed: u8, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(&[seed])
        .finalize_xof()
        .fill(&mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Miner queries

/// Allows only one hotkey.
struct Only(AccountId);

impl Authorizer for Only {
    fn authorize(&self, _: u16, validator: &AccountId) -> Result<(), String> {
        if *validator == self.0 {
            Ok(())
        } else {
            Err("not a validator of this subnet".into())
        }
    }
}

/// A miner answering with the payload reversed (after `delay`), counting its calls.
fn reversing_miner(
    authorizer: Arc<dyn Authorizer>,
    delay: Duration,
    calls: Arc<AtomicUsize>,
    limits: NetworkLimits,
) -> NetworkConfig {
    let handler = move |_netuid: u16, _validator: AccountId, mut payload: Vec<u8>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if payload == b"slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            } else {
                tokio::time::sleep(delay).await;
            }
            payload.reverse();
            Ok(payload)
        }
    };
    let mut config = config();
    config.listen = p2p::default_listen(Ipv4Addr::LOCALHOST, 0);
    config.limits = limits;
    config.services.queries = Some((Arc::new(handler), authorizer));
    config
}

fn refused(result: Result<Vec<u8>, QueryError>, why: &str) {
    match result {
        Err(QueryError::Refused(reason)) => {
            assert!(reason.contains(why), "refused for {reason:?}, not {why:?}")
        }
        other => panic!("expected a refusal for {why:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_queries_are_answered_and_bad_ones_refused() {
    let alice = Pair::from_uri("//Alice").expect("key");
    let bob = Pair::from_uri("//Bob").expect("key");
    let small = NetworkLimits {
        query: p2p::FrameLimits {
            request: 4096,
            response: 4096,
        },
        ..NetworkLimits::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let (miner, _miner_events) = start(reversing_miner(
        Arc::new(Only(alice.public())),
        Duration::ZERO,
        calls.clone(),
        small,
    ))
    .await;
    let mut validator_config = config();
    validator_config.listen = Vec::new();
    validator_config.limits = small;
    let (validator, _validator_events) = start(validator_config).await;
    let id = miner.local_peer_id();
    let addrs = miner.listen_addrs();
    let timeout = Duration::from_secs(5);
    let base = now_ms();

    // Alice is answered with the handler's result.
    let request = QueryRequest::sign(&alice, &id, 3, base, b"hello".to_vec());
    let answer = validator.query(id, addrs.clone(), &request, timeout).await;
    assert_eq!(answer.expect("Alice is answered"), b"olleh");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Bob signs correctly but the authorizer refuses him.
    let request_bob = QueryRequest::sign(&bob, &id, 3, base + 1, b"hello".to_vec());
    refused(
        validator
            .query(id, addrs.clone(), &request_bob, timeout)
            .await,
        "not a validator",
    );
    // The exact same request again is a replay.
    refused(
        validator.query(id, addrs.clone(), &request, timeout).await,
        "replayed",
    );
    // A request signed for another miner does not verify here.
    let elsewhere = QueryRequest::sign(&alice, &PeerId::random(), 3, base + 2, b"x".to_vec());
    refused(
        validator
            .query(id, addrs.clone(), &elsewhere, timeout)
            .await,
        "signature",
    );
    // A nonce two minutes old is stale.
    let stale = QueryRequest::sign(&alice, &id, 3, base - 120_000, b"x".to_vec());
    refused(
        validator.query(id, addrs.clone(), &stale, timeout).await,
        "clock",
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no refused query reached the handler"
    );

    // A handler slower than the caller's timeout.
    let slow = QueryRequest::sign(&alice, &id, 3, base + 3, b"slow".to_vec());
    let started = Instant::now();
    let result = validator
        .query(id, addrs.clone(), &slow, Duration::from_millis(300))
        .await;
    assert_eq!(result, Err(QueryError::Timeout(300)));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the timeout is the caller's"
    );

    // Over the query cap: the validator's own codec refuses to send it.
    let before = calls.load(Ordering::SeqCst);
    let big = QueryRequest::sign(&alice, &id, 3, base + 4, vec![7; 8192]);
    let err = validator
        .query(id, addrs.clone(), &big, timeout)
        .await
        .expect_err("an oversized query fails");
    assert!(err.to_string().contains("over the cap"), "{err}");
    // A validator with larger caps sends it, and the miner's codec drops it unread.
    let mut greedy_config = config();
    greedy_config.listen = Vec::new();
    let (greedy, _greedy_events) = start(greedy_config).await;
    let big = QueryRequest::sign(&alice, &id, 3, base + 5, vec![7; 8192]);
    let result = greedy.query(id, addrs.clone(), &big, timeout).await;
    assert!(
        result.is_err(),
        "the miner answered an oversized query: {result:?}"
    );
    assert!(
        !matches!(result, Err(QueryError::Timeout(_))),
        "the miner should drop the stream, not hang: {result:?}"
    );
    // The slow handler may still be running; only it may have been counted since.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "an oversized query reached the handler"
    );
    // (It is not yet counted against the sender: libp2p-request-response 0.29 does not report
    // a failed `read_request` to the behaviour.)

    // The same over QUIC, from a validator that knows only the miner's QUIC address.
    let quic = addr_of(&miner, |p| matches!(p, Protocol::QuicV1));
    assert!(quic.iter().any(|p| matches!(p, Protocol::Udp(_))), "{quic}");
    let mut quic_config = config();
    quic_config.listen = Vec::new();
    let (over_quic, _quic_events) = start(quic_config).await;
    let request = QueryRequest::sign(&alice, &id, 3, base + 6, b"quic".to_vec());
    let answer = over_quic
        .query(id, vec![quic.clone()], &request, timeout)
        .await;
    assert_eq!(answer.expect("answered over QUIC"), b"ciuq");
    refused(
        over_quic.query(id, vec![quic], &request, timeout).await,
        "replayed",
    );

    for net in [&miner, &validator, &greedy, &over_quic] {
        net.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_answers_at_most_its_per_peer_concurrency_and_says_busy_to_the_rest() {
    let alice = Pair::from_uri("//Alice").expect("key");
    let limits = NetworkLimits {
        query_concurrency_per_peer: 2,
        ..NetworkLimits::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let (miner, _miner_events) = start(reversing_miner(
        Arc::new(AllowAll),
        Duration::from_millis(500),
        calls.clone(),
        limits,
    ))
    .await;
    let mut validator_config = config();
    validator_config.listen = Vec::new();
    let (validator, _validator_events) = start(validator_config).await;
    let id = miner.local_peer_id();
    let addrs = miner.listen_addrs();
    let base = now_ms();
    // Connect first so all eight go out together on one connection.
    let warm = QueryRequest::sign(&alice, &id, 1, base, b"warm".to_vec());
    validator
        .query(id, addrs.clone(), &warm, DEADLINE)
        .await
        .expect("warm-up answered");

    let queries = (1..=8u64).map(|i| {
        let validator = validator.clone();
        let addrs = addrs.clone();
        let request = QueryRequest::sign(&alice, &id, 1, base + i, vec![i as u8, 0]);
        tokio::spawn(async move { validator.query(id, addrs, &request, DEADLINE).await })
    });
    let results = futures::future::join_all(queries).await;
    let (mut answered, mut busy, mut other) = (0, 0, Vec::new());
    for (i, result) in results.into_iter().enumerate() {
        match result.expect("task") {
            Ok(answer) => {
                assert_eq!(answer, vec![0, i as u8 + 1]);
                answered += 1;
            }
            Err(QueryError::Busy) => busy += 1,
            Err(e) => other.push(e),
        }
    }
    assert!(other.is_empty(), "neither answered nor busy: {other:?}");
    assert_eq!(answered + busy, 8);
    assert!(busy >= 1, "no query was turned away");
    assert!(
        (2..=6).contains(&answered),
        "{answered} answered with a bound of 2 in flight and 500 ms handlers"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1 + answered);

    miner.stop().await;
    validator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bundles

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_are_fetched_by_hash_verified_and_provided_again() {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let bytes = noise(1, 1 << 20);
    let hash = *blake3::hash(&bytes).as_bytes();

    let mut a_config = config();
    a_config.bundle_dir = Some(dirs[0].path().to_owned());
    let (a, _a_events) = start(a_config).await;
    let wrong = a.provide_bundle([0; 32], bytes.clone()).await;
    assert!(
        matches!(&wrong, Err(NetworkError::Bundle(why)) if why.contains("do not hash")),
        "{wrong:?}"
    );
    a.provide_bundle(hash, bytes.clone())
        .await
        .expect("A provides the bundle");

    let mut b_config = config();
    b_config.bundle_dir = Some(dirs[1].path().to_owned());
    b_config.bootnodes = vec![tcp_addr(&a)];
    let (b, _b_events) = start(b_config).await;
    until("B to connect to A", || connected(&b, a.local_peer_id())).await;

    let fetched = b
        .fetch_bundle(hash, DEADLINE)
        .await
        .expect("B fetches the bundle");
    assert!(fetched == bytes, "B got different bytes");
    let kept = dirs[1].path().join(format!("{}.gnglb", hex::encode(hash)));
    assert!(std::fs::read(&kept).expect("B keeps the bundle") == bytes);

    // An unknown hash fails with an error naming it, well within the timeout.
    let unknown = [0xab; 32];
    let timeout = Duration::from_secs(8);
    let started = Instant::now();
    let err = b
        .fetch_bundle(unknown, timeout)
        .await
        .expect_err("nobody has it");
    assert!(started.elapsed() <= timeout + Duration::from_secs(1));
    assert!(
        matches!(&err, NetworkError::Bundle(why) if why.contains(&hex::encode(unknown))),
        "{err:?}"
    );

    // With A gone, C (connected only to B) can get it only from B.
    a.stop().await;
    let mut c_config = config();
    c_config.listen = Vec::new();
    c_config.bundle_dir = Some(dirs[2].path().to_owned());
    c_config.bootnodes = vec![tcp_addr(&b)];
    let (c, _c_events) = start(c_config).await;
    until("C to connect to B", || connected(&c, b.local_peer_id())).await;
    let fetched = c
        .fetch_bundle(hash, DEADLINE)
        .await
        .expect("C fetches the bundle from B");
    assert!(fetched == bytes, "C got different bytes");

    b.stop().await;
    c.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Gossip

/// Waits for the next gossip message on `events` whose data satisfies `want`, accepting (on
/// `net`) every other message meanwhile; `None` if none came within `within`.
async fn next_gossip(
    events: &mut Events,
    net: &Network,
    within: Duration,
    want: impl Fn(&[u8]) -> bool,
) -> Option<(p2p::MessageId, PeerId, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return None,
            Ok(None) => panic!("the network stopped"),
            Ok(Some(NetworkEvent::Gossip {
                topic,
                id,
                source,
                data,
            })) => {
                assert_eq!(topic, Topic::Blocks);
                if want(&data) {
                    return Some((id, source, data));
                }
                net.validate(id, source, MessageAcceptance::Accept);
            }
            Ok(Some(_)) => {}
        }
    }
}

/// Starts a chain node: B listens, the outer nodes only dial `bootnode`.
async fn gossip_node(bootnode: Option<Multiaddr>) -> (Network, Events) {
    let mut config = config();
    config.chain = Some("test".into());
    if let Some(bootnode) = bootnode {
        config.listen = Vec::new();
        config.bootnodes = vec![bootnode];
    }
    start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_forwarded_only_after_validation() {
    let (b, mut b_events) = gossip_node(None).await;
    let (a, _a_events) = gossip_node(Some(tcp_addr(&b))).await;
    let (c, mut c_events) = gossip_node(Some(tcp_addr(&b))).await;
    until("the line A-B-C", || b.peer_count() == 2).await;
    assert!(!connected(&a, c.local_peer_id()) && !connected(&c, a.local_peer_id()));

    // Probe until the meshes carry A's messages through B to C.
    let started = Instant::now();
    let mut n = 0u32;
    loop {
        assert!(started.elapsed() < DEADLINE, "the gossip mesh never formed");
        n += 1;
        a.publish(Topic::Blocks, format!("probe-{n}").into_bytes())
            .await
            .expect("publish");
        let _ = next_gossip(&mut b_events, &b, Duration::from_millis(100), |_| false).await;
        if next_gossip(&mut c_events, &c, Duration::from_millis(200), |d| {
            d.starts_with(b"probe")
        })
        .await
        .is_some()
        {
            break;
        }
    }

    let held = |d: &[u8]| d == b"block-1";
    a.publish(Topic::Blocks, b"block-1".to_vec())
        .await
        .expect("publish");
    let (id, source, _) = next_gossip(&mut b_events, &b, DEADLINE, held)
        .await
        .expect("B receives A's block");
    assert_eq!(source, a.local_peer_id());
    // Unvalidated at B, it does not reach C.
    assert!(
        next_gossip(&mut c_events, &c, Duration::from_secs(1), held)
            .await
            .is_none(),
        "B forwarded a message it had not validated"
    );
    b.validate(id, source, MessageAcceptance::Accept);
    let (_, via, _) = next_gossip(&mut c_events, &c, DEADLINE, held)
        .await
        .expect("C receives the block once B accepts it");
    assert_eq!(via, b.local_peer_id());

    // A message B rejects stops at B ...
    let bad = |d: &[u8]| d == b"bad-1";
    a.publish(Topic::Blocks, b"bad-1".to_vec())
        .await
        .expect("publish");
    let (id, source, _) = next_gossip(&mut b_events, &b, DEADLINE, bad)
        .await
        .expect("B receives the bad block");
    b.validate(id, source, MessageAcceptance::Reject);
    assert!(
        next_gossip(&mut c_events, &c, Duration::from_secs(2), bad)
            .await
            .is_none(),
        "B forwarded a message it rejected"
    );
    // ... while the path itself still works.
    let good = |d: &[u8]| d == b"block-2";
    a.publish(Topic::Blocks, b"block-2".to_vec())
        .await
        .expect("publish");
    let (id, source, _) = next_gossip(&mut b_events, &b, DEADLINE, good)
        .await
        .expect("B receives the next block");
    b.validate(id, source, MessageAcceptance::Accept);
    assert!(
        next_gossip(&mut c_events, &c, DEADLINE, good)
            .await
            .is_some(),
        "C receives the next block"
    );

    for net in [&a, &b, &c] {
        net.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Peer hygiene and sync

/// Echoes sync requests; `fail` makes it fail.
struct Echo;

impl RequestHandler for Echo {
    fn handle(
        &self,
        _peer: PeerId,
        request: Vec<u8>,
    ) -> BoxFuture<'static, Result<Vec<u8>, String>> {
        Box::pin(async move {
            if request == b"fail" {
                Err("asked to fail".into())
            } else {
                Ok(request)
            }
        })
    }
}

fn sync_server() -> NetworkConfig {
    let mut config = config();
    config.chain = Some("test".into());
    config.services = Services {
        sync: Some(Arc::new(Echo)),
        queries: None,
    };
    config
}

fn sync_client(server: &Network, limits: NetworkLimits) -> NetworkConfig {
    let mut config = config();
    config.chain = Some("test".into());
    config.listen = Vec::new();
    config.bootnodes = vec![tcp_addr(server)];
    config.limits = limits;
    config
}

/// Checks for `for_at_least` that `banned` never shows up among `honest`'s peers.
async fn stays_out(honest: &Network, banned: PeerId, for_at_least: Duration) {
    let started = Instant::now();
    while started.elapsed() < for_at_least {
        assert!(!connected(honest, banned), "a banned peer reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_peer_is_banned_and_cannot_reconnect() {
    let (honest, _events) = start(sync_server()).await;
    let (bad, _bad_events) = start(sync_client(&honest, NetworkLimits::default())).await;
    let (good, _good_events) = start(sync_client(&honest, NetworkLimits::default())).await;
    let bad_id = bad.local_peer_id();
    until("both peers to connect", || honest.peer_count() == 2).await;

    for _ in 0..5 {
        honest.report(bad_id, Misbehaviour::Malformed);
    }
    until("the reported peer to be dropped", || {
        !connected(&honest, bad_id) && bad.peer_count() == 0
    })
    .await;
    assert!(connected(&honest, good.local_peer_id()));

    bad.dial(tcp_addr(&honest)).await.expect("the dial starts");
    stays_out(&honest, bad_id, Duration::from_secs(2)).await;
    assert!(
        bad.sync_request(honest.local_peer_id(), b"hi".to_vec())
            .await
            .is_err(),
        "a banned peer was served"
    );
    let answer = good
        .sync_request(honest.local_peer_id(), b"still here".to_vec())
        .await
        .expect("the honest peer keeps being served");
    assert_eq!(answer, b"still here");
    assert_eq!(honest.peer_count(), 1);

    for net in [&honest, &bad, &good] {
        net.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_gossip_is_rejected_is_banned() {
    let (honest, mut events) = gossip_node(None).await;
    let (spammer, _spam_events) = gossip_node(Some(tcp_addr(&honest))).await;
    let (good, _good_events) = gossip_node(Some(tcp_addr(&honest))).await;
    let spam_id = spammer.local_peer_id();
    until("both peers to connect", || honest.peer_count() == 2).await;

    let started = Instant::now();
    let mut rejected = 0;
    let mut n = 0u32;
    while connected(&honest, spam_id) {
        assert!(
            started.elapsed() < DEADLINE,
            "the spammer was never dropped"
        );
        n += 1;
        spammer
            .publish(Topic::Blocks, format!("junk-{n}").into_bytes())
            .await
            .expect("publish");
        if let Some((id, source, _)) =
            next_gossip(&mut events, &honest, Duration::from_millis(200), |d| {
                d.starts_with(b"junk")
            })
            .await
        {
            assert_eq!(source, spam_id);
            honest.validate(id, source, MessageAcceptance::Reject);
            rejected += 1;
        }
    }
    // 20 points a rejection, banned at -100.
    assert!(rejected >= 5, "banned after only {rejected} rejections");
    spammer
        .dial(tcp_addr(&honest))
        .await
        .expect("the dial starts");
    stays_out(&honest, spam_id, Duration::from_secs(2)).await;

    // The honest node still hears its other peer.
    let started = Instant::now();
    let mut n = 0u32;
    loop {
        assert!(
            started.elapsed() < DEADLINE,
            "the good peer's gossip never arrived"
        );
        n += 1;
        good.publish(Topic::Blocks, format!("fine-{n}").into_bytes())
            .await
            .expect("publish");
        if let Some((id, source, _)) =
            next_gossip(&mut events, &honest, Duration::from_millis(200), |d| {
                d.starts_with(b"fine")
            })
            .await
        {
            assert_eq!(source, good.local_peer_id());
            honest.validate(id, source, MessageAcceptance::Accept);
            break;
        }
    }
    assert!(!connected(&honest, spam_id));

    for net in [&honest, &spammer, &good] {
        net.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_requests_are_answered_within_their_caps() {
    let (server, _events) = start(sync_server()).await;
    let (client, _client_events) = start(sync_client(&server, NetworkLimits::default())).await;
    let server_id = server.local_peer_id();
    until("the client to connect", || connected(&client, server_id)).await;

    let answer = client
        .sync_request(server_id, b"blocks 1..10".to_vec())
        .await
        .expect("answered");
    assert_eq!(answer, b"blocks 1..10");
    // A handler error drops the request: the client sees a failure, not an empty answer.
    assert!(
        client
            .sync_request(server_id, b"fail".to_vec())
            .await
            .is_err()
    );

    // Over the cap (1024 bytes by default), refused by the client's own codec ...
    let err = client
        .sync_request(server_id, vec![1; 2000])
        .await
        .expect_err("an oversized request fails");
    assert!(err.to_string().contains("over the cap"), "{err}");
    // ... and by the server's, from a client with larger caps.
    let mut loose = NetworkLimits::default();
    loose.sync.request = 1 << 20;
    let (greedy, _greedy_events) = start(sync_client(&server, loose)).await;
    until("the greedy client to connect", || {
        connected(&greedy, server_id)
    })
    .await;
    assert!(
        greedy.sync_request(server_id, vec![1; 2000]).await.is_err(),
        "the server answered an oversized request"
    );
    // The well-behaved client is still served.
    let answer = client
        .sync_request(server_id, b"again".to_vec())
        .await
        .expect("answered");
    assert_eq!(answer, b"again");

    for net in [&server, &client, &greedy] {
        net.stop().await;
    }
}
