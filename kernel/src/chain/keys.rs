//! sr25519 keys, SS58 addresses and Substrate secret URIs.
//!
//! Everything here gives the same keys and addresses as Substrate's own tools (`subkey`,
//! polkadot.js, `btcli`, `sp-core`) for the same mnemonic or secret URI:
//!
//! - a [`Pair`] is an sr25519 (Schnorr over Ristretto25519, `schnorrkel`) key pair; it signs
//!   with the signing context `b"substrate"`, as `sp-core` does;
//! - an [`AccountId`] is the 32-byte public key, written as an SS58 address with the generic
//!   Substrate prefix 42 (Bittensor's), such as `5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY`;
//! - [`Pair::from_uri`] reads a secret URI, `[PHRASE][//hard|/soft]...[///PASSWORD]`, exactly
//!   as `sp-core`'s `Pair::from_string` does (`docs/keys.md` describes the grammar).
//!
//! ```
//! use ganglion_kernel::chain::keys::{self, AccountId, Pair};
//!
//! let alice = Pair::from_uri("//Alice")?;
//! assert_eq!(alice.public().to_string(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
//!
//! let signature = alice.sign(b"hello");
//! let who: AccountId = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".parse()?;
//! assert!(keys::verify(&signature, b"hello", &who));
//! assert!(!keys::verify(&signature, b"hullo", &who));
//! # Ok::<(), keys::KeyError>(())
//! ```
//!
//! Secrets are wiped from memory when the values holding them are dropped (the key pair,
//! seeds, entropy), and no error message repeats a phrase, seed or password (an unknown
//! mnemonic word is named: it is not a valid word).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic
)]

use std::fmt;
use std::str::FromStr;

use bip39::{Language, Mnemonic};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use rand_core::{CryptoRng, OsRng, RngCore};
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, PublicKey};
use zeroize::{Zeroize, Zeroizing};

/// The SS58 address prefix of ganglion and Bittensor: 42, "generic Substrate". Addresses with
/// it start with `5`.
pub const SS58_PREFIX: u16 = 42;

/// Substrate's development phrase: the secret URI `//Alice` means this phrase with the hard
/// junction `Alice`. Public knowledge; never hold real funds with it.
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// The signing context of Substrate's sr25519 signatures.
const SIGNING_CONTEXT: &[u8] = b"substrate";

/// The SS58 checksum preimage prefix.
const SS58_HASH_PREFIX: &[u8] = b"SS58PRE";

/// Bytes in a decoded one-byte-prefix SS58 account address: prefix, key, 2-byte checksum.
const SS58_ADDRESS_BYTES: usize = 35;

/// What went wrong reading a key, an address or a secret URI.
///
/// Messages say what was wrong and how to fix it, and never repeat secret material (a
/// phrase, seed or password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The address has a character outside the base58 alphabet.
    #[error(
        "invalid SS58 address: character {character:?} at position {index} is not base58 \
         (base58 has no 0, O, I or l); check the address for a typo"
    )]
    Ss58Character {
        /// The offending character.
        character: char,
        /// Its byte offset in the address.
        index: usize,
    },
    /// The text is far longer than any SS58 address.
    #[error(
        "invalid SS58 address: it is {chars} characters long, but an account address has 47 \
         or 48; was something pasted with it?"
    )]
    Ss58TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The address is too short or too long.
    #[error(
        "invalid SS58 address: it decodes to {bytes} bytes, but an account address holds 35 \
         (a 1-byte prefix, a 32-byte key and a 2-byte checksum); was it copied whole?"
    )]
    Ss58Length {
        /// How many bytes it decodes to.
        bytes: usize,
    },
    /// The checksum does not match: some character is wrong.
    #[error("SS58 checksum mismatch: the address is mistyped; copy it again from its source")]
    Ss58Checksum,
    /// The address uses SS58's two-byte prefix form (networks 64 to 16383).
    #[error(
        "the SS58 address is for network prefix {prefix}, which uses the two-byte prefix form; \
         ganglion reads prefix 42 addresses (they start with 5)"
    )]
    Ss58TwoBytePrefix {
        /// The network prefix it encodes.
        prefix: u16,
    },
    /// The first byte is one SS58 reserves; this is not an SS58 address.
    #[error(
        "not an SS58 address: its first byte ({first_byte}) is reserved by SS58; \
         ganglion addresses start with 5"
    )]
    Ss58ReservedPrefix {
        /// The first decoded byte.
        first_byte: u8,
    },
    /// A valid address, but for another network than ganglion's (prefix 42).
    #[error(
        "the SS58 address is for network prefix {found}, not 42 (ganglion and Bittensor); \
         if the key is yours, its ganglion address is {generic}"
    )]
    Ss58WrongPrefix {
        /// The prefix found.
        found: u16,
        /// The same public key with prefix 42.
        generic: String,
    },
    /// A `0x` account id that is not 64 hex digits.
    #[error("invalid account id: expected 0x followed by 64 hex digits (32 bytes); {reason}")]
    AccountHex {
        /// What is wrong with it.
        reason: String,
    },
    /// The phrase is not a valid English BIP-39 mnemonic.
    #[error("not a valid mnemonic: {reason}")]
    Mnemonic {
        /// What is wrong with it.
        reason: String,
    },
    /// A `0x` raw seed that is not 64 hex digits.
    #[error("invalid raw seed: {reason}")]
    Seed {
        /// What is wrong with it.
        reason: String,
    },
    /// A secret URI that does not follow `[PHRASE][//hard|/soft]...[///PASSWORD]`.
    #[error("invalid secret URI: {reason}")]
    Uri {
        /// What is wrong with it.
        reason: String,
    },
    /// A mnemonic length other than 12, 15, 18, 21 or 24 words was asked for.
    #[error("cannot make a {words}-word mnemonic: choose 12, 15, 18, 21 or 24 words")]
    WordCount {
        /// The word count asked for.
        words: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {reason}")]
    Randomness {
        /// The error it gave.
        reason: String,
    },
}

