//! Wallets on disk: a coldkey and named hotkeys, as in Bittensor.
//!
//! A wallet is a directory `ROOT/NAME/` (ROOT is `~/.ganglion/wallets` by default, see
//! [`default_root`]):
//!
//! ```text
//! ROOT/NAME/                 0700
//!   coldkey                  0600  the coldkey's secret URI, plaintext or encrypted
//!   coldkeypub.txt           0644  its address and public key, readable without a password
//!   hotkeys/                 0700
//!     HOTKEY                 0600  a hotkey's secret URI, always plaintext
//! ```
//!
//! The coldkey holds funds and signs transfers and staking; it may be encrypted with a
//! password (argon2id, then XChaCha20-Poly1305). Hotkeys sign what validators and miners do
//! unattended, so they are never encrypted (as in `btcli`). Every file is JSON, written
//! atomically (a temporary file in the same directory, fsync, rename), and an existing key
//! is never replaced unless `overwrite` is set. `docs/keys.md` describes the formats.
//!
//! ```
//! use ganglion_kernel::chain::wallet::{self, Wallet};
//!
//! let root = tempfile::tempdir()?;
//! let (wallet, phrase) = Wallet::create(root.path(), "default", 12, None, false)?;
//! assert_eq!(phrase.split(' ').count(), 12);
//! let (hotkey, _phrase) = wallet.create_hotkey("miner", 12, false)?;
//!
//! let coldkey = wallet.coldkey(None)?;
//! assert_eq!(coldkey.public(), wallet.coldkey_public()?);
//! // The resolver behind the CLI's KEY_OR_URI arguments.
//! let signer = wallet::resolve_signer("default/miner", root.path(), || None)?;
//! assert_eq!(signer.public(), hotkey);
//! let listed = wallet::list(root.path())?;
//! assert_eq!(listed[0].hotkeys, [("miner".to_string(), hotkey)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic
)]

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{AccountId, KeyError, Pair};

/// The version of the key file formats this module writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The coldkey's file name in a wallet directory.
const COLDKEY: &str = "coldkey";

/// The coldkey's public file name.
const COLDKEYPUB: &str = "coldkeypub.txt";

/// The hotkeys' directory name.
const HOTKEYS: &str = "hotkeys";

/// Key files larger than this are refused as corrupt (a key file is under 1 KiB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Upper bounds on the argon2 costs read from a coldkey file, so that a damaged or hostile
/// file cannot make decryption take unbounded memory or time.
const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 64;

const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 24;

