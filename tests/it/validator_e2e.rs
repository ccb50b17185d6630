//! Validators and miners as real processes on a dev chain: two `ganglion validator`s score
//! three `ganglion miner serve`s (a trained model, an untrained one, noise) on the `sort`
//! subnet and set weights, and the epoch pays the trained miner the most incentive.

use std::time::{Duration, Instant};

use ganglion_kernel::chain::keys::Pair;
use serde_json::Value;

use crate::node_support::{
    Kill, client_json as ganglion, free_port, metagraph, spawn_ready as spawn, start_dev_node,
};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/subnets/sort/sort.subnet");

fn incentive(mg: &Value, hotkey: &str) -> u64 {
    mg["neurons"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["hotkey"].as_str() == Some(hotkey)))
        .and_then(|n| n["incentive"].as_u64())
        .unwrap_or(0)
}

#[test]
fn validators_pay_the_trained_miner_the_most() {
    scenario(false);
}

#[test]
fn validators_pay_the_trained_miner_the_most_with_commit_reveal() {
    scenario(true);
}

fn scenario(commit_reveal: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut node = Kill(start_dev_node(
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
    for (param, value) in [
        ("tempo", "8"),
        ("immunity_period", "0"),
        ("weights_rate_limit", "2"),
    ] {
        ganglion(
            &["subnet", "set", &n, param, value, "--coldkey", "//Alice"],
            &url,
        );
    }
    let set = ganglion(
        &["subnet", "set-bundle", &n, SPEC, "--coldkey", "//Alice"],
        &url,
    );
    assert!(
        set["bundle"].as_str().is_some_and(|h| h.len() == 64),
        "{set}"
    );
    for who in ["//Bob", "//Charlie"] {
        let hotkey = format!("{who}//validator");
        ganglion(
            &[
                "register",
                "--netuid",
                &n,
                "--coldkey",
                who,
                "--hotkey",
                &hotkey,
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
                who,
                "--hotkey",
                &hotkey,
                "--amount",
                "1000",
            ],
            &url,
        );
    }
    let base = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let miner = |name: &str, extra: &[&str]| {
        let hotkey = format!("//Dave//{name}");
        let mut args = vec!["miner", "serve", "--netuid", &n, "--bundle", SPEC];
        args.extend(["--hotkey", &hotkey, "--coldkey", "//Dave", "--url", &url]);
        let b = base(name);
        args.extend(["--base-path", &b]);
        args.extend(extra);
        spawn(&args, "serving subnet", 180)
    };
    let _trained = miner("trained", &["--model", "mlp", "--train-steps", "3000"]);
    let _untrained = miner("untrained", &["--model", "mlp", "--train-steps", "0"]);
    let _noise = miner("noise", &["--noise"]);
    let validator = |who: &str| {
        let hotkey = format!("{who}//validator");
        let b = base(&format!("v{}", &who[2..]));
        spawn(
            &[
                "validator",
                "--netuid",
                &n,
                "--hotkey",
                &hotkey,
                "--url",
                &url,
                "--base-path",
                &b,
            ],
            "round",
            60,
        )
    };
    let _bob = validator("//Bob");
    let _charlie = validator("//Charlie");

    let key = |uri: &str| Pair::from_uri(uri).expect("key").public().to_string();
    let (trained, untrained, noise) = (
        key("//Dave//trained"),
        key("//Dave//untrained"),
        key("//Dave//noise"),
    );
    let deadline = Instant::now() + Duration::from_secs(if commit_reveal { 150 } else { 90 });
    loop {
        let mg = metagraph(&url, netuid);
        let (t, u, z) = (
            incentive(&mg, &trained),
            incentive(&mg, &untrained),
            incentive(&mg, &noise),
        );
        if t > 0 && t > u && t > z {
            let validators_paid = ["//Bob//validator", "//Charlie//validator"]
                .iter()
                .all(|v| {
                    mg["neurons"].as_array().is_some_and(|ns| {
                        ns.iter().any(|n| {
                            n["hotkey"].as_str() == Some(key(v).as_str())
                                && n["dividends"].as_u64().unwrap_or(0) > 0
                        })
                    })
                });
            if validators_paid {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no ordering yet: trained {t}, untrained {u}, noise {z}\n{mg}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    if commit_reveal {
        return;
    }
    // The node restarts (SIGKILL, same base path and port): validators and miners reconnect
    // and the validators set weights again.
    let last_update = |mg: &Value, who: &str| {
        mg["neurons"]
            .as_array()
            .and_then(|ns| {
                ns.iter()
                    .find(|n| n["hotkey"].as_str() == Some(key(who).as_str()))
            })
            .and_then(|n| n["last_update"].as_u64())
            .unwrap_or(0)
    };
    let before = last_update(&metagraph(&url, netuid), "//Bob//validator");
    drop(node);
    node = Kill(start_dev_node(
        &dir.path().join("node"),
        port,
        &["--block-time", "250"],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mg = metagraph(&url, netuid);
        if last_update(&mg, "//Bob//validator") > before + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no weights after the node restarted: {mg}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(node);
}
