//! The command line: every command, argument and its help text.
//!
//! Doc comments here are the help that `ganglion --help` prints, and `docs/cli.md` is
//! generated from them (a test fails when it is stale; `GANGLION_BLESS=1 cargo test`
//! rewrites it).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ganglion: Bittensor's economy as a small Rust kernel plus declarative subnets.
#[derive(Debug, Parser)]
#[command(name = "ganglion", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) log: LogArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Logging.
#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub(crate) struct LogArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The Yuma Consensus epoch: run it on a case file, or make a synthetic case.
    #[command(subcommand)]
    Yuma(YumaCommand),
    /// Subnet plugins: check a module against the ABI, run its entry points, watch a file.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run a chain node: blocks on disk, the transaction pool, authoring, JSON-RPC.
    Node(NodeArgs),
    /// Show an account's balance and nonce, read from a node.
    Balance(BalanceArgs),
    /// Send TAO from one account to another through a node, and wait for the block.
    Transfer(TransferArgs),
    /// Wallets: a coldkey and named hotkeys on disk; make, import, list and inspect keys.
    Wallet(WalletCommand),
    /// Subnets: create one, list them, show one, set its hyperparameters (and, as root, the
    /// chain-wide economy parameters).
    #[command(subcommand)]
    Subnet(SubnetCommand),
    /// Register a hotkey on a subnet for the current registration price, burned from the
    /// coldkey.
    Register(RegisterArgs),
    /// Stake: move TAO from a coldkey to stake on a hotkey and back, or show a hotkey's stake.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Weights: set a validator's weights, or commit to them and reveal them later.
    #[command(subcommand)]
    Weights(WeightsCommand),
    /// Show a subnet's metagraph: each UID's stake, consensus, incentive, dividends, emission,
    /// validator trust and permit, last update and axon.
    ///
    /// Ratios (consensus, incentive, dividends, validator trust) are shown from 0 to 1: the
    /// chain stores them out of 65535. `--json` prints everything the chain has, weights and
    /// bonds included.
    Metagraph(MetagraphArgs),
    /// Show the chain-wide economy: its parameters, totals (stake, locks, pending and minted
    /// emission) and the current subnet lock cost.
    Economy(EconomyArgs),
    /// Miners: train a Burn model on a subnet's own tasks, score it as validators will, and
    /// measure inference speed.
    #[command(subcommand)]
    Miner(MinerCommand),
    /// Run a whole network in one process: a dev chain, a subnet from a spec (denoise by
    /// default), validators and miners of different quality over libp2p on loopback; print the
    /// incentives each epoch and a summary at the end.
    Localnet(LocalnetArgs),
    /// Validate a subnet: generate tasks with its plugin, query its miners over libp2p, score
    /// and smooth their answers, and set weights on chain, round after round until Ctrl-C.
    Validator(ValidatorArgs),
}

/// Arguments of `ganglion localnet`.
#[derive(Debug, Args)]
pub(crate) struct LocalnetArgs {
    /// Epochs of the subnet to run before the summary (Ctrl-C ends earlier).
    #[arg(long, default_value_t = 5)]
    pub(crate) epochs: u64,
    /// The subnet's spec [default: the embedded denoise example].
    #[arg(long, value_name = "SPEC")]
    pub(crate) subnet: Option<PathBuf>,
    /// Validators (each registered with 1,000 TAO of stake).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub(crate) validators: u64,
    /// Miners: their kinds cycle through untrained, brief, trained, noise.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub(crate) miners: u64,
    /// Block time in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub(crate) block_time: u64,
    /// The subnet's tempo in blocks, overriding the spec's (shorter epochs, faster results).
    #[arg(long, value_name = "BLOCKS")]
    pub(crate) tempo: Option<u16>,
    /// Seconds the `trained` miner trains before it serves.
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    pub(crate) train_secs: f64,
    /// Keep the chain and keys here; running again continues the same chain [default: a
    /// temporary directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) base_path: Option<PathBuf>,
    /// Write the summary as JSON (schema in docs/localnet.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Plot each miner's incentive over the epochs (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// Reload the spec when it is saved: rebuild it, publish the new bundle and put it in
    /// force a few blocks later; validators hot-load it there, with no restart. A spec with
    /// errors is reported and the running bundle kept.
    #[arg(long)]
    pub(crate) watch: bool,
}