/// What went wrong with a wallet. Bad input (a name, a password, a missing wallet), a
/// corrupt file and an I/O failure are separate variants; each message names the path
/// involved and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Reading or writing a file or directory failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `$HOME` is not set, so there is no default wallet directory.
    #[error("cannot find the home directory ($HOME is not set); pass --wallet-path DIR")]
    NoHome,
    /// A wallet or hotkey name with characters other than `[A-Za-z0-9_-]`, or too long.
    #[error("invalid {kind} name {name:?}: use 1 to 64 letters, digits, '_' or '-'")]
    InvalidName {
        /// "wallet" or "hotkey".
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// No wallet of that name.
    #[error(
        "no wallet named {name:?} in {}; create one with `ganglion wallet new --name {name}` \
         or bring a mnemonic with `ganglion wallet import --name {name}`",
        root.display()
    )]
    NotFound {
        /// The wallet name.
        name: String,
        /// The wallet root searched.
        root: PathBuf,
    },
    /// The wallet has no hotkey of that name.
    #[error(
        "wallet {wallet:?} has no hotkey {hotkey:?} ({}); create it with \
         `ganglion wallet new-hotkey --name {wallet} --hotkey {hotkey}`",
        path.display()
    )]
    HotkeyNotFound {
        /// The wallet name.
        wallet: String,
        /// The hotkey name.
        hotkey: String,
        /// The hotkey file looked for.
        path: PathBuf,
    },
    /// The wallet has only its public coldkey (`coldkeypub.txt`), so it cannot sign.
    #[error(
        "wallet {wallet:?} holds only its coldkey's public key ({} is missing): it can \
         receive but not sign; import its mnemonic with `ganglion wallet import --name {wallet}`",
        path.display()
    )]
    NoColdkeySecret {
        /// The wallet name.
        wallet: String,
        /// The missing coldkey file.
        path: PathBuf,
    },
    /// A key file exists and `overwrite` was not set.
    #[error(
        "{} already exists; pass --overwrite (overwrite = true) to replace it, and only if you \
         hold its mnemonic: the key it holds is lost otherwise",
        path.display()
    )]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A key file that cannot be read as one.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The password does not decrypt the coldkey.
    #[error(
        "wrong password for {}: the coldkey did not decrypt (or the file was altered)",
        path.display()
    )]
    WrongPassword {
        /// The coldkey file.
        path: PathBuf,
    },
    /// The coldkey is encrypted and no password was given.
    #[error("the coldkey of wallet {wallet:?} is encrypted: its password is needed")]
    PasswordRequired {
        /// The wallet name.
        wallet: String,
    },
    /// Argon2 parameters it cannot use.
    #[error("invalid key-derivation parameters: {reason}")]
    Kdf {
        /// What argon2 said.
        reason: String,
    },
    /// An address was given where a key that signs is needed.
    #[error(
        "{spec:?} is an address, which cannot sign; name a wallet (NAME for its coldkey, \
         NAME/HOTKEY for a hotkey) or give a secret URI such as //Alice"
    )]
    AddressCannotSign {
        /// The address given.
        spec: String,
    },
    /// Neither an address nor a wallet.
    #[error(
        "{spec:?} is neither an SS58 address ({reason}) nor a wallet in {}; list wallets with \
         `ganglion wallet list`",
        root.display()
    )]
    Unresolved {
        /// What was given.
        spec: String,
        /// Why it is not an address.
        reason: KeyError,
        /// The wallet root searched.
        root: PathBuf,
    },
    /// A bad secret URI or mnemonic, or failing randomness.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The cost of argon2id, which turns a password into the coldkey's encryption key.
///
/// The default, 64 MiB, 3 passes and 1 lane, takes a fraction of a second, once per
/// decryption, and makes each password guess as costly. Decryption reads the costs from the
/// file, so changing them never strands an existing coldkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane.
    pub const INTERACTIVE: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::INTERACTIVE
    }
}

/// A password to encrypt a coldkey with, and the argon2 cost to spend on it.
///
/// ```
/// use ganglion_kernel::chain::wallet::{KdfParams, Password};
///
/// let default_cost: Password<'_> = "correct horse".into();
/// let cheap = Password::new("correct horse").with_kdf(KdfParams { m_cost_kib: 1024, t_cost: 1, p_cost: 1 });
/// # let _ = (default_cost, cheap);
/// ```
#[derive(Clone, Copy)]
pub struct Password<'a> {
    secret: &'a str,
    kdf: KdfParams,
}

impl<'a> Password<'a> {
    /// `secret` with [`KdfParams::INTERACTIVE`].
    pub fn new(secret: &'a str) -> Self {
        Password {
            secret,
            kdf: KdfParams::INTERACTIVE,
        }
    }

    /// The same password with other argon2 costs (tests use cheap ones).
    pub fn with_kdf(self, kdf: KdfParams) -> Self {
        Password { kdf, ..self }
    }
}

impl<'a> From<&'a str> for Password<'a> {
    fn from(secret: &'a str) -> Self {
        Password::new(secret)
    }
}

impl std::fmt::Debug for Password<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Password")
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

/// The default wallet root: `$HOME/.ganglion/wallets`.
pub fn default_root() -> Result<PathBuf, WalletError> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".ganglion").join("wallets")),
        _ => Err(WalletError::NoHome),
    }
}

/// A wallet directory, `ROOT/NAME/`. Opening or creating one checks the name; keys are
/// read from disk when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    root: PathBuf,
    name: String,
}

