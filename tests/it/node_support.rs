//! Starting real `ganglion node --dev` processes for the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A node process and what it printed at startup.
pub(crate) struct Started {
    /// The process.
    pub(crate) child: Child,
    /// Its p2p listen addresses, each ending in /p2p/PEER_ID.
    pub(crate) p2p: Vec<String>,
}

/// Starts `ganglion node ARGS --rpc-port PORT --base-path BASE` and waits until it has printed
/// its startup lines; returns the process and its p2p addresses.
pub(crate) fn start_node_with(base: &Path, port: u16, args: &[&str]) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .arg("node")
        .args(args)
        .args(["--rpc-port", &port.to_string(), "--no-mdns"])
        .arg("--base-path")
        .arg(base)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut p2p = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "the node did not start in time");
        match lines.next() {
            Some(Ok(line)) if line.contains("Ctrl-C") => break,
            Some(Ok(line)) => {
                if let Some(addr) = line.trim().strip_prefix("p2p:") {
                    p2p.push(addr.trim().to_owned());
                }
            }
            _ => panic!("the node exited before it was ready"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Started { child, p2p }
}

/// Starts `ganglion node --dev` (plus `extra` arguments) on `base` with its RPC on `port`, and
/// waits until it reports that address. Its output is drained so it never blocks on a pipe.
pub(crate) fn start_dev_node(base: &Path, port: u16, extra: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["node", "--dev", "--rpc-port", &port.to_string()])
        .args(["--p2p-port", "0", "--no-mdns"])
        .args(extra)
        .arg("--base-path")
        .arg(base)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the node did not report its RPC address in time"
        );
        match lines.next() {
            Some(Ok(line)) if line.contains("RPC:") => {
                assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
                break;
            }
            Some(Ok(_)) => {}
            _ => panic!("the node exited before it was ready (did its database open?)"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

/// A child process killed (and reaped) when dropped.
pub(crate) struct Kill(pub(crate) Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ganglion ARGS` and waits up to `secs` for a line of its output containing
/// `ready`; the rest of its output is drained.
pub(crate) fn spawn_ready(args: &[&str], ready: &str, secs: u64) -> Kill {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        assert!(
            Instant::now() < deadline,
            "`ganglion {}` not ready",
            args.join(" ")
        );
        match lines.next() {
            Some(Ok(line)) if line.contains(ready) => break,
            Some(Ok(_)) => {}
            _ => panic!("`ganglion {}` exited early", args.join(" ")),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Kill(child)
}

/// Runs the client command `ganglion ARGS --url URL --json`, expects success and returns its
/// JSON.
pub(crate) fn client_json(args: &[&str], url: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(args)
        .args(["--url", url, "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "ganglion {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// A subnet's metagraph, read over RPC.
pub(crate) fn metagraph(url: &str, netuid: u16) -> serde_json::Value {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(async {
            let client = ganglion_kernel::node::client::RpcClient::connect(url)
                .await
                .expect("connect");
            client.metagraph(netuid).await.expect("metagraph")
        })
}

/// Calls an RPC method; `None` if the node cannot be reached or the call fails.
pub(crate) fn rpc(
    url: &str,
    method: &str,
    params: Vec<serde_json::Value>,
) -> Option<serde_json::Value> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(async {
            let client = ganglion_kernel::node::client::RpcClient::connect(url)
                .await
                .ok()?;
            client.call(method, params).await.ok()
        })
}

/// The node's head number (0 while it cannot be reached, as when it restarts).
pub(crate) fn head(url: &str) -> u32 {
    rpc(url, "chain_getHeader", vec![])
        .and_then(|h| h["number"].as_str().map(str::to_owned))
        .and_then(|n| u32::from_str_radix(n.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

/// (block hash, state root) of the node's block at `number`.
pub(crate) fn block_at(url: &str, number: u32) -> (String, String) {
    let hash = rpc(url, "chain_getBlockHash", vec![serde_json::json!(number)]).expect("hash");
    let hash = hash.as_str().expect("a block at that height").to_owned();
    let header = rpc(url, "chain_getHeader", vec![serde_json::json!(hash)]).expect("header");
    (hash, header["stateRoot"].as_str().expect("root").to_owned())
}

/// Polls `done` every 100 ms, failing after `secs`.
pub(crate) fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