/// Arguments of `ganglion validator`.
#[derive(Debug, Args)]
pub(crate) struct ValidatorArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    /// The validator's hotkey: a secret URI, a wallet's NAME/HOTKEY, or with --wallet a hotkey
    /// NAME. It must be registered on the subnet (with stake, to get a validator permit).
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) hotkey: String,
    /// A wallet whose hotkey --hotkey names.
    #[arg(long, value_name = "NAME")]
    pub(crate) wallet: Option<String>,
    /// Wallet directory [default: ~/.ganglion/wallets].
    #[arg(long, value_name = "DIR")]
    pub(crate) wallet_path: Option<PathBuf>,
    /// The node's WebSocket RPC address.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub(crate) url: String,
    /// The subnet's bundle or spec, for a subnet with no bundle on chain (a bundle on chain
    /// always wins).
    #[arg(long, value_name = "FILE")]
    pub(crate) bundle: Option<PathBuf>,
    /// Where the validator keeps its node key and fetched bundles [default: ./validator-NETUID].
    #[arg(long, value_name = "DIR")]
    pub(crate) base_path: Option<PathBuf>,
    /// Stop after this many rounds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub(crate) rounds: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MinerCommand {
    /// Train a model on tasks the subnet's plugin generates (its public payload in, a kept
    /// value as the target), scoring it with the subnet's own score function as it goes.
    Train(MinerTrainArgs),
    /// Score a trained model on fresh tasks as a validator would, against the trivial
    /// answer (zeros).
    Eval(MinerEvalArgs),
    /// Inference throughput of each model on this machine, at batch 1 and 64.
    Bench(MinerBenchArgs),
    /// Serve a subnet: register the hotkey if needed, announce its p2p address on chain and
    /// answer validators' queries with a model (batched), until Ctrl-C.
    Serve(MinerServeArgs),
}

/// Arguments of `ganglion miner serve`.
#[derive(Debug, Args)]
pub(crate) struct MinerServeArgs {
    /// The subnet to serve.
    #[arg(long)]
    pub(crate) netuid: u16,
    /// The subnet's bundle or spec (its task shapes and response format).
    #[arg(long, value_name = "FILE")]
    pub(crate) bundle: PathBuf,
    /// The miner's hotkey: a secret URI (//Alice//miner), a wallet's NAME/HOTKEY, or with
    /// --wallet a hotkey NAME.
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) hotkey: String,
    /// A wallet: its coldkey pays the registration, and --hotkey names one of its hotkeys.
    #[arg(long, value_name = "NAME")]
    pub(crate) wallet: Option<String>,
    /// Who pays the registration, if not the wallet's coldkey [default: the hotkey].
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) coldkey: Option<String>,
    /// A model trained by `ganglion miner train`.
    #[arg(long, value_name = "DIR", conflicts_with = "train_steps")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Without --checkpoint: the model to train before serving (auto, mlp, cnn1d, cnn2d,
    /// transformer).
    #[arg(long, default_value = "auto")]
    pub(crate) model: String,
    /// Without --checkpoint: training steps before serving (0 serves an untrained model).
    #[arg(long, default_value_t = 0)]
    pub(crate) train_steps: u64,
    /// The training seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Answer uniform noise in [-1, 1] instead of a model's predictions (a baseline, and a
    /// test of how validators score a useless miner).
    #[arg(long, conflicts_with_all = ["checkpoint", "train_steps"])]
    pub(crate) noise: bool,
    /// The p2p port on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub(crate) p2p_port: u16,
    /// Listen on these multiaddrs instead (e.g. /ip4/0.0.0.0/tcp/30444).
    #[arg(long, value_name = "MULTIADDR", value_delimiter = ',')]
    pub(crate) listen_addr: Vec<String>,
    /// The address to announce on chain [default: the first listen address].
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) announce: Option<String>,
    /// Where the miner keeps its node key [default: ./miner-SUBNET-net].
    #[arg(long, value_name = "DIR")]
    pub(crate) base_path: Option<PathBuf>,
    /// The node's WebSocket RPC address.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub(crate) url: String,
    /// Wallet directory [default: ~/.ganglion/wallets].
    #[arg(long, value_name = "DIR")]
    pub(crate) wallet_path: Option<PathBuf>,
}