// ------------------------------------------------------------------------------------------
// AccountId
// ------------------------------------------------------------------------------------------

/// An account: the 32-byte sr25519 public key. Displayed (and debug-printed) as its SS58
/// address with prefix 42; SCALE-encoded as the raw 32 bytes; serialized with serde as the
/// SS58 string (and deserialized from SS58 or `0x` hex).
///
/// ```
/// use ganglion_kernel::chain::keys::AccountId;
///
/// let alice: AccountId = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".parse()?;
/// let same: AccountId =
///     "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d".parse()?;
/// assert_eq!(alice, same);
/// assert_eq!(alice.to_ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
/// # Ok::<(), ganglion_kernel::chain::keys::KeyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address with prefix 42, e.g. `5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY`.
    pub fn to_ss58(&self) -> String {
        ss58_encode(SS58_PREFIX_BYTE, &self.0)
    }

    /// The public key as `0x` and 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Reads an SS58 address with prefix 42. Any other valid prefix is an error that names
    /// it (and gives the same key's prefix-42 address).
    pub fn from_ss58(address: &str) -> Result<Self, KeyError> {
        let (prefix, account) = Self::from_ss58_any(address)?;
        if u16::from(prefix) == SS58_PREFIX {
            Ok(account)
        } else {
            Err(KeyError::Ss58WrongPrefix {
                found: prefix.into(),
                generic: account.to_ss58(),
            })
        }
    }

    /// Reads an SS58 address with any one-byte prefix (0 to 63: Polkadot is 0, Kusama 2,
    /// ganglion and Bittensor 42) and returns the prefix with the key. Two-byte prefixes
    /// are rejected with [`KeyError::Ss58TwoBytePrefix`].
    ///
    /// ```
    /// use ganglion_kernel::chain::keys::AccountId;
    ///
    /// // The subkey README's example key, written for Polkadot (prefix 0).
    /// let (prefix, key) = AccountId::from_ss58_any("16m4J167Mptt8UXL8aGSAi7U2FnPpPxZHPrCgMG9KJzVoFqM")?;
    /// assert_eq!(prefix, 0);
    /// assert_eq!(key.to_ss58(), "5Hpm9fq3W3dQgwWpAwDS2ZHKAdnk86QRCu7iX4GnmDxycrte");
    /// # Ok::<(), ganglion_kernel::chain::keys::KeyError>(())
    /// ```
    pub fn from_ss58_any(address: &str) -> Result<(u8, Self), KeyError> {
        // An account address is 47 or 48 characters; refuse long input before decoding it
        // (base58 decoding is quadratic in the length).
        if address.len() > 64 {
            return Err(KeyError::Ss58TooLong {
                chars: address.chars().count(),
            });
        }
        let data = bs58::decode(address).into_vec().map_err(|e| match e {
            bs58::decode::Error::InvalidCharacter { character, index } => {
                KeyError::Ss58Character { character, index }
            }
            bs58::decode::Error::NonAsciiCharacter { index } => {
                let character = address
                    .get(index..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('\u{fffd}');
                KeyError::Ss58Character { character, index }
            }
            _ => KeyError::Ss58TooLong {
                chars: address.chars().count(),
            },
        })?;
        // The checksum covers everything before it; check it before reading the prefix, so
        // that a typo is reported as one.
        let checksum_ok = |body_len: usize| match data.split_at_checked(body_len) {
            Some((body, checksum)) => ss58_checksum(body) == checksum,
            None => false,
        };
        match data.as_slice() {
            [first @ 128..=255, ..] => Err(KeyError::Ss58ReservedPrefix { first_byte: *first }),
            [prefix @ 0..=63, key @ .., _, _] if data.len() == SS58_ADDRESS_BYTES => {
                if !checksum_ok(33) {
                    return Err(KeyError::Ss58Checksum);
                }
                let mut account = [0u8; 32];
                account.copy_from_slice(key);
                Ok((*prefix, AccountId(account)))
            }
            [first @ 64..=127, second, ..] if data.len() == SS58_ADDRESS_BYTES + 1 => {
                if !checksum_ok(34) {
                    return Err(KeyError::Ss58Checksum);
                }
                // 01aaaaaa bbcccccc is the little-endian 14-bit prefix aaaaaabb 00cccccc.
                let lower = (first << 2) | (second >> 6);
                let upper = second & 0b0011_1111;
                let prefix = u16::from(lower) | (u16::from(upper) << 8);
                Err(KeyError::Ss58TwoBytePrefix { prefix })
            }
            _ => Err(KeyError::Ss58Length { bytes: data.len() }),
        }
    }
}

