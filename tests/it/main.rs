//! End-to-end tests of the `ganglion` binary: real processes, real files.

mod bft_e2e;
mod economy_e2e;
mod localnet_e2e;
mod miner_cli;
mod miner_serve_e2e;
mod network_e2e;
mod node_crash;
mod node_e2e;
mod node_support;
mod plugin_cli;
mod readme;
mod subnet_cli;
mod validator_e2e;
mod wallet_cli;
mod yuma_cli;
