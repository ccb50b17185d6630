//! `ganglion miner serve`: a miner on the network. It registers its hotkey on the subnet if
//! needed, listens for validators' queries on libp2p, announces its address on chain
//! (`neurons.serve`), and answers each query through the batched inference service, refusing
//! callers that are not validators of the subnet.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ganglion_gpu::{
    BatchService, ModelConfig, ModelKind, Predictor, ServiceConfig, TrainConfig, Trainer,
};
use ganglion_kernel::chain::extrinsic::{Call, NeuronsCall};
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::node::client::RpcClient;
use ganglion_kernel::p2p::query::Authorizer;
use ganglion_kernel::p2p::{self, Multiaddr, Network, NetworkConfig, Services};
use serde_json::Value;

use super::BadInput;
use super::account::{signer, wallet_root};
use crate::cli::MinerServeArgs;
use crate::miner::{self, TaskIo};

/// The protocol version announced on chain.
const PROTOCOL: u32 = 1;

/// Validators of one subnet, refreshed from the node's metagraph.
struct Validators {
    netuid: u16,
    permitted: RwLock<BTreeSet<AccountId>>,
    refused: AtomicU64,
}

impl Authorizer for Validators {
    fn authorize(&self, netuid: u16, validator: &AccountId) -> Result<(), String> {
        let result = if netuid != self.netuid {
            Err(format!(
                "this miner serves subnet {}, not {netuid}",
                self.netuid
            ))
        } else if self
            .permitted
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(validator)
        {
            Ok(())
        } else {
            Err(format!(
                "{validator} is not a validator of subnet {netuid} (registered with a validator permit)"
            ))
        };
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// Hotkeys holding a validator permit in a metagraph, and whether `me` is registered.
fn permitted(metagraph: &Value, me: &AccountId) -> (BTreeSet<AccountId>, Option<u64>) {
    let mut set = BTreeSet::new();
    let mut uid = None;
    for n in metagraph["neurons"].as_array().into_iter().flatten() {
        let Some(hotkey) = n["hotkey"]
            .as_str()
            .and_then(|h| h.parse::<AccountId>().ok())
        else {
            continue;
        };
        if hotkey == *me {
            uid = n["uid"].as_u64();
        }
        if n["validator_permit"].as_bool() == Some(true) {
            set.insert(hotkey);
        }
    }
    (set, uid)
}

/// Loads the checkpoint, or trains a model for `steps` steps.
fn predictor(
    args: &MinerServeArgs,
    io: &TaskIo,
    plugin: &ganglion_plugins::Plugin,
) -> anyhow::Result<Predictor> {
    let device = ganglion_gpu::cpu();
    if let Some(dir) = &args.checkpoint {
        let p = Predictor::load(dir, &device)
            .with_context(|| format!("loading the model in {}", dir.display()))?;
        if p.task() != &io.shape {
            bail!(BadInput(format!(
                "{} holds a model for {:?} -> {:?}, but the subnet needs {:?} -> {:?}",
                dir.display(),
                p.task().input,
                p.task().output,
                io.shape.input,
                io.shape.output
            )));
        }
        return Ok(p);
    }
    let kind = match args.model.as_str() {
        "auto" => ModelKind::auto(&io.shape.input, &io.shape.output),
        other => other
            .parse::<ModelKind>()
            .map_err(|e| BadInput(e.to_string()))?,
    };
    let model = ModelConfig::for_task(kind, &io.shape).map_err(|e| BadInput(e.to_string()))?;
    let config = TrainConfig {
        steps: args.train_steps,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(io.shape.clone(), model, config, &device)
        .map_err(|e| BadInput(e.to_string()))?;
    let seed = args.seed;
    let mut source = |step: u64, rows: usize| miner::batch(plugin, io, seed, step, rows);
    if args.train_steps > 0 {
        println!(
            "training a {} for {} steps...",
            kind.name(),
            args.train_steps
        );
        trainer.run(&mut source, &mut ()).context("training")?;
    }
    Ok(trainer.predictor())
}

pub(crate) fn run(args: &MinerServeArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.wallet_path.as_ref())?;
    let hotkey_spec = super::account::hotkey_spec(args.wallet.as_deref(), &args.hotkey);
    let hotkey: Pair = signer(&hotkey_spec, &root)?;
    let coldkey: Pair = match (&args.coldkey, &args.wallet) {
        (Some(c), _) => signer(c, &root)?,
        (None, Some(w)) => signer(w, &root)?,
        (None, None) => signer(&hotkey_spec, &root)?,
    };
    let (program, plugin, _hash, io) = super::miner::subnet(&args.bundle)?;
    let predictor = if args.noise {
        // The service still needs a model; it is never asked.
        let kind = ModelKind::auto(&io.shape.input, &io.shape.output);
        let model = ModelConfig::for_task(kind, &io.shape).map_err(|e| BadInput(e.to_string()))?;
        Trainer::new(
            io.shape.clone(),
            model,
            TrainConfig::default(),
            &ganglion_gpu::cpu(),
        )
        .map_err(|e| BadInput(e.to_string()))?
        .predictor()
    } else {
        predictor(args, &io, &plugin)?
    };
    let service = Arc::new(
        BatchService::start(predictor, ServiceConfig::default()).context("starting inference")?,
    );
    let base = args
        .base_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("miner-{}-net", program.meta.name)));
    let listen = if args.listen_addr.is_empty() {
        let mut l = p2p::default_listen(Ipv4Addr::LOCALHOST, args.p2p_port);
        l.truncate(1);
        l
    } else {
        args.listen_addr
            .iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| BadInput(format!("--listen-addr {a}: {e}")))
            })
            .collect::<Result<_, _>>()?
    };
    let miner = Miner {
        netuid: args.netuid,
        hotkey,
        coldkey,
        io,
        subnet: program.meta.name.clone(),
        service,
        noise: args.noise.then_some(args.seed),
        url: args.url.clone(),
        listen,
        announce: args.announce.clone(),
        key_path: base.join(p2p::key::NODE_KEY_FILE),
        served: Arc::new(AtomicU64::new(0)),
        quiet: false,
    };
    let runtime = super::account::service_runtime()?;
    runtime.block_on(serve(miner, super::account::shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

/// A miner ready to serve: keys, the subnet's task mapping, and how it answers.
pub(crate) struct Miner {
    /// The subnet.
    pub(crate) netuid: u16,
    /// Its hotkey.
    pub(crate) hotkey: Pair,
    /// Who pays its registration.
    pub(crate) coldkey: Pair,
    /// The subnet's tensors.
    pub(crate) io: TaskIo,
    /// The subnet's name.
    pub(crate) subnet: String,
    /// The model's batched inference.
    pub(crate) service: Arc<BatchService>,
    /// Answer noise from this seed instead of the model.
    pub(crate) noise: Option<u64>,
    /// The node's RPC address.
    pub(crate) url: String,
    /// Where to listen.
    pub(crate) listen: Vec<Multiaddr>,
    /// The address to announce [default: the first listen address].
    pub(crate) announce: Option<String>,
    /// The node key file.
    pub(crate) key_path: PathBuf,
    /// Queries answered so far.
    pub(crate) served: Arc<AtomicU64>,
    /// Print nothing (the local network prints its own view).
    pub(crate) quiet: bool,
}

/// Registers the miner if needed, announces it and answers queries until `stop` resolves.
pub(crate) async fn serve(
    miner: Miner,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let client = RpcClient::connect(&miner.url).await?;
    let me = miner.hotkey.public();
    let netuid = miner.netuid;
    let metagraph = client.metagraph(netuid).await?;
    let (set, mut uid) = permitted(&metagraph, &me);
    if uid.is_none() {
        println!("registering {me} on subnet {netuid}...");
        let call = Call::Neurons(NeuronsCall::Register { netuid, hotkey: me });
        let receipt = client
            .submit_call(&miner.coldkey, call, Duration::from_secs(60))
            .await?;
        if let Some(e) = &receipt.error {
            bail!("registering on subnet {netuid} failed: {e}");
        }
        uid = permitted(&client.metagraph(netuid).await?, &me).1;
    }
    let validators = Arc::new(Validators {
        netuid,
        permitted: RwLock::new(set),
        refused: AtomicU64::new(0),
    });
    let served = miner.served.clone();
    let handler = {
        let service = miner.service.clone();
        let served = served.clone();
        let io = miner.io.clone();
        let noise = miner.noise.map(|seed| Arc::new(AtomicU64::new(seed)));
        move |_netuid: u16, _validator: AccountId, payload: Vec<u8>| {
            let service = service.clone();
            let served = served.clone();
            let io = io.clone();
            let noise = noise.clone();
            async move {
                let input = io.input(&payload).map_err(|e| format!("{e:#}"))?;
                if let Some(counter) = noise {
                    let mut rng =
                        ganglion_dsl::rng::Rng::new(counter.fetch_add(1, Ordering::Relaxed), 0);
                    let output: Vec<f32> = (0..io.shape.output_len())
                        .map(|_| (rng.uniform() * 2.0 - 1.0) as f32)
                        .collect();
                    served.fetch_add(1, Ordering::Relaxed);
                    return Ok(io.response(&output));
                }
                let output = tokio::task::spawn_blocking(move || service.infer(input))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                served.fetch_add(1, Ordering::Relaxed);
                Ok(io.response(&output))
            }
        }
    };
    let keypair = p2p::key::load_or_create(&miner.key_path)?;
    let mut config = NetworkConfig::new(keypair, 0);
    config.listen = miner.listen.clone();
    config.services = Services {
        sync: None,
        queries: Some((Arc::new(handler), validators.clone())),
    };
    let (network, _events) = Network::start(config).await?;
    let announce = match &miner.announce {
        Some(a) => a.clone(),
        None => network
            .listen_addrs()
            .first()
            .map(ToString::to_string)
            .context("the network listens nowhere")?,
    };
    let call = Call::Neurons(NeuronsCall::Serve {
        netuid,
        peer_id: network.local_peer_id().to_bytes(),
        multiaddr: announce.clone().into_bytes(),
        protocol: PROTOCOL,
    });
    let receipt = client
        .submit_call(&miner.hotkey, call, Duration::from_secs(60))
        .await?;
    if let Some(e) = &receipt.error {
        bail!("announcing the endpoint on subnet {netuid} failed: {e}");
    }
    if !miner.quiet {
        println!(
            "miner {me} (uid {}) serving subnet {netuid} ({}) at {announce}",
            uid.map_or("?".into(), |u| u.to_string()),
            miner.subnet
        );
        println!("Ctrl-C stops it.");
    }
    let started = Instant::now();
    let mut refresh = tokio::time::interval(Duration::from_secs(2));
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = refresh.tick() => {
                if let Ok(mg) = client.metagraph(netuid).await {
                    let (set, _) = permitted(&mg, &me);
                    *validators.permitted.write().unwrap_or_else(std::sync::PoisonError::into_inner) = set;
                }
            }
            _ = report.tick(), if !miner.quiet => {
                let stats = miner.service.stats();
                println!(
                    "served {} queries ({} refused) in {} batches, {:.0} s",
                    served.load(Ordering::Relaxed),
                    validators.refused.load(Ordering::Relaxed),
                    stats.batches,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    network.stop().await;
    if !miner.quiet {
        println!(
            "stopped: served {} queries ({} refused)",
            served.load(Ordering::Relaxed),
            validators.refused.load(Ordering::Relaxed)
        );
    }
    anyhow::Ok(())
}
