//! `ganglion wallet new`, `new-hotkey`, `list`, `inspect` and `import`.

use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;
use ganglion_kernel::chain::keys::AccountId;
use ganglion_kernel::chain::wallet::{self, Password, Wallet, WalletError};
use serde_json::{Value, json};

use super::BadInput;
use crate::cli::{
    WalletAction, WalletCommand, WalletImportArgs, WalletInspectArgs, WalletListArgs,
    WalletNewArgs, WalletNewHotkeyArgs,
};

/// The environment variable that holds a coldkey password, for scripts.
pub(crate) const PASSWORD_ENV: &str = "GANGLION_WALLET_PASSWORD";

pub(crate) fn run(command: &WalletCommand) -> anyhow::Result<ExitCode> {
    let root = match &command.wallet_path {
        Some(dir) => dir.clone(),
        None => wallet::default_root().map_err(user_error)?,
    };
    match &command.action {
        WalletAction::New(args) => new(&root, args),
        WalletAction::NewHotkey(args) => new_hotkey(&root, args),
        WalletAction::List(args) => list(&root, args),
        WalletAction::Inspect(args) => inspect(&root, args),
        WalletAction::Import(args) => import(&root, args),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// A wallet error as the CLI reports it: I/O failures exit with status 1, everything else
/// (a name, a password, a missing wallet, a corrupt key file) with status 2.
pub(crate) fn user_error(err: WalletError) -> anyhow::Error {
    match err {
        WalletError::Io { .. } => anyhow::Error::new(err),
        other => BadInput(other.to_string()).into(),
    }
}

fn keys_json(account: &AccountId) -> (String, String) {
    (account.to_ss58(), account.to_hex())
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("writing JSON")?
    );
    Ok(())
}

fn print_phrase(phrase: &str) {
    println!();
    println!("Secret phrase (write it down and keep it offline: it is the only way to recover");
    println!("this key, and anyone who reads it owns the key):");
    println!();
    println!("    {phrase}");
    println!();
}

fn new(root: &Path, args: &WalletNewArgs) -> anyhow::Result<()> {
    let password = if args.encrypt {
        Some(new_password()?)
    } else {
        None
    };
    let (w, phrase) = Wallet::create(
        root,
        &args.name,
        args.words,
        password.as_deref().map(Password::new),
        args.overwrite,
    )
    .map_err(user_error)?;
    let account = w.coldkey_public().map_err(user_error)?;
    let (ss58, public) = keys_json(&account);
    if args.json {
        return print_json(&json!({
            "name": w.name(),
            "path": w.path(),
            "ss58_address": ss58,
            "public_key": public,
            "encrypted": args.encrypt,
            "secret_phrase": phrase,
        }));
    }
    let encrypted = if args.encrypt { " (encrypted)" } else { "" };
    println!("Created wallet {:?} in {}", w.name(), w.path().display());
    println!("  coldkey     {ss58}{encrypted}");
    println!("  public key  {public}");
    print_phrase(&phrase);
    Ok(())
}

fn new_hotkey(root: &Path, args: &WalletNewHotkeyArgs) -> anyhow::Result<()> {
    let w = Wallet::open(root, &args.name).map_err(user_error)?;
    let (account, phrase) = w
        .create_hotkey(&args.hotkey, args.words, args.overwrite)
        .map_err(user_error)?;
    let (ss58, public) = keys_json(&account);
    if args.json {
        return print_json(&json!({
            "wallet": w.name(),
            "hotkey": args.hotkey,
            "ss58_address": ss58,
            "public_key": public,
            "secret_phrase": phrase,
        }));
    }
    println!("Created hotkey {:?} in wallet {:?}", args.hotkey, w.name());
    println!("  hotkey      {ss58}");
    println!("  public key  {public}");
    print_phrase(&phrase);
    Ok(())
}

fn list(root: &Path, args: &WalletListArgs) -> anyhow::Result<()> {
    let wallets = wallet::list(root).map_err(user_error)?;
    if args.json {
        let list: Vec<Value> = wallets
            .iter()
            .map(|w| {
                let hotkeys: Vec<Value> = w
                    .hotkeys
                    .iter()
                    .map(|(name, account)| json!({"name": name, "ss58_address": account}))
                    .collect();
                json!({
                    "name": w.name,
                    "ss58_address": w.coldkey,
                    "encrypted": w.encrypted,
                    "hotkeys": hotkeys,
                })
            })
            .collect();
        return print_json(&Value::Array(list));
    }
    if wallets.is_empty() {
        println!(
            "No wallets in {}; create one with `ganglion wallet new`.",
            root.display()
        );
        return Ok(());
    }
    for w in &wallets {
        let encrypted = if w.encrypted { "  (encrypted)" } else { "" };
        println!("{}  {}{encrypted}", w.name, w.coldkey);
        let width = w.hotkeys.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, account) in &w.hotkeys {
            println!("  {name:width$}  {account}");
        }
    }
    Ok(())
}

