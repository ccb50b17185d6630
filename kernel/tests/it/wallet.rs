//! Wallets on disk, in temporary directories.

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ganglion_kernel::chain::keys::{DEV_PHRASE, Pair};
use ganglion_kernel::chain::wallet::{
    self, KdfParams, Password, Wallet, WalletError, resolve_address, resolve_signer,
};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// Cheap argon2 costs, so that the tests stay fast.
fn password(secret: &str) -> Password<'_> {
    Password::new(secret).with_kdf(KdfParams {
        m_cost_kib: 256,
        t_cost: 1,
        p_cost: 1,
    })
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn create_open_and_list() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().join("wallets");
    assert!(
        wallet::list(&root).unwrap().is_empty(),
        "a missing root has no wallets"
    );

    let (w, phrase) = Wallet::create(&root, "default", 12, None, false).unwrap();
    assert_eq!(phrase.split(' ').count(), 12);
    assert_eq!(w.name(), "default");
    assert_eq!(w.path(), root.join("default"));
    let coldkey = w.coldkey(None).unwrap();
    assert_eq!(
        coldkey.public(),
        Pair::from_phrase(&phrase, None).unwrap().public()
    );
    assert_eq!(w.coldkey_public().unwrap(), coldkey.public());
    assert!(!w.is_encrypted().unwrap());

    let opened = Wallet::open(&root, "default").unwrap();
    assert_eq!(opened, w);
    let (miner, miner_phrase) = opened.create_hotkey("miner", 24, false).unwrap();
    assert_eq!(miner_phrase.split(' ').count(), 24);
    let (validator, _) = opened.create_hotkey("validator", 12, false).unwrap();
    assert_eq!(opened.hotkey("miner").unwrap().public(), miner);
    assert_eq!(
        opened.hotkeys().unwrap(),
        [
            ("miner".to_string(), miner),
            ("validator".to_string(), validator)
        ]
    );

    // The files have the documented shapes.
    let cold = json(&root.join("default/coldkey"));
    assert_eq!(cold["version"], 1);
    assert_eq!(cold["encrypted"], false);
    assert_eq!(cold["secret_phrase"], phrase.as_str());
    assert_eq!(cold["ss58_address"], coldkey.public().to_ss58().as_str());
    let public = json(&root.join("default/coldkeypub.txt"));
    assert_eq!(public["ss58_address"], coldkey.public().to_ss58().as_str());
    assert_eq!(public["public_key"], coldkey.public().to_hex().as_str());
    let hot = json(&root.join("default/hotkeys/miner"));
    assert_eq!(hot["encrypted"], false);
    assert_eq!(hot["secret_phrase"], miner_phrase.as_str());

    Wallet::create(&root, "another", 12, Some(password("pw")), false).unwrap();
    fs::create_dir_all(root.join("not-a-wallet")).unwrap();
    fs::create_dir_all(root.join("bad name")).unwrap();
    fs::write(root.join("stray-file"), "x").unwrap();
    let listed = wallet::list(&root).unwrap();
    let names: Vec<_> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["another", "default"]);
    assert!(listed[0].encrypted && listed[0].hotkeys.is_empty());
    assert!(!listed[1].encrypted);
    assert_eq!(listed[1].coldkey, coldkey.public());
    assert_eq!(listed[1].hotkeys.len(), 2);
}