/// Arguments of `ganglion miner train`.
#[derive(Debug, Args)]
pub(crate) struct MinerTrainArgs {
    /// The subnet: a bundle, or a spec (`*.subnet`).
    #[arg(long, value_name = "FILE")]
    pub(crate) bundle: PathBuf,
    /// The model: auto (chosen from the task's shapes), mlp, cnn1d, cnn2d or transformer.
    #[arg(long, default_value = "auto")]
    pub(crate) model: String,
    /// Training steps.
    #[arg(long, default_value_t = 2000)]
    pub(crate) steps: u64,
    /// Stop after this many seconds of training, whatever the steps.
    #[arg(long, value_name = "SECS")]
    pub(crate) time_limit: Option<f64>,
    /// Tasks per step.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) learning_rate: f64,
    /// Seeds the weights and the training tasks (the same seed trains the same model).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Score the model every this many steps (0: only at the end).
    #[arg(long, default_value_t = 200)]
    pub(crate) eval_every: u64,
    /// Tasks per evaluation.
    #[arg(long, default_value_t = 128)]
    pub(crate) eval_rounds: usize,
    /// The checkpoint directory [default: miner-NAME].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Continue from the checkpoint in --out up to --steps in all.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Print the result as JSON (no progress bar).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion miner eval`.
#[derive(Debug, Args)]
pub(crate) struct MinerEvalArgs {
    /// The subnet: a bundle, or a spec (`*.subnet`).
    #[arg(long, value_name = "FILE")]
    pub(crate) bundle: PathBuf,
    /// The checkpoint directory `miner train` wrote.
    #[arg(long, value_name = "DIR")]
    pub(crate) checkpoint: PathBuf,
    /// Tasks to score.
    #[arg(long, default_value_t = 256)]
    pub(crate) rounds: usize,
    /// Seeds the tasks.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Print `score`, `baseline` and more as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion miner bench`.
#[derive(Debug, Args)]
pub(crate) struct MinerBenchArgs {
    /// Shape the models for this subnet (a bundle or spec) [default: each example's shapes:
    /// 64 values in and out, and an 8x8 image to 10 classes].
    #[arg(long, value_name = "FILE")]
    pub(crate) bundle: Option<PathBuf>,
    /// Seconds to measure each case.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) seconds: f64,
    /// Print the table as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Check a plugin (.wasm or .wat) against the ABI and print its version, exports and
    /// limits, or every problem found (exit status 1).
    Check(PluginCheckArgs),
    /// Run a plugin's entry point and print the result.
    Run(PluginRunArgs),
    /// Recompile a plugin whenever its file changes and swap it in (Ctrl-C stops).
    Watch(PluginWatchArgs),
}

/// Limits overrides for plugin calls.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub(crate) struct LimitArgs {
    /// Fuel per call (WebAssembly instructions, roughly) [default: 500000000].
    #[arg(long, value_name = "UNITS")]
    pub(crate) fuel: Option<u64>,
    /// Memory per instance, in MiB [default: 64].
    #[arg(long, value_name = "MIB")]
    pub(crate) memory: Option<usize>,
    /// Wall-clock time per call, in milliseconds [default: 2000].
    #[arg(long, value_name = "MS")]
    pub(crate) timeout: Option<u64>,
    /// Where compiled plugins are cached [default: ~/.ganglion/plugin-cache].
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile without reading or writing the on-disk cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
}

/// Arguments of `ganglion plugin check`.
#[derive(Debug, Args)]
pub(crate) struct PluginCheckArgs {
    /// The plugin: a WebAssembly binary (.wasm) or text (.wat) file.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion plugin run`.
#[derive(Debug, Args)]
pub(crate) struct PluginRunArgs {
    /// The plugin: a WebAssembly binary (.wasm) or text (.wat) file.
    pub(crate) file: PathBuf,
    #[command(subcommand)]
    pub(crate) call: PluginCall,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Print machine-readable JSON (the task is JSON either way).
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCall {
    /// Generate a task; prints `{"seed", "round", "public", "private"}`, each payload a list
    /// of tensors `{"dtype", "dims", "data"}`.
    Task {
        /// The task seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The round.
        #[arg(long, default_value_t = 0)]
        round: u64,
    },
    /// Score a response to a task.
    Score {
        /// A task as `plugin run ... task` prints it.
        #[arg(long, value_name = "TASK.json")]
        task: PathBuf,
        /// The response: a JSON list of tensors `{"dtype", "dims", "data"}`.
        #[arg(long, value_name = "RESPONSE.json")]
        response: PathBuf,
    },
    /// Reshape an incentive vector with the plugin's `reward`.
    Reward {
        /// Incentive values (u16), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        incentive: Vec<u16>,
    },
}

/// Arguments of `ganglion plugin watch`.
#[derive(Debug, Args)]
pub(crate) struct PluginWatchArgs {
    /// The plugin file to watch (.wasm or .wat).
    pub(crate) file: PathBuf,
    /// How often to look at the file, in milliseconds.
    #[arg(long, default_value_t = 250, value_name = "MS")]
    pub(crate) interval: u64,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// Print one JSON object per event.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum YumaCommand {
    /// Run one epoch on a case file and print its outputs as JSON on stdout.
    ///
    /// The case is a JSON file in the Yuma vector format (see docs/yuma.md): an `input`
    /// object and, optionally, the `expected` outputs. The printed JSON has the shape of
    /// `expected`. Bad input exits with status 2 and a message naming the field.
    Run(RunArgs),
    /// Write a synthetic, realistic case: validators with stake weighting miners.
    Synth(SynthArgs),
}

/// Arguments of `ganglion yuma run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The case file (JSON). `-` reads standard input.
    pub(crate) case: PathBuf,
    #[command(flatten)]
    pub(crate) epoch: EpochArgs,
    #[command(flatten)]
    pub(crate) check: CheckArgs,
}

/// How the epoch runs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Epoch")]
pub(crate) struct EpochArgs {
    /// Use the reference implementation (a step-by-step port of the chain's sparse epoch;
    /// slower, same output).
    #[arg(long)]
    pub(crate) reference: bool,
    /// Threads for the parallel steps (default: the machine's, for large epochs). The
    /// output does not depend on it.
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<std::num::NonZeroUsize>,
    /// Print the time spent parsing and in the epoch on stderr.
    #[arg(long)]
    pub(crate) timing: bool,
}

/// Comparison with the case's own expected outputs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Check")]
pub(crate) struct CheckArgs {
    /// Compare the outputs with the case's `expected` object: print each differing field
    /// on stderr and exit with status 1 on any difference. With `--json`, print a JSON
    /// report (`{"name", "matches", "differences"}`) on stdout instead of the outputs.
    #[arg(long)]
    pub(crate) check: bool,
    /// With `--check`: print the report as JSON instead of the outputs.
    #[arg(long, requires = "check")]
    pub(crate) json: bool,
}

/// Arguments of `ganglion yuma synth`.
#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Number of uids.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) n: u16,
    /// Validators (uids 0 to V - 1); the other uids are miners.
    #[arg(long, default_value_t = 64)]
    pub(crate) validators: u16,
    /// Miners each validator weights (all of them if larger than their number).
    #[arg(long, default_value_t = 32)]
    pub(crate) weights_per_validator: u16,
    /// Yuma3 bonds.
    #[arg(long)]
    pub(crate) yuma3: bool,
    /// Liquid alpha (implies --yuma3).
    #[arg(long)]
    pub(crate) liquid_alpha: bool,
    /// Seed: the same seed gives the same case on every machine.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Also compute and include the `expected` outputs.
    #[arg(long)]
    pub(crate) expected: bool,
    /// Write the case here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print a one-line JSON summary (`{"path", "n", "bytes"}`) instead of nothing when
    /// writing to a file.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `docs/cli.md` is generated from the help text above.
    #[test]
    fn cli_reference_is_current() {
        let generated = crate::cmd::docs::cli_reference();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
        if std::env::var_os("GANGLION_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == generated,
            "docs/cli.md is stale: run `GANGLION_BLESS=1 cargo test -p ganglion cli_reference` and commit it"
        );
    }
}

/// Arguments of `ganglion node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Run the development chain: //Alice authors one-second blocks; //Alice to //Ferdie hold
    /// 1,000,000 TAO each.
    #[arg(long, conflicts_with = "chain")]
    pub(crate) dev: bool,
    /// The chain to follow: `dev` (the development chain, as a full node that does not
    /// author unless given --authority) or a genesis config file (JSON; see docs/chain.md).
    #[arg(long, value_name = "dev|FILE")]
    pub(crate) chain: Option<PathBuf>,
    /// Where the node keeps its database and node key [default with --dev: a temporary
    /// directory, deleted on exit].
    #[arg(long, value_name = "DIR")]
    pub(crate) base_path: Option<PathBuf>,
    /// The JSON-RPC port (HTTP and WebSocket), on 127.0.0.1.
    #[arg(long, value_name = "PORT", default_value_t = 9944)]
    pub(crate) rpc_port: u16,
    /// Listen for RPC on every interface, not only 127.0.0.1.
    #[arg(long)]
    pub(crate) rpc_external: bool,
    /// Author blocks with this authority key (secret URI, or a wallet's NAME or NAME/HOTKEY)
    /// [default with --dev: //Alice].
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) authority: Option<String>,
    /// Block time in milliseconds, overriding the genesis config's.
    #[arg(long, value_name = "MS")]
    pub(crate) block_time: Option<u64>,
    /// Wallet directory for --authority wallet names [default: ~/.ganglion/wallets].
    #[arg(long, value_name = "DIR")]
    pub(crate) wallet_path: Option<PathBuf>,
    /// The peer-to-peer port, for TCP and QUIC on every interface (0 picks a free port). A
    /// chain with several authorities also uses the next port (PORT+1, TCP) for consensus.
    #[arg(long, value_name = "PORT", default_value_t = 30333)]
    pub(crate) p2p_port: u16,
    /// Listen on these multiaddrs instead (e.g. /ip4/0.0.0.0/tcp/30333 and
    /// /ip4/0.0.0.0/udp/30333/quic-v1); repeat or separate with commas.
    #[arg(long, value_name = "MULTIADDR", value_delimiter = ',')]
    pub(crate) listen_addr: Vec<String>,
    /// Peers to join through, as system_localListenAddresses prints them
    /// (/ip4/HOST/tcp/PORT/p2p/PEER_ID); repeat or separate with commas.
    #[arg(long, value_name = "MULTIADDR", value_delimiter = ',')]
    pub(crate) bootnodes: Vec<String>,
    /// Do not discover peers on the local network with mDNS (on by default for the dev chain).
    #[arg(long)]
    pub(crate) no_mdns: bool,
    /// Run without any network: no peers, RPC only.
    #[arg(long, conflicts_with_all = ["bootnodes", "listen_addr"])]
    pub(crate) no_network: bool,
}

