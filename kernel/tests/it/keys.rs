//! sr25519 keys against published Substrate vectors, and property tests.
//!
//! Every expected value below is copied from a published source, named beside it:
//!
//! - sp-core: `substrate/primitives/core/src/sr25519.rs` tests and `crypto.rs`
//!   (`DEV_ADDRESS`) in paritytech/polkadot-sdk;
//! - the Secret URI test vectors of the Substrate wiki, as polkadot.js keeps them in
//!   `packages/keyring/src/suri.spec.ts` (polkadot-js/common);
//! - polkadot.js `packages/keyring/src/testing.ts`: the dev accounts' public keys;
//! - the subkey README (`substrate/bin/utils/subkey/README.md`);
//! - substrate-bip39 `src/lib.rs` test vectors (paritytech/substrate-bip39).

use ganglion_kernel::chain::keys::{
    self, AccountId, DEV_PHRASE, KeyError, Pair, SS58_PREFIX, Signature,
};
use proptest::prelude::*;

fn public(uri: &str) -> AccountId {
    Pair::from_uri(uri).unwrap().public()
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

/// The dev accounts. Public keys: polkadot.js `keyring/src/testing.ts` (`PAIRSSR25519`).
/// Addresses: the well-known dev addresses (Alice's and Bob's also in the Substrate docs).
#[test]
fn dev_accounts() {
    let accounts = [
        (
            "//Alice",
            "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        ),
        (
            "//Bob",
            "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        ),
        (
            "//Charlie",
            "0x90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22",
            "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y",
        ),
        (
            "//Dave",
            "0x306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20",
            "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
        ),
        (
            "//Eve",
            "0xe659a7a1628cdd93febc04a4e0646ea20e9f5f0ce097d9a05290d4a9e054df4e",
            "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw",
        ),
        (
            "//Ferdie",
            "0x1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c",
            "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL",
        ),
        (
            "//Alice//stash",
            "0xbe5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f",
            "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY",
        ),
        (
            "//Bob//stash",
            "0xfe65717dad0447d715f660a0a58411de509b42e6efb8375f562f58a554d5860e",
            "5HpG9w8EBLe5XCrbczpwq5TSXvedjrBGCwqxK1iQ7qUsSWFc",
        ),
    ];
    for (uri, key, address) in accounts {
        let got = public(uri);
        assert_eq!(got.to_hex(), key, "{uri}");
        assert_eq!(got.to_ss58(), address, "{uri}");
        assert_eq!(got.to_string(), address, "{uri}");
        assert_eq!(address.parse::<AccountId>().unwrap(), got, "{uri}");
        assert_eq!(key.parse::<AccountId>().unwrap(), got, "{uri}");
    }
}

/// The Substrate wiki's Secret URI test vectors (polkadot.js `keyring/src/suri.spec.ts`):
/// the bare dev phrase, a password, soft, hard and mixed paths, numeric junctions.
#[test]
fn secret_uri_vectors() {
    let p = DEV_PHRASE;
    let vectors = [
        (
            p.to_string(),
            "0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
            "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV",
        ),
        (
            format!("{p}///password"),
            "0xb69355deefa7a8f33e9297f5af22e680f03597a99d4f4b1c44be47e7a2275802",
            "5GC6LfpV352HtJPySfAecb5JdePtf4R9Vq49NUU8RhzgBqgq",
        ),
        (
            format!("{p}/foo"),
            "0x40b9675df90efa6069ff623b0fdfcf706cd47ca7452a5056c7ad58194d23440a",
            "5DXZzrDxHbkQov4QBAY4TjpwnHCMrKXkomTnKSw8UArBEY5v",
        ),
        (
            format!("{p}//foo"),
            "0x547d4a55642ec7ebadc0bd29b6e570b8c926059b3c0655d4948075e9a7e6f31e",
            "5DyV6fZuvPemWrUqBgWwTSgoV86w6xms3KhkFU6cQcWxU8eP",
        ),
        (
            format!("{p}//foo/bar"),
            "0x3841947ffcde6f5fef26fb68b59bb8665637e30e32ec2051f99cf6b9c674fe09",
            "5DLU27is5iViNopQb2KxsTyPx6j4vCu8X3sk3j3NNLkPCqKM",
        ),
        (
            format!("{p}/foo//bar"),
            "0xdc142f7476a7b0aa262aeccf207f1d18daa90762db393006741e8a31f39dbc53",
            "5H3GPTqDSpjkfDwbHy12PD6BWm8jvGSX4xYC8UMprHpTPcRg",
        ),
        (
            format!("{p}//foo/bar//42/69"),
            "0xa2e56b06407a6d1e819d2fc33fa0ec604b29c2e868b70b3696bb049b8725934b",
            "5FkHmNgbg64MwStgCyDi2Uw3ufFu11mqQgmWT9uwK4Lghvpv",
        ),
        (
            format!("{p}//foo/bar//42/69///password"),
            "0x0e0d24e3e1ff2c07f269c99e2e0df8681fda1851ac42fc846ca2daaa90cd8f14",
            "5CP8S23JBNXYNpJsL7ESPJBNnUZE6itcfM4EnDxEhaVEU6dT",
        ),
        (
            format!("{p}//Alice"),
            "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        ),
    ];
    for (uri, key, address) in vectors {
        let got = public(&uri);
        assert_eq!(got.to_hex(), key, "{uri}");
        assert_eq!(got.to_ss58(), address, "{uri}");
    }
}

/// sp-core `sr25519.rs` tests.
#[test]
fn sp_core_vectors() {
    // derive_soft_known_pair_should_work
    assert_eq!(
        public(&format!("{DEV_PHRASE}/Alice")).to_hex(),
        "0xd6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e"
    );
    // derive_hard_known_pair_should_work
    assert_eq!(
        public(&format!("{DEV_PHRASE}//Alice")).to_hex(),
        "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
    );
    // default_phrase_should_be_used: a missing phrase is the dev phrase, and the URI's
    // password is the mnemonic's password.
    assert_eq!(
        public("//Alice///password"),
        public(&format!("{DEV_PHRASE}//Alice///password"))
    );
    assert_eq!(
        public("///password"),
        Pair::from_phrase(DEV_PHRASE, Some("password"))
            .unwrap()
            .public()
    );
    assert_eq!(public("/Alice"), public(&format!("{DEV_PHRASE}/Alice")));
    // crypto.rs DEV_ADDRESS: the dev phrase's own address; an empty URI is the dev phrase.
    assert_eq!(
        public("").to_ss58(),
        "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"
    );
    assert_eq!(
        Pair::from_phrase(DEV_PHRASE, None)
            .unwrap()
            .public()
            .to_ss58(),
        "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"
    );
    // sr_test_vector_should_work, test_vector_by_string: a raw seed, as bytes or URI.
    let seed = hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let expected = "0x44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f";
    assert_eq!(Pair::from_seed(&seed).public().to_hex(), expected);
    assert_eq!(
        public("0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").to_hex(),
        expected
    );
    // seeded_pair_should_work
    assert_eq!(
        Pair::from_seed(b"12345678901234567890123456789012")
            .public()
            .to_hex(),
        "0x741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63"
    );
    // verify_known_old_message_should_work: a signature of the pre-1.0 scheme does not
    // verify under the current one.
    let old = AccountId(hex32(
        "b4bfa1f7a5166695eb75299fd1c4c03ea212871c342f2c5dfea0902b2c246918",
    ));
    let signature = Signature(
        hex::decode("5a9755f069939f45d96aaf125cf5ce7ba1db998686f87f2fb3cbdea922078741a73891ba265f70c31436e18a9acd14d189d73c12317ab6c313285cd938453202")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let message = b"Verifying that I am the owner of 5G9hQLdsKQswNPgB499DeA5PkFBbgkLPJWkkS6FAM6xGQ8xD. Hash: 221455a3\n";
    assert!(!keys::verify(&signature, message, &old));
}

/// The subkey README: `generate`/`inspect` output for one phrase and its seed, the same key
/// on Polkadot and Kusama, the `--password` example and the `sign`/`verify` example.
#[test]
fn subkey_readme() {
    let phrase = "hotel forest jar hover kite book view eight stuff angle legend defense";
    let key = "0xfec70cfbf1977c6965b5af10a4534a6a35d548eb14580594d0bc543286892515";
    let address = "5Hpm9fq3W3dQgwWpAwDS2ZHKAdnk86QRCu7iX4GnmDxycrte";
    assert_eq!(public(phrase).to_hex(), key);
    assert_eq!(public(phrase).to_ss58(), address);
    let seed = "0xa05c75731970cc7868a2fb7cb577353cd5b31f62dccced92c441acd8fee0c92d";
    assert_eq!(public(seed).to_ss58(), address);
    assert_eq!(Pair::from_seed(&hex32(seed)).public().to_ss58(), address);

    let account = AccountId::from_ss58(address).unwrap();
    assert_eq!(
        AccountId::from_ss58_any("16m4J167Mptt8UXL8aGSAi7U2FnPpPxZHPrCgMG9KJzVoFqM").unwrap(),
        (0, account)
    );
    assert_eq!(
        AccountId::from_ss58_any("JLNozAv8QeLSbLFwe2UvWeKKE4yvmDbfGxTuiYkF2BUMx4M").unwrap(),
        (2, account)
    );

    let soup = "soup lyrics media market way crouch elevator put moon useful question wide";
    assert_eq!(
        public(soup).to_ss58(),
        "5Fe4sqj2K4fRuzEGvToi4KATqZfiDU7TqynjXG6PZE2dxwyh"
    );
    let with_password = Pair::from_phrase(soup, Some("extra_secret"))
        .unwrap()
        .public();
    assert_eq!(
        with_password.to_ss58(),
        "5He5pZpc7AJ8evPuab37vJF6KkFDqq9uDq2WXh877Qw6iaVC"
    );
    assert_eq!(
        with_password.to_hex(),
        "0xf6a233c3e1de1a2ae0486100b460b3ce3d7231ddfe9dadabbd35ab968c70905d"
    );
    assert_eq!(public(&format!("{soup}///extra_secret")), with_password);

    let signature = Signature(
        hex::decode("9201af3788ad4f986b800853c79da47155f2e08fde2070d866be4c27ab060466fea0623dc2b51f4392f4c61f25381a62848dd66c5d8217fae3858e469ebd668c")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let signer: AccountId = key.parse().unwrap();
    assert!(keys::verify(&signature, b"hello", &signer));
    assert!(!keys::verify(&signature, b"hello!", &signer));
    assert!(keys::verify_batch(&[(&b"hello"[..], signature, signer)]));
}

/// substrate-bip39's vectors (password "Substrate"): the first 32 bytes of each published
/// seed are the mini secret key, so the phrase and that seed give the same pair. 12, 18 and
/// 24 words.
#[test]
fn substrate_bip39_phrases() {
    let vectors = [
        (
            "scheme spot photo card baby mountain device kick cradle pact join borrow",
            "c12157bf2506526c4bd1b79a056453b071361538e9e2c19c28ba2cfa39b5f230",
        ),
        (
            "horn tenant knee talent sponsor spell gate clip pulse soap slush warm silver nephew swap uncle crack brave",
            "23766723e970e6b79dec4d5e4fdd627fd27d1ee026eb898feb9f653af01ad220",
        ),
        (
            "panda eyebrow bullet gorilla call smoke muffin taste mesh discover soft ostrich alcohol speed nation flash devote level hobby quick inner drive ghost inside",
            "f4c83c86617cb014d35cd87d38b5ef1c5d5c3d58a73ab779114438a7b358f457",
        ),
        (
            "void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen patrol group space point ten exist slush involve unfold",
            "938ba18c3f521f19bd4a399c8425b02c716844325b1a65106b9d1593fbafe5e0",
        ),
    ];
    for (phrase, mini) in vectors {
        let from_seed = Pair::from_seed(&hex32(mini)).public();
        assert_eq!(
            Pair::from_phrase(phrase, Some("Substrate"))
                .unwrap()
                .public(),
            from_seed
        );
        assert_eq!(public(&format!("{phrase}///Substrate")), from_seed);
        assert_ne!(public(phrase), from_seed, "the password matters");
    }
}

#[test]
fn generated_phrases_recover_their_pair() {
    for words in [12, 15, 18, 21, 24] {
        let (pair, phrase) = Pair::generate(words).unwrap();
        assert_eq!(phrase.split(' ').count(), words);
        assert_eq!(public(&phrase), pair.public());
    }
    assert!(matches!(
        Pair::generate(11),
        Err(KeyError::WordCount { words: 11 })
    ));
    assert!(matches!(
        Pair::generate(25),
        Err(KeyError::WordCount { words: 25 })
    ));
}

#[test]
fn ss58_errors_are_specific() {
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // One character changed: the checksum catches it.
    let typo = alice.replace("Xb26", "Xb27");
    let err = AccountId::from_ss58(&typo).unwrap_err();
    assert_eq!(err, KeyError::Ss58Checksum);
    assert!(
        err.to_string()
            .contains("SS58 checksum mismatch: the address is mistyped")
    );
    // Not base58.
    let err = AccountId::from_ss58(&alice.replace('G', "0")).unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::Ss58Character {
                character: '0',
                index: 1
            }
        ),
        "{err}"
    );
    let err = AccountId::from_ss58("5Grwl").unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::Ss58Character {
                character: 'l',
                index: 4
            }
        ),
        "{err}"
    );
    let err = AccountId::from_ss58("5Grwé").unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::Ss58Character {
                character: 'é',
                index: 4
            }
        ),
        "{err}"
    );
    // Truncated or empty.
    let err = AccountId::from_ss58(&alice[..40]).unwrap_err();
    assert!(matches!(err, KeyError::Ss58Length { .. }), "{err}");
    assert!(err.to_string().contains("copied whole"), "{err}");
    assert!(matches!(
        AccountId::from_ss58(""),
        Err(KeyError::Ss58Length { bytes: 0 })
    ));
    let long = alice.repeat(3);
    assert!(matches!(
        AccountId::from_ss58(&long),
        Err(KeyError::Ss58TooLong { chars: 144 })
    ));
    // Another network's address of a valid key names the prefix and the ganglion address.
    let err = AccountId::from_ss58("16m4J167Mptt8UXL8aGSAi7U2FnPpPxZHPrCgMG9KJzVoFqM").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("network prefix 0, not 42"), "{msg}");
    assert!(
        msg.contains("5Hpm9fq3W3dQgwWpAwDS2ZHKAdnk86QRCu7iX4GnmDxycrte"),
        "{msg}"
    );
    // Two-byte prefixes (first byte 64..=127), checksummed like the one-byte ones, and
    // reserved first bytes.
    let with_checksum = |mut body: Vec<u8>| {
        use blake2::Digest;
        let hash = blake2::Blake2b512::new()
            .chain_update(b"SS58PRE")
            .chain_update(&body)
            .finalize();
        body.extend_from_slice(&hash[..2]);
        bs58::encode(body).into_string()
    };
    let mut two_byte = vec![0b0101_0000u8, 0b0100_0001];
    two_byte.extend_from_slice(&[7u8; 32]);
    let err = AccountId::from_ss58(&with_checksum(two_byte.clone())).unwrap_err();
    assert!(
        matches!(err, KeyError::Ss58TwoBytePrefix { prefix: 321 }),
        "{err}"
    );
    let mut bad_sum = with_checksum(two_byte);
    bad_sum.pop();
    bad_sum.push('z');
    assert_eq!(AccountId::from_ss58(&bad_sum), Err(KeyError::Ss58Checksum));
    let mut reserved = vec![200u8];
    reserved.extend_from_slice(&[7u8; 32]);
    let err = AccountId::from_ss58(&with_checksum(reserved)).unwrap_err();
    assert!(
        matches!(err, KeyError::Ss58ReservedPrefix { first_byte: 200 }),
        "{err}"
    );
    // 0x account ids.
    let err = "0x1234".parse::<AccountId>().unwrap_err();
    assert!(err.to_string().contains("found 4 digits"), "{err}");
    let err = format!("0x{}", "g".repeat(64))
        .parse::<AccountId>()
        .unwrap_err();
    assert!(
        err.to_string().contains("non-hex character at digit 1"),
        "{err}"
    );
}

