//! The chain end to end in one process: transactions through the pool, blocks through the
//! consensus seam, import on a second chain, refusals, and the sled store across restarts.

use std::sync::Arc;
use std::time::Duration;

use ganglion_kernel::chain::block::{Certificate, SignedBlock, Vote, vote_message};
use ganglion_kernel::chain::consensus::{Budget, SoloEngine};
use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::execute::{BlockError, TxError};
use ganglion_kernel::chain::extrinsic::{Additional, BalancesCall, Call, Extra, Extrinsic};
use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::hashing::H256;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::ledger::{Chain, ChainError};
use ganglion_kernel::chain::pool::{PoolError, PoolLimits};
use ganglion_kernel::chain::service::ChainService;
use ganglion_kernel::chain::state::{DispatchError, Event};
use ganglion_kernel::chain::store::{MemStore, SledStore, Store};
use ganglion_kernel::chain::units::RAO_PER_TAO;

fn pair(uri: &str) -> Pair {
    Pair::from_uri(uri).expect("dev key")
}

fn service_on(store: Arc<dyn Store>) -> ChainService {
    let chain = Chain::open(store, &GenesisConfig::dev()).expect("open");
    ChainService::new(chain, PoolLimits::default(), "test".into())
}

fn service() -> ChainService {
    service_on(Arc::new(MemStore::default()))
}

fn engine() -> SoloEngine {
    SoloEngine::new(pair("//Alice"), Duration::from_secs(1))
}

fn step(svc: &ChainService) -> H256 {
    let slot = svc.chain().head().slot + 1;
    let budget = Budget {
        max_bytes: usize::MAX,
        max_time: Duration::from_secs(30),
    };
    engine().step(svc, slot, budget).expect("block")
}

fn sign(svc: &ChainService, from: &Pair, call: Call, nonce: u32, era: Era, tip: u64) -> Vec<u8> {
    let chain = svc.chain();
    let head = chain.head().number;
    let birth = era.birth(u64::from(head) + 1);
    let birth_hash = if birth == u64::from(head) {
        chain.head_hash()
    } else {
        chain
            .block_hash(birth as u32)
            .expect("read")
            .expect("known block")
    };
    let extra = Extra { era, nonce, tip };
    Extrinsic::sign(
        from,
        call,
        extra,
        &Additional::new(chain.genesis_hash(), birth_hash),
    )
    .to_bytes()
}

fn transfer(to: AccountId, value: u64, keep_alive: bool) -> Call {
    Call::Balances(if keep_alive {
        BalancesCall::TransferKeepAlive {
            dest: to.into(),
            value,
        }
    } else {
        BalancesCall::TransferAllowDeath {
            dest: to.into(),
            value,
        }
    })
}

/// The fee (without tip) the chain charges for extrinsic `bytes`.
fn fee_of(svc: &ChainService, bytes: &[u8]) -> u64 {
    svc.chain()
        .params()
        .expect("params")
        .fee(bytes.len(), 0)
        .expect("fee")
}

fn free(svc: &ChainService, who: &AccountId) -> u64 {
    svc.chain().account(who).expect("read").data.free
}

fn invalid(e: PoolError) -> TxError {
    match e {
        PoolError::Invalid(t) => t,
        other => panic!("expected an invalid transaction, got {other}"),
    }
}

