//! A miner process (`ganglion miner serve`) answering a validator's signed queries over
//! libp2p, and refusing callers that are not validators of its subnet.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::p2p::query::{QueryError, QueryRequest};
use ganglion_kernel::p2p::{self, Multiaddr, Network, NetworkConfig, PeerId};
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload;
use ganglion_plugins::Host;
use serde_json::Value;

use crate::node_support::{
    Kill, client_json as ganglion, free_port, metagraph, spawn_ready, start_dev_node,
};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/subnets/sort/sort.subnet");

fn neuron<'a>(mg: &'a Value, hotkey: &str) -> Option<&'a Value> {
    mg["neurons"]
        .as_array()?
        .iter()
        .find(|n| n["hotkey"].as_str() == Some(hotkey))
}

fn start_miner(dir: &Path, url: &str, netuid: u16) -> Kill {
    let netuid = netuid.to_string();
    let dir = dir.to_str().expect("utf-8");
    spawn_ready(
        &[
            "miner",
            "serve",
            "--netuid",
            &netuid,
            "--bundle",
            SPEC,
            "--hotkey",
            "//Dave//miner",
            "--coldkey",
            "//Dave",
            "--model",
            "mlp",
            "--train-steps",
            "5",
            "--url",
            url,
            "--base-path",
            dir,
        ],
        "serving subnet",
        120,
    )
}

#[test]
fn a_miner_process_answers_validators_and_refuses_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _node = Kill(start_dev_node(
        &dir.path().join("node"),
        port,
        &["--block-time", "250"],
    ));
    let url = format!("ws://127.0.0.1:{port}");
    ganglion(
        &[
            "subnet",
            "root-set",
            "min_lock_cost",
            "10",
            "--coldkey",
            "//Alice",
        ],
        &url,
    );
    let created = ganglion(
        &[
            "subnet",
            "create",
            "--coldkey",
            "//Alice",
            "--hotkey",
            "//Alice//owner",
            "--name",
            "sort",
        ],
        &url,
    );
    let netuid = created["netuid"].as_u64().expect("netuid") as u16;
    let n = netuid.to_string();
    for (param, value) in [("tempo", "4"), ("immunity_period", "0")] {
        ganglion(
            &["subnet", "set", &n, param, value, "--coldkey", "//Alice"],
            &url,
        );
    }
    let validator = Pair::from_uri("//Bob//validator").expect("key");
    ganglion(
        &[
            "register",
            "--netuid",
            &n,
            "--coldkey",
            "//Bob",
            "--hotkey",
            "//Bob//validator",
        ],
        &url,
    );
    ganglion(
        &[
            "stake",
            "add",
            "--netuid",
            &n,
            "--coldkey",
            "//Bob",
            "--hotkey",
            "//Bob//validator",
            "--amount",
            "1000",
        ],
        &url,
    );
    let _miner = start_miner(&dir.path().join("miner"), &url, netuid);

    // The miner registered and announced itself; the validator gets its permit at an epoch.
    let miner_hotkey = Pair::from_uri("//Dave//miner")
        .expect("key")
        .public()
        .to_string();
    let validator_hotkey = validator.public().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let axon = loop {
        let mg = metagraph(&url, netuid);
        let permit = neuron(&mg, &validator_hotkey).and_then(|v| v["validator_permit"].as_bool());
        let axon = neuron(&mg, &miner_hotkey).map(|m| m["axon"].clone());
        if let (Some(true), Some(axon)) = (permit, axon)
            && axon.is_object()
        {
            break axon;
        }
        assert!(Instant::now() < deadline, "no permit or no axon: {mg}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let addr: Multiaddr = axon["multiaddr"]
        .as_str()
        .expect("multiaddr")
        .parse()
        .expect("multiaddr");
    let peer_hex = axon["peer_id"].as_str().expect("peer id");
    let peer = PeerId::from_bytes(&hex::decode(&peer_hex[2..]).expect("hex")).expect("peer id");
    assert_eq!(p2p::split_peer(&addr).map(|(p, _)| p), Some(peer));
    // Let the miner's two-second refresh see the permit.
    std::thread::sleep(Duration::from_secs(3));

    // A task from the subnet's own plugin.
    let spec = ganglion_dsl::load(Path::new(SPEC)).expect("spec");
    let module = ganglion_dsl::compile(&spec).expect("compiles");
    let plugin = Host::new()
        .load(&module, Limits::default())
        .expect("plugin");
    let task = plugin.task(7, 0).expect("task");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut config = NetworkConfig::new(p2p::Keypair::generate_ed25519(), 0);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
        let (network, _events) = Network::start(config).await.expect("network");
        let now = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis() as u64
        };
        let timeout = Duration::from_secs(10);
        let request = QueryRequest::sign(&validator, &peer, netuid, now(), task.public.clone());
        let answer = network
            .query(peer, vec![addr.clone()], &request, timeout)
            .await
            .expect("the validator's query is answered");
        let tensors = payload::decode(&answer).expect("a tensor payload");
        assert_eq!(tensors.len(), 1);
        assert_eq!(tensors[0].dims(), &[12], "sort answers 12 numbers");
        let score = plugin
            .score(&task.public, &task.private, &answer)
            .expect("scores");
        assert!((0.0..=1.0).contains(&score), "{score}");

        // Someone who is not a validator of the subnet is refused.
        let eve = Pair::from_uri("//Eve").expect("key");
        let request = QueryRequest::sign(&eve, &peer, netuid, now(), task.public.clone());
        match network
            .query(peer, vec![addr.clone()], &request, timeout)
            .await
        {
            Err(QueryError::Refused(why)) => assert!(why.contains("not a validator"), "{why}"),
            other => panic!("an outsider was not refused: {other:?}"),
        }
        // The validator asking about another subnet is refused too.
        let request = QueryRequest::sign(&validator, &peer, netuid + 1, now(), task.public.clone());
        match network
            .query(peer, vec![addr.clone()], &request, timeout)
            .await
        {
            Err(QueryError::Refused(why)) => assert!(why.contains("serves subnet"), "{why}"),
            other => panic!("another subnet's query was not refused: {other:?}"),
        }
        network.stop().await;
    });
}
