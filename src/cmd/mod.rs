//! What each command does. `cli.rs` declares them; this module runs them.

use std::fmt;
use std::process::ExitCode;

use crate::cli::{Command, MinerCommand, PluginCommand, YumaCommand};

pub(crate) mod account;
#[cfg(test)]
pub(crate) mod docs;
pub(crate) mod economy;
pub(crate) mod miner;
mod node;
mod plugin;
pub(crate) mod serve;
pub(crate) mod spec;
pub(crate) mod validator;
pub(crate) mod wallet;
mod yuma;

/// Runs one command; the exit code is 0 on success, 1 when a check finds a difference.
pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Yuma(YumaCommand::Run(args)) => yuma::run(&args),
        Command::Yuma(YumaCommand::Synth(args)) => yuma::synth(&args),
        Command::Plugin(PluginCommand::Check(args)) => plugin::check(&args),
        Command::Plugin(PluginCommand::Run(args)) => plugin::run(&args),
        Command::Plugin(PluginCommand::Watch(args)) => plugin::watch(&args),
        Command::Node(args) => node::run(&args),
        Command::Balance(args) => account::balance(&args),
        Command::Transfer(args) => account::transfer(&args),
        Command::Wallet(args) => wallet::run(&args),
        Command::Subnet(command) => economy::subnet(&command),
        Command::Register(args) => economy::register(&args),
        Command::Stake(command) => economy::stake(&command),
        Command::Weights(command) => economy::weights(&command),
        Command::Metagraph(args) => economy::metagraph(&args),
        Command::Economy(args) => economy::economy(&args),
        Command::Miner(MinerCommand::Train(args)) => miner::train(&args),
        Command::Miner(MinerCommand::Eval(args)) => miner::eval(&args),
        Command::Miner(MinerCommand::Bench(args)) => miner::bench(&args),
        Command::Miner(MinerCommand::Serve(args)) => serve::run(&args),
        Command::Validator(args) => validator::run(&args),
        Command::Localnet(args) => crate::localnet::run(&args),
    }
}

/// Bad input from the user (a file, an argument): exit status 2, like a usage error.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// 2 for bad input anywhere in the error's chain, 1 for anything else.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<BadInput>()) {
        2
    } else {
        1
    }
}