/// Where a client command finds the node, and how it prints.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The node's WebSocket RPC address.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub(crate) url: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Wallet directory for wallet names [default: ~/.ganglion/wallets].
    #[arg(long, value_name = "DIR")]
    pub(crate) wallet_path: Option<PathBuf>,
}

/// The coldkey that signs and pays.
#[derive(Debug, Args)]
#[command(next_help_heading = "Keys")]
#[group(required = true, multiple = false)]
pub(crate) struct ColdkeyArgs {
    /// The coldkey: a secret URI (//Alice) or a wallet's NAME (its coldkey).
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) coldkey: Option<String>,
    /// A wallet: its coldkey signs, and a plain `--hotkey NAME` is one of its hotkeys.
    #[arg(long, value_name = "NAME")]
    pub(crate) wallet: Option<String>,
}

/// How a transaction is sent.
#[derive(Debug, Args)]
#[command(next_help_heading = "Client")]
pub(crate) struct TxArgs {
    /// Seconds to wait for the block.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) timeout: u64,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SubnetCommand {
    /// Create a subnet owned by the coldkey, locking the current lock cost; the hotkey
    /// becomes UID 0 and is never pruned.
    Create(SubnetCreateArgs),
    /// List the subnets: owner, neurons, tempo, pending emission and registration price.
    List(ClientArgs),
    /// Show a subnet: its record, registration price, epoch schedule and hyperparameters.
    Show(SubnetShowArgs),
    /// Set one of a subnet's hyperparameters (signed by its owner; kappa and max_validators
    /// by the chain's root).
    ///
    /// Owner parameters: tempo, bonds_moving_average, immunity_period, max_uids,
    /// min_allowed_weights, max_weight_limit, weights_rate_limit,
    /// activity_cutoff_factor_milli, min_burn (TAO), max_burn (TAO), burn_half_life,
    /// burn_increase_mult_milli, bonds_penalty, yuma3 (true/false), commit_reveal,
    /// reveal_period_epochs, liquid_alpha, alpha_values (LOW,HIGH), alpha_sigmoid_steepness,
    /// pow_registration, target_registrations_per_interval, weights_version_key. Root
    /// parameters: kappa, max_validators. Bounds are in docs/economics.md; the chain refuses
    /// a value out of them and says why.
    Set(SubnetSetArgs),
    /// Set a chain-wide economy parameter (signed by the chain's root: //Alice on the dev
    /// chain): owner_cut (out of 65535), subnet_limit or min_lock_cost (TAO).
    RootSet(RootSetArgs),
    /// Write a commented starter spec, NAME/NAME.subnet, to edit into your subnet.
    New(SpecNewArgs),
    /// Check a spec: exit 0, or every error with its place and a hint (exit 1).
    Check(SpecCheckArgs),
    /// Compile a spec to a bundle (spec, wasm module, data, manifest) and print its hash.
    Build(SpecBuildArgs),
    /// Rewrite a spec in the canonical layout (`--check` only reports).
    Fmt(SpecFmtArgs),
    /// Verify a bundle and show its hash and manifest.
    Inspect(SpecInspectArgs),
    /// Generate one task from a spec or bundle and score trivial answers to it.
    Try(SpecTryArgs),
    /// Put a bundle in force on a subnet (signed by its owner): the node keeps and shares the
    /// bundle, and the chain records its hash with the block it applies from; validators
    /// hot-load it there.
    SetBundle(SubnetSetBundleArgs),
    /// Share a bundle: the node keeps it and announces it to the network (Kademlia provider
    /// records), so any peer can fetch it by its hash.
    Publish(SpecPublishArgs),
    /// Fetch a bundle by its blake3 hash from any peer that has it, verify it and write it.
    Fetch(SpecFetchArgs),
}

