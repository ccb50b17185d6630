//! `ganglion node`: runs a chain node until Ctrl-C (or SIGTERM).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::node::{NetworkOptions, Node, NodeConfig};
use ganglion_kernel::p2p::{self, Multiaddr};

use super::BadInput;
use super::account::{signer, wallet_root};
use crate::cli::NodeArgs;

pub(crate) fn run(args: &NodeArgs) -> anyhow::Result<ExitCode> {
    let dev = args.dev || args.chain.as_deref() == Some(std::path::Path::new("dev"));
    let mut genesis = if dev {
        GenesisConfig::dev()
    } else if let Some(path) = &args.chain {
        let bytes = std::fs::read(path).map_err(|e| {
            BadInput(format!(
                "cannot read the genesis config {}: {e}",
                path.display()
            ))
        })?;
        GenesisConfig::from_json(&bytes)
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?
    } else {
        return Err(BadInput(
            "choose a chain: --dev for the development chain, --chain dev to follow it, or --chain FILE for a genesis config"
                .into(),
        )
        .into());
    };
    if let Some(ms) = args.block_time {
        genesis.block_time_ms = ms;
        genesis
            .validate()
            .map_err(|e| BadInput(format!("--block-time: {e}")))?;
    }
    let authority = match &args.authority {
        Some(spec) => Some(signer(spec, &wallet_root(args.wallet_path.as_ref())?)?),
        None if args.dev => Some(Pair::from_uri("//Alice").context("the dev authority key")?),
        None => None,
    };
    let mut _temp = None;
    let base_path: PathBuf = match &args.base_path {
        Some(p) => p.clone(),
        None if dev => {
            let dir = tempfile::Builder::new()
                .prefix("ganglion-dev-")
                .tempdir()
                .context("creating a temporary base path")?;
            let path = dir.path().to_owned();
            _temp = Some(dir);
            path
        }
        None => {
            let hash = genesis
                .build()
                .map_err(|e| BadInput(e.to_string()))?
                .header
                .hash();
            let home = std::env::var_os("HOME")
                .ok_or_else(|| BadInput("HOME is not set: pass --base-path DIR".into()))?;
            PathBuf::from(home)
                .join(".ganglion/chains")
                .join(&hash.to_string()[2..18])
        }
    };
    let host = if args.rpc_external {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::LOCALHOST
    };
    let network = if args.no_network {
        None
    } else {
        Some(network_options(args, dev)?)
    };
    let config = NodeConfig {
        base_path: base_path.clone(),
        genesis,
        rpc_addr: SocketAddr::from((host, args.rpc_port)),
        authority,
        pool: PoolLimits::default(),
        rpc_max_connections: 100,
        network,
    };
    let runtime = super::account::service_runtime()?;
    runtime.block_on(async {
        let node = Node::start(config).await?;
        let addr = node.rpc_addr();
        println!("ganglion node running");
        println!("  base path: {}", base_path.display());
        println!("  head:      #{}", node.head_number());
        println!("  RPC:       ws://{addr} and http://{addr}");
        if let Some(network) = node.network() {
            println!("  peer id:   {}", network.local_peer_id());
            for addr in network.listen_addrs() {
                println!("  p2p:       {addr}");
            }
        }
        println!("Ctrl-C stops it.");
        super::account::shutdown_signal().await;
        println!("stopping...");
        node.stop().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The network options from the command line.
fn network_options(args: &NodeArgs, dev: bool) -> anyhow::Result<NetworkOptions> {
    let parse = |text: &str, flag: &str| -> anyhow::Result<Multiaddr> {
        text.trim().parse::<Multiaddr>().map_err(|e| {
            BadInput(format!(
                "{flag} {text:?} is not a multiaddr ({e}); write it like /ip4/127.0.0.1/tcp/30333/p2p/12D3KooW..."
            ))
            .into()
        })
    };
    let listen = if args.listen_addr.is_empty() {
        p2p::default_listen(Ipv4Addr::UNSPECIFIED, args.p2p_port)
    } else {
        args.listen_addr
            .iter()
            .map(|a| parse(a, "--listen-addr"))
            .collect::<anyhow::Result<_>>()?
    };
    let mut bootnodes = Vec::new();
    for text in &args.bootnodes {
        let addr = parse(text, "--bootnodes")?;
        if p2p::split_peer(&addr).is_none() {
            return Err(BadInput(format!(
                "--bootnodes {text}: the address must end with /p2p/PEER_ID; copy it from the other node's system_localListenAddresses or its startup lines"
            ))
            .into());
        }
        bootnodes.push(addr);
    }
    Ok(NetworkOptions {
        listen,
        bootnodes,
        mdns: dev && !args.no_mdns,
        limits: p2p::NetworkLimits::default(),
    })
}
