//! The node in process: JSON-RPC answers, subscriptions, and errors for bad requests.

use std::net::SocketAddr;
use std::time::Duration;

use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::node::client::RpcClient;
use ganglion_kernel::node::{Node, NodeConfig};
use jsonrpsee::core::client::{ClientT, Error, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt")
}

async fn start(dir: &std::path::Path) -> Node {
    let mut genesis = GenesisConfig::dev();
    genesis.block_time_ms = 200;
    Node::start(NodeConfig {
        base_path: dir.to_owned(),
        genesis,
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        authority: Some(Pair::from_uri("//Alice").expect("key")),
        pool: PoolLimits::default(),
        rpc_max_connections: 16,
        network: None,
    })
    .await
    .expect("node starts")
}

fn code(e: Error) -> i32 {
    match e {
        Error::Call(obj) => obj.code(),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[test]
fn rpc_answers_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let node = start(dir.path()).await;
        let url = format!("ws://{}", node.rpc_addr());
        let ws = WsClientBuilder::default()
            .build(&url)
            .await
            .expect("connect");

        let name: String = ws
            .request("system_name", rpc_params![])
            .await
            .expect("name");
        assert_eq!(name, "ganglion");
        let health: Value = ws
            .request("system_health", rpc_params![])
            .await
            .expect("health");
        assert_eq!(health["isSyncing"], Value::Bool(false));
        let genesis: Value = ws
            .request("chain_getBlockHash", rpc_params![0])
            .await
            .expect("hash");
        assert_eq!(genesis.as_str().expect("hex").len(), 66);
        let version: Value = ws
            .request("state_getRuntimeVersion", rpc_params![])
            .await
            .expect("version");
        assert_eq!(version["specName"], "ganglion");

        // New heads arrive by subscription.
        let mut heads = ws
            .subscribe::<Value, _>(
                "chain_subscribeNewHeads",
                rpc_params![],
                "chain_unsubscribeNewHeads",
            )
            .await
            .expect("subscribe");
        let first = tokio::time::timeout(Duration::from_secs(10), heads.next())
            .await
            .expect("a head");
        let second = tokio::time::timeout(Duration::from_secs(10), heads.next())
            .await
            .expect("a head");
        let number = |v: Option<Result<Value, _>>| {
            let v = v.expect("item").expect("header");
            u32::from_str_radix(
                v["number"]
                    .as_str()
                    .expect("number")
                    .trim_start_matches("0x"),
                16,
            )
            .expect("hex")
        };
        assert!(number(second) > number(first));

        // A transfer through the client: submitted, watched, included, reported.
        let client = RpcClient::connect(&url).await.expect("client");
        let bob = Pair::from_uri("//Bob").expect("key").public();
        let receipt = client
            .transfer(
                &Pair::from_uri("//Alice").expect("key"),
                bob,
                1_000_000_000,
                true,
                Duration::from_secs(20),
            )
            .await
            .expect("transfer");
        assert_eq!(receipt.error, None);
        let block: Value = ws
            .request("chain_getBlock", rpc_params![receipt.block.to_string()])
            .await
            .expect("block");
        assert_eq!(
            block["block"]["extrinsics"].as_array().expect("list").len(),
            1
        );
        assert_eq!(
            block["certificate"]["votes"]
                .as_array()
                .expect("votes")
                .len(),
            1
        );

        // Bad requests: errors, never a crash.
        let e = ws
            .request::<Value, _>("author_submitExtrinsic", rpc_params!["zz"])
            .await
            .expect_err("not hex");
        assert_eq!(code(e), -32602);
        let e = ws
            .request::<Value, _>("author_submitExtrinsic", rpc_params!["0x0400"])
            .await
            .expect_err("malformed");
        assert_eq!(code(e), 1010);
        let e = ws
            .request::<Value, _>("author_submitExtrinsic", rpc_params![])
            .await
            .expect_err("no params");
        assert_eq!(code(e), -32602);
        let e = ws
            .request::<Value, _>("ganglion_accountInfo", rpc_params!["5Grw"])
            .await
            .expect_err("address");
        assert_eq!(code(e), -32602);
        let e = ws
            .request::<Value, _>("chain_getBlockHash", rpc_params![-1])
            .await
            .expect_err("number");
        assert_eq!(code(e), -32602);
        let e = ws
            .request::<Value, _>("state_getStorage", rpc_params!["0x00", genesis])
            .await
            .expect_err("old state");
        assert_eq!(code(e), 4003);
        let e = ws
            .request::<Value, _>("no_such_method", rpc_params![])
            .await
            .expect_err("unknown");
        assert_eq!(code(e), -32601);
        let missing: Value = ws
            .request(
                "chain_getBlock",
                rpc_params![format!("0x{}", "11".repeat(32))],
            )
            .await
            .expect("null");
        assert_eq!(missing, Value::Null);
        let e = ws
            .subscribe::<Value, _>(
                "author_submitAndWatchExtrinsic",
                rpc_params!["0x0400"],
                "author_unwatchExtrinsic",
            )
            .await
            .expect_err("refused subscription");
        assert_eq!(code(e), 1010);

        // Plain HTTP on the same port: a request, and a body that is not JSON.
        let addr = node.rpc_addr();
        let ok = http_post(
            addr,
            r#"{"jsonrpc":"2.0","id":7,"method":"system_name","params":[]}"#,
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(r#""result":"ganglion""#), "{ok}");
        let junk = http_post(addr, "{not json");
        assert!(junk.contains("-32700"), "a parse error: {junk}");

        // The node still serves after all of that.
        let info: Value = ws
            .request("ganglion_accountInfo", rpc_params![bob.to_string()])
            .await
            .expect("info");
        assert_eq!(info["freeTao"], "1000001");
        node.stop().await;
    });
}

#[test]
fn economy_reads_answer_and_unknown_subnets_are_invalid_params() {
    use ganglion_kernel::chain::extrinsic::{Call, NeuronsCall, SubnetsCall};
    use ganglion_kernel::chain::state::Event;
    use ganglion_kernel::node::client::NeuronId;

    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let node = start(dir.path()).await;
        let url = format!("ws://{}", node.rpc_addr());
        let client = RpcClient::connect(&url).await.expect("client");
        let ws = WsClientBuilder::default()
            .build(&url)
            .await
            .expect("connect");
        let key = |uri: &str| Pair::from_uri(uri).expect("key");
        let timeout = Duration::from_secs(20);

        assert_eq!(client.subnets().await.expect("list"), Vec::<Value>::new());
        let owner_hotkey = key("//Alice//owner").public();
        let receipt = client
            .submit_call(
                &key("//Alice"),
                Call::Subnets(SubnetsCall::Create {
                    hotkey: owner_hotkey,
                    name: b"rpc".to_vec(),
                }),
                timeout,
            )
            .await
            .expect("create");
        assert_eq!(receipt.error, None);
        let Some(Event::SubnetCreated {
            netuid: 1, locked, ..
        }) = receipt.events.first()
        else {
            panic!("no subnet_created event: {:?}", receipt.events);
        };
        let hotkey = key("//Bob//validator").public();
        let receipt = client
            .submit_call(
                &key("//Bob"),
                Call::Neurons(NeuronsCall::Register { netuid: 1, hotkey }),
                timeout,
            )
            .await
            .expect("register");
        assert_eq!(receipt.error, None);

        let list = client.subnets().await.expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["netuid"], 1);
        assert_eq!(list[0]["name"], "rpc");
        assert_eq!(list[0]["neurons"], 2);
        assert!(list[0]["registration_price"].as_u64().expect("price") > 0);

        let info = client.subnet_info(1).await.expect("info");
        assert_eq!(info["owner_hotkey"], owner_hotkey.to_string());
        assert_eq!(info["locked"].as_u64(), Some(*locked));
        let head = info["head"].as_u64().expect("head");
        let next = info["next_epoch_block"].as_u64().expect("next epoch");
        assert!(next > head && next <= head + 361, "{info}");
        assert!(info["pow"]["difficulty"].as_u64().is_some(), "{info}");

        let params = client.hyperparameters(1).await.expect("params");
        assert_eq!(params["tempo"], 360);
        assert_eq!(params["commit_reveal"], false);

        let mg = client.metagraph(1).await.expect("metagraph");
        assert_eq!(mg["neurons"].as_array().map(Vec::len), Some(2));
        assert_eq!(mg["neurons"][1]["hotkey"], hotkey.to_string());
        assert!(mg["block"].as_u64().expect("block") >= head);

        let by_uid = client.neuron(1, NeuronId::Uid(1)).await.expect("uid");
        let by_key = client
            .neuron(1, NeuronId::Hotkey(hotkey))
            .await
            .expect("hotkey");
        assert_eq!(by_uid, by_key);
        assert_eq!(by_uid["coldkey"], key("//Bob").public().to_string());

        let stake = client.stake(&hotkey).await.expect("stake");
        assert_eq!(
            stake["registrations"],
            serde_json::json!([{"netuid": 1, "uid": 1}])
        );
        assert_eq!(stake["total"], 0);

        let economy = client.economy().await.expect("economy");
        assert_eq!(economy["totals"]["locked"].as_u64(), Some(*locked));
        assert_eq!(economy["subnets"], serde_json::json!([1]));
        assert!(economy["lock_cost"].as_u64().expect("lock cost") >= *locked);

        // Unknown subnets, UIDs and hotkeys: invalid params with a clear message.
        for (method, params) in [
            ("ganglion_subnetInfo", rpc_params![7]),
            ("ganglion_hyperparameters", rpc_params![7]),
            ("ganglion_metagraph", rpc_params![7]),
            ("ganglion_neuron", rpc_params![7, 0]),
        ] {
            match ws.request::<Value, _>(method, params).await {
                Err(Error::Call(obj)) => {
                    assert_eq!(obj.code(), -32602, "{method}");
                    assert!(
                        obj.message().contains("subnet 7 does not exist"),
                        "{method}: {}",
                        obj.message()
                    );
                }
                other => panic!("{method}: {other:?}"),
            }
        }
        for (params, expected) in [
            (rpc_params![1, 9], "uid 9 does not exist on subnet 1"),
            (
                rpc_params![1, key("//Eve").public().to_string()],
                "is not registered on subnet 1",
            ),
            (rpc_params![1, "nobody"], "is not an address"),
            (rpc_params![1, true], "neither a UID nor a hotkey"),
        ] {
            match ws.request::<Value, _>("ganglion_neuron", params).await {
                Err(Error::Call(obj)) => {
                    assert_eq!(obj.code(), -32602);
                    assert!(obj.message().contains(expected), "{}", obj.message());
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        let e = ws
            .request::<Value, _>("ganglion_subnetInfo", rpc_params!["x"])
            .await
            .expect_err("not a netuid");
        assert_eq!(code(e), -32602);
        let e = ws
            .request::<Value, _>("ganglion_stake", rpc_params!["5Grw"])
            .await
            .expect_err("not an address");
        assert_eq!(code(e), -32602);
        node.stop().await;
    });
}

/// POSTs `body` to the node's HTTP endpoint and returns the whole response.
fn http_post(addr: SocketAddr, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}