#[test]
fn encrypted_coldkey_roundtrip_and_wrong_password() {
    let root = tempfile::tempdir().unwrap();
    let (w, phrase) =
        Wallet::create(root.path(), "cold", 15, Some(password("hunter2")), false).unwrap();
    assert!(w.is_encrypted().unwrap());
    let expected = Pair::from_phrase(&phrase, None).unwrap().public();
    // The address is readable without the password.
    assert_eq!(w.coldkey_public().unwrap(), expected);
    assert_eq!(w.coldkey(Some("hunter2")).unwrap().public(), expected);

    let text = fs::read_to_string(root.path().join("cold/coldkey")).unwrap();
    // No part of the phrase in plain text: not the phrase, and no two of its words in a row.
    // (A single word can appear by chance, e.g. "version" is both a BIP-39 word and a key of
    // the file, and "face" can occur inside hex.)
    assert!(!text.contains(&phrase));
    let words: Vec<&str> = phrase.split(' ').collect();
    for pair in words.windows(2) {
        assert!(!text.contains(&pair.join(" ")), "{pair:?} in the file");
    }
    let file = json(&root.path().join("cold/coldkey"));
    assert_eq!(file["encrypted"], true);
    assert_eq!(file["kdf"], "argon2id");
    assert_eq!(
        (
            file["m_cost"].as_u64(),
            file["t_cost"].as_u64(),
            file["p_cost"].as_u64()
        ),
        (Some(256), Some(1), Some(1))
    );
    assert_eq!(file["salt"].as_str().unwrap().len(), 32);
    assert_eq!(file["nonce"].as_str().unwrap().len(), 48);
    assert!(file.get("secret_phrase").is_none());
    assert_eq!(file["ss58_address"], expected.to_ss58().as_str());

    let err = w.coldkey(Some("hunter3")).unwrap_err();
    assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("wrong password for ") && msg.contains("cold/coldkey"),
        "{msg}"
    );
    let err = w.coldkey(None).unwrap_err();
    assert!(matches!(err, WalletError::PasswordRequired { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("encrypted: its password is needed"),
        "{err}"
    );

    // The default costs are the interactive ones.
    assert_eq!(
        KdfParams::default(),
        KdfParams {
            m_cost_kib: 65536,
            t_cost: 3,
            p_cost: 1
        }
    );
    // Costs argon2 refuses are an error before anything is written.
    let bad = Password::new("pw").with_kdf(KdfParams {
        m_cost_kib: 1,
        t_cost: 0,
        p_cost: 1,
    });
    let err = Wallet::create(root.path(), "bad-kdf", 12, Some(bad), false).unwrap_err();
    assert!(matches!(err, WalletError::Kdf { .. }), "{err}");
    assert!(!root.path().join("bad-kdf").exists());
}

#[test]
fn file_modes() {
    let root = tempfile::tempdir().unwrap();
    let (w, _) = Wallet::create(root.path(), "default", 12, None, false).unwrap();
    w.create_hotkey("hk", 12, false).unwrap();
    let dir = root.path().join("default");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("hotkeys")), 0o700);
    assert_eq!(mode(&dir.join("coldkey")), 0o600);
    assert_eq!(mode(&dir.join("hotkeys/hk")), 0o600);
    assert_eq!(mode(&dir.join("coldkeypub.txt")), 0o644);
    Wallet::create(root.path(), "enc", 12, Some(password("x")), false).unwrap();
    assert_eq!(mode(&root.path().join("enc/coldkey")), 0o600);
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn keys_are_never_overwritten_without_the_flag() {
    let root = tempfile::tempdir().unwrap();
    let (w, _) = Wallet::create(root.path(), "default", 12, None, false).unwrap();
    let before = w.coldkey_public().unwrap();

    let err = Wallet::create(root.path(), "default", 12, None, false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WalletError::Exists { .. }), "{msg}");
    assert!(
        msg.contains("default/coldkey already exists") && msg.contains("--overwrite"),
        "{msg}"
    );
    let err = Wallet::import(root.path(), "default", "//Alice", None, false).unwrap_err();
    assert!(matches!(err, WalletError::Exists { .. }), "{err}");
    assert_eq!(
        w.coldkey_public().unwrap(),
        before,
        "a refused create changes nothing"
    );

    Wallet::import(root.path(), "default", "//Alice", None, true).unwrap();
    assert_eq!(w.coldkey_public().unwrap().to_ss58(), ALICE);
    assert_eq!(w.coldkey(None).unwrap().public().to_ss58(), ALICE);

    let (hk, _) = w.create_hotkey("hk", 12, false).unwrap();
    let err = w.create_hotkey("hk", 12, false).unwrap_err();
    assert!(
        err.to_string().contains("hotkeys/hk already exists"),
        "{err}"
    );
    assert_eq!(w.hotkey("hk").unwrap().public(), hk);
    let (replaced, _) = w.create_hotkey("hk", 12, true).unwrap();
    assert_ne!(replaced, hk);
    assert_eq!(w.hotkey("hk").unwrap().public(), replaced);
}