/// The one-byte form of [`SS58_PREFIX`].
const SS58_PREFIX_BYTE: u8 = 42;
const _: () = assert!(SS58_PREFIX == SS58_PREFIX_BYTE as u16);

fn ss58_checksum(body: &[u8]) -> [u8; 2] {
    let hash = Blake2b512::new()
        .chain_update(SS58_HASH_PREFIX)
        .chain_update(body)
        .finalize();
    let mut out = [0u8; 2];
    for (o, h) in out.iter_mut().zip(hash.iter()) {
        *o = *h;
    }
    out
}

fn ss58_encode(prefix: u8, key: &[u8; 32]) -> String {
    let mut data = [0u8; SS58_ADDRESS_BYTES];
    let (body, checksum) = data.split_at_mut(33);
    if let Some((p, k)) = body.split_first_mut() {
        *p = prefix;
        k.copy_from_slice(key);
    }
    checksum.copy_from_slice(&ss58_checksum(body));
    bs58::encode(data).into_string()
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl FromStr for AccountId {
    type Err = KeyError;

    /// An SS58 address with prefix 42, or `0x` and 64 hex digits.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.strip_prefix("0x") {
            Some(digits) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(digits, &mut key).map_err(|e| KeyError::AccountHex {
                    reason: hex_problem(digits.len(), &e),
                })?;
                Ok(AccountId(key))
            }
            None => AccountId::from_ss58(s),
        }
    }
}

/// Describes a hex decoding failure without echoing the input.
fn hex_problem(digits: usize, err: &hex::FromHexError) -> String {
    match err {
        hex::FromHexError::InvalidHexCharacter { index, .. } => {
            format!(
                "found a non-hex character at digit {}",
                index.saturating_add(1)
            )
        }
        hex::FromHexError::OddLength | hex::FromHexError::InvalidStringLength => {
            format!("found {digits} digits")
        }
    }
}

impl From<[u8; 32]> for AccountId {
    fn from(bytes: [u8; 32]) -> Self {
        AccountId(bytes)
    }
}

impl AsRef<[u8]> for AccountId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ss58())
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ------------------------------------------------------------------------------------------
// Signature
// ------------------------------------------------------------------------------------------

/// An sr25519 signature: 64 bytes, SCALE-encoded raw. Debug-printed as hex.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

impl From<[u8; 64]> for Signature {
    fn from(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }
}

impl serde::Serialize for Signature {
    /// `0x` and 128 lowercase hex digits.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0x{}", hex::encode(self.0)))
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    /// `0x` and 128 hex digits.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let digits = s.strip_prefix("0x").ok_or_else(|| {
            serde::de::Error::custom("a signature is 0x followed by 128 hex digits")
        })?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(digits, &mut bytes).map_err(|e| {
            serde::de::Error::custom(format!(
                "a signature is 0x followed by 128 hex digits (64 bytes), but {}",
                hex_problem(digits.len(), &e)
            ))
        })?;
        Ok(Signature(bytes))
    }
}

