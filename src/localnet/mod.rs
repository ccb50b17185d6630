//! `ganglion localnet`: a dev chain, a subnet, validators and miners in one process.
//!
//! One command brings up, in one process: a dev chain node (authored by //Alice, on loopback
//! libp2p and an RPC port of its own), the subnet from a spec (`denoise`, embedded, unless
//! `--subnet SPEC`) created with the spec's hyperparameters and its bundle in force,
//! validators with stake (//Bob, //Charlie, ...), and miners of deliberately different quality
//! (an untrained model, a briefly trained one, a well trained one, one answering noise). The
//! validators and miners talk to the node over its RPC and to each other over libp2p, exactly
//! as separate processes would. Each epoch prints a line of incentives; at the end (after
//! `--epochs`, or Ctrl-C) a summary table, and optionally a JSON summary and a plot.

pub(crate) mod report;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ganglion_dsl::bundle::Bundle;
use ganglion_gpu::{
    BatchService, ModelConfig, ModelKind, Observer, Predictor, ServiceConfig, TrainConfig, Trainer,
};
use ganglion_kernel::chain::extrinsic::{Call, StakingCall, SubnetsCall};
use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::chain::units::{RAO_PER_TAO, format_tao};
use ganglion_kernel::node::client::RpcClient;
use ganglion_kernel::node::{NetworkOptions, Node, NodeConfig};
use ganglion_kernel::p2p;
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::LocalnetArgs;
use crate::cmd::serve::{Miner, serve};
use crate::cmd::validator::{ValidatorConfig, validate};
use crate::miner::TaskIo;
use report::{EpochRecord, MinerSummary, Summary, Timings, ValidatorSummary};

/// The default subnet, embedded so `localnet` works from any directory.
const DENOISE: &str = include_str!("../../subnets/denoise/denoise.subnet");

/// The miner kinds, in order of registration.
const KINDS: [&str; 4] = ["untrained", "brief", "trained", "noise"];

/// Training steps of the `brief` miner.
const BRIEF_STEPS: u64 = 30;

/// Stops training at a deadline or when the run stops.
struct Deadline {
    until: Instant,
    stop: watch::Receiver<bool>,
}

impl Observer for Deadline {
    fn should_stop(&mut self) -> bool {
        Instant::now() >= self.until || *self.stop.borrow()
    }
}