#[test]
fn uri_and_phrase_errors_say_what_to_fix() {
    let message = |uri: &str| Pair::from_uri(uri).unwrap_err().to_string();
    let m = message("//");
    assert!(
        m.starts_with("invalid secret URI: a junction is empty"),
        "{m}"
    );
    let m = message("//Alice/");
    assert!(
        m.contains("junction is empty (\"/\" followed by nothing)"),
        "{m}"
    );
    let m = message("bottom-drive//x");
    assert!(
        m.contains("only letters, digits and single spaces (found '-')"),
        "{m}"
    );
    let m = message("bottom drive obey lake curtain smoke basket hold race lonely fit");
    assert!(m.contains("it has 11 words"), "{m}");
    let m = message("bottom drive obey lake curtain smoke basket hold race lonely fit fit");
    assert!(m.contains("checksum does not match"), "{m}");
    let m = message("bottom drive obey lake curtain smoke basket hold race lonely fit wakl");
    assert_eq!(
        m,
        "not a valid mnemonic: word 12 (\"wakl\") is not in the BIP-39 English word list; \
         check its spelling (words are lowercase)"
    );
    assert!(!m.contains("bottom"), "secret words are never echoed: {m}");
    let m = message("0xzz61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    assert!(
        m.contains("non-hex character at digit 1") && !m.contains("b19d"),
        "{m}"
    );
}