#[test]
fn a_transfer_moves_tao_and_burns_the_fee() {
    let svc = service();
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let before = (free(&svc, &alice.public()), free(&svc, &bob));
    let issuance = svc.chain().total_issuance().expect("issuance");
    let xt = sign(
        &svc,
        &alice,
        transfer(bob, 5 * RAO_PER_TAO, true),
        0,
        Era::Immortal,
        0,
    );
    svc.submit(&xt).expect("admitted");
    step(&svc);
    let chain = svc.chain();
    let events = chain.events().expect("events");
    let fee = match events
        .iter()
        .map(|r| &r.event)
        .find(|e| matches!(e, Event::ExtrinsicSuccess { .. }))
    {
        Some(Event::ExtrinsicSuccess { fee }) => *fee,
        other => panic!("no success event: {other:?} in {events:?}"),
    };
    assert!(fee > 0);
    assert_eq!(
        chain.account(&alice.public()).expect("read").data.free,
        before.0 - 5 * RAO_PER_TAO - fee
    );
    assert_eq!(
        chain.account(&bob).expect("read").data.free,
        before.1 + 5 * RAO_PER_TAO
    );
    assert_eq!(chain.account(&alice.public()).expect("read").nonce, 1);
    assert_eq!(chain.total_issuance().expect("issuance"), issuance - fee);
    drop(chain);
    assert!(svc.pool().is_empty());
}

