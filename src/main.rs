//! `ganglion`: Bittensor's economy as a small Rust kernel plus declarative subnets.
//!
//! The binary wires the crates together behind one command line: the node and its client
//! commands (balances, subnets, staking, weights), wallets, the Yuma epoch, plugins, the
//! subnet language's tooling and miners; see `docs/cli.md` for every command and option.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary is where output is printed; libraries only log"
)]

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod cmd;
mod localnet;
mod logging;
mod miner;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let service = matches!(cli.command, cli::Command::Node(_));
    logging::init(&cli.log, !service);
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole context chain: what failed, then why.
            eprintln!("error: {err:#}");
            ExitCode::from(cmd::exit_code(&err))
        }
    }
}