/// A model for a miner of `kind` (trained on this thread; call it off the async runtime).
fn model_for(
    kind: &str,
    io: &TaskIo,
    plugin: &ganglion_plugins::Plugin,
    train_secs: f64,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Predictor> {
    let device = ganglion_gpu::cpu();
    let model_kind = ModelKind::auto(&io.shape.input, &io.shape.output);
    let model = ModelConfig::for_task(model_kind, &io.shape)?;
    let steps = match kind {
        "brief" => BRIEF_STEPS,
        "trained" => u64::MAX / 2,
        _ => 0,
    };
    let config = TrainConfig {
        steps,
        seed: 7,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(io.shape.clone(), model, config, &device)?;
    if steps > 0 {
        let mut source = |step: u64, rows: usize| crate::miner::batch(plugin, io, 7, step, rows);
        let mut deadline = Deadline {
            until: Instant::now() + Duration::from_secs_f64(train_secs),
            stop,
        };
        trainer.run(&mut source, &mut deadline)?;
    }
    Ok(trainer.predictor())
}

/// The hyperparameter calls for a bundle's `incentive` block (the chain's root, //Alice on
/// the dev chain, also owns the subnet, so it can send the root ones too).
fn parameter_calls(netuid: u16, bundle: &Bundle) -> anyhow::Result<Vec<Call>> {
    let mut calls = Vec::new();
    let mut alpha = (None, None);
    for (name, value) in &bundle.manifest.hyperparameters {
        let value = serde_json::to_value(value)?;
        let text = match (name.as_str(), &value) {
            ("min_burn" | "max_burn", Value::Number(n)) => format_tao(n.as_u64().unwrap_or(0)),
            (_, Value::String(s)) => s.clone(),
            (_, v) => v.to_string(),
        };
        let chain_name = match name.as_str() {
            "alpha_low" => {
                alpha.0 = Some(text);
                continue;
            }
            "alpha_high" => {
                alpha.1 = Some(text);
                continue;
            }
            "activity_cutoff_factor" => "activity_cutoff_factor_milli",
            "burn_increase_mult" => "burn_increase_mult_milli",
            "reveal_period" => "reveal_period_epochs",
            other => other,
        };
        calls.push(crate::cmd::economy::subnet_param_call(
            netuid, chain_name, &text,
        )?);
    }
    if let (Some(low), Some(high)) = alpha {
        calls.push(crate::cmd::economy::subnet_param_call(
            netuid,
            "alpha_values",
            &format!("{low},{high}"),
        )?);
    }
    Ok(calls)
}

/// Sends a call signed by `who` and fails with the chain's reason if it is refused.
async fn send(client: &RpcClient, who: &Pair, call: Call) -> anyhow::Result<()> {
    let name = call.name();
    let receipt = client
        .submit_call(who, call, Duration::from_secs(30))
        .await
        .with_context(|| format!("sending {name}"))?;
    if let Some(e) = receipt.error {
        bail!("{name} was refused: {e}");
    }
    Ok(())
}

/// Whether `hotkey` is a neuron of the metagraph.
fn registered(metagraph: &Value, hotkey: &AccountId) -> bool {
    let hotkey = hotkey.to_string();
    metagraph["neurons"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["hotkey"].as_str() == Some(hotkey.as_str()))
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn ratio(v: &Value, key: &str) -> f64 {
    num(v, key) as f64 / 65535.0
}

/// Rebuilds the spec and, if its bundle changed, publishes it and puts it in force three
/// blocks from now. `Ok(None)` when the bundle is the same (a save without a change).
async fn reload(
    client: &RpcClient,
    owner: &Pair,
    netuid: u16,
    spec_path: &Path,
    running: &Bundle,
) -> anyhow::Result<Option<Bundle>> {
    let bundle = crate::cmd::spec::bundle_of(spec_path)?;
    // Hyperparameters the new `incentive` block changes apply at once.
    let mut changed = bundle.manifest.clone();
    changed
        .hyperparameters
        .retain(|k, v| running.manifest.hyperparameters.get(k) != Some(v));
    if !changed.hyperparameters.is_empty() {
        let mut only = bundle.clone();
        only.manifest = changed;
        for call in parameter_calls(netuid, &only)? {
            send(client, owner, call).await?;
        }
    }
    let info = client.subnet_info(netuid).await?;
    if info["bundle"]["hash"].as_str() == Some(format!("0x{}", bundle.hash_hex()).as_str()) {
        return Ok(None);
    }
    client.publish_bundle(bundle.bytes()).await?;
    let activation_block = client.head().await?.0 + 3;
    send(
        client,
        owner,
        Call::Subnets(SubnetsCall::SetBundle {
            netuid,
            hash: bundle.hash(),
            activation_block,
        }),
    )
    .await?;
    println!(
        "reloaded {}: bundle {} in force from block {activation_block}",
        spec_path.display(),
        &bundle.hash_hex()[..16]
    );
    Ok(Some(bundle))
}

pub(crate) fn run(args: &LocalnetArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut _temp = None;
    let base: PathBuf = match &args.base_path {
        Some(p) => p.clone(),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("ganglion-localnet-")
                .tempdir()
                .context("creating a temporary directory")?;
            let path = dir.path().to_owned();
            _temp = Some(dir);
            path
        }
    };
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let spec_path = match &args.subnet {
        Some(p) => p.clone(),
        None => {
            let p = base.join("denoise.subnet");
            if !p.exists() {
                std::fs::write(&p, DENOISE).context("writing the embedded denoise spec")?;
            }
            p
        }
    };
    let bundle = crate::cmd::spec::bundle_of(&spec_path)?;
    let (_, plugin, _, io) = crate::cmd::miner::subnet(&spec_path)?;
    let runtime = crate::cmd::account::service_runtime()?;
    runtime.block_on(run_async(
        args, started, &base, &spec_path, bundle, plugin, io,
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[expect(
    clippy::too_many_lines,
    reason = "the run reads top to bottom: start, set up, watch, report, stop"
)]
async fn run_async(
    args: &LocalnetArgs,
    started: Instant,
    base: &Path,
    spec_path: &Path,
    bundle: Bundle,
    plugin: ganglion_plugins::Plugin,
    io: TaskIo,
) -> anyhow::Result<()> {
    // The chain.
    let mut genesis = GenesisConfig::dev();
    genesis.block_time_ms = args.block_time;
    genesis
        .validate()
        .map_err(|e| anyhow::anyhow!("--block-time: {e}"))?;
    let node = Node::start(NodeConfig {
        base_path: base.join("node"),
        genesis,
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        authority: Some(Pair::from_uri("//Alice")?),
        pool: PoolLimits::default(),
        rpc_max_connections: 64,
        network: Some(NetworkOptions {
            listen: p2p::default_listen(Ipv4Addr::LOCALHOST, 0),
            bootnodes: Vec::new(),
            mdns: false,
            limits: p2p::NetworkLimits::default(),
        }),
    })
    .await?;
    let url = format!("ws://{}", node.rpc_addr());
    let start_head = node.head_number();
    while node.head_number() == start_head {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first_block_ms = started.elapsed().as_millis() as u64;
    println!(
        "ganglion localnet: chain at {url}, block #{} after {:.2} s, base path {}",
        node.head_number(),
        first_block_ms as f64 / 1000.0,
        base.display()
    );
    // Training starts now, beside the subnet's setup.
    let (stop_tx, stop_rx) = watch::channel(false);
    let plugin = Arc::new(plugin);
    let mut models = Vec::new();
    for i in 0..args.miners as usize {
        let kind = KINDS[i % KINDS.len()];
        let io = io.clone();
        let plugin = plugin.clone();
        let stop = stop_rx.clone();
        let train_secs = args.train_secs;
        models.push(tokio::task::spawn_blocking(move || {
            model_for(kind, &io, &plugin, train_secs, stop)
        }));
    }
    let client = RpcClient::connect(&url).await?;

    // The subnet, created once per base path.
    let alice = Pair::from_uri("//Alice")?;
    let name = bundle.manifest.name.clone();
    let owner_hotkey = Pair::from_uri("//Alice//owner")?.public();
    let existing = client
        .subnets()
        .await?
        .into_iter()
        .find(|s| s["name"].as_str() == Some(name.as_str()));
    let netuid = match existing {
        Some(s) => num(&s, "netuid") as u16,
        None => {
            send(
                &client,
                &alice,
                Call::Subnets(SubnetsCall::Create {
                    hotkey: owner_hotkey,
                    name: name.clone().into_bytes(),
                }),
            )
            .await?;
            let created = client
                .subnets()
                .await?
                .into_iter()
                .find(|s| s["name"].as_str() == Some(name.as_str()))
                .context("the subnet was not created")?;
            num(&created, "netuid") as u16
        }
    };
    for call in parameter_calls(netuid, &bundle)? {
        send(&client, &alice, call).await?;
    }
    if let Some(tempo) = args.tempo {
        send(
            &client,
            &alice,
            crate::cmd::economy::subnet_param_call(netuid, "tempo", &tempo.to_string())?,
        )
        .await?;
    }
    client.publish_bundle(bundle.bytes()).await?;
    let head = client.head().await?.0;
    send(
        &client,
        &alice,
        Call::Subnets(SubnetsCall::SetBundle {
            netuid,
            hash: bundle.hash(),
            activation_block: head + 3,
        }),
    )
    .await?;
    // Emission is counted from here, with a subnet to pay: one read gives both, so the
    // run's emission matches its blocks exactly.
    let economy = client.economy().await?;
    let minted_at_start = num(&economy["totals"], "minted");
    let head_at_start = num(&economy, "head");
    let block_reward = num(&economy["params"], "block_emission");
    println!(
        "subnet {netuid}: {} {} ({}), bundle {}",
        bundle.manifest.name,
        bundle.manifest.version,
        spec_path.display(),
        &bundle.hash_hex()[..16]
    );

    // Validators: registered and staked.
    let validator_names = ["Bob", "Charlie", "Eve", "Ferdie"];
    let mut validators = Vec::new();
    let metagraph = client.metagraph(netuid).await?;
    for i in 0..args.validators as usize {
        let coldkey = Pair::from_uri(&format!("//{}", validator_names[i % validator_names.len()]))?;
        let hotkey = Pair::from_uri(&format!("//Validator{i}"))?;
        if !registered(&metagraph, &hotkey.public()) {
            send(
                &client,
                &coldkey,
                Call::Neurons(ganglion_kernel::chain::extrinsic::NeuronsCall::Register {
                    netuid,
                    hotkey: hotkey.public(),
                }),
            )
            .await?;
            send(
                &client,
                &coldkey,
                Call::Staking(StakingCall::Add {
                    hotkey: hotkey.public(),
                    amount: 1000 * RAO_PER_TAO,
                }),
            )
            .await?;
        }
        validators.push(hotkey);
    }

    // Miners: registered now (so their uids follow their kinds), serving once trained.
    let dave = Pair::from_uri("//Dave")?;
    for i in 0..args.miners as usize {
        let hotkey = Pair::from_uri(&format!("//Miner{i}"))?.public();
        if !registered(&metagraph, &hotkey) {
            send(
                &client,
                &dave,
                Call::Neurons(ganglion_kernel::chain::extrinsic::NeuronsCall::Register {
                    netuid,
                    hotkey,
                }),
            )
            .await?;
        }
    }
    let stopped = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut kinds = BTreeMap::new();
    let mut served: BTreeMap<String, Arc<AtomicU64>> = BTreeMap::new();
    let mut tasks = Vec::new();
    for (i, model) in models.into_iter().enumerate() {
        let kind = KINDS[i % KINDS.len()].to_string();
        let hotkey = Pair::from_uri(&format!("//Miner{i}"))?;
        kinds.insert(hotkey.public().to_string(), kind.clone());
        let counter = Arc::new(AtomicU64::new(0));
        served.insert(hotkey.public().to_string(), counter.clone());
        let io = io.clone();
        let url = url.clone();
        let key_path = base.join("miners").join(format!("m{i}")).join("secret");
        let subnet = name.clone();
        let stop_wait = stopped(&stop_rx);
        tasks.push(tokio::spawn(async move {
            let predictor = model.await??;
            let service = Arc::new(BatchService::start(predictor, ServiceConfig::default())?);
            let miner = Miner {
                netuid,
                hotkey,
                coldkey: Pair::from_uri("//Dave")?,
                io,
                subnet,
                service,
                noise: (kind == "noise").then_some(i as u64),
                url,
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
                announce: None,
                key_path,
                served: counter,
                quiet: true,
            };
            serve(miner, stop_wait).await
        }));
    }
    for (i, hotkey) in validators.iter().enumerate() {
        let config = ValidatorConfig {
            netuid,
            hotkey: hotkey.clone(),
            url: url.clone(),
            base: base.join("validators").join(format!("v{i}")),
            bundle: None,
            rounds: 0,
            quiet: true,
        };
        tasks.push(tokio::spawn(validate(config, stopped(&stop_rx))));
    }

    // The live view: one line per epoch.
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut emission: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_epoch_block = num(&client.metagraph(netuid).await?, "last_epoch_block");
    let mut first_weights_ms = None;
    let mut first_epoch_ms = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut last_mg = Value::Null;
    let mut bundle = bundle;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut spec_seen = modified(spec_path);
    if args.watch {
        println!("watching {} for changes", spec_path.display());
    }
    while (history.len() as u64) < args.epochs {
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = tokio::time::sleep(Duration::from_millis(args.block_time.max(50))) => {}
        }
        if let Some(i) = tasks.iter().position(tokio::task::JoinHandle::is_finished) {
            let why = match tasks.swap_remove(i).await {
                Ok(Ok(())) => "it returned".to_string(),
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => e.to_string(),
            };
            bail!("a validator or miner stopped early: {why}");
        }
        if args.watch && modified(spec_path) != spec_seen {
            spec_seen = modified(spec_path);
            match reload(&client, &alice, netuid, spec_path, &bundle).await {
                Ok(Some(next)) => bundle = next,
                Ok(None) => {}
                Err(e) => println!("{} was not reloaded: {e:#}", spec_path.display()),
            }
        }
        let Ok(mg) = client.metagraph(netuid).await else {
            continue;
        };
        if first_weights_ms.is_none()
            && mg["neurons"].as_array().into_iter().flatten().any(|n| {
                validators
                    .iter()
                    .any(|v| n["hotkey"].as_str() == Some(v.public().to_string().as_str()))
                    && !n["weights"].as_array().is_none_or(Vec::is_empty)
            })
        {
            first_weights_ms = Some(started.elapsed().as_millis() as u64);
        }
        let epoch_block = num(&mg, "last_epoch_block");
        if epoch_block != last_epoch_block {
            last_epoch_block = epoch_block;
            first_epoch_ms.get_or_insert(started.elapsed().as_millis() as u64);
            let mut incentive = Vec::new();
            let mut uid_kinds = BTreeMap::new();
            for n in mg["neurons"].as_array().into_iter().flatten() {
                let hotkey = n["hotkey"].as_str().unwrap_or_default().to_string();
                *emission.entry(hotkey.clone()).or_default() += num(n, "emission");
                if let Some(kind) = kinds.get(&hotkey) {
                    let uid = num(n, "uid") as u16;
                    incentive.push((uid, ratio(n, "incentive")));
                    uid_kinds.insert(uid, kind.clone());
                }
            }
            let record = EpochRecord {
                epoch: history.len() as u64 + 1,
                block: epoch_block,
                incentive,
            };
            println!("{}", report::epoch_line(&record, &uid_kinds));
            history.push(record);
        }
        last_mg = mg;
    }

    // The summary.
    let economy = client.economy().await?;
    let minted = num(&economy["totals"], "minted").saturating_sub(minted_at_start);
    let blocks = num(&economy, "head").saturating_sub(head_at_start);
    let mut miners = Vec::new();
    let mut validator_rows = Vec::new();
    for n in last_mg["neurons"].as_array().into_iter().flatten() {
        let hotkey = n["hotkey"].as_str().unwrap_or_default().to_string();
        let uid = num(n, "uid") as u16;
        let earned = emission.get(&hotkey).copied().unwrap_or(0);
        if let Some(kind) = kinds.get(&hotkey) {
            miners.push(MinerSummary {
                uid,
                hotkey: hotkey.clone(),
                kind: kind.clone(),
                incentive: ratio(n, "incentive"),
                emission_rao: earned,
                served: served.get(&hotkey).map_or(0, |c| c.load(Ordering::Relaxed)),
            });
        } else if validators.iter().any(|v| v.public().to_string() == hotkey) {
            validator_rows.push(ValidatorSummary {
                uid,
                hotkey,
                dividends: ratio(n, "dividends"),
                vtrust: ratio(n, "validator_trust"),
                emission_rao: earned,
                stake_rao: num(n, "stake"),
            });
        }
    }
    let summary = Summary {
        chain: client
            .call("system_chain", Vec::new())
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string(),
        netuid,
        subnet: name,
        bundle: bundle.hash_hex(),
        blocks,
        epochs: history.len() as u64,
        block_reward_rao: block_reward,
        total_emission_rao: minted,
        miners,
        validators: validator_rows,
        history,
        timings: Timings {
            first_block_ms,
            first_weights_ms,
            first_epoch_ms,
        },
    };
    println!();
    print!("{}", report::summary_table(&summary));
    if let Some(path) = &args.json {
        report::write_json(&summary, path)?;
        println!("JSON summary: {}", path.display());
    }
    if let Some(path) = &args.plot {
        report::plot(&summary, path)?;
        println!("plot: {}", path.display());
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    node.stop().await;
    Ok(())
}