/// One wallet as [`list`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSummary {
    /// The wallet's name.
    pub name: String,
    /// Its coldkey's address.
    pub coldkey: AccountId,
    /// Whether the coldkey is encrypted (`false` when only its public key is present).
    pub encrypted: bool,
    /// Its hotkeys, by name.
    pub hotkeys: Vec<(String, AccountId)>,
}

impl Wallet {
    /// Creates wallet `name` under `root` with a new coldkey of `words` words (12 to 24,
    /// see [`Pair::generate`]), encrypted when `password` is given. Returns the wallet and
    /// the coldkey's mnemonic, which is the only way to recover the key: show it to its
    /// owner once. Fails with [`WalletError::Exists`] if the wallet already has a coldkey,
    /// unless `overwrite`.
    pub fn create(
        root: &Path,
        name: &str,
        words: usize,
        password: Option<Password<'_>>,
        overwrite: bool,
    ) -> Result<(Wallet, String), WalletError> {
        let wallet = Wallet::named(root, name)?;
        let (pair, phrase) = Pair::generate(words)?;
        wallet.write_coldkey(&phrase, &pair, password, overwrite)?;
        Ok((wallet, phrase))
    }

    /// Creates wallet `name` under `root` from an existing secret URI or mnemonic (a
    /// `btcli` mnemonic, say), stored as given and encrypted when `password` is given.
    pub fn import(
        root: &Path,
        name: &str,
        uri_or_phrase: &str,
        password: Option<Password<'_>>,
        overwrite: bool,
    ) -> Result<Wallet, WalletError> {
        let wallet = Wallet::named(root, name)?;
        let pair = Pair::from_uri(uri_or_phrase)?;
        wallet.write_coldkey(uri_or_phrase, &pair, password, overwrite)?;
        Ok(wallet)
    }

    /// Opens wallet `name` under `root`: it must hold a coldkey or its public file.
    pub fn open(root: &Path, name: &str) -> Result<Wallet, WalletError> {
        let wallet = Wallet::named(root, name)?;
        if exists(&wallet.coldkey_path())? || exists(&wallet.coldkeypub_path())? {
            Ok(wallet)
        } else {
            Err(WalletError::NotFound {
                name: name.to_string(),
                root: root.to_path_buf(),
            })
        }
    }

    /// The wallet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wallet's directory, `ROOT/NAME`.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// The coldkey's address, read from `coldkeypub.txt` (no password needed), or from
    /// the coldkey file if that is missing.
    pub fn coldkey_public(&self) -> Result<AccountId, WalletError> {
        let path = self.coldkeypub_path();
        match read_limited(&path)? {
            Some(bytes) => {
                let public: PublicFile = parse_json(&path, &bytes)?;
                let address = parse_address(&path, "ss58_address", &public.ss58_address)?;
                let key = parse_address(&path, "public_key", &public.public_key)?;
                if address != key {
                    return Err(corrupt(&path, "its ss58_address and public_key differ"));
                }
                Ok(address)
            }
            None => {
                let (path, file) = self.read_coldkey_file()?;
                parse_address(&path, "ss58_address", &file.ss58_address)
            }
        }
    }

    /// Whether the coldkey is encrypted.
    pub fn is_encrypted(&self) -> Result<bool, WalletError> {
        Ok(self.read_coldkey_file()?.1.encrypted)
    }

    /// The coldkey pair. An encrypted coldkey needs its password
    /// ([`WalletError::PasswordRequired`] without one, [`WalletError::WrongPassword`] if it
    /// does not decrypt); a plaintext one ignores `password`.
    pub fn coldkey(&self, password: Option<&str>) -> Result<Pair, WalletError> {
        let (path, file) = self.read_coldkey_file()?;
        let secret = if file.encrypted {
            let Some(password) = password else {
                return Err(WalletError::PasswordRequired {
                    wallet: self.name.clone(),
                });
            };
            decrypt(&path, &file, password)?
        } else {
            file.plaintext_secret(&path)?
        };
        pair_from_file(&path, &secret, &file.ss58_address)
    }

