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