#[test]
fn invalid_public_keys_never_verify() {
    let alice = Pair::from_uri("//Alice").unwrap();
    let signature = alice.sign(b"m");
    // Not a canonical Ristretto encoding.
    let bad = AccountId([0xff; 32]);
    assert!(!keys::verify(&signature, b"m", &bad));
    assert!(!keys::verify_batch(&[(&b"m"[..], signature, bad)]));
    // A signature without schnorrkel's marker bit is malformed.
    let mut unmarked = signature;
    unmarked.0[63] &= 0x7f;
    assert!(!keys::verify(&unmarked, b"m", &alice.public()));
    assert!(keys::verify_batch(&[]));
}

#[test]
fn serde_uses_ss58_and_reads_hex() {
    let alice = public("//Alice");
    let json = serde_json::to_string(&alice).unwrap();
    assert_eq!(json, "\"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"");
    assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), alice);
    let hex = format!("\"{}\"", alice.to_hex());
    assert_eq!(serde_json::from_str::<AccountId>(&hex).unwrap(), alice);
    let err = serde_json::from_str::<AccountId>("\"5Grw\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid SS58 address"), "{err}");
    let sig = Pair::from_uri("//Alice").unwrap().sign(b"x");
    let json = serde_json::to_string(&sig).unwrap();
    assert_eq!(json.len(), 2 + 2 + 128);
    assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
    assert_eq!(SS58_PREFIX, 42);
}

