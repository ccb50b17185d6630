//! Four authority processes deciding blocks by Tendermint (Malachite) over loopback, with a
//! full node following them: they agree on every block and state root; with two of four
//! authorities cut off, finalization stops (a third or more is missing) and resumes when one
//! comes back.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::chain::state::Authority;
use serde_json::json;

use crate::node_support::{Started, block_at, free_port, head, rpc, start_node_with, wait_for};

struct Proc {
    started: Started,
    url: String,
    p2p: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.started.child.kill();
        let _ = self.started.child.wait();
    }
}

/// A port whose successor is free too (the engine listens on the next port).
fn port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

fn start(base: &Path, genesis: &Path, p2p_port: u16, extra: &[&str]) -> Proc {
    let rpc = free_port();
    let listen = format!("/ip4/127.0.0.1/tcp/{p2p_port}");
    let mut args = vec![
        "--chain",
        genesis.to_str().expect("utf-8"),
        "--listen-addr",
        &listen,
    ];
    args.extend(extra);
    let started = start_node_with(base, rpc, &args);
    let p2p = started
        .p2p
        .iter()
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
        .cloned()
        .expect("a TCP address");
    Proc {
        started,
        url: format!("ws://127.0.0.1:{rpc}"),
        p2p,
    }
}

#[test]
fn four_authority_processes_agree_stall_without_quorum_and_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<String> = (1..=4).map(|i| format!("//Authority{i}")).collect();
    let mut genesis = GenesisConfig::dev();
    genesis.name = "bft e2e".into();
    genesis.block_time_ms = 300;
    genesis.authorities = keys
        .iter()
        .map(|k| Authority {
            id: Pair::from_uri(k).expect("key").public(),
            power: 1,
        })
        .collect();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec(&genesis).expect("json")).expect("write");

    let ports: Vec<u16> = (0..4).map(|_| port_pair()).collect();
    let base = |i: usize| dir.path().join(format!("a{i}"));
    let first = start(
        &base(0),
        &genesis_path,
        ports[0],
        &["--authority", &keys[0]],
    );
    let boot = first.p2p.clone();
    let mut nodes: Vec<Option<Proc>> = vec![Some(first)];
    for i in 1..4 {
        nodes.push(Some(start(
            &base(i),
            &genesis_path,
            ports[i],
            &["--authority", &keys[i], "--bootnodes", &boot],
        )));
    }
    let full = start(
        &dir.path().join("full"),
        &genesis_path,
        port_pair(),
        &["--bootnodes", &boot],
    );
    let urls: Vec<String> = nodes.iter().flatten().map(|n| n.url.clone()).collect();
    wait_for(
        "four authorities and a full node to reach block 5",
        90,
        || urls.iter().all(|u| head(u) >= 5) && head(&full.url) >= 5,
    );
    for n in 1..=5 {
        let want = block_at(&urls[0], n);
        for url in urls.iter().chain([&full.url]) {
            assert_eq!(block_at(url, n), want, "block {n} at {url}");
        }
    }
    // Every block carries a certificate from more than two thirds of the authorities.
    let block = rpc(
        &full.url,
        "chain_getBlock",
        vec![json!(block_at(&urls[0], 5).0)],
    )
    .expect("block");
    let votes = block["certificate"]["votes"]
        .as_array()
        .expect("votes")
        .len();
    assert!(votes >= 3, "a certificate with {votes} votes: {block}");

    // Two of four down: no quorum, no new block anywhere.
    nodes[2] = None;
    nodes[3] = None;
    std::thread::sleep(Duration::from_secs(2));
    let stalled = head(&urls[0]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        head(&urls[0]) <= stalled + 1 && head(&urls[1]) <= stalled + 1,
        "blocks were finalized without a two-thirds quorum"
    );
    // One comes back (same base path): finalization resumes and all agree again.
    nodes[2] = Some(start(
        &base(2),
        &genesis_path,
        ports[2],
        &["--authority", &keys[2], "--bootnodes", &boot],
    ));
    let target = head(&urls[0]).max(stalled) + 3;
    let live: Vec<String> = [0, 1, 2]
        .iter()
        .map(|&i| nodes[i].as_ref().expect("running").url.clone())
        .collect();
    wait_for("finalization to resume", 90, || {
        live.iter().all(|u| head(u) >= target) && head(&full.url) >= target
    });
    let want = block_at(&live[0], target);
    for url in live.iter().chain([&full.url]) {
        assert_eq!(block_at(url, target), want, "block {target} at {url}");
    }
}