    /// Creates hotkey `name` with a new key of `words` words. Returns its account and
    /// mnemonic. Fails with [`WalletError::Exists`] if it exists, unless `overwrite`.
    pub fn create_hotkey(
        &self,
        name: &str,
        words: usize,
        overwrite: bool,
    ) -> Result<(AccountId, String), WalletError> {
        check_name("hotkey", name)?;
        let path = self.hotkey_path(name);
        if !overwrite && exists(&path)? {
            return Err(WalletError::Exists { path });
        }
        let (pair, phrase) = Pair::generate(words)?;
        let file = KeyFile::plaintext(&phrase, pair.public());
        let bytes = file.to_json();
        make_private_dir(&self.path())?;
        make_private_dir(&self.path().join(HOTKEYS))?;
        write_atomic(&path, &bytes, 0o600, overwrite)?;
        Ok((pair.public(), phrase))
    }

    /// Hotkey `name`'s pair.
    pub fn hotkey(&self, name: &str) -> Result<Pair, WalletError> {
        check_name("hotkey", name)?;
        let path = self.hotkey_path(name);
        let file = self.read_hotkey_file(name, &path)?;
        let secret = file.plaintext_secret(&path)?;
        pair_from_file(&path, &secret, &file.ss58_address)
    }

    /// The wallet's hotkeys and their accounts, sorted by name. Files in `hotkeys/` whose
    /// names are not valid hotkey names are skipped.
    pub fn hotkeys(&self) -> Result<Vec<(String, AccountId)>, WalletError> {
        let dir = self.path().join(HOTKEYS);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io_error("read directory", &dir, source)),
        };
        let mut hotkeys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| io_error("read directory", &dir, source))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = entry.path();
            if check_name("hotkey", &name).is_err() || !path.is_file() {
                continue;
            }
            let file = self.read_hotkey_file(&name, &path)?;
            let account = parse_address(&path, "ss58_address", &file.ss58_address)?;
            hotkeys.push((name, account));
        }
        hotkeys.sort();
        Ok(hotkeys)
    }

    fn named(root: &Path, name: &str) -> Result<Wallet, WalletError> {
        check_name("wallet", name)?;
        Ok(Wallet {
            root: root.to_path_buf(),
            name: name.to_string(),
        })
    }

    fn coldkey_path(&self) -> PathBuf {
        self.path().join(COLDKEY)
    }

    fn coldkeypub_path(&self) -> PathBuf {
        self.path().join(COLDKEYPUB)
    }

    fn hotkey_path(&self, name: &str) -> PathBuf {
        self.path().join(HOTKEYS).join(name)
    }

    fn read_coldkey_file(&self) -> Result<(PathBuf, KeyFile), WalletError> {
        let path = self.coldkey_path();
        let Some(bytes) = read_limited(&path)? else {
            return Err(WalletError::NoColdkeySecret {
                wallet: self.name.clone(),
                path,
            });
        };
        warn_if_exposed(&path);
        let file: KeyFile = parse_json(&path, &bytes)?;
        file.check(&path)?;
        Ok((path, file))
    }

    fn read_hotkey_file(&self, name: &str, path: &Path) -> Result<KeyFile, WalletError> {
        let Some(bytes) = read_limited(path)? else {
            return Err(WalletError::HotkeyNotFound {
                wallet: self.name.clone(),
                hotkey: name.to_string(),
                path: path.to_path_buf(),
            });
        };
        warn_if_exposed(path);
        let file: KeyFile = parse_json(path, &bytes)?;
        file.check(path)?;
        if file.encrypted {
            return Err(corrupt(
                path,
                "hotkeys are stored unencrypted, but this one says encrypted",
            ));
        }
        Ok(file)
    }

    /// Checks everything, builds both files, then writes: an error leaves no trace.
    fn write_coldkey(
        &self,
        secret: &str,
        pair: &Pair,
        password: Option<Password<'_>>,
        overwrite: bool,
    ) -> Result<(), WalletError> {
        let (coldkey, coldkeypub) = (self.coldkey_path(), self.coldkeypub_path());
        if !overwrite {
            for path in [&coldkey, &coldkeypub] {
                if exists(path)? {
                    return Err(WalletError::Exists { path: path.clone() });
                }
            }
        }
        let account = pair.public();
        let file = match password {
            Some(password) => KeyFile::encrypted(secret, account, password)?,
            None => KeyFile::plaintext(secret, account),
        };
        let bytes = file.to_json();
        let public = PublicFile {
            ss58_address: account.to_ss58(),
            public_key: account.to_hex(),
        };
        let mut public_bytes = serde_json::to_vec_pretty(&public).unwrap_or_default();
        public_bytes.push(b'\n');
        make_private_dir(&self.path())?;
        write_atomic(&coldkey, &bytes, 0o600, overwrite)?;
        write_atomic(&coldkeypub, &public_bytes, 0o644, overwrite)?;
        Ok(())
    }
}