// ------------------------------------------------------------------------------------------
// Pair
// ------------------------------------------------------------------------------------------

/// An sr25519 key pair. Its secret half is wiped from memory on drop, and its `Debug`
/// shows only the public key.
///
/// ```
/// use ganglion_kernel::chain::keys::{self, Pair};
///
/// let (pair, phrase) = Pair::generate(12)?;
/// assert_eq!(phrase.split(' ').count(), 12);
/// // The phrase alone recovers the pair.
/// assert_eq!(Pair::from_phrase(&phrase, None)?.public(), pair.public());
/// let signature = pair.sign(b"message");
/// assert!(keys::verify(&signature, b"message", &pair.public()));
/// # Ok::<(), keys::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Pair(Keypair);

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pair({})", self.public())
    }
}

impl Pair {
    /// The pair for a secret URI: `[PHRASE][JUNCTIONS][///PASSWORD]`.
    ///
    /// - PHRASE is an English BIP-39 mnemonic (12 to 24 words) or `0x` and 64 hex digits
    ///   (a raw 32-byte seed); left out, it is [`DEV_PHRASE`].
    /// - JUNCTIONS are `//hard` and `/soft` derivation steps, applied left to right.
    /// - PASSWORD (after `///`, to the end) is the mnemonic's BIP-39 password; a raw seed
    ///   takes none.
    ///
    /// ```
    /// use ganglion_kernel::chain::keys::{DEV_PHRASE, Pair};
    ///
    /// let alice = Pair::from_uri("//Alice")?;
    /// assert_eq!(alice.public(), Pair::from_uri(&format!("{DEV_PHRASE}//Alice"))?.public());
    /// assert_eq!(
    ///     Pair::from_uri("//Alice///password")?.public(),
    ///     Pair::from_uri(&format!("{DEV_PHRASE}//Alice///password"))?.public(),
    /// );
    /// # Ok::<(), ganglion_kernel::chain::keys::KeyError>(())
    /// ```
    pub fn from_uri(uri: &str) -> Result<Pair, KeyError> {
        let parsed = SecretUri::parse(uri)?;
        let phrase = parsed.phrase.unwrap_or(DEV_PHRASE);
        let root = match phrase.strip_prefix("0x") {
            Some(digits) => {
                if parsed.password.is_some() {
                    return Err(KeyError::Uri {
                        reason: "a ///password applies to a mnemonic phrase only, and a raw \
                                 0x seed takes none; drop the password or use the mnemonic"
                            .into(),
                    });
                }
                let mut seed = Zeroizing::new([0u8; 32]);
                hex::decode_to_slice(digits, seed.as_mut()).map_err(|e| KeyError::Seed {
                    reason: format!(
                        "a raw seed is 0x followed by 64 hex digits (32 bytes), but {}",
                        hex_problem(digits.len(), &e)
                    ),
                })?;
                Pair::from_seed(&seed)
            }
            None => Pair::from_phrase(phrase, parsed.password)?,
        };
        Ok(root.derive(&parsed.junctions))
    }

    /// The pair for a raw 32-byte seed (a schnorrkel mini secret key, expanded in Ed25519
    /// mode, as `sp-core`'s `Pair::from_seed`).
    pub fn from_seed(seed: &[u8; 32]) -> Pair {
        Pair(mini_secret(seed).expand_to_keypair(ExpansionMode::Ed25519))
    }

    /// The pair for a BIP-39 mnemonic and optional password, as `substrate-bip39`: the seed
    /// is PBKDF2-HMAC-SHA512 over the mnemonic's entropy (not its text), salted with
    /// `"mnemonic"` and the password, 2048 rounds; its first 32 bytes are the mini secret
    /// key.
    pub fn from_phrase(phrase: &str, password: Option<&str>) -> Result<Pair, KeyError> {
        let seed = seed_from_phrase(phrase, password.unwrap_or(""))?;
        let mut mini = Zeroizing::new([0u8; 32]);
        for (m, s) in mini.iter_mut().zip(seed.iter()) {
            *m = *s;
        }
        Ok(Pair::from_seed(&mini))
    }

