//! The economy end to end, only through the `ganglion` binary: a dev node with quarter-second
//! blocks; root lowers the lock cost, a subnet is created and configured, two validators and
//! four miners register, the validators stake and weight the miners (directly, or through
//! commit-reveal), and after two epochs the metagraph, the owner's cut and the issuance agree
//! with what was done.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::node_support::{free_port, start_dev_node};

const RAO_PER_TAO: u64 = 1_000_000_000;

/// A dev node that is killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ganglion node --dev --block-time 250` and waits until its RPC listens.
fn start_node(base: &Path) -> Node {
    let port = free_port();
    let child = start_dev_node(base, port, &["--block-time", "250"]);
    Node {
        child,
        url: format!("ws://127.0.0.1:{port}"),
    }
}

impl Node {
    /// Runs `ganglion ARGS --url URL`.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .args(args)
            .args(["--url", &self.url])
            .output()
            .expect("runs")
    }

    /// Runs `ganglion ARGS --url URL --json`, expects success and returns its JSON.
    fn ok(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "ganglion {}: exit {:?}\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json output")
    }

    /// Runs a command expected to fail with `code`; returns its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "ganglion {}\nstdout: {}\nstderr: {stderr}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
        );
        stderr
    }

    fn subnet(&self, netuid: &str) -> Value {
        self.ok(&["subnet", "show", netuid])
    }

    fn free(&self, who: &str) -> u64 {
        self.ok(&["balance", who])["free"].as_u64().expect("free")
    }

    /// Waits until the subnet has run `count` more epochs than it had.
    fn wait_epochs(&self, netuid: &str, count: u64) {
        let epoch = |node: &Node| {
            node.subnet(netuid)["info"]["epoch_index"]
                .as_u64()
                .expect("epoch_index")
        };
        let target = epoch(self) + count;
        let deadline = Instant::now() + Duration::from_secs(30);
        while epoch(self) < target {
            assert!(Instant::now() < deadline, "no epoch on subnet {netuid}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs each group of commands on its own thread (each group in order: one signer's
/// transactions), and returns their JSON outputs in the same shape.
fn parallel(node: &Node, groups: &[Vec<Vec<String>>]) -> Vec<Vec<Value>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|group| {
                scope.spawn(move || {
                    group
                        .iter()
                        .map(|args| {
                            let args: Vec<&str> = args.iter().map(String::as_str).collect();
                            node.ok(&args)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn run_scenario(commit_reveal: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_node(&dir.path().join("node"));

    // Root lowers the lock cost; //Alice creates a subnet.
    let set = node.ok(&[
        "subnet",
        "root-set",
        "min_lock_cost",
        "10",
        "--coldkey",
        "//Alice",
    ]);
    assert_eq!(set["success"], Value::Bool(true), "{set}");
    let created = node.ok(&[
        "subnet",
        "create",
        "--coldkey",
        "//Alice",
        "--hotkey",
        "//Alice//owner",
        "--name",
        "e2e",
    ]);
    assert_eq!(
        created["locked"].as_u64(),
        Some(10 * RAO_PER_TAO),
        "{created}"
    );
    let netuid = created["netuid"].as_u64().expect("netuid").to_string();
    let n = netuid.as_str();
    // Commit-reveal needs its reveal inside one epoch: give it a longer tempo.
    let tempo = if commit_reveal { "32" } else { "10" };
    let mut params = vec![
        ("tempo", tempo),
        ("weights_rate_limit", "0"),
        ("immunity_period", "0"),
    ];
    if commit_reveal {
        params.push(("commit_reveal", "true"));
    }
    for (param, value) in params {
        node.ok(&["subnet", "set", n, param, value, "--coldkey", "//Alice"]);
    }
    let hyper = &node.subnet(n)["hyperparameters"];
    assert_eq!(hyper["tempo"].as_u64(), Some(tempo.parse().expect("int")));
    assert_eq!(hyper["commit_reveal"], Value::Bool(commit_reveal));

    // Bad input exits 2 before anything is sent; a refused call exits 1 with the reason.
    let e = node.fails(
        &["subnet", "set", n, "tempoo", "1", "--coldkey", "//Alice"],
        2,
    );
    assert!(e.contains("weights_rate_limit"), "{e}");
    let e = node.fails(&["subnet", "show", "77"], 1);
    assert!(e.contains("subnet 77 does not exist"), "{e}");
    let e = node.fails(
        &["subnet", "set", n, "tempo", "12", "--coldkey", "//Bob"],
        1,
    );
    assert!(e.contains(&format!("only the owner of subnet {n}")), "{e}");

    // Two validators (Bob's and Charlie's) and four miners (Dave's), then stake.
    let register = |coldkey: &str, hotkey: &str| {
        args(&[
            "register",
            "--netuid",
            n,
            "--coldkey",
            coldkey,
            "--hotkey",
            hotkey,
        ])
    };
    let miners: Vec<String> = (0..4).map(|i| format!("//Dave//miner{i}")).collect();
    let out = parallel(
        &node,
        &[
            vec![
                register("//Bob", "//Bob//validator"),
                args(&[
                    "stake",
                    "add",
                    "--netuid",
                    n,
                    "--coldkey",
                    "//Bob",
                    "--hotkey",
                    "//Bob//validator",
                    "--amount",
                    "1000",
                ]),
            ],
            vec![
                register("//Charlie", "//Charlie//validator"),
                args(&[
                    "stake",
                    "add",
                    "--coldkey",
                    "//Charlie",
                    "--hotkey",
                    "//Charlie//validator",
                    "--amount",
                    "500",
                ]),
            ],
            miners.iter().map(|m| register("//Dave", m)).collect(),
        ],
    );
    let uid = |v: &Value| v["uid"].as_u64().expect("uid");
    let validators = [uid(&out[0][0]), uid(&out[1][0])];
    let miner_uids: Vec<u64> = out[2].iter().map(uid).collect();
    // At least what Bob staked: an epoch may already have paid the validator.
    let stake = node.ok(&["stake", "show", "//Bob//validator"]);
    assert!(
        stake["total"].as_u64().expect("total") >= 1000 * RAO_PER_TAO,
        "{stake}"
    );
    assert_eq!(
        stake["stakers"].as_array().map(Vec::len),
        Some(1),
        "{stake}"
    );

    // An epoch gives the validators their permits.
    node.wait_epochs(n, 1);
    let mg = node.ok(&["metagraph", "--netuid", n]);
    for v in validators {
        assert_eq!(
            mg["neurons"][v as usize]["validator_permit"],
            Value::Bool(true),
            "validator uid {v} holds a permit: {mg}"
        );
    }

    // Both validators weight miners A > B > C; D gets nothing.
    let targets = format!("{},{},{}", miner_uids[0], miner_uids[1], miner_uids[2]);
    let weights = |hotkey: &str, action: &str| {
        let mut a = args(&[
            "weights",
            action,
            "--netuid",
            n,
            "--hotkey",
            hotkey,
            "--uids",
            &targets,
            "--weights",
            "0.6,0.3,0.1",
        ]);
        if action != "set" {
            a.extend(args(&["--salt", "7,8,9"]));
        }
        a
    };
    let hotkeys = ["//Bob//validator", "//Charlie//validator"];
    if commit_reveal {
        let out = parallel(&node, &hotkeys.map(|h| vec![weights(h, "commit")]));
        assert!(out[0][0]["hash"].is_string(), "{}", out[0][0]);
        // Too early: the reveal epoch has not come.
        let early: Vec<String> = weights(hotkeys[0], "reveal");
        let early: Vec<&str> = early.iter().map(String::as_str).collect();
        let e = node.fails(&early, 1);
        assert!(e.contains("too early"), "{e}");
        node.wait_epochs(n, 1);
        parallel(&node, &hotkeys.map(|h| vec![weights(h, "reveal")]));
    } else {
        let out = parallel(&node, &hotkeys.map(|h| vec![weights(h, "set")]));
        assert_eq!(
            out[0][0]["values"],
            serde_json::json!([65535, 32768, 10923]),
            "{}",
            out[0][0]
        );
    }

    let owner_before = node.free("//Alice");
    node.wait_epochs(n, 2);
    let mg = node.ok(&["metagraph", "--netuid", n]);
    let neuron = |uid: u64| &mg["neurons"][uid as usize];
    let incentive = |uid: u64| neuron(uid)["incentive"].as_u64().expect("incentive");
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| incentive(miner_uids[i]));
    assert!(a > b && b > c, "incentive A > B > C: {a} {b} {c}");
    assert_eq!(d, 0, "D has no weight");
    for v in validators {
        let dividends = neuron(v)["dividends"].as_u64().expect("dividends");
        assert!(dividends > 0, "validator uid {v} earns dividends: {mg}");
    }
    assert!(
        node.free("//Alice") > owner_before,
        "the owner's coldkey got its cut"
    );

    // Every TAO minted since the subnet's creation, to the rao, read at one head.
    let created_at = node.subnet(n)["info"]["created_at"]
        .as_u64()
        .expect("created_at");
    let economy = node.ok(&["economy"]);
    let head = economy["head"].as_u64().expect("head");
    assert_eq!(
        economy["totals"]["minted"].as_u64(),
        Some((head - created_at) * RAO_PER_TAO),
        "{economy}"
    );

    // The table: one line per UID, 100 columns at most.
    let out = node.run(&["metagraph", "--netuid", n]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(table.contains("INCENT"), "{table}");
    assert_eq!(table.lines().count(), 2 + 1 + 7 + 1, "{table}");
    for line in table.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
}

#[test]
fn validators_weight_miners_and_the_chain_pays_them() {
    run_scenario(false);
}

#[test]
fn the_same_through_commit_reveal() {
    run_scenario(true);
}