/// Arguments of `ganglion subnet publish`.
#[derive(Debug, Args)]
pub(crate) struct SpecPublishArgs {
    /// The bundle (from `ganglion subnet build`).
    pub(crate) bundle: PathBuf,
    /// The node's WebSocket RPC address.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub(crate) url: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion subnet fetch`.
#[derive(Debug, Args)]
pub(crate) struct SpecFetchArgs {
    /// The bundle's blake3 hash (64 hex digits, as `subnet build` and `publish` print it).
    pub(crate) hash: String,
    /// Where to write the bundle.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Seconds to wait for a peer to deliver it.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub(crate) timeout: u64,
    /// The node's WebSocket RPC address.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub(crate) url: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion subnet new`.
#[derive(Debug, Args)]
pub(crate) struct SpecNewArgs {
    /// The subnet's name: letters, digits and `_`, starting with a letter.
    pub(crate) name: String,
    /// The directory to create NAME/ in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
}

/// Arguments of `ganglion subnet check`.
#[derive(Debug, Args)]
pub(crate) struct SpecCheckArgs {
    /// The spec (`*.subnet`); data files are read beside it.
    pub(crate) spec: PathBuf,
    /// Print the result as JSON (errors with file, line, column, message and hint).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion subnet build`.
#[derive(Debug, Args)]
pub(crate) struct SpecBuildArgs {
    /// The spec (`*.subnet`).
    pub(crate) spec: PathBuf,
    /// Where to write the bundle [default: NAME.bundle in the current directory].
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion subnet fmt`.
#[derive(Debug, Args)]
pub(crate) struct SpecFmtArgs {
    /// The specs to format in place.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted (exit 1 if any).
    #[arg(long)]
    pub(crate) check: bool,
}

/// Arguments of `ganglion subnet inspect`.
#[derive(Debug, Args)]
pub(crate) struct SpecInspectArgs {
    /// The bundle.
    pub(crate) bundle: PathBuf,
    /// Print the manifest and hash as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also print the bundled spec.
    #[arg(long)]
    pub(crate) spec: bool,
}

/// Arguments of `ganglion subnet try`.
#[derive(Debug, Args)]
pub(crate) struct SpecTryArgs {
    /// A spec (`*.subnet`) or a bundle.
    pub(crate) spec: PathBuf,
    /// The task's seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// The task's round.
    #[arg(long, default_value_t = 0)]
    pub(crate) round: u64,
    /// Print the task and scores as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion subnet create`.
#[derive(Debug, Args)]
pub(crate) struct SubnetCreateArgs {
    /// The subnet's name (1 to 64 bytes).
    #[arg(long)]
    pub(crate) name: String,
    /// The owner's hotkey (UID 0): an SS58 address, a secret URI (//Alice//owner), or a
    /// hotkey NAME of --wallet.
    #[arg(long, value_name = "KEY_OR_URI", help_heading = "Keys")]
    pub(crate) hotkey: String,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion subnet show`.
#[derive(Debug, Args)]
pub(crate) struct SubnetShowArgs {
    /// The subnet.
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// Arguments of `ganglion subnet set`.
#[derive(Debug, Args)]
pub(crate) struct SubnetSetArgs {
    /// The subnet.
    pub(crate) netuid: u16,
    /// The parameter, in snake_case (`tempo`, `commit_reveal`, `kappa`, ...).
    pub(crate) param: String,
    /// Its value: an integer, true/false, TAO for min_burn and max_burn, LOW,HIGH for
    /// alpha_values.
    #[arg(allow_negative_numbers = true)]
    pub(crate) value: String,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion subnet set-bundle`.
#[derive(Debug, Args)]
pub(crate) struct SubnetSetBundleArgs {
    /// The subnet.
    pub(crate) netuid: u16,
    /// The bundle, or a spec (`*.subnet`, built first).
    pub(crate) bundle: PathBuf,
    /// The first block it applies at [default: the head plus --delay].
    #[arg(long, value_name = "BLOCK")]
    pub(crate) activation_block: Option<u32>,
    /// Blocks from the head to the activation block, when --activation-block is not given.
    #[arg(long, value_name = "BLOCKS", default_value_t = 3)]
    pub(crate) delay: u32,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion subnet root-set`.
#[derive(Debug, Args)]
pub(crate) struct RootSetArgs {
    /// The parameter: owner_cut, subnet_limit or min_lock_cost.
    pub(crate) param: String,
    /// Its value (TAO for min_lock_cost).
    pub(crate) value: String,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion register`.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    /// The hotkey to register: an SS58 address, a secret URI (//Alice//miner1), or a hotkey
    /// NAME of --wallet. It must be the coldkey's, or not yet owned.
    #[arg(long, value_name = "KEY_OR_URI", help_heading = "Keys")]
    pub(crate) hotkey: String,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StakeCommand {
    /// Stake TAO from the coldkey's free balance on a hotkey.
    Add(StakeArgs),
    /// Move TAO staked on a hotkey back to the coldkey's free balance.
    Remove(StakeArgs),
    /// Show the stake on a hotkey: its total, each coldkey's share, its take and where it
    /// is registered.
    Show(StakeShowArgs),
}

/// Arguments of `ganglion stake add` and `ganglion stake remove`.
#[derive(Debug, Args)]
pub(crate) struct StakeArgs {
    /// How much, in TAO (up to 9 decimals).
    #[arg(long, value_name = "TAO")]
    pub(crate) amount: String,
    /// Check first that the hotkey is registered on this subnet. Stake is per hotkey, across
    /// every subnet it serves (there are no subnet alpha tokens), so this is only a check.
    #[arg(long)]
    pub(crate) netuid: Option<u16>,
    /// The hotkey: an SS58 address, a secret URI, or a hotkey NAME of --wallet. It must be
    /// registered on some subnet.
    #[arg(long, value_name = "KEY_OR_URI", help_heading = "Keys")]
    pub(crate) hotkey: String,
    #[command(flatten)]
    pub(crate) coldkey: ColdkeyArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion stake show`.
#[derive(Debug, Args)]
pub(crate) struct StakeShowArgs {
    /// The hotkey: an SS58 address, a secret URI, a wallet's NAME/HOTKEY, or a hotkey NAME
    /// of --wallet.
    #[arg(value_name = "KEY_OR_URI")]
    pub(crate) hotkey: String,
    /// The wallet a plain hotkey NAME belongs to.
    #[arg(long, value_name = "NAME")]
    pub(crate) wallet: Option<String>,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WeightsCommand {
    /// Set weights directly (subnets without commit-reveal).
    Set(WeightsSetArgs),
    /// Commit to weights: send only their hash, and print the salt to reveal them with.
    ///
    /// Nothing is stored on disk: keep the printed salt (and the uids, weights and version
    /// key) and pass them to `ganglion weights reveal` in the reveal epoch, which is
    /// reveal_period_epochs epochs after the commit's. A commit not revealed in that epoch
    /// expires.
    Commit(WeightsCommitArgs),
    /// Reveal committed weights: the same uids, weights, salt and version key as the commit.
    Reveal(WeightsRevealArgs),
}

/// Which weights, as a validator's hotkey signs them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Weights")]
pub(crate) struct WeightsArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    /// The validator's hotkey, which signs: a secret URI (//Bob//validator), a wallet's
    /// NAME/HOTKEY, or a hotkey NAME of --wallet.
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) hotkey: String,
    /// The wallet a plain hotkey NAME belongs to.
    #[arg(long, value_name = "NAME")]
    pub(crate) wallet: Option<String>,
    /// Target UIDs, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "UIDS")]
    pub(crate) uids: Vec<u16>,
    /// Their weights, comma-separated: non-negative decimals (0.6,0.3,0.1), scaled so that the
    /// largest is 65535; with --raw, integers 0 to 65535 sent as they are.
    #[arg(long, value_delimiter = ',', required = true, value_name = "WEIGHTS")]
    pub(crate) weights: Vec<String>,
    /// Send --weights as given (integers 0 to 65535).
    #[arg(long)]
    pub(crate) raw: bool,
    /// The weights version key [default: the subnet's weights_version_key].
    #[arg(long, value_name = "KEY")]
    pub(crate) version_key: Option<u64>,
}

/// Arguments of `ganglion weights set`.
#[derive(Debug, Args)]
pub(crate) struct WeightsSetArgs {
    #[command(flatten)]
    pub(crate) weights: WeightsArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion weights commit`.
#[derive(Debug, Args)]
pub(crate) struct WeightsCommitArgs {
    #[command(flatten)]
    pub(crate) weights: WeightsArgs,
    /// The salt, comma-separated integers 0 to 65535 [default: 8 random values].
    #[arg(long, value_delimiter = ',', value_name = "SALT")]
    pub(crate) salt: Option<Vec<u16>>,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion weights reveal`.
#[derive(Debug, Args)]
pub(crate) struct WeightsRevealArgs {
    #[command(flatten)]
    pub(crate) weights: WeightsArgs,
    /// The salt the commit printed, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "SALT")]
    pub(crate) salt: Vec<u16>,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
}

/// Arguments of `ganglion metagraph`.
#[derive(Debug, Args)]
pub(crate) struct MetagraphArgs {
    /// The subnet.
    #[arg(long)]
    pub(crate) netuid: u16,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// Arguments of `ganglion economy`.
#[derive(Debug, Args)]
pub(crate) struct EconomyArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// Arguments of `ganglion balance`.
#[derive(Debug, Args)]
pub(crate) struct BalanceArgs {
    /// An SS58 address, a secret URI (//Alice), or a wallet's NAME or NAME/HOTKEY.
    pub(crate) account: String,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// Arguments of `ganglion transfer`.
#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// Who sends and signs: a secret URI (//Alice) or a wallet's NAME (its coldkey) or
    /// NAME/HOTKEY.
    #[arg(long, value_name = "KEY_OR_URI")]
    pub(crate) from: String,
    /// The recipient: an SS58 address, a secret URI or a wallet name.
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) to: String,
    /// How much, in TAO (up to 9 decimals: 0.000000001 TAO is 1 rao).
    #[arg(long, value_name = "TAO")]
    pub(crate) amount: String,
    /// Allow the sender to fall below the existential deposit (its dust is burned and the
    /// account removed). Without it the transfer is refused in that case.
    #[arg(long)]
    pub(crate) allow_death: bool,
    /// Seconds to wait for the block.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) timeout: u64,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// `ganglion wallet`: keys on disk.
#[derive(Debug, Args)]
pub(crate) struct WalletCommand {
    /// The wallet directory (each wallet is a subdirectory) [default: ~/.ganglion/wallets].
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) wallet_path: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) action: WalletAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WalletAction {
    /// Create a wallet with a new coldkey and print its address and mnemonic.
    ///
    /// The mnemonic is the only way to recover the key: write it down and keep it offline.
    /// With --encrypt the coldkey file is encrypted with a password (argon2id and
    /// XChaCha20-Poly1305), read from GANGLION_WALLET_PASSWORD or asked for twice on the
    /// terminal.
    New(WalletNewArgs),
    /// Add a hotkey to a wallet and print its address and mnemonic.
    ///
    /// Hotkeys are stored unencrypted, so that validators and miners can load them
    /// unattended.
    NewHotkey(WalletNewHotkeyArgs),
    /// List the wallets, their coldkey addresses and their hotkeys.
    List(WalletListArgs),
    /// Print a key's SS58 address and public key.
    ///
    /// The key is an address (SS58, or 0x and a 32-byte public key), a secret URI (//Alice,
    /// a mnemonic), or a wallet's NAME (its coldkey; no password needed) or NAME/HOTKEY.
    Inspect(WalletInspectArgs),
    /// Create a wallet from an existing mnemonic or secret URI.
    ///
    /// Bring a btcli coldkey's mnemonic, say: the address is the same. Without the argument
    /// the mnemonic is read from standard input (without echo on a terminal), so that it
    /// stays out of the shell history.
    Import(WalletImportArgs),
}

/// Arguments of `ganglion wallet new`.
#[derive(Debug, Args)]
pub(crate) struct WalletNewArgs {
    /// The wallet's name (letters, digits, '_' and '-').
    #[arg(long, default_value = "default")]
    pub(crate) name: String,
    /// Words in the mnemonic: 12, 15, 18, 21 or 24.
    #[arg(long, default_value_t = 12)]
    pub(crate) words: usize,
    /// Encrypt the coldkey with a password.
    #[arg(long)]
    pub(crate) encrypt: bool,
    /// Replace the wallet's existing coldkey (lost unless you hold its mnemonic).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Print `{"name", "path", "ss58_address", "public_key", "encrypted", "secret_phrase"}`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion wallet new-hotkey`.
#[derive(Debug, Args)]
pub(crate) struct WalletNewHotkeyArgs {
    /// The wallet.
    #[arg(long, default_value = "default")]
    pub(crate) name: String,
    /// The hotkey's name (letters, digits, '_' and '-').
    #[arg(long)]
    pub(crate) hotkey: String,
    /// Words in the mnemonic: 12, 15, 18, 21 or 24.
    #[arg(long, default_value_t = 12)]
    pub(crate) words: usize,
    /// Replace an existing hotkey of that name (lost unless you hold its mnemonic).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Print `{"wallet", "hotkey", "ss58_address", "public_key", "secret_phrase"}`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion wallet list`.
#[derive(Debug, Args)]
pub(crate) struct WalletListArgs {
    /// Print a JSON list of `{"name", "ss58_address", "encrypted", "hotkeys": [{"name",
    /// "ss58_address"}]}`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion wallet inspect`.
#[derive(Debug, Args)]
pub(crate) struct WalletInspectArgs {
    /// The key: an SS58 address, 0x and a 32-byte public key, a secret URI, NAME or
    /// NAME/HOTKEY.
    #[arg(value_name = "KEY_OR_URI")]
    pub(crate) key: String,
    /// Print `{"ss58_address", "public_key"}`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `ganglion wallet import`.
#[derive(Debug, Args)]
pub(crate) struct WalletImportArgs {
    /// The mnemonic or secret URI (quote it) [default: read from standard input].
    #[arg(value_name = "URI_OR_PHRASE")]
    pub(crate) uri: Option<String>,
    /// The wallet's name (letters, digits, '_' and '-').
    #[arg(long, default_value = "default")]
    pub(crate) name: String,
    /// Encrypt the coldkey with a password.
    #[arg(long)]
    pub(crate) encrypt: bool,
    /// Replace the wallet's existing coldkey (lost unless you hold its mnemonic).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Print `{"name", "path", "ss58_address", "public_key", "encrypted"}`.
    #[arg(long)]
    pub(crate) json: bool,
}