/// Every wallet under `root`, sorted by name (a missing root has none). Directories that
/// hold no coldkey (or its public file), or whose names are not valid wallet names, are
/// skipped.
pub fn list(root: &Path) -> Result<Vec<WalletSummary>, WalletError> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io_error("read directory", root, source)),
    };
    let mut wallets = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| io_error("read directory", root, source))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if check_name("wallet", &name).is_err() || !entry.path().is_dir() {
            continue;
        }
        let Ok(wallet) = Wallet::open(root, &name) else {
            continue;
        };
        let encrypted = match wallet.is_encrypted() {
            Ok(encrypted) => encrypted,
            Err(WalletError::NoColdkeySecret { .. }) => false,
            Err(e) => return Err(e),
        };
        wallets.push(WalletSummary {
            coldkey: wallet.coldkey_public()?,
            encrypted,
            hotkeys: wallet.hotkeys()?,
            name,
        });
    }
    wallets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(wallets)
}

/// Whether a KEY_OR_URI argument is a secret URI rather than a wallet reference: it starts
/// with `/` or `0x`, or contains a space.
fn is_secret_uri(spec: &str) -> bool {
    spec.starts_with('/') || spec.starts_with("0x") || spec.contains(' ')
}

/// The key that signs for a KEY_OR_URI argument, as CLI commands take it:
///
/// - a secret URI (it starts with `/` or `0x`, or contains a space: `//Alice`, a mnemonic,
///   `0x` and a 32-byte seed) is read with [`Pair::from_uri`];
/// - `NAME/HOTKEY` is wallet NAME's hotkey;
/// - `NAME` is wallet NAME's coldkey; `password` is called only if it is encrypted.
///
/// ```
/// use ganglion_kernel::chain::wallet;
///
/// let root = std::path::Path::new("/nonexistent");
/// let alice = wallet::resolve_signer("//Alice", root, || None)?;
/// assert_eq!(alice.public().to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
/// assert!(wallet::resolve_signer("nobody", root, || None).is_err());
/// # Ok::<(), wallet::WalletError>(())
/// ```
pub fn resolve_signer(
    spec: &str,
    root: &Path,
    password: impl FnOnce() -> Option<String>,
) -> Result<Pair, WalletError> {
    if is_secret_uri(spec) {
        return Ok(Pair::from_uri(spec)?);
    }
    if let Some((name, hotkey)) = spec.split_once('/') {
        return Wallet::open(root, name)?.hotkey(hotkey);
    }
    let wallet = match Wallet::open(root, spec) {
        Ok(wallet) => wallet,
        Err(WalletError::NotFound { .. }) if AccountId::from_ss58(spec).is_ok() => {
            return Err(WalletError::AddressCannotSign {
                spec: spec.to_string(),
            });
        }
        Err(e) => return Err(e),
    };
    if wallet.is_encrypted()? {
        let password = Zeroizing::new(password());
        wallet.coldkey(password.as_deref())
    } else {
        wallet.coldkey(None)
    }
}

