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