#[test]
fn replays_and_foreign_signatures_are_refused() {
    let svc = service();
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let xt = sign(&svc, &alice, transfer(bob, 1, true), 0, Era::Immortal, 0);
    svc.submit(&xt).expect("admitted");
    assert!(matches!(svc.submit(&xt), Err(PoolError::AlreadyKnown(_))));
    step(&svc);
    assert_eq!(
        invalid(svc.submit(&xt).expect_err("replay")),
        TxError::Stale {
            nonce: 0,
            expected: 1
        }
    );

    // Signed for another chain (another genesis hash): a bad signature, nothing changes.
    let other = H256([9; 32]);
    let extra = Extra {
        era: Era::Immortal,
        nonce: 1,
        tip: 0,
    };
    let foreign = Extrinsic::sign(
        &alice,
        transfer(bob, 1, true),
        extra,
        &Additional::new(other, other),
    )
    .to_bytes();
    let err = invalid(svc.submit(&foreign).expect_err("foreign"));
    assert!(matches!(err, TxError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("genesis"), "{err}");

    // Malformed bytes.
    let err = svc.submit(&xt[..xt.len() - 1]).expect_err("truncated");
    assert!(err.to_string().contains("malformed"), "{err}");
}

#[test]
fn future_nonces_wait_for_their_turn() {
    let svc = service();
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let second = sign(&svc, &alice, transfer(bob, 2, true), 1, Era::Immortal, 0);
    svc.submit(&second).expect("future admitted");
    step(&svc);
    assert_eq!(
        svc.chain().account(&alice.public()).expect("read").nonce,
        0,
        "nonce 1 waited"
    );
    let first = sign(&svc, &alice, transfer(bob, 1, true), 0, Era::Immortal, 0);
    svc.submit(&first).expect("admitted");
    step(&svc);
    assert_eq!(
        svc.chain().account(&alice.public()).expect("read").nonce,
        2,
        "both applied in order"
    );
    let too_far = sign(
        &svc,
        &alice,
        transfer(bob, 1, true),
        2 + 65,
        Era::Immortal,
        0,
    );
    assert!(matches!(
        svc.submit(&too_far),
        Err(PoolError::TooFarAhead { .. })
    ));
}

#[test]
fn a_higher_tip_replaces_a_pending_transaction() {
    let svc = service();
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let low = sign(&svc, &alice, transfer(bob, 1, true), 0, Era::Immortal, 0);
    let same = sign(&svc, &alice, transfer(bob, 2, true), 0, Era::Immortal, 0);
    let high = sign(&svc, &alice, transfer(bob, 3, true), 0, Era::Immortal, 10);
    svc.submit(&low).expect("admitted");
    assert!(matches!(
        svc.submit(&same),
        Err(PoolError::NonceTaken { nonce: 0 })
    ));
    svc.submit(&high).expect("replaces");
    assert_eq!(svc.pool().len(), 1);
    let before = free(&svc, &bob);
    step(&svc);
    assert_eq!(free(&svc, &bob), before + 3);
}

#[test]
fn fees_must_be_payable() {
    let svc = service();
    let nobody = pair("//Nobody");
    let xt = sign(
        &svc,
        &nobody,
        transfer(pair("//Bob").public(), 1, true),
        0,
        Era::Immortal,
        0,
    );
    let err = invalid(svc.submit(&xt).expect_err("no balance"));
    assert!(
        matches!(err, TxError::CannotPayFee { free: 0, .. }),
        "{err}"
    );
    let huge_tip = sign(
        &svc,
        &pair("//Alice"),
        transfer(pair("//Bob").public(), 1, true),
        0,
        Era::Immortal,
        u64::MAX,
    );
    assert_eq!(
        invalid(svc.submit(&huge_tip).expect_err("overflow")),
        TxError::FeeOverflow
    );
}

#[test]
fn keep_alive_refuses_and_allow_death_reaps() {
    let svc = service();
    let (alice, charlie) = (pair("//Alice"), pair("//Charlie"));
    let dave = pair("//Dave").public();
    let all = free(&svc, &charlie.public());
    // Charlie tries to send everything but the fee with keep-alive: the call fails, the fee
    // is paid, the nonce is used.
    let probe = sign(
        &svc,
        &charlie,
        transfer(dave, all, true),
        0,
        Era::Immortal,
        0,
    );
    let fee = fee_of(&svc, &probe);
    let xt = sign(
        &svc,
        &charlie,
        transfer(dave, all - fee, true),
        0,
        Era::Immortal,
        0,
    );
    svc.submit(&xt).expect("admitted");
    step(&svc);
    let events = svc.chain().events().expect("events");
    assert!(
        events.iter().any(|r| matches!(
            r.event,
            Event::ExtrinsicFailed {
                error: DispatchError::KeepAlive,
                ..
            }
        )),
        "{events:?}"
    );
    let left = free(&svc, &charlie.public());
    assert_eq!(left, all - fee, "only the fee was paid");
    // With allow-death, sending everything after the fee reaps the account.
    let probe = sign(
        &svc,
        &charlie,
        transfer(dave, left, false),
        1,
        Era::Immortal,
        0,
    );
    let fee = fee_of(&svc, &probe);
    let xt = sign(
        &svc,
        &charlie,
        transfer(dave, left - fee, false),
        1,
        Era::Immortal,
        0,
    );
    assert_eq!(xt.len(), probe.len(), "same encoded size, same fee");
    svc.submit(&xt).expect("admitted");
    step(&svc);
    let gone = svc.chain().account(&charlie.public()).expect("read");
    assert_eq!(
        (gone.providers, gone.nonce, gone.data.free),
        (0, 0, 0),
        "reaped"
    );
    // Creating an account below the existential deposit fails.
    let tiny = sign(
        &svc,
        &alice,
        transfer(pair("//Newcomer").public(), 10, true),
        0,
        Era::Immortal,
        0,
    );
    svc.submit(&tiny).expect("admitted");
    step(&svc);
    let events = svc.chain().events().expect("events");
    assert!(events.iter().any(|r| matches!(
        r.event,
        Event::ExtrinsicFailed {
            error: DispatchError::ExistentialDeposit,
            ..
        }
    )));
}

#[test]
fn mortal_transactions_expire() {
    let svc = service();
    for _ in 0..3 {
        step(&svc);
    }
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let head = u64::from(svc.chain().head().number);
    let xt = sign(
        &svc,
        &alice,
        transfer(bob, 1, true),
        0,
        Era::mortal(4, head),
        0,
    );
    for _ in 0..5 {
        step(&svc);
    }
    let err = invalid(svc.submit(&xt).expect_err("expired"));
    assert!(matches!(err, TxError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    // Pending mortal transactions leave the pool when their era passes.
    let head = u64::from(svc.chain().head().number);
    let pending = sign(
        &svc,
        &alice,
        transfer(bob, 1, true),
        1,
        Era::mortal(4, head),
        0,
    );
    svc.submit(&pending).expect("future nonce admitted");
    for _ in 0..5 {
        step(&svc);
    }
    assert!(svc.pool().is_empty());
}

#[test]
fn blocks_import_on_another_node_and_tampering_is_refused() {
    let author = service();
    let alice = pair("//Alice");
    let bob = pair("//Bob").public();
    let mut blocks = Vec::new();
    for nonce in 0..3 {
        let xt = sign(
            &author,
            &alice,
            transfer(bob, 1000 + u64::from(nonce), true),
            nonce,
            Era::Immortal,
            0,
        );
        author.submit(&xt).expect("admitted");
        let hash = step(&author);
        blocks.push(author.chain().block(&hash).expect("read").expect("stored"));
    }
    let mut follower =
        Chain::open(Arc::new(MemStore::default()), &GenesisConfig::dev()).expect("open");
    let genesis = follower.genesis_hash();

    // Tampered extrinsic: the extrinsics root no longer matches (and the author signed the
    // original hash).
    let mut tampered = blocks[0].clone();
    let last = tampered.block.extrinsics[0].len() - 1;
    tampered.block.extrinsics[0][last] ^= 1;
    let err = follower.import(tampered).expect_err("tampered body");
    assert!(
        matches!(err, ChainError::Block(BlockError::ExtrinsicsRoot { .. })),
        "{err}"
    );

    // An authority that lies about the state root is caught by re-execution.
    let mut lying = blocks[0].clone();
    lying.block.header.state_root = H256([1; 32]);
    let lying = seal(lying, &alice, &genesis);
    let err = follower.import(lying).expect_err("state root");
    assert!(
        matches!(err, ChainError::Block(BlockError::StateRoot { .. })),
        "{err}"
    );

    // A non-authority author, and a certificate without a quorum.
    let mut foreign = blocks[0].clone();
    foreign.block.header.author = pair("//Bob").public();
    let foreign = seal(foreign, &pair("//Bob"), &genesis);
    let err = follower.import(foreign).expect_err("not an authority");
    assert!(
        matches!(err, ChainError::Block(BlockError::NotAnAuthority(_))),
        "{err}"
    );
    let mut unvoted = blocks[0].clone();
    unvoted.certificate = Certificate {
        round: 0,
        votes: vec![],
    };
    let err = follower.import(unvoted).expect_err("no quorum");
    assert!(err.to_string().contains("two thirds"), "{err}");

    for block in &blocks {
        follower.import(block.clone()).expect("imports");
    }
    assert_eq!(follower.head_hash(), author.chain().head_hash());
    assert_eq!(follower.lthash().root(), author.chain().head().state_root);
    assert_eq!(
        follower.account(&bob).expect("read"),
        author.chain().account(&bob).expect("read")
    );
    // A block twice: it no longer builds on the head.
    let err = follower.import(blocks[2].clone()).expect_err("duplicate");
    assert!(
        matches!(err, ChainError::Block(BlockError::WrongParent { .. })),
        "{err}"
    );
}

/// Re-signs a block as `key` (author signature and a one-vote certificate).
fn seal(mut signed: SignedBlock, key: &Pair, genesis: &H256) -> SignedBlock {
    let hash = signed.block.header.hash();
    signed.author_signature = key.sign(hash.as_bytes());
    let vote = vote_message(genesis, signed.block.header.number, 0, &hash);
    signed.certificate = Certificate {
        round: 0,
        votes: vec![Vote {
            authority: key.public(),
            signature: key.sign(&vote),
        }],
    };
    signed
}

#[test]
fn the_sled_chain_survives_restarts_and_refuses_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain");
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    let (head, balance) = {
        let svc = service_on(Arc::new(SledStore::open(&path).expect("open")));
        let xt = sign(
            &svc,
            &alice,
            transfer(bob, 7 * RAO_PER_TAO, true),
            0,
            Era::Immortal,
            0,
        );
        svc.submit(&xt).expect("admitted");
        step(&svc);
        step(&svc);
        (svc.chain().head_hash(), free(&svc, &bob))
    };
    {
        let svc = service_on(Arc::new(SledStore::open(&path).expect("reopen")));
        assert_eq!(svc.chain().head_hash(), head);
        assert_eq!(free(&svc, &bob), balance);
        // Another genesis on the same database is refused.
        let mut other = GenesisConfig::dev();
        other.name = "another chain".into();
        other.params.base_fee += 1;
        let store: Arc<dyn Store> =
            Arc::new(SledStore::open(&dir.path().join("chain-b")).expect("open"));
        Chain::open(store.clone(), &GenesisConfig::dev()).expect("dev chain");
        let err = Chain::open(store, &other).expect_err("other chain");
        assert!(matches!(err, ChainError::OtherChain { .. }), "{err}");
    }
    // A state value changed behind the chain's back is caught at start.
    {
        let store = SledStore::open(&path).expect("reopen");
        let mut key = vec![b's'];
        key.extend(ganglion_kernel::chain::state::keys::total_issuance());
        store.put(&key, &[0; 8]).expect("write");
    }
    let err = Chain::open(
        Arc::new(SledStore::open(&path).expect("reopen")),
        &GenesisConfig::dev(),
    )
    .expect_err("damaged state");
    assert!(matches!(err, ChainError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn a_corrupt_database_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain");
    {
        let svc = service_on(Arc::new(SledStore::open(&path).expect("open")));
        step(&svc);
    }
    // Overwrite every file of the database with garbage.
    for entry in walk(&path) {
        let len = std::fs::metadata(&entry).expect("meta").len() as usize;
        std::fs::write(&entry, vec![0xA5; len.max(64)]).expect("corrupt");
    }
    let result = std::panic::catch_unwind(|| {
        SledStore::open(&path)
            .map_err(ChainError::from)
            .and_then(|s| Chain::open(Arc::new(s), &GenesisConfig::dev()))
            .map(|_| ())
    });
    let outcome = result.expect("no panic");
    let err = outcome.expect_err("corrupt database refused");
    let text = err.to_string();
    assert!(text.contains("database"), "{text}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn transactions_born_before_the_kept_hashes_are_outdated() {
    let svc = service();
    let (alice, bob) = (pair("//Alice"), pair("//Bob").public());
    step(&svc);
    let head = u64::from(svc.chain().head().number);
    // A long era (1024 blocks) born now: still inside its window after 300 blocks, but its
    // birth block's hash is no longer kept (the chain keeps 256).
    let xt = sign(
        &svc,
        &alice,
        transfer(bob, 1, true),
        0,
        Era::mortal(1024, head),
        0,
    );
    for _ in 0..300 {
        step(&svc);
    }
    let err = invalid(svc.submit(&xt).expect_err("outdated"));
    assert_eq!(err, TxError::AncientBirthBlock { birth: head });
    assert!(err.to_string().contains("256"), "{err}");
}

#[test]
fn the_pool_is_bounded() {
    let chain = Chain::open(Arc::new(MemStore::default()), &GenesisConfig::dev()).expect("open");
    let limits = PoolLimits {
        max_count: 2,
        ..PoolLimits::default()
    };
    let svc = ChainService::new(chain, limits, "test".into());
    let bob = pair("//Bob").public();
    for (i, who) in ["//Alice", "//Charlie", "//Dave"].iter().enumerate() {
        let xt = sign(
            &svc,
            &pair(who),
            transfer(bob, 1, true),
            0,
            Era::Immortal,
            0,
        );
        let result = svc.submit(&xt);
        if i < 2 {
            result.expect("room");
        } else {
            let err = result.expect_err("full");
            assert!(matches!(err, PoolError::Full { count: 2, .. }), "{err}");
        }
    }
}