    /// A new pair from the operating system's randomness, with its mnemonic of `words`
    /// words (12, 15, 18, 21 or 24). Write the phrase down: it is the only way back to the
    /// key.
    pub fn generate(words: usize) -> Result<(Pair, String), KeyError> {
        let entropy_bytes = match words {
            12 => 16,
            15 => 20,
            18 => 24,
            21 => 28,
            24 => 32,
            _ => return Err(KeyError::WordCount { words }),
        };
        let mut entropy = Zeroizing::new([0u8; 32]);
        let entropy = entropy
            .get_mut(..entropy_bytes)
            .ok_or(KeyError::WordCount { words })?;
        OsRng
            .try_fill_bytes(entropy)
            .map_err(|e| KeyError::Randomness {
                reason: e.to_string(),
            })?;
        let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy).map_err(|e| {
            KeyError::Mnemonic {
                reason: e.to_string(),
            }
        })?;
        let phrase = mnemonic.to_string();
        let pair = Pair::from_phrase(&phrase, None)?;
        Ok((pair, phrase))
    }

    /// The public key, which is the account.
    pub fn public(&self) -> AccountId {
        AccountId(self.0.public.to_bytes())
    }

    /// Signs `message` with the signing context `b"substrate"`, as `sp-core` does. Each
    /// call gives a different, equally valid signature.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        Signature(self.0.sign(context.bytes(message)).to_bytes())
    }

    /// A 32-byte secret derived from this pair's secret key for `domain`: blake2b-256 of a
    /// fixed tag, the domain's length and bytes, and the 64-byte secret key. The same pair
    /// and domain always give the same bytes; different domains give independent secrets,
    /// and none of them reveals the key. Use it to derive other keys from an account key
    /// (the consensus engine's libp2p identity, for one). The result is as secret as the
    /// pair: wipe it after use.
    ///
    /// ```
    /// use ganglion_kernel::chain::keys::Pair;
    ///
    /// let alice = Pair::from_uri("//Alice")?;
    /// assert_eq!(alice.derive_secret(b"a"), alice.derive_secret(b"a"));
    /// assert_ne!(alice.derive_secret(b"a"), alice.derive_secret(b"b"));
    /// # Ok::<(), ganglion_kernel::chain::keys::KeyError>(())
    /// ```
    pub fn derive_secret(&self, domain: &[u8]) -> [u8; 32] {
        let secret = Zeroizing::new(self.0.secret.to_bytes());
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(b"ganglion/derive-secret/v1");
        hasher.update((domain.len() as u64).to_le_bytes());
        hasher.update(domain);
        hasher.update(secret.as_slice());
        hasher.finalize().into()
    }

    /// Applies derivation junctions left to right, as `sp-core`'s `Pair::derive`.
    fn derive(self, junctions: &[Junction]) -> Pair {
        let mut pair = self.0;
        for junction in junctions {
            pair = match junction {
                Junction::Hard(code) => {
                    let (mini, _) = pair.hard_derive_mini_secret_key(Some(ChainCode(*code)), b"");
                    mini.expand_to_keypair(ExpansionMode::Ed25519)
                }
                Junction::Soft(code) => pair.derived_key_simple(ChainCode(*code), b"").0,
            };
        }
        Pair(pair)
    }
}

/// Verifies an sr25519 signature made with the signing context `b"substrate"`. A public
/// key that is not a valid Ristretto point, or a malformed signature, is `false`.
pub fn verify(signature: &Signature, message: &[u8], public: &AccountId) -> bool {
    let Ok(public) = PublicKey::from_bytes(&public.0) else {
        return false;
    };
    let Ok(signature) = schnorrkel::Signature::from_bytes(&signature.0) else {
        return false;
    };
    public
        .verify_simple(SIGNING_CONTEXT, message, &signature)
        .is_ok()
}

/// Verifies many `(message, signature, signer)` triples at once, with schnorrkel's
/// deterministic batch verification (no randomness needed; about twice as fast as one by
/// one for thousands of signatures). `true` only if every signature is valid, so an empty
/// batch is `true`; any malformed signature or invalid public key makes it `false`.
///
/// It allocates two vectors (the parsed keys and signatures) and schnorrkel's scalars,
/// nothing per item.
///
/// ```
/// use ganglion_kernel::chain::keys::{self, Pair};
///
/// let alice = Pair::from_uri("//Alice")?;
/// let bob = Pair::from_uri("//Bob")?;
/// let items = [
///     (&b"one"[..], alice.sign(b"one"), alice.public()),
///     (&b"two"[..], bob.sign(b"two"), bob.public()),
/// ];
/// assert!(keys::verify_batch(&items));
/// let wrong = [(&b"one"[..], alice.sign(b"one"), bob.public())];
/// assert!(!keys::verify_batch(&wrong));
/// # Ok::<(), keys::KeyError>(())
/// ```
pub fn verify_batch(items: &[(&[u8], Signature, AccountId)]) -> bool {
    let mut signatures = Vec::with_capacity(items.len());
    let mut publics = Vec::with_capacity(items.len());
    for (_, signature, public) in items {
        let Ok(public) = PublicKey::from_bytes(&public.0) else {
            return false;
        };
        let Ok(signature) = schnorrkel::Signature::from_bytes(&signature.0) else {
            return false;
        };
        publics.push(public);
        signatures.push(signature);
    }
    let context = schnorrkel::signing_context(SIGNING_CONTEXT);
    let transcripts = items.iter().map(|(message, _, _)| context.bytes(message));
    schnorrkel::verify_batch_deterministic(transcripts, &signatures, &publics, false).is_ok()
}