#[test]
fn names_are_checked() {
    let root = tempfile::tempdir().unwrap();
    for bad in [
        "",
        "a/b",
        "../up",
        "has space",
        ".hidden",
        "ü",
        &"x".repeat(65),
    ] {
        let err = Wallet::create(root.path(), bad, 12, None, false).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, WalletError::InvalidName { kind: "wallet", .. }),
            "{msg}"
        );
        assert!(
            msg.contains("use 1 to 64 letters, digits, '_' or '-'"),
            "{msg}"
        );
        assert!(matches!(
            Wallet::open(root.path(), bad),
            Err(WalletError::InvalidName { .. })
        ));
    }
    assert!(
        fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing was created"
    );
    let (w, _) = Wallet::create(root.path(), "ok_Name-1", 12, None, false).unwrap();
    let err = w.create_hotkey("hot key", 12, false).unwrap_err();
    assert!(
        matches!(err, WalletError::InvalidName { kind: "hotkey", .. }),
        "{err}"
    );
    assert!(matches!(
        w.hotkey("../coldkey"),
        Err(WalletError::InvalidName { .. })
    ));
}

#[test]
fn missing_wallets_and_keys_say_how_to_make_them() {
    let root = tempfile::tempdir().unwrap();
    let err = Wallet::open(root.path(), "nope").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WalletError::NotFound { .. }), "{msg}");
    assert!(
        msg.contains("no wallet named \"nope\"") && msg.contains("ganglion wallet new --name nope"),
        "{msg}"
    );
    let (w, _) = Wallet::create(root.path(), "w", 12, None, false).unwrap();
    let err = w.hotkey("absent").unwrap_err().to_string();
    assert!(
        err.contains("ganglion wallet new-hotkey --name w --hotkey absent"),
        "{err}"
    );
    assert!(w.hotkeys().unwrap().is_empty());

    // A wallet with only its public file can say its address but not sign.
    fs::remove_file(root.path().join("w/coldkey")).unwrap();
    let w = Wallet::open(root.path(), "w").unwrap();
    assert!(w.coldkey_public().is_ok());
    let err = w.coldkey(None).unwrap_err();
    assert!(matches!(err, WalletError::NoColdkeySecret { .. }), "{err}");
    assert!(!wallet::list(root.path()).unwrap()[0].encrypted);

    // Without the public file, the address comes from the coldkey file.
    let (w, _) = Wallet::create(root.path(), "v", 12, Some(password("p")), false).unwrap();
    let address = w.coldkey_public().unwrap();
    fs::remove_file(root.path().join("v/coldkeypub.txt")).unwrap();
    assert_eq!(w.coldkey_public().unwrap(), address);
}

