//! Several `ganglion node` processes on loopback forming one network: full nodes following
//! the dev chain by gossip and sync, a late node catching up, a killed node rejoining, a
//! transaction sent to a full node reaching the authority, a bundle shared between nodes,
//! and a peer spraying garbage being dropped while the others go on.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::p2p::{self, Network, NetworkConfig, Topic};
use serde_json::{Value, json};

use crate::node_support::{Started, block_at, free_port, head, rpc, start_node_with, wait_for};

struct Proc {
    started: Started,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.started.child.kill();
        let _ = self.started.child.wait();
    }
}

impl Proc {
    fn tcp_addr(&self) -> String {
        self.started
            .p2p
            .iter()
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .cloned()
            .expect("a loopback TCP address")
    }
}

fn start(base: &Path, args: &[&str]) -> Proc {
    let port = free_port();
    let mut all = args.to_vec();
    all.extend(["--listen-addr", "/ip4/127.0.0.1/tcp/0"]);
    let started = start_node_with(base, port, &all);
    Proc {
        started,
        url: format!("ws://127.0.0.1:{port}"),
    }
}

fn authority(base: &Path) -> Proc {
    start(base, &["--dev", "--block-time", "300"])
}

fn follower(base: &Path, bootnode: &str) -> Proc {
    start(base, &["--chain", "dev", "--bootnodes", bootnode])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn call(url: &str, method: &str, params: Vec<Value>) -> Value {
    rpc(url, method, params).expect(method)
}

/// (block hash, state root) at `number`.
fn ganglion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

#[test]
fn four_nodes_agree_a_late_node_syncs_a_killed_node_rejoins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = authority(&dir.path().join("a"));
    let boot = a.tcp_addr();
    let b = follower(&dir.path().join("b"), &boot);
    let c = follower(&dir.path().join("c"), &b.tcp_addr());
    wait_for("the followers to reach block 6", 60, || {
        head(&b.url) >= 6 && head(&c.url) >= 6
    });
    let health = call(&b.url, "system_health", vec![]);
    assert!(health["peers"].as_u64().expect("peers") >= 1, "{health}");
    assert_eq!(health["shouldHavePeers"], json!(true));
    let peer_id = call(&a.url, "system_localPeerId", vec![]);
    assert!(
        boot.ends_with(peer_id.as_str().expect("peer id")),
        "{boot} {peer_id}"
    );
    let addrs = call(&a.url, "system_localListenAddresses", vec![]);
    assert!(
        addrs
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x == &json!(boot)),
        "{addrs}"
    );

    // A transfer sent to a full node reaches the authority through gossip.
    let sent = ok(&ganglion(&[
        "transfer",
        "--from",
        "//Bob",
        "--to",
        "//Dave",
        "--amount",
        "7",
        "--url",
        &c.url,
        "--json",
        "--timeout",
        "30",
    ]));
    assert!(sent["block"].is_string(), "{sent}");
    let dave = ok(&ganglion(&["balance", "//Dave", "--url", &a.url, "--json"]));
    assert_eq!(dave["free"].as_u64(), Some(1_000_007_000_000_000), "{dave}");

    // A node started late, knowing only C, catches up by sync.
    let target = head(&a.url) + 3;
    wait_for("the authority to move on", 30, || head(&a.url) >= target);
    let d = follower(&dir.path().join("d"), &c.tcp_addr());
    wait_for("the late node to catch up", 60, || head(&d.url) >= target);
    for n in [1, target / 2, target] {
        let want = block_at(&a.url, n);
        for node in [&b, &c, &d] {
            assert_eq!(block_at(&node.url, n), want, "block {n} at {}", node.url);
        }
    }

    // B killed and restarted on its base path rejoins and follows again.
    let b_base = dir.path().join("b");
    drop(b);
    let stopped_at = head(&a.url);
    wait_for("the chain to move on without B", 30, || {
        head(&a.url) >= stopped_at + 5
    });
    let b = follower(&b_base, &boot);
    let target = head(&a.url) + 2;
    wait_for("the restarted node to catch up", 60, || {
        head(&b.url) >= target
    });
    assert_eq!(block_at(&b.url, target), block_at(&a.url, target));
}