fn seed() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ss58_roundtrips(bytes in any::<[u8; 32]>()) {
        let account = AccountId(bytes);
        let address = account.to_ss58();
        prop_assert!(address.starts_with('5'));
        prop_assert_eq!(AccountId::from_ss58(&address), Ok(account));
        prop_assert_eq!(address.parse::<AccountId>(), Ok(account));
        prop_assert_eq!(account.to_hex().parse::<AccountId>(), Ok(account));
    }

    #[test]
    fn ss58_decode_never_panics(text in "\\PC{0,80}", base58 in "[1-9A-HJ-NP-Za-km-z]{0,60}") {
        let _ = AccountId::from_ss58_any(&text);
        let _ = text.parse::<AccountId>();
        if let Ok((42, account)) = AccountId::from_ss58_any(&base58) {
            prop_assert_eq!(account.to_ss58(), base58);
        }
    }

    #[test]
    fn uri_parse_never_panics(uri in "[a-z0-9 /x]{0,40}") {
        let _ = Pair::from_uri(&uri);
    }

    #[test]
    fn sign_verify_roundtrip(
        seed in seed(),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<(usize, u8)>(),
    ) {
        let pair = Pair::from_seed(&seed);
        let signature = pair.sign(&message);
        prop_assert!(keys::verify(&signature, &message, &pair.public()));
        let mut bad = signature;
        bad.0[flip.0 % 64] ^= 1 << (flip.1 % 8);
        prop_assert!(!keys::verify(&bad, &message, &pair.public()));
        if !message.is_empty() {
            let mut other = message.clone();
            other[flip.0 % message.len()] ^= 1 << (flip.1 % 8);
            prop_assert!(!keys::verify(&signature, &other, &pair.public()));
        }
    }

    #[test]
    fn batch_agrees_with_one_by_one(
        items in proptest::collection::vec(
            (seed(), proptest::collection::vec(any::<u8>(), 0..40), 0u8..8),
            0..8,
        ),
    ) {
        let signed: Vec<(Vec<u8>, Signature, AccountId)> = items
            .iter()
            .map(|(seed, message, fault)| {
                let pair = Pair::from_seed(seed);
                let mut signature = pair.sign(message);
                let mut public = pair.public();
                let mut message = message.clone();
                match fault {
                    0 => signature.0[0] ^= 1,
                    1 => message.push(0),
                    2 => public = Pair::from_seed(&[seed[0].wrapping_add(1); 32]).public(),
                    3 => public = AccountId([0xff; 32]),
                    _ => {}
                }
                (message, signature, public)
            })
            .collect();
        let batch: Vec<(&[u8], Signature, AccountId)> =
            signed.iter().map(|(m, s, p)| (m.as_slice(), *s, *p)).collect();
        let one_by_one = signed.iter().all(|(m, s, p)| keys::verify(s, m, p));
        prop_assert_eq!(keys::verify_batch(&batch), one_by_one);
    }
}