// ------------------------------------------------------------------------------------------
// Seeds and mnemonics
// ------------------------------------------------------------------------------------------

/// A byte source that hands out one fixed 32-byte seed, so that `MiniSecretKey::generate_with`
/// builds the mini secret key from it without a fallible length check (schnorrkel's only
/// infallible constructor; `generate_with` fills the key's 32 bytes with one `fill_bytes`).
/// The published Substrate vectors in the tests pin the result.
struct SeedSource<'a>(&'a [u8; 32]);

impl RngCore for SeedSource<'_> {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for (d, s) in dest
            .iter_mut()
            .zip(self.0.iter().chain(std::iter::repeat(&0)))
        {
            *d = *s;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeedSource<'_> {}

fn mini_secret(seed: &[u8; 32]) -> MiniSecretKey {
    MiniSecretKey::generate_with(SeedSource(seed))
}

/// The 64-byte `substrate-bip39` seed of a mnemonic and password (whose first 32 bytes are
/// the mini secret key).
pub(crate) fn seed_from_phrase(
    phrase: &str,
    password: &str,
) -> Result<Zeroizing<[u8; 64]>, KeyError> {
    let mnemonic =
        Mnemonic::parse_in(Language::English, phrase).map_err(|e| KeyError::Mnemonic {
            reason: mnemonic_problem(phrase, &e),
        })?;
    let (mut entropy, len) = mnemonic.to_entropy_array();
    let result = seed_from_entropy(entropy.get(..len).unwrap_or(&[]), password);
    entropy.zeroize();
    Ok(result)
}

fn seed_from_entropy(entropy: &[u8], password: &str) -> Zeroizing<[u8; 64]> {
    let mut salt = Zeroizing::new(String::with_capacity(password.len().saturating_add(8)));
    salt.push_str("mnemonic");
    salt.push_str(password);
    let mut seed = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(entropy, salt.as_bytes(), 2048, seed.as_mut());
    seed
}

/// Says what is wrong with a mnemonic without repeating its valid words.
fn mnemonic_problem(phrase: &str, err: &bip39::Error) -> String {
    const COUNTS: &str = "a BIP-39 phrase has 12, 15, 18, 21 or 24 words";
    match err {
        bip39::Error::BadWordCount(n) => format!("it has {n} words, but {COUNTS}"),
        bip39::Error::BadEntropyBitCount(_) => {
            format!("it has the wrong number of words: {COUNTS}")
        }
        bip39::Error::UnknownWord(i) => {
            let word = phrase.split_whitespace().nth(*i).unwrap_or("");
            format!(
                "word {} ({word:?}) is not in the BIP-39 English word list; check its spelling \
                 (words are lowercase)",
                i.saturating_add(1)
            )
        }
        bip39::Error::InvalidChecksum => "its checksum does not match: a word is wrong or \
                                          words are out of order"
            .into(),
        bip39::Error::AmbiguousLanguages(_) => "its language is ambiguous; use English".into(),
    }
}

// ------------------------------------------------------------------------------------------
// Secret URIs
// ------------------------------------------------------------------------------------------

/// A derivation step with its 32-byte chain code.
#[derive(Clone, Copy, Zeroize)]
enum Junction {
    Hard([u8; 32]),
    Soft([u8; 32]),
}

impl Junction {
    /// The chain code of a junction's text, as `sp-core`'s `DeriveJunction`: a number is
    /// its SCALE `u64` (8 bytes little-endian), anything else its SCALE string (compact
    /// length, then UTF-8); longer than 32 bytes is hashed with blake2b-256, shorter is
    /// zero-padded.
    fn chain_code(text: &str) -> [u8; 32] {
        let mut code = [0u8; 32];
        let encoded = match text.parse::<u64>() {
            Ok(n) => n.encode(),
            Err(_) => text.encode(),
        };
        if encoded.len() > 32 {
            code.copy_from_slice(&Blake2b::<U32>::digest(&encoded));
        } else {
            for (c, e) in code.iter_mut().zip(encoded.iter()) {
                *c = *e;
            }
        }
        code
    }
}

/// A parsed secret URI, borrowing from the text.
struct SecretUri<'a> {
    phrase: Option<&'a str>,
    junctions: Vec<Junction>,
    password: Option<&'a str>,
}