fn inspect(root: &Path, args: &WalletInspectArgs) -> anyhow::Result<()> {
    let account = wallet::resolve_address(&args.key, root).map_err(user_error)?;
    let (ss58, public) = keys_json(&account);
    if args.json {
        return print_json(&json!({"ss58_address": ss58, "public_key": public}));
    }
    println!("SS58 address  {ss58}");
    println!("public key    {public}");
    Ok(())
}

fn import(root: &Path, args: &WalletImportArgs) -> anyhow::Result<()> {
    let uri = match &args.uri {
        Some(uri) => uri.clone(),
        None => read_secret_line("Mnemonic or secret URI: ")?,
    };
    let password = if args.encrypt {
        Some(new_password()?)
    } else {
        None
    };
    let w = Wallet::import(
        root,
        &args.name,
        &uri,
        password.as_deref().map(Password::new),
        args.overwrite,
    )
    .map_err(user_error)?;
    wipe(uri);
    let account = w.coldkey_public().map_err(user_error)?;
    let (ss58, public) = keys_json(&account);
    if args.json {
        return print_json(&json!({
            "name": w.name(),
            "path": w.path(),
            "ss58_address": ss58,
            "public_key": public,
            "encrypted": args.encrypt,
        }));
    }
    let encrypted = if args.encrypt { " (encrypted)" } else { "" };
    println!("Imported wallet {:?} into {}", w.name(), w.path().display());
    println!("  coldkey     {ss58}{encrypted}");
    println!("  public key  {public}");
    Ok(())
}

/// A new coldkey password: `GANGLION_WALLET_PASSWORD` if set, else asked twice on the
/// terminal without echo.
fn new_password() -> anyhow::Result<Secret> {
    if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        let password = password
            .into_string()
            .map_err(|_| BadInput(format!("{PASSWORD_ENV} is not valid UTF-8")))?;
        if password.is_empty() {
            return Err(BadInput(format!(
                "{PASSWORD_ENV} is empty; set it to the password, or unset it to be asked"
            ))
            .into());
        }
        return Ok(Secret(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(BadInput(format!(
            "--encrypt needs a password, and standard input is not a terminal to ask on; set \
             {PASSWORD_ENV}"
        ))
        .into());
    }
    let first = Secret(read_hidden("New coldkey password: ")?);
    if first.0.is_empty() {
        return Err(
            BadInput("the password is empty; choose one, or leave out --encrypt".into()).into(),
        );
    }
    let again = Secret(read_hidden("Repeat the password: ")?);
    if first.0 != again.0 {
        return Err(BadInput("the two passwords differ; nothing was written".into()).into());
    }
    Ok(first)
}

/// A mnemonic or URI from standard input: asked for without echo on a terminal, else the
/// first line.
fn read_secret_line(prompt: &str) -> anyhow::Result<String> {
    let line = if std::io::stdin().is_terminal() {
        read_hidden(prompt)?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading standard input")?;
        line
    };
    let trimmed = line.trim().to_string();
    wipe(line);
    if trimmed.is_empty() {
        return Err(
            BadInput("no mnemonic or secret URI given (standard input was empty)".into()).into(),
        );
    }
    Ok(trimmed)
}

/// Reads one line from the terminal with echo off (`stty -echo`), restoring echo after,
/// whatever happens.
pub(crate) fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let echo = EchoOff::new();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    eprintln!();
    read.context("reading the terminal")?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    wipe(line);
    Ok(trimmed)
}

/// Turns the terminal's echo off while alive, with `stty` on `/dev/tty`.
struct EchoOff(bool);

impl EchoOff {
    fn new() -> Self {
        EchoOff(stty("-echo"))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if self.0 {
            stty("echo");
        }
    }
}

fn stty(setting: &str) -> bool {
    let Ok(tty) = File::open("/dev/tty") else {
        return false;
    };
    Command::new("stty")
        .arg(setting)
        .stdin(tty)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A password, overwritten when dropped.
struct Secret(String);

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0));
    }
}

/// Overwrites a string's bytes before freeing them (best effort: the binary has no zeroize).
fn wipe(s: String) {
    let mut bytes = s.into_bytes();
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
}
