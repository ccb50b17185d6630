//! `ganglion wallet`, as a user runs it: real processes, wallets in a temporary directory.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// A fresh directory per test (its HOME and wallet root live inside).
fn work_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ganglion-wallet-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    dir
}

/// Runs `ganglion wallet --wallet-path DIR/wallets ARGS` with HOME in DIR, the password
/// variable as given, and `stdin` on standard input.
fn wallet(dir: &Path, args: &[&str], password: Option<&str>, stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ganglion"));
    command
        .env("HOME", dir.join("home"))
        .env_remove("GANGLION_WALLET_PASSWORD")
        .arg("wallet")
        .arg("--wallet-path")
        .arg(dir.join("wallets"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("GANGLION_WALLET_PASSWORD", password);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn inspect_prints_the_published_addresses() {
    let dir = work_dir("inspect");
    let out = wallet(&dir, &["inspect", "//Alice"], None, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(ALICE), "{text}");
    assert!(
        text.contains("0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"),
        "{text}"
    );
    // The subkey README's example mnemonic.
    let phrase = "hotel forest jar hover kite book view eight stuff angle legend defense";
    let shown = ok_json(&wallet(&dir, &["inspect", "--json", phrase], None, ""));
    assert_eq!(
        shown["ss58_address"],
        "5Hpm9fq3W3dQgwWpAwDS2ZHKAdnk86QRCu7iX4GnmDxycrte"
    );
    assert_eq!(
        shown["public_key"],
        "0xfec70cfbf1977c6965b5af10a4534a6a35d548eb14580594d0bc543286892515"
    );
    // Addresses inspect as themselves.
    let shown = ok_json(&wallet(&dir, &["inspect", "--json", ALICE], None, ""));
    assert_eq!(shown["ss58_address"], ALICE);

    // Bad input exits with status 2 and says what is wrong.
    let out = wallet(&dir, &["inspect", "//Alice//"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a junction is empty"),
        "{}",
        stderr(&out)
    );
    let out = wallet(
        &dir,
        &[
            "inspect",
            "16m4J167Mptt8UXL8aGSAi7U2FnPpPxZHPrCgMG9KJzVoFqM",
        ],
        None,
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("network prefix 0, not 42"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_hotkeys_list_and_inspect_by_name() {
    let dir = work_dir("new");
    let created = ok_json(&wallet(&dir, &["new", "--json"], None, ""));
    assert_eq!(created["name"], "default");
    assert_eq!(created["encrypted"], false);
    let phrase = created["secret_phrase"].as_str().unwrap();
    assert_eq!(phrase.split(' ').count(), 12);
    let coldkey = created["ss58_address"].as_str().unwrap();
    let root = dir.join("wallets");
    assert_eq!(
        std::fs::metadata(root.join("default/coldkey"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // The mnemonic gives the same address.
    let shown = ok_json(&wallet(&dir, &["inspect", "--json", phrase], None, ""));
    assert_eq!(shown["ss58_address"], coldkey);

    let hot = ok_json(&wallet(
        &dir,
        &["new-hotkey", "--hotkey", "miner", "--words", "24", "--json"],
        None,
        "",
    ));
    assert_eq!(hot["wallet"], "default");
    assert_eq!(
        hot["secret_phrase"].as_str().unwrap().split(' ').count(),
        24
    );
    let hotkey = hot["ss58_address"].as_str().unwrap();

    let shown = ok_json(&wallet(&dir, &["inspect", "--json", "default"], None, ""));
    assert_eq!(shown["ss58_address"], coldkey);
    let shown = ok_json(&wallet(
        &dir,
        &["inspect", "--json", "default/miner"],
        None,
        "",
    ));
    assert_eq!(shown["ss58_address"], hotkey);

    let listed = ok_json(&wallet(&dir, &["list", "--json"], None, ""));
    assert_eq!(listed[0]["name"], "default");
    assert_eq!(listed[0]["ss58_address"], coldkey);
    assert_eq!(listed[0]["hotkeys"][0]["name"], "miner");
    assert_eq!(listed[0]["hotkeys"][0]["ss58_address"], hotkey);
    let out = wallet(&dir, &["list"], None, "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(coldkey) && text.contains("miner") && text.contains(hotkey),
        "{text}"
    );

    // The human output shows the mnemonic with a warning.
    let out = wallet(&dir, &["new", "--name", "second"], None, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("write it down") && text.contains("Created wallet \"second\""),
        "{text}"
    );

    // No overwrite without the flag; with it, a new key.
    let out = wallet(&dir, &["new"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already exists; pass --overwrite"),
        "{}",
        stderr(&out)
    );
    let replaced = ok_json(&wallet(&dir, &["new", "--overwrite", "--json"], None, ""));
    assert_ne!(replaced["ss58_address"], coldkey);
    let out = wallet(&dir, &["new-hotkey", "--hotkey", "miner"], None, "");
    assert_eq!(out.status.code(), Some(2));

    // Bad names and word counts are bad input.
    let out = wallet(&dir, &["new", "--name", "../escape"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid wallet name"),
        "{}",
        stderr(&out)
    );
    let out = wallet(&dir, &["new", "--name", "w13", "--words", "13"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("12, 15, 18, 21 or 24"),
        "{}",
        stderr(&out)
    );
    let out = wallet(
        &dir,
        &["new-hotkey", "--name", "missing", "--hotkey", "h"],
        None,
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ganglion wallet new --name missing"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn encrypt_takes_the_password_from_the_environment_only_without_a_terminal() {
    let dir = work_dir("encrypt");
    // No terminal and no variable: a clear error, nothing written.
    let out = wallet(&dir, &["new", "--encrypt"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set GANGLION_WALLET_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("wallets/default").exists());

    let created = ok_json(&wallet(
        &dir,
        &["new", "--encrypt", "--json"],
        Some("s3cret"),
        "",
    ));
    assert_eq!(created["encrypted"], true);
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.join("wallets/default/coldkey")).unwrap())
            .unwrap();
    assert_eq!(file["encrypted"], true);
    assert_eq!(file["kdf"], "argon2id");
    assert!(file.get("secret_phrase").is_none());
    // Its address needs no password.
    let shown = ok_json(&wallet(&dir, &["inspect", "--json", "default"], None, ""));
    assert_eq!(shown["ss58_address"], created["ss58_address"]);
    let listed = ok_json(&wallet(&dir, &["list", "--json"], None, ""));
    assert_eq!(listed[0]["encrypted"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_from_an_argument_or_standard_input() {
    let dir = work_dir("import");
    let imported = ok_json(&wallet(
        &dir,
        &["import", "--name", "alice", "//Alice", "--json"],
        None,
        "",
    ));
    assert_eq!(imported["ss58_address"], ALICE);
    // From standard input (a btcli mnemonic, here the subkey README's).
    let phrase = "hotel forest jar hover kite book view eight stuff angle legend defense";
    let out = wallet(
        &dir,
        &["import", "--name", "btcli", "--encrypt"],
        Some("pw"),
        &format!("{phrase}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("5Hpm9fq3W3dQgwWpAwDS2ZHKAdnk86QRCu7iX4GnmDxycrte"),
        "{text}"
    );
    assert!(!text.contains("hotel"), "the phrase is not echoed: {text}");

    let out = wallet(
        &dir,
        &["import", "--name", "bad", "bottom drive obey lake"],
        None,
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a valid mnemonic: it has 4 words"),
        "{}",
        stderr(&out)
    );
    let out = wallet(&dir, &["import", "--name", "empty"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("standard input was empty"),
        "{}",
        stderr(&out)
    );
    let out = wallet(&dir, &["import", "--name", "alice", "//Bob"], None, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--overwrite"), "{}", stderr(&out));

    let listed = ok_json(&wallet(&dir, &["list", "--json"], None, ""));
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "btcli"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_wallet_path_is_under_home() {
    let dir = work_dir("home");
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .env("HOME", dir.join("home"))
        .args(["wallet", "new", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let created = ok_json(&out);
    assert!(
        dir.join("home/.ganglion/wallets/default/coldkey").is_file(),
        "{created}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .env("HOME", dir.join("home"))
        .args(["wallet", "list"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(created["ss58_address"].as_str().unwrap())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
