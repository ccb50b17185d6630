//! `ganglion balance` and `ganglion transfer`: clients of a node's RPC.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::units::{format_tao, parse_tao};
use ganglion_kernel::chain::wallet;
use ganglion_kernel::node::client::RpcClient;

use super::BadInput;
use crate::cli::{BalanceArgs, TransferArgs};

/// The wallet directory: the flag's, or `~/.ganglion/wallets`.
pub(crate) fn wallet_root(flag: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(p) => Ok(p.clone()),
        None => Ok(wallet::default_root().map_err(|e| BadInput(e.to_string()))?),
    }
}

/// An encrypted coldkey's password: `GANGLION_WALLET_PASSWORD`, else asked on the terminal.
fn password() -> Option<String> {
    if let Ok(p) = std::env::var(super::wallet::PASSWORD_ENV) {
        return Some(p);
    }
    if std::io::stdin().is_terminal() {
        return super::wallet::read_hidden("coldkey password: ").ok();
    }
    None
}

/// A signing key from a secret URI or a wallet name.
pub(crate) fn signer(spec: &str, root: &Path) -> anyhow::Result<Pair> {
    wallet::resolve_signer(spec, root, password).map_err(super::wallet::user_error)
}

pub(crate) fn address(spec: &str, root: &Path) -> anyhow::Result<AccountId> {
    wallet::resolve_address(spec, root).map_err(super::wallet::user_error)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The multi-threaded runtime of the long-running commands (node, miner, validator, localnet).
pub(crate) fn service_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The signer spec of `--hotkey H` with `--wallet W`: a plain hotkey name is one of the
/// wallet's (`W/H`); a secret URI or `NAME/HOTKEY` stands as given.
pub(crate) fn hotkey_spec(wallet: Option<&str>, hotkey: &str) -> String {
    match wallet {
        Some(w) if !hotkey.starts_with("//") && !hotkey.contains('/') => format!("{w}/{hotkey}"),
        _ => hotkey.to_owned(),
    }
}

pub(crate) fn balance(args: &BalanceArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.client.wallet_path.as_ref())?;
    let who = address(&args.account, &root)?;
    let view = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        client.account(&who).await
    })?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else if view.exists {
        println!("{who}: {} TAO free (nonce {})", view.free_tao, view.nonce);
    } else {
        println!("{who}: 0 TAO (the account does not exist yet)");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn transfer(args: &TransferArgs) -> anyhow::Result<ExitCode> {
    let amount = parse_tao(&args.amount).map_err(|e| BadInput(format!("--amount: {e}")))?;
    let root = wallet_root(args.client.wallet_path.as_ref())?;
    let from = signer(&args.from, &root).context("--from")?;
    let to = address(&args.to, &root).context("--to")?;
    let timeout = Duration::from_secs(args.timeout);
    let receipt = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        client
            .transfer(&from, to, amount, !args.allow_death, timeout)
            .await
    })?;
    if args.client.json {
        let out = serde_json::json!({
            "from": from.public(),
            "to": to,
            "amount": amount,
            "extrinsic": receipt.extrinsic,
            "block": receipt.block,
            "fee": receipt.fee,
            "success": receipt.error.is_none(),
            "error": receipt.error.map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if let Some(error) = receipt.error {
        println!(
            "the transfer failed in block {}: {error} (fee paid: {} TAO)",
            receipt.block,
            format_tao(receipt.fee)
        );
    } else {
        println!(
            "sent {} TAO from {} to {to} in block {} (fee {} TAO, extrinsic {})",
            format_tao(amount),
            from.public(),
            receipt.block,
            format_tao(receipt.fee),
            receipt.extrinsic
        );
    }
    Ok(if receipt.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