#[test]
fn corrupt_files_give_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let (w, _) = Wallet::create(root.path(), "w", 12, None, false).unwrap();
    let path = root.path().join("w/coldkey");
    let original = fs::read_to_string(&path).unwrap();
    let corrupt = |text: &str| {
        fs::write(&path, text).unwrap();
        let err = w.coldkey(None).unwrap_err();
        assert!(matches!(err, WalletError::Corrupt { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{} is corrupt: ", path.display())),
            "{msg}"
        );
        msg
    };
    let msg = corrupt("{ not json");
    assert!(msg.contains("not valid JSON"), "{msg}");
    let msg = corrupt("");
    assert!(msg.contains("not valid JSON"), "{msg}");
    let msg = corrupt(&original.replace("\"version\": 1", "\"version\": 7"));
    assert!(
        msg.contains("format version 7") && msg.contains("upgrade ganglion"),
        "{msg}"
    );
    let msg = corrupt(&original.replace("\"encrypted\": false", "\"encrypted\": \"no\""));
    assert!(msg.contains("field encrypted"), "{msg}");
    let msg = corrupt(&original.replace(&w.coldkey_public().unwrap().to_ss58(), ALICE));
    assert!(msg.contains(&format!("the file records {ALICE}")), "{msg}");
    let msg = corrupt(&original.replace("\"ss58_address\"", "\"address\""));
    assert!(msg.contains("ss58_address"), "{msg}");
    let msg = corrupt(&" ".repeat(70_000));
    assert!(msg.contains("larger than any key file"), "{msg}");

    // Encrypted files: damaged fields are corrupt; a damaged ciphertext cannot be told
    // from a wrong password.
    let (e, _) = Wallet::create(root.path(), "e", 12, Some(password("pw")), false).unwrap();
    let path = root.path().join("e/coldkey");
    let original = json(&path);
    let mut damaged = original.clone();
    damaged["salt"] = "zz".into();
    fs::write(&path, damaged.to_string()).unwrap();
    let err = e.coldkey(Some("pw")).unwrap_err().to_string();
    assert!(err.contains("its salt is not hex"), "{err}");
    let mut damaged = original.clone();
    damaged["kdf"] = "scrypt".into();
    fs::write(&path, damaged.to_string()).unwrap();
    let err = e.coldkey(Some("pw")).unwrap_err().to_string();
    assert!(err.contains("kdf is not \"argon2id\""), "{err}");
    let mut damaged = original;
    let ciphertext = damaged["ciphertext"].as_str().unwrap().to_string();
    damaged["ciphertext"] = format!("00{}", &ciphertext[2..]).into();
    fs::write(&path, damaged.to_string()).unwrap();
    assert!(matches!(
        e.coldkey(Some("pw")),
        Err(WalletError::WrongPassword { .. })
    ));

    // A corrupt public file.
    fs::write(
        root.path().join("w/coldkeypub.txt"),
        "{\"ss58_address\": \"5Grw\", \"public_key\": \"0x00\"}",
    )
    .unwrap();
    let err = w.coldkey_public().unwrap_err().to_string();
    assert!(
        err.contains("coldkeypub.txt is corrupt: its ss58_address is not valid"),
        "{err}"
    );
}

#[test]
fn import_stores_the_uri_as_given() {
    let root = tempfile::tempdir().unwrap();
    let uri = format!("{DEV_PHRASE}//Alice");
    let w = Wallet::import(root.path(), "dev", &uri, None, false).unwrap();
    assert_eq!(w.coldkey_public().unwrap().to_ss58(), ALICE);
    assert_eq!(
        json(&root.path().join("dev/coldkey"))["secret_phrase"],
        uri.as_str()
    );
    let enc = Wallet::import(root.path(), "enc", &uri, Some(password("pw")), false).unwrap();
    assert_eq!(enc.coldkey(Some("pw")).unwrap().public().to_ss58(), ALICE);

    let err = Wallet::import(root.path(), "typo", "bottom drive obey", None, false).unwrap_err();
    assert!(matches!(err, WalletError::Key(_)), "{err}");
    assert!(err.to_string().contains("it has 3 words"), "{err}");
    assert!(
        !root.path().join("typo").exists(),
        "a refused import leaves no trace"
    );
}

#[test]
fn resolve_each_form() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (plain, _) = Wallet::create(root, "plain", 12, None, false).unwrap();
    let (hot, _) = plain.create_hotkey("hot", 12, false).unwrap();
    let (locked, _) = Wallet::create(root, "locked", 12, Some(password("pw")), false).unwrap();
    let asked = Cell::new(0);
    let ask = |answer: Option<&'static str>| {
        let asked = &asked;
        move || {
            asked.set(asked.get() + 1);
            answer.map(str::to_string)
        }
    };

    // Secret URIs.
    for uri in ["//Alice", &format!("{DEV_PHRASE}//Alice")] {
        assert_eq!(
            resolve_signer(uri, root, ask(None))
                .unwrap()
                .public()
                .to_ss58(),
            ALICE
        );
        assert_eq!(resolve_address(uri, root).unwrap().to_ss58(), ALICE);
    }
    let seed = "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let seed_public = "0x44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f";
    assert_eq!(
        resolve_signer(seed, root, ask(None))
            .unwrap()
            .public()
            .to_hex(),
        seed_public
    );
    // For addresses, 0x and 64 hex digits is a public key.
    assert_eq!(
        resolve_address(seed_public, root).unwrap().to_hex(),
        seed_public
    );
    assert_eq!(
        resolve_address(&format!("{seed}//0"), root).unwrap(),
        Pair::from_uri(&format!("{seed}//0")).unwrap().public()
    );

    // Wallets: the plaintext coldkey asks no password; the encrypted one asks once.
    assert_eq!(
        resolve_signer("plain", root, ask(None)).unwrap().public(),
        plain.coldkey_public().unwrap()
    );
    assert_eq!(asked.get(), 0);
    let locked_public = locked.coldkey_public().unwrap();
    assert_eq!(
        resolve_signer("locked", root, ask(Some("pw")))
            .unwrap()
            .public(),
        locked_public
    );
    assert_eq!(asked.get(), 1);
    assert!(matches!(
        resolve_signer("locked", root, ask(None)),
        Err(WalletError::PasswordRequired { .. })
    ));
    assert!(matches!(
        resolve_signer("locked", root, ask(Some("no"))),
        Err(WalletError::WrongPassword { .. })
    ));
    assert_eq!(resolve_address("locked", root).unwrap(), locked_public);
    assert_eq!(asked.get(), 3, "resolve_address never asks");

    // Hotkeys.
    assert_eq!(
        resolve_signer("plain/hot", root, ask(None))
            .unwrap()
            .public(),
        hot
    );
    assert_eq!(resolve_address("plain/hot", root).unwrap(), hot);
    assert!(matches!(
        resolve_signer("plain/cold", root, ask(None)),
        Err(WalletError::HotkeyNotFound { .. })
    ));
    assert!(matches!(
        resolve_address("nope/hot", root),
        Err(WalletError::NotFound { .. })
    ));

    // Addresses.
    assert_eq!(resolve_address(ALICE, root).unwrap().to_ss58(), ALICE);
    let err = resolve_signer(ALICE, root, ask(None)).unwrap_err();
    assert!(
        matches!(err, WalletError::AddressCannotSign { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("is an address, which cannot sign"),
        "{err}"
    );

    // Neither.
    let err = resolve_signer("nope", root, ask(None)).unwrap_err();
    assert!(matches!(err, WalletError::NotFound { .. }), "{err}");
    let err = resolve_address("nope", root).unwrap_err().to_string();
    assert!(
        err.contains("\"nope\" is neither an SS58 address") && err.contains("wallet list"),
        "{err}"
    );
    let err = resolve_address("16m4J167Mptt8UXL8aGSAi7U2FnPpPxZHPrCgMG9KJzVoFqM", root)
        .unwrap_err()
        .to_string();
    assert!(err.contains("network prefix 0, not 42"), "{err}");
    assert_eq!(asked.get(), 3);
}

#[test]
fn default_root_is_under_home() {
    if std::env::var_os("HOME").is_some_and(|h| !h.is_empty()) {
        let root = wallet::default_root().unwrap();
        assert!(root.ends_with(".ganglion/wallets"), "{}", root.display());
    }
}