/// The account for a KEY_OR_URI argument that only needs an address (a transfer's
/// destination, say): an SS58 address (prefix 42) or `0x` and 64 hex digits (a public
/// key), or anything [`resolve_signer`] takes. A wallet's coldkey address comes from
/// `coldkeypub.txt`, so no password is asked. Note that `0x` and 64 hex digits is a public
/// key here, where [`resolve_signer`] reads it as a secret seed.
///
/// ```
/// use ganglion_kernel::chain::wallet;
///
/// let root = std::path::Path::new("/nonexistent");
/// let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// assert_eq!(wallet::resolve_address(alice, root)?.to_string(), alice);
/// assert_eq!(wallet::resolve_address("//Alice", root)?.to_string(), alice);
/// # Ok::<(), wallet::WalletError>(())
/// ```
pub fn resolve_address(spec: &str, root: &Path) -> Result<AccountId, WalletError> {
    if let Some(digits) = spec.strip_prefix("0x")
        && digits.len() == 64
    {
        return Ok(spec.parse()?);
    }
    if is_secret_uri(spec) {
        return Ok(Pair::from_uri(spec)?.public());
    }
    if let Some((name, hotkey)) = spec.split_once('/') {
        let wallet = Wallet::open(root, name)?;
        check_name("hotkey", hotkey)?;
        let path = wallet.hotkey_path(hotkey);
        let file = wallet.read_hotkey_file(hotkey, &path)?;
        return parse_address(&path, "ss58_address", &file.ss58_address);
    }
    let reason = match AccountId::from_ss58(spec) {
        Ok(account) => return Ok(account),
        Err(reason) => reason,
    };
    match Wallet::open(root, spec) {
        Ok(wallet) => wallet.coldkey_public(),
        Err(WalletError::NotFound { .. } | WalletError::InvalidName { .. }) => {
            Err(WalletError::Unresolved {
                spec: spec.to_string(),
                reason,
                root: root.to_path_buf(),
            })
        }
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------------------------------------
// File formats
// ------------------------------------------------------------------------------------------

/// A coldkey or hotkey file. Plaintext files have `secret_phrase`; encrypted ones have the
/// argon2 costs, salt, nonce and ciphertext. Both have the address, readable without the
/// secret.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_phrase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m_cost: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t_cost: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p_cost: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    ss58_address: String,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.secret_phrase.zeroize();
    }
}

/// What an encrypted key file's ciphertext decrypts to.
#[derive(Serialize, Deserialize)]
struct SecretJson {
    secret_phrase: String,
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        self.secret_phrase.zeroize();
    }
}

/// `coldkeypub.txt`.
#[derive(Serialize, Deserialize)]
struct PublicFile {
    ss58_address: String,
    public_key: String,
}

impl KeyFile {
    fn plaintext(secret: &str, account: AccountId) -> KeyFile {
        KeyFile {
            version: FORMAT_VERSION,
            encrypted: false,
            secret_phrase: Some(secret.to_string()),
            kdf: None,
            m_cost: None,
            t_cost: None,
            p_cost: None,
            salt: None,
            nonce: None,
            ciphertext: None,
            ss58_address: account.to_ss58(),
        }
    }

    fn encrypted(
        secret: &str,
        account: AccountId,
        password: Password<'_>,
    ) -> Result<KeyFile, WalletError> {
        let mut salt = [0u8; SALT_BYTES];
        let mut nonce = [0u8; NONCE_BYTES];
        for buf in [&mut salt[..], &mut nonce[..]] {
            OsRng
                .try_fill_bytes(buf)
                .map_err(|e| KeyError::Randomness {
                    reason: e.to_string(),
                })?;
        }
        let key = derive_key(password.secret, &salt, password.kdf)
            .map_err(|reason| WalletError::Kdf { reason })?;
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&SecretJson {
                secret_phrase: secret.to_string(),
            })
            .unwrap_or_default(),
        );
        let ciphertext = cipher(&key)
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_slice())
            .map_err(|_| WalletError::Kdf {
                reason: "encryption failed".into(),
            })?;
        Ok(KeyFile {
            version: FORMAT_VERSION,
            encrypted: true,
            secret_phrase: None,
            kdf: Some("argon2id".into()),
            m_cost: Some(password.kdf.m_cost_kib),
            t_cost: Some(password.kdf.t_cost),
            p_cost: Some(password.kdf.p_cost),
            salt: Some(hex::encode(salt)),
            nonce: Some(hex::encode(nonce)),
            ciphertext: Some(hex::encode(ciphertext)),
            ss58_address: account.to_ss58(),
        })
    }

    fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(serde_json::to_vec_pretty(self).unwrap_or_default());
        bytes.push(b'\n');
        bytes
    }

    /// The checks every read file passes, whatever its use.
    fn check(&self, path: &Path) -> Result<(), WalletError> {
        if self.version != FORMAT_VERSION {
            return Err(corrupt(
                path,
                &format!(
                    "it has format version {}, and this ganglion reads version {FORMAT_VERSION}; \
                     upgrade ganglion",
                    self.version
                ),
            ));
        }
        parse_address(path, "ss58_address", &self.ss58_address)?;
        Ok(())
    }

    fn plaintext_secret(&self, path: &Path) -> Result<Zeroizing<String>, WalletError> {
        match &self.secret_phrase {
            Some(secret) => Ok(Zeroizing::new(secret.clone())),
            None => Err(corrupt(path, "it has no secret_phrase")),
        }
    }
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