impl Drop for SecretUri<'_> {
    fn drop(&mut self) {
        self.junctions.zeroize();
    }
}

impl<'a> SecretUri<'a> {
    /// Parses `[PHRASE][//hard|/soft]...[///PASSWORD]` as `sp-core`'s regular expression
    /// `^([\d\w ]+)?((//?[^/]+)*)(///(.*))?$` does.
    fn parse(uri: &'a str) -> Result<Self, KeyError> {
        let (phrase, mut rest) = match uri.find('/') {
            Some(at) => uri.split_at(at),
            None => (uri, ""),
        };
        if let Some(bad) = phrase
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == ' '))
        {
            let shown = if bad.is_ascii_punctuation() || bad.is_whitespace() {
                format!(" (found {bad:?})")
            } else {
                String::new()
            };
            return Err(KeyError::Uri {
                reason: format!(
                    "the phrase (the part before the first \"/\") may hold only letters, digits \
                     and single spaces{shown}"
                ),
            });
        }
        let phrase = (!phrase.is_empty()).then_some(phrase);
        let mut junctions = Vec::new();
        let mut password = None;
        while !rest.is_empty() {
            if let Some(pw) = rest.strip_prefix("///") {
                password = Some(pw);
                break;
            }
            let (hard, after) = match rest.strip_prefix("//") {
                Some(after) => (true, after),
                None => (false, rest.get(1..).unwrap_or("")),
            };
            let end = after.find('/').unwrap_or(after.len());
            let (text, next) = after.split_at(end);
            if text.is_empty() {
                let slashes = if hard { "//" } else { "/" };
                return Err(KeyError::Uri {
                    reason: format!(
                        "a junction is empty ({slashes:?} followed by nothing); write a name or \
                         number after it, e.g. \"//Alice\" or \"/0\""
                    ),
                });
            }
            let code = Junction::chain_code(text);
            junctions.push(if hard {
                Junction::Hard(code)
            } else {
                Junction::Soft(code)
            });
            rest = next;
        }
        Ok(SecretUri {
            phrase,
            junctions,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_secret_is_deterministic_and_domain_separated() {
        let alice = Pair::from_uri("//Alice").unwrap();
        let bob = Pair::from_uri("//Bob").unwrap();
        let a = alice.derive_secret(b"ganglion/test");
        assert_eq!(
            a,
            Pair::from_uri("//Alice")
                .unwrap()
                .derive_secret(b"ganglion/test")
        );
        assert_ne!(a, alice.derive_secret(b"ganglion/test2"));
        assert_ne!(a, bob.derive_secret(b"ganglion/test"));
        // Not the public key, nor a hash of public data alone.
        assert_ne!(&a, alice.public().as_bytes());
        // The length prefix separates ("ab", "c...") from ("a", "bc...").
        assert_ne!(alice.derive_secret(b"ab"), alice.derive_secret(b"a"));
    }

    fn account(hex: &str) -> AccountId {
        hex.parse().unwrap()
    }

    /// `//Alice`: sp-core `derive_hard_known_pair_should_work` and polkadot.js
    /// `keyring/src/testing.ts`.
    #[test]
    fn alice() {
        let pair = Pair::from_uri("//Alice").unwrap();
        assert_eq!(
            pair.public(),
            account("0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
        );
        assert_eq!(
            pair.public().to_ss58(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
    }

    /// sp-core `sr_test_vector_should_work` and `seeded_pair_should_work`.
    #[test]
    fn from_seed_vectors() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            Pair::from_seed(&seed).public(),
            account("0x44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f")
        );
        assert_eq!(
            Pair::from_seed(b"12345678901234567890123456789012").public(),
            account("0x741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63")
        );
    }

    /// substrate-bip39 `vectors_are_correct` (password "Substrate"): a 12-, an 18- and a
    /// 24-word phrase with their 64-byte seeds.
    #[test]
    fn substrate_bip39_seeds() {
        let vectors = [
            (
                "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic",
                "f4956be6960bc145cdab782e649a5056598fd07cd3f32ceb73421c3da27833241324dc2c8b0a4d847eee457e6d4c5429f5e625ece22abaa6a976e82f1ec5531d",
            ),
            (
                "gravity machine north sort system female filter attitude volume fold club stay feature office ecology stable narrow fog",
                "fbcc5229ade0c0ff018cb7a329c5459f91876e4dde2a97ddf03c832eab7f26124366a543f1485479c31a9db0d421bda82d7e1fe562e57f3533cb1733b001d84d",
            ),
            (
                "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length",
                "7c60c555126c297deddddd59f8cdcdc9e3608944455824dd604897984b5cc369cad749803bb36eb8b786b570c9cdc8db275dbe841486676a6adf389f3be3f076",
            ),
            (
                "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
                "047e89ef7739cbfe30da0ad32eb1720d8f62441dd4f139b981b8e2d0bd412ed4eb14b89b5098c49db2301d4e7df4e89c21e53f345138e56a5e7d63fae21c5939",
            ),
        ];
        for (phrase, seed) in vectors {
            let got = seed_from_phrase(phrase, "Substrate").unwrap();
            assert_eq!(hex::encode(got.as_ref()), seed, "{phrase}");
        }
    }

    /// polkadot.js `mnemonicToMiniSecret` spec: the mini secret without a password.
    #[test]
    fn polkadot_js_mini_secret() {
        let seed = seed_from_phrase(
            "seed sock milk update focus rotate barely fade car face mechanic mercy",
            "",
        )
        .unwrap();
        assert_eq!(
            hex::encode(&seed[..32]),
            "4d1ab2a57929edfd018aaa974e62ed557e3f54b4104acabedf73c8f5a1dbb029"
        );
    }

    /// sp-core `DeriveJunction`: numbers as u64, text as a SCALE string, long text hashed.
    #[test]
    fn chain_codes() {
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(Junction::chain_code("1"), one);
        let mut alice = [0u8; 32];
        alice[..6].copy_from_slice(&[20, b'A', b'l', b'i', b'c', b'e']);
        assert_eq!(Junction::chain_code("Alice"), alice);
        let long = "x".repeat(40);
        let mut encoded = vec![160u8];
        encoded.extend_from_slice(long.as_bytes());
        assert_eq!(
            Junction::chain_code(&long).as_slice(),
            Blake2b::<U32>::digest(&encoded).as_slice()
        );
    }

    #[test]
    fn uri_grammar() {
        let uri = SecretUri::parse("a b//x/1///p/q").unwrap();
        assert_eq!(uri.phrase, Some("a b"));
        assert_eq!(uri.password, Some("p/q"));
        assert!(matches!(
            uri.junctions[..],
            [Junction::Hard(_), Junction::Soft(_)]
        ));
        let uri = SecretUri::parse("").unwrap();
        assert!(uri.phrase.is_none() && uri.junctions.is_empty() && uri.password.is_none());
        let uri = SecretUri::parse("////x").unwrap();
        assert_eq!(uri.password, Some("/x"));
        for bad in ["//", "//a//", "a/", "//a//b/", "a-b//c"] {
            assert!(SecretUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_problem_and_hide_secrets() {
        let err = Pair::from_uri("abandon abandon foo abandon abandon abandon abandon abandon abandon abandon abandon about").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("word 3 (\"foo\")"), "{msg}");
        assert!(!msg.contains("abandon"), "{msg}");
        let err = Pair::from_uri("//Alice//").unwrap_err().to_string();
        assert!(err.contains("junction is empty"), "{err}");
        let err = Pair::from_uri("0x1234").unwrap_err().to_string();
        assert!(
            err.contains("found 4 digits") && !err.contains("1234"),
            "{err}"
        );
        let err = Pair::from_uri(
            "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60///pw",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("raw 0x seed takes none"), "{err}");
        let msg = Pair::generate(13).unwrap_err().to_string();
        assert!(msg.contains("12, 15, 18, 21 or 24"), "{msg}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let pair = Pair::from_uri("//Alice").unwrap();
        assert_eq!(
            format!("{pair:?}"),
            "Pair(5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY)"
        );
    }

    #[test]
    fn scale_is_raw_bytes() {
        let alice = Pair::from_uri("//Alice").unwrap().public();
        assert_eq!(alice.encode(), alice.0.to_vec());
        assert_eq!(AccountId::max_encoded_len(), 32);
        assert_eq!(AccountId::decode(&mut &alice.0[..]).unwrap(), alice);
        let sig = Pair::from_uri("//Alice").unwrap().sign(b"x");
        assert_eq!(sig.encode(), sig.0.to_vec());
        assert_eq!(Signature::decode(&mut &sig.0[..]).unwrap(), sig);
    }
}
