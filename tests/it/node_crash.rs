//! Crash safety under load: a node authoring every 100 ms while transfers pour in is killed
//! with SIGKILL at arbitrary moments, again and again. Each restart must open cleanly (the
//! node re-hashes its whole state against the head's state root at start), never go back in
//! height, and keep the books exact: the total issuance equals the sum of every balance.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::extrinsic::{Additional, BalancesCall, Call, Extra, Extrinsic};
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::node::client::RpcClient;

use crate::node_support::{free_port, start_dev_node};

const DEV: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];

fn start(base: &Path, port: u16) -> Child {
    start_dev_node(base, port, &["--block-time", "100"])
}

/// Total issuance, the sum of the dev accounts' balances, and the head.
async fn books(client: &RpcClient) -> (u64, u64, u32) {
    let info = client.chain_info().await.expect("chain info");
    let issuance = info["totalIssuance"].as_u64().expect("issuance");
    let mut sum = 0;
    for name in DEV {
        let who = Pair::from_uri(&format!("//{name}")).expect("key").public();
        sum += client.account(&who).await.expect("account").free;
    }
    (issuance, sum, client.head().await.expect("head").0)
}

#[test]
fn sigkill_under_load_never_loses_or_half_writes_a_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("node");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys: Vec<Pair> = DEV
        .iter()
        .map(|n| Pair::from_uri(&format!("//{n}")).expect("key"))
        .collect();
    let mut last_head = 0;
    // Kill delays in milliseconds: spread over and between block boundaries.
    for (round, delay) in [130u64, 470, 260, 910, 55, 640].into_iter().enumerate() {
        let mut node = start(&base, port);
        rt.block_on(async {
            let client = RpcClient::connect(&url).await.expect("connect");
            let (issuance, sum, head) = books(&client).await;
            assert_eq!(
                issuance, sum,
                "round {round}: issuance equals the sum of balances"
            );
            assert!(
                head >= last_head,
                "round {round}: height went back from {last_head} to {head}"
            );
            last_head = head;
            // Pour in transfers from every dev account, then kill mid-stream.
            let genesis = client.genesis_hash().await.expect("genesis");
            let additional = Additional::new(genesis, genesis);
            for (i, key) in keys.iter().enumerate() {
                let nonce = client.next_nonce(&key.public()).await.expect("nonce");
                for k in 0..20u32 {
                    let to = keys[(i + 1 + k as usize) % keys.len()].public();
                    let call = Call::Balances(BalancesCall::TransferKeepAlive {
                        dest: to.into(),
                        value: 1_000_000 + u64::from(k),
                    });
                    let extra = Extra {
                        era: Era::Immortal,
                        nonce: nonce + k,
                        tip: 0,
                    };
                    let xt = Extrinsic::sign(key, call, extra, &additional).to_bytes();
                    client.submit(&xt).await.expect("admitted");
                }
            }
        });
        std::thread::sleep(Duration::from_millis(delay));
        node.kill().expect("SIGKILL");
        node.wait().expect("reaped");
    }
    let mut node = start(&base, port);
    rt.block_on(async {
        let client = RpcClient::connect(&url).await.expect("connect");
        let (issuance, sum, head) = books(&client).await;
        assert_eq!(issuance, sum);
        assert!(head >= last_head);
        assert!(head > 0, "blocks were committed");
        let mut sent = 0;
        for key in &keys {
            sent += client.account(&key.public()).await.expect("account").nonce;
        }
        assert!(sent > 0, "transfers were committed between the kills");
    });
    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
}