fn derive_key(password: &str, salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let params =
        Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32)).map_err(|e| e.to_string())?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, key.as_mut())
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// The secret URI in an encrypted key file.
fn decrypt(path: &Path, file: &KeyFile, password: &str) -> Result<Zeroizing<String>, WalletError> {
    let field = |name: &str, value: &Option<String>| -> Result<Vec<u8>, WalletError> {
        let text = value
            .as_deref()
            .ok_or_else(|| corrupt(path, &format!("it has no {name}")))?;
        hex::decode(text).map_err(|e| corrupt(path, &format!("its {name} is not hex: {e}")))
    };
    let cost = |name: &str, value: Option<u32>, max: u32| -> Result<u32, WalletError> {
        match value {
            Some(v) if (1..=max).contains(&v) => Ok(v),
            Some(v) => Err(corrupt(
                path,
                &format!("its {name} {v} is outside 1..={max}"),
            )),
            None => Err(corrupt(path, &format!("it has no {name}"))),
        }
    };
    if file.kdf.as_deref() != Some("argon2id") {
        return Err(corrupt(path, "its kdf is not \"argon2id\""));
    }
    let kdf = KdfParams {
        m_cost_kib: cost("m_cost", file.m_cost, MAX_M_COST_KIB)?,
        t_cost: cost("t_cost", file.t_cost, MAX_T_COST)?,
        p_cost: cost("p_cost", file.p_cost, MAX_P_COST)?,
    };
    let salt = field("salt", &file.salt)?;
    let nonce = field("nonce", &file.nonce)?;
    let ciphertext = field("ciphertext", &file.ciphertext)?;
    if nonce.len() != NONCE_BYTES {
        return Err(corrupt(
            path,
            &format!("its nonce is not {NONCE_BYTES} bytes"),
        ));
    }
    let key = derive_key(password, &salt, kdf).map_err(|reason| {
        corrupt(
            path,
            &format!("its argon2 parameters are invalid: {reason}"),
        )
    })?;
    let plaintext = Zeroizing::new(
        cipher(&key)
            .decrypt(XNonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| WalletError::WrongPassword {
                path: path.to_path_buf(),
            })?,
    );
    let secret: SecretJson = serde_json::from_slice(&plaintext)
        .map_err(|_| corrupt(path, "its decrypted secret is not the expected JSON"))?;
    Ok(Zeroizing::new(secret.secret_phrase.clone()))
}

/// The pair a key file's secret gives, checked against the address the file records.
fn pair_from_file(path: &Path, secret: &str, address: &str) -> Result<Pair, WalletError> {
    let pair = Pair::from_uri(secret)
        .map_err(|e| corrupt(path, &format!("its secret is not a valid secret URI: {e}")))?;
    let recorded = parse_address(path, "ss58_address", address)?;
    if pair.public() != recorded {
        return Err(corrupt(
            path,
            &format!(
                "its secret gives the address {}, but the file records {recorded}",
                pair.public()
            ),
        ));
    }
    Ok(pair)
}

// ------------------------------------------------------------------------------------------
// Files
// ------------------------------------------------------------------------------------------

