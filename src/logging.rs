//! The log subscriber: the binary's only one. Libraries log through `tracing`.

use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// Installs a stderr subscriber. `RUST_LOG` wins; otherwise `-v` raises ganglion's level
/// (warn, then info, debug, trace). Long-running services (`quiet_default` false) start at
/// info.
pub(crate) fn init(args: &LogArgs, quiet_default: bool) {
    let level = match args.verbose {
        0 if quiet_default => "warn",
        0 => "info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        // Kademlia warns whenever a routing-table refresh finds no peer yet, which is normal
        // for a fresh node or a miner: keep it to errors unless asked.
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,libp2p_kad=error,ganglion={level}")));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
