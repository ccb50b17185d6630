//! The node binary end to end: a transfer over RPC, SIGKILL, restart on the same base path.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::node_support::{free_port, start_dev_node};

fn start_node(base: &Path, port: u16) -> Child {
    start_dev_node(base, port, &[])
}

fn ganglion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .output()
        .expect("runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

fn balance(url: &str, who: &str) -> (u64, u64) {
    let v = json(&ganglion(&["balance", who, "--url", url, "--json"]));
    (
        v["free"].as_u64().expect("free"),
        v["nonce"].as_u64().expect("nonce"),
    )
}

fn head(url: &str) -> u32 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = ganglion_kernel::node::client::RpcClient::connect(url)
            .await
            .expect("connect");
        client.head().await.expect("head").0
    })
}

#[test]
fn transfer_then_sigkill_then_restart_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("node");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    let mut node = start_node(&base, port);
    let (bob_before, _) = balance(&url, bob);
    let (alice_before, alice_nonce) = balance(&url, "//Alice");
    let receipt = json(&ganglion(&[
        "transfer", "--from", "//Alice", "--to", bob, "--amount", "12.5", "--url", &url, "--json",
    ]));
    assert_eq!(receipt["success"], Value::Bool(true), "{receipt}");
    let fee = receipt["fee"].as_u64().expect("fee");
    assert!(fee > 0);
    let (bob_after, _) = balance(&url, bob);
    let (alice_after, alice_nonce_after) = balance(&url, "//Alice");
    assert_eq!(bob_after, bob_before + 12_500_000_000);
    assert_eq!(alice_after, alice_before - 12_500_000_000 - fee);
    assert_eq!(alice_nonce_after, alice_nonce + 1);

    // A transfer the chain refuses: more than Bob holds.
    let out = ganglion(&[
        "transfer", "--from", "//Bob", "--to", "//Alice", "--amount", "2000000", "--url", &url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "a failed call exits 1");
    let failed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        failed["error"]
            .as_str()
            .expect("error")
            .contains("insufficient balance"),
        "{failed}"
    );

    std::thread::sleep(Duration::from_millis(1500));
    let height = head(&url);
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");

    let mut node = start_node(&base, port);
    assert!(head(&url) >= height, "restarted below the height it had");
    let (bob_restarted, _) = balance(&url, bob);
    let (alice_restarted, _) = balance(&url, "//Alice");
    assert_eq!(bob_restarted, bob_after - fee_of(&failed));
    assert_eq!(alice_restarted, alice_after);

    // Kill it again while it authors, then once more check it restarts cleanly.
    std::thread::sleep(Duration::from_millis(700));
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
    let mut node = start_node(&base, port);
    assert!(head(&url) >= height);
    assert_eq!(balance(&url, "//Alice").0, alice_restarted);
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
}

fn fee_of(receipt: &Value) -> u64 {
    receipt["fee"].as_u64().expect("fee")
}