fn check_name(kind: &'static str, name: &str) -> Result<(), WalletError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(WalletError::InvalidName {
            kind,
            name: name.to_string(),
        })
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> WalletError {
    WalletError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: &str) -> WalletError {
    WalletError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn exists(path: &Path) -> Result<bool, WalletError> {
    path.try_exists()
        .map_err(|source| io_error("look for", path, source))
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, WalletError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            corrupt(path, &format!("it is not valid JSON: {inner}"))
        } else if at == "." {
            corrupt(path, &format!("{inner}"))
        } else {
            corrupt(path, &format!("field {at}: {inner}"))
        }
    })
}

fn parse_address(path: &Path, field: &str, text: &str) -> Result<AccountId, WalletError> {
    text.parse()
        .map_err(|e| corrupt(path, &format!("its {field} is not valid: {e}")))
}

/// A file's bytes, `None` if it does not exist; corrupt if over [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, WalletError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error("read", path, source)),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| io_error("read", path, source))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(corrupt(path, "it is larger than any key file (64 KiB)"));
    }
    Ok(Some(bytes))
}

/// Logs a warning when a secret file is readable by others.
fn warn_if_exposed(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                target: "ganglion::wallet",
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "key file is readable by other users; chmod 600 it"
            );
        }
    }
}

/// Creates `dir` (and missing parents) with mode 0700, and sets 0700 on `dir` itself.
fn make_private_dir(dir: &Path) -> Result<(), WalletError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| io_error("create directory", dir, source))?;
    fs::set_permissions(dir, Permissions::from_mode(0o700))
        .map_err(|source| io_error("set permissions on", dir, source))
}

/// Writes `bytes` to `path` with `mode`, atomically: a temporary file in the same directory
/// is written and fsynced, then renamed over `path` (or, without `overwrite`, hard-linked
/// to it, which fails if `path` exists), and the directory is fsynced.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> Result<(), WalletError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_place(&tmp, path, bytes, mode, overwrite);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error("sync directory", dir, source))
}

fn write_then_place(
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    overwrite: bool,
) -> Result<(), WalletError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|source| io_error("create", tmp, source))?;
    // The umask may have cleared bits of `mode`; set it exactly.
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(|source| io_error("set permissions on", tmp, source))?;
    file.write_all(bytes)
        .map_err(|source| io_error("write", tmp, source))?;
    file.sync_all()
        .map_err(|source| io_error("sync", tmp, source))?;
    drop(file);
    if overwrite {
        fs::rename(tmp, path).map_err(|source| io_error("write", path, source))
    } else {
        let linked = fs::hard_link(tmp, path);
        let _ = fs::remove_file(tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(WalletError::Exists {
                path: path.to_path_buf(),
            }),
            Err(source) => Err(io_error("write", path, source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn names() {
        for ok in ["default", "a", "A-b_9", &"x".repeat(64)] {
            assert!(check_name("wallet", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(65), ".hidden"] {
            assert!(check_name("wallet", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encrypt_decrypt_roundtrip() {
        let alice = Pair::from_uri("//Alice").unwrap().public();
        let file =
            KeyFile::encrypted("//Alice", alice, Password::new("pw").with_kdf(CHEAP)).unwrap();
        let path = Path::new("coldkey");
        assert_eq!(decrypt(path, &file, "pw").unwrap().as_str(), "//Alice");
        assert!(matches!(
            decrypt(path, &file, "pW"),
            Err(WalletError::WrongPassword { .. })
        ));
        let json = String::from_utf8(file.to_json().to_vec()).unwrap();
        assert!(
            !json.contains("Alice") && json.contains("\"kdf\": \"argon2id\""),
            "{json}"
        );
    }

    #[test]
    fn kdf_costs_are_bounded_on_read() {
        let alice = Pair::from_uri("//Alice").unwrap().public();
        let mut file =
            KeyFile::encrypted("//Alice", alice, Password::new("pw").with_kdf(CHEAP)).unwrap();
        file.m_cost = Some(u32::MAX);
        let err = decrypt(Path::new("coldkey"), &file, "pw")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m_cost 4294967295 is outside"), "{err}");
    }
}