#[test]
fn a_bundle_published_by_one_node_is_fetched_and_verified_by_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("sort.gnglb");
    let built = ganglion(&[
        "subnet",
        "build",
        concat!(env!("CARGO_MANIFEST_DIR"), "/subnets/sort/sort.subnet"),
        "-o",
        bundle.to_str().expect("utf-8"),
    ]);
    assert!(built.status.success(), "{built:?}");
    let a = authority(&dir.path().join("a"));
    let b = follower(&dir.path().join("b"), &a.tcp_addr());
    wait_for("B to connect", 30, || head(&b.url) >= 1);
    let published = ok(&ganglion(&[
        "subnet",
        "publish",
        bundle.to_str().expect("utf-8"),
        "--url",
        &a.url,
        "--json",
    ]));
    let hash = published["blake3"].as_str().expect("hash").to_owned();
    let out = dir.path().join("fetched.gnglb");
    let fetched = ok(&ganglion(&[
        "subnet",
        "fetch",
        &hash,
        "-o",
        out.to_str().expect("utf-8"),
        "--url",
        &b.url,
        "--json",
    ]));
    assert_eq!(fetched["name"], json!("sort"));
    assert_eq!(
        std::fs::read(&out).expect("written"),
        std::fs::read(&bundle).expect("bundle")
    );
    // An unknown hash fails clearly and writes nothing.
    let missing = dir.path().join("missing.gnglb");
    let unknown = "ab".repeat(32);
    let failed = ganglion(&[
        "subnet",
        "fetch",
        &unknown,
        "-o",
        missing.to_str().expect("utf-8"),
        "--url",
        &b.url,
        "--timeout",
        "3",
    ]);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no reachable peer has bundle"),
        "{failed:?}"
    );
    assert!(!missing.exists());
}

#[test]
fn a_peer_spraying_garbage_is_dropped_while_the_network_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = authority(&dir.path().join("a"));
    let b = follower(&dir.path().join("b"), &a.tcp_addr());
    let genesis = GenesisConfig::dev().build().expect("genesis").header.hash();
    let runtime = rt();
    runtime.block_on(async {
        let mut config = NetworkConfig::new(p2p::Keypair::generate_ed25519(), 0);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
        config.bootnodes = vec![a.tcp_addr().parse().expect("addr")];
        config.chain = Some(hex::encode(&genesis.as_bytes()[..8]));
        let (spray, _events) = Network::start(config).await.expect("network");
        let deadline = Instant::now() + Duration::from_secs(20);
        while spray.peer_count() == 0 {
            assert!(Instant::now() < deadline, "the sprayer never connected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Junk blocks and transactions, each different so none is a duplicate.
        let mut dropped = false;
        for i in 0u32..200 {
            let junk = [b"junk".as_slice(), &i.to_le_bytes()].concat();
            let topic = if i % 2 == 0 {
                Topic::Blocks
            } else {
                Topic::Transactions
            };
            let _ = spray.publish(topic, junk).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if i > 10 && spray.peer_count() == 0 {
                dropped = true;
                break;
            }
        }
        assert!(dropped, "the node kept the sprayer connected");
        // It stays out: dialing again does not bring it back.
        let _ = spray.dial(a.tcp_addr().parse().expect("addr")).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(spray.peer_count(), 0, "the banned peer reconnected");
        spray.stop().await;
    });
    // Meanwhile the chain went on and the honest follower kept up.
    let target = head(&a.url) + 2;
    wait_for("the honest follower to keep up", 30, || {
        head(&b.url) >= target
    });
    assert_eq!(block_at(&b.url, target), block_at(&a.url, target));
    let peers = call(&a.url, "system_peers", vec![]);
    assert_eq!(peers.as_array().expect("list").len(), 1, "{peers}");
}
