//! The economy's rules one by one: every refusal (its variant, its message, and that it
//! changed nothing but the signer's fee and nonce), the prices and their decay, proof of work,
//! pruning, delegation, the halving; then a property test over random sequences of calls.

use ganglion_kernel::chain::economy::{
    self, EconomyError, PowState, Text, block_reward, commit_hash, keys, pow_hash_meets, query,
};
use ganglion_kernel::chain::extrinsic::{
    AdminCall, BalancesCall, Call, NeuronsCall, OwnerParam, RootParam, StakingCall, SubnetsCall,
    WeightsCall,
};
use ganglion_kernel::chain::genesis::{Endowment, GenesisConfig, MAX_SUPPLY};
use ganglion_kernel::chain::hashing::{H256, blake2_256};
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::state::{DispatchError, Event, keys as sk};
use ganglion_kernel::chain::units::{Balance, RAO_PER_TAO};
use parity_scale_codec::Encode;
use proptest::prelude::*;

use super::support::{Net, create_subnet, pair, set};

const TAO: Balance = RAO_PER_TAO;

/// The dev genesis, plus a few funded hotkeys (so that their refused calls can pay a fee) and
/// a poor account.
fn genesis() -> GenesisConfig {
    let mut g = GenesisConfig::dev();
    for uri in ["//Bob//validator", "//Charlie//validator", "//Dave//miner0"] {
        g.endowed.push(Endowment {
            account: pair(uri).public(),
            tao: "10".into(),
        });
    }
    g.endowed.push(Endowment {
        account: pair("//Poor").public(),
        tao: "5".into(),
    });
    g
}

/// A chain with one subnet owned by //Alice (the root), owner hotkey //Alice//owner.
struct World {
    net: Net,
    alice: Pair,
    netuid: u16,
}

fn world_with(config: &GenesisConfig) -> World {
    let net = Net::with(config);
    let alice = pair("//Alice");
    let netuid = create_subnet(&net, &alice, pair("//Alice//owner").public());
    World { net, alice, netuid }
}

fn world() -> World {
    world_with(&genesis())
}

/// Asserts that the refusal's message (as the chain reports it) contains every word.
fn says(e: &EconomyError, words: &[&str]) {
    let msg = e.to_string();
    assert_eq!(DispatchError::Economy(*e).to_string(), msg);
    for w in words {
        assert!(msg.contains(w), "{msg:?} does not say {w:?}");
    }
}

fn create(hotkey: AccountId, name: &[u8]) -> Call {
    Call::Subnets(SubnetsCall::Create {
        hotkey,
        name: name.to_vec(),
    })
}

fn hyper(netuid: u16, param: OwnerParam) -> Call {
    Call::Subnets(SubnetsCall::SetHyperparameter { netuid, param })
}

fn admin(param: RootParam) -> Call {
    Call::Admin(AdminCall::Set { param })
}

fn register(netuid: u16, hotkey: AccountId) -> Call {
    Call::Neurons(NeuronsCall::Register { netuid, hotkey })
}

fn register_pow(netuid: u16, hotkey: AccountId, block_number: u32, nonce: u64) -> Call {
    Call::Neurons(NeuronsCall::RegisterPow {
        netuid,
        hotkey,
        block_number,
        nonce,
    })
}

fn serve(netuid: u16, peer_id: Vec<u8>, multiaddr: Vec<u8>) -> Call {
    Call::Neurons(NeuronsCall::Serve {
        netuid,
        peer_id,
        multiaddr,
        protocol: 1,
    })
}

fn add_stake(hotkey: AccountId, amount: Balance) -> Call {
    Call::Staking(StakingCall::Add { hotkey, amount })
}

fn remove_stake(hotkey: AccountId, amount: Balance) -> Call {
    Call::Staking(StakingCall::Remove { hotkey, amount })
}

fn set_take(hotkey: AccountId, take: u16) -> Call {
    Call::Staking(StakingCall::SetTake { hotkey, take })
}

fn weights(netuid: u16, uids: &[u16], values: &[u16]) -> Call {
    weights_v(netuid, uids, values, 0)
}

fn weights_v(netuid: u16, uids: &[u16], values: &[u16], version_key: u64) -> Call {
    Call::Weights(WeightsCall::Set {
        netuid,
        uids: uids.to_vec(),
        values: values.to_vec(),
        version_key,
    })
}

fn commit(netuid: u16, hash: H256) -> Call {
    Call::Weights(WeightsCall::Commit { netuid, hash })
}

fn reveal(netuid: u16, uids: &[u16], values: &[u16], salt: &[u16]) -> Call {
    Call::Weights(WeightsCall::Reveal {
        netuid,
        uids: uids.to_vec(),
        values: values.to_vec(),
        salt: salt.to_vec(),
        version_key: 0,
    })
}

fn out_of_bounds(name: &str, value: u64, min: u64, max: u64) -> EconomyError {
    EconomyError::OutOfBounds {
        name: Text::of(name),
        value,
        min,
        max,
    }
}

/// The seal a proof-of-work registration brings (see `docs/economics.md`).
fn seal(block_hash: &H256, hotkey: &AccountId, nonce: u64) -> [u8; 32] {
    blake2_256(&(block_hash, hotkey, nonce).encode())
}

// ---------------------------------------------------------------------------------------------
// Subnets and admin
// ---------------------------------------------------------------------------------------------

#[test]
fn create_refusals() {
    let w = world();
    let (net, alice) = (&w.net, &w.alice);
    let bob = pair("//Bob");
    let hot = pair("//Bob//subnet").public();
    for name in [Vec::new(), vec![b'a'; 65], vec![0xff, 0xfe, 0xfd]] {
        let e = net.refused(&bob, create(hot, &name));
        assert_eq!(e, EconomyError::BadName, "{name:?}");
        says(&e, &["name", "1 to 64 bytes", "UTF-8"]);
    }

    let taken = pair("//Alice//owner").public();
    let e = net.refused(&bob, create(taken, b"mine"));
    assert_eq!(
        e,
        EconomyError::HotkeyNotYours {
            hotkey: taken,
            owner: alice.public()
        }
    );
    says(
        &e,
        &[
            &taken.to_string(),
            &alice.public().to_string(),
            "belongs to",
        ],
    );

    let poor = pair("//Poor");
    let cost = query::lock_cost(&net.svc.chain().state(), net.head() + 1).expect("cost");
    let before = net.free(&poor.public());
    assert!(cost > before);
    let (e, fee) = net.refused_with_fee(&poor, create(poor.public(), b"poor"));
    assert_eq!(
        e,
        EconomyError::CannotAffordLock {
            cost,
            free: before - fee
        }
    );
    says(&e, &[&cost.to_string(), "locks", "can spend"]);

    net.ok(alice, admin(RootParam::SubnetLimit(1)));
    let e = net.refused(&bob, create(hot, b"two"));
    assert_eq!(e, EconomyError::SubnetLimit(1));
    says(&e, &["limit of 1 subnets"]);
    let e = net.refused(alice, admin(RootParam::SubnetLimit(0)));
    assert_eq!(e, out_of_bounds("subnet_limit", 0, 1, 1024));
    says(&e, &["subnet_limit = 0", "out of bounds", "1..=1024"]);
    let e = net.refused(alice, admin(RootParam::SubnetLimit(1025)));
    assert_eq!(e, out_of_bounds("subnet_limit", 1025, 1, 1024));

    // None of the refusals left a trace: Bob creates his subnet, with a 64-byte name.
    net.ok(alice, admin(RootParam::SubnetLimit(2)));
    net.ok(&bob, create(hot, &[b'a'; 64]));
    assert_eq!(
        query::netuids(&net.svc.chain().state()).expect("netuids"),
        vec![w.netuid, w.netuid + 1]
    );
    net.check_invariants();
}

#[test]
fn lock_cost_doubles_after_a_creation_and_decays() {
    let w = world();
    let net = &w.net;
    let state_cost = |block: u32| query::lock_cost(&net.svc.chain().state(), block).expect("cost");
    let info = query::subnet(&net.svc.chain().state(), w.netuid)
        .expect("read")
        .expect("subnet");
    let (c, first) = (info.created_at, info.locked);
    assert_eq!(first, 10 * TAO, "the first subnet pays the floor");
    let interval = economy::EconomyParams::default().lock_reduction_interval;
    assert_eq!(state_cost(c), 2 * first, "doubled right after the creation");
    assert_eq!(state_cost(c + interval / 2), 2 * first - first / 2);
    assert_eq!(state_cost(c + interval), first, "back to the floor");
    assert_eq!(state_cost(c + 3 * interval), first, "never below the floor");

    let bob = pair("//Bob");
    let at = net.head() + 1;
    let expected = 2 * first - first * u64::from(at - c) / u64::from(interval);
    assert_eq!(state_cost(at), expected);
    let before = net.free(&bob.public());
    net.ok(&bob, create(pair("//Bob//subnet").public(), b"second"));
    let events = net.events();
    let locked = events
        .iter()
        .find_map(|r| match r.event {
            Event::SubnetCreated { locked, .. } => Some(locked),
            _ => None,
        })
        .expect("created");
    let fee = events
        .iter()
        .find_map(|r| match r.event {
            Event::ExtrinsicSuccess { fee } => Some(fee),
            _ => None,
        })
        .expect("fee");
    assert_eq!(locked, expected);
    assert_eq!(net.free(&bob.public()), before - expected - fee);
    assert_eq!(state_cost(at), 2 * expected, "doubles again");
    assert_eq!(net.totals().locked, first + expected);
    net.check_invariants();
}

#[test]
fn hyperparameter_refusals() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let defaults = query::params(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("params");
    let cases = [
        (OwnerParam::Tempo(0), out_of_bounds("tempo", 0, 1, 10_000)),
        (
            OwnerParam::Tempo(10_001),
            out_of_bounds("tempo", 10_001, 1, 10_000),
        ),
        (
            OwnerParam::BondsMovingAverage(975_001),
            out_of_bounds("bonds_moving_average", 975_001, 0, 975_000),
        ),
        (
            OwnerParam::MaxUids(4097),
            out_of_bounds("max_uids", 4097, 2, 4096),
        ),
        (
            OwnerParam::MaxUids(1),
            out_of_bounds("max_uids", 1, 2, 4096),
        ),
        (
            OwnerParam::MinAllowedWeights(257),
            out_of_bounds("min_allowed_weights", 257, 0, 256),
        ),
        (
            OwnerParam::MaxWeightLimit(0),
            out_of_bounds("max_weight_limit", 0, 1, 65_535),
        ),
        (
            OwnerParam::WeightsRateLimit(100_001),
            out_of_bounds("weights_rate_limit", 100_001, 0, 100_000),
        ),
        (
            OwnerParam::ActivityCutoffFactorMilli(999),
            out_of_bounds("activity_cutoff_factor_milli", 999, 1_000, 50_000),
        ),
        (
            OwnerParam::ActivityCutoffFactorMilli(50_001),
            out_of_bounds("activity_cutoff_factor_milli", 50_001, 1_000, 50_000),
        ),
        (
            OwnerParam::MinBurn(100 * TAO + 1),
            out_of_bounds("min_burn", 100 * TAO + 1, 0, 100 * TAO),
        ),
        (
            OwnerParam::MaxBurn(499_999),
            out_of_bounds("max_burn", 499_999, 500_000, 1_000_000 * TAO),
        ),
        (
            OwnerParam::MaxBurn(1_000_000 * TAO + 1),
            out_of_bounds("max_burn", 1_000_000 * TAO + 1, 500_000, 1_000_000 * TAO),
        ),
        (
            OwnerParam::BurnHalfLife(0),
            out_of_bounds("burn_half_life", 0, 1, 65_535),
        ),
        (
            OwnerParam::BurnIncreaseMultMilli(999),
            out_of_bounds("burn_increase_mult_milli", 999, 1_000, 10_000),
        ),
        (
            OwnerParam::BurnIncreaseMultMilli(10_001),
            out_of_bounds("burn_increase_mult_milli", 10_001, 1_000, 10_000),
        ),
        (
            OwnerParam::RevealPeriodEpochs(0),
            out_of_bounds("reveal_period_epochs", 0, 1, 100),
        ),
        (
            OwnerParam::RevealPeriodEpochs(101),
            out_of_bounds("reveal_period_epochs", 101, 1, 100),
        ),
        (
            OwnerParam::AlphaValues(1637, 60_000),
            out_of_bounds("alpha_low", 1637, 1638, 65_535),
        ),
        (
            OwnerParam::AlphaValues(50_000, 40_000),
            out_of_bounds("alpha_high", 40_000, 50_000, 65_535),
        ),
        (
            OwnerParam::AlphaSigmoidSteepness(i16::MIN),
            out_of_bounds("alpha_sigmoid_steepness", 32_768, 0, 32_767),
        ),
        (
            OwnerParam::TargetRegistrationsPerInterval(0),
            out_of_bounds("target_registrations_per_interval", 0, 1, 1_000),
        ),
        (
            OwnerParam::TargetRegistrationsPerInterval(1_001),
            out_of_bounds("target_registrations_per_interval", 1_001, 1, 1_000),
        ),
    ];
    for (param, expected) in cases {
        let e = net.refused(alice, hyper(netuid, param));
        assert_eq!(e, expected, "{param:?}");
        let EconomyError::OutOfBounds {
            name,
            value,
            min,
            max,
        } = expected
        else {
            unreachable!()
        };
        says(
            &e,
            &[
                &format!("{name} = {value}"),
                "out of bounds",
                &format!("{min}..={max}"),
            ],
        );
    }

    let e = net.refused(alice, hyper(netuid, OwnerParam::AlphaSigmoidSteepness(-1)));
    assert_eq!(
        e,
        EconomyError::Inconsistent(Text::of("alpha_sigmoid_steepness must not be negative"))
    );
    says(&e, &["alpha_sigmoid_steepness", "must not be negative"]);

    let bob = pair("//Bob");
    let e = net.refused(&bob, hyper(netuid, OwnerParam::Tempo(10)));
    assert_eq!(e, EconomyError::NotOwner(netuid));
    says(&e, &[&format!("only the owner of subnet {netuid}")]);
    let e = net.refused(alice, hyper(99, OwnerParam::Tempo(10)));
    assert_eq!(e, EconomyError::NoSuchSubnet(99));
    says(&e, &["subnet 99 does not exist"]);

    // max_uids cannot go below the number of UIDs (4 here) ...
    let dave = pair("//Dave");
    for i in 0..3 {
        net.ok(
            &dave,
            register(netuid, pair(&format!("//Dave//miner{i}")).public()),
        );
    }
    let e = net.refused(alice, hyper(netuid, OwnerParam::MaxUids(3)));
    assert_eq!(e, out_of_bounds("max_uids", 3, 4, 4096));
    says(&e, &["max_uids = 3", "4..=4096"]);
    // ... nor below min_allowed_weights.
    set(net, alice, netuid, OwnerParam::MinAllowedWeights(10));
    let e = net.refused(alice, hyper(netuid, OwnerParam::MaxUids(5)));
    assert_eq!(
        e,
        EconomyError::Inconsistent(Text::of("max_uids cannot be below min_allowed_weights"))
    );
    says(&e, &["max_uids", "min_allowed_weights"]);

    // The bounds themselves are accepted.
    for param in [
        OwnerParam::Tempo(1),
        OwnerParam::Tempo(10_000),
        OwnerParam::BondsMovingAverage(975_000),
        OwnerParam::MaxUids(4096),
        OwnerParam::AlphaValues(1638, 1638),
        OwnerParam::AlphaSigmoidSteepness(i16::MAX),
    ] {
        set(net, alice, netuid, param);
    }
    let after = query::params(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("params");
    let mut expected = defaults;
    expected.min_allowed_weights = 10;
    expected.tempo = 10_000;
    expected.bonds_moving_average = 975_000;
    expected.max_uids = 4096;
    expected.alpha_low = 1638;
    expected.alpha_high = 1638;
    expected.alpha_sigmoid_steepness = i16::MAX;
    assert_eq!(after, expected, "only the accepted settings changed");
    net.check_invariants();
}

#[test]
fn bundle_refusals() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let hash = [7u8; 32];
    let bundle = |activation_block| {
        Call::Subnets(SubnetsCall::SetBundle {
            netuid,
            hash,
            activation_block,
        })
    };
    for back in [0, 1, u32::MAX] {
        let now = net.head() + 1;
        let block = now.saturating_sub(back);
        let e = net.refused(alice, bundle(block));
        assert_eq!(e, EconomyError::ActivationInPast { block, now });
        says(
            &e,
            &[&format!("block {block} is not after"), &now.to_string()],
        );
    }
    let e = net.refused(&pair("//Bob"), bundle(net.head() + 10));
    assert_eq!(e, EconomyError::NotOwner(netuid));
    says(&e, &["only the owner"]);
    let e = net.refused(
        alice,
        Call::Subnets(SubnetsCall::SetBundle {
            netuid: 99,
            hash,
            activation_block: net.head() + 10,
        }),
    );
    assert_eq!(e, EconomyError::NoSuchSubnet(99));

    // Accepted: the next block; the one in force becomes the previous one.
    let first = net.head() + 2;
    net.ok(alice, bundle(first));
    let info = query::subnet(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("subnet");
    assert_eq!(info.bundle.map(|b| b.activation_block), Some(first));
    assert_eq!(info.previous_bundle, None);
    net.step();
    net.ok(
        alice,
        Call::Subnets(SubnetsCall::SetBundle {
            netuid,
            hash: [8; 32],
            activation_block: net.head() + 5,
        }),
    );
    let info = query::subnet(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("subnet");
    assert_eq!(info.bundle.map(|b| b.hash), Some([8; 32]));
    assert_eq!(info.previous_bundle.map(|b| b.hash), Some(hash));
}

#[test]
fn admin_refusals() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let bob = pair("//Bob");
    for param in [
        RootParam::OwnerCut(0),
        RootParam::SubnetLimit(10),
        RootParam::MinLockCost(TAO),
        RootParam::Kappa { netuid, value: 1 },
    ] {
        let e = net.refused(&bob, admin(param));
        assert_eq!(e, EconomyError::NotRoot);
        says(&e, &["root"]);
    }
    let e = net.refused(
        alice,
        admin(RootParam::Kappa {
            netuid: 99,
            value: 1,
        }),
    );
    assert_eq!(e, EconomyError::NoSuchSubnet(99));
    let e = net.refused(
        alice,
        admin(RootParam::MaxValidators {
            netuid: 99,
            value: 1,
        }),
    );
    assert_eq!(e, EconomyError::NoSuchSubnet(99));
    for value in [0, 4097] {
        let e = net.refused(alice, admin(RootParam::MaxValidators { netuid, value }));
        assert_eq!(
            e,
            out_of_bounds("max_validators", value.into(), 1, 4096),
            "{value}"
        );
    }
    let e = net.refused(alice, admin(RootParam::MinLockCost(MAX_SUPPLY + 1)));
    assert_eq!(
        e,
        out_of_bounds("min_lock_cost", MAX_SUPPLY + 1, 0, MAX_SUPPLY)
    );
    says(&e, &["min_lock_cost", "out of bounds"]);

    // Root's settings land.
    net.ok(alice, admin(RootParam::Kappa { netuid, value: 1 }));
    net.ok(alice, admin(RootParam::MaxValidators { netuid, value: 3 }));
    net.ok(alice, admin(RootParam::OwnerCut(0)));
    let p = query::params(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("params");
    assert_eq!((p.kappa, p.max_validators), (1, 3));
    assert_eq!(
        query::economy(&net.svc.chain().state())
            .expect("read")
            .owner_cut,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Neurons
// ---------------------------------------------------------------------------------------------

#[test]
fn register_refusals() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let (bob, charlie) = (pair("//Bob"), pair("//Charlie"));
    let validator = pair("//Bob//validator").public();
    net.ok(&bob, register(netuid, validator));
    let e = net.refused(&bob, register(netuid, validator));
    assert_eq!(
        e,
        EconomyError::AlreadyRegistered {
            netuid,
            hotkey: validator,
            uid: 1
        }
    );
    says(&e, &[&validator.to_string(), "already registered", "uid 1"]);
    // The same refusal by another coldkey: the UID check comes first.
    assert!(matches!(
        net.refused(&charlie, register(netuid, validator)),
        EconomyError::AlreadyRegistered { .. }
    ));

    let second = create_subnet(net, alice, pair("//Alice//owner2").public());
    let e = net.refused(&charlie, register(second, validator));
    assert_eq!(
        e,
        EconomyError::HotkeyNotYours {
            hotkey: validator,
            owner: bob.public()
        }
    );
    says(&e, &[&validator.to_string(), &bob.public().to_string()]);

    set(net, alice, netuid, OwnerParam::MinBurn(50 * TAO));
    let price = query::burn(&net.svc.chain().state(), netuid, net.head() + 1)
        .expect("read")
        .expect("subnet");
    assert_eq!(price, 50 * TAO, "the floor applies at once");
    let poor = pair("//Poor");
    let before = net.free(&poor.public());
    let (e, fee) = net.refused_with_fee(&poor, register(netuid, pair("//Poor//hot").public()));
    assert_eq!(
        e,
        EconomyError::CannotAffordRegistration {
            netuid,
            price,
            free: before - fee
        }
    );
    says(&e, &["costs 50000000000 rao", "can spend"]);

    let e = net.refused(&bob, register(99, pair("//Bob//other").public()));
    assert_eq!(e, EconomyError::NoSuchSubnet(99));
    says(&e, &["subnet 99"]);
    net.check_invariants();
}

#[test]
fn register_pow_refusals() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let bob = pair("//Bob");
    let hotkey = pair("//Bob//pow").public();
    let e = net.refused(&bob, register_pow(netuid, hotkey, net.head(), 0));
    assert_eq!(e, EconomyError::PowDisabled(netuid));
    says(&e, &[&format!("subnet {netuid}"), "proof-of-work"]);

    set(net, alice, netuid, OwnerParam::PowRegistration(true));
    // The work must name one of the 3 blocks before the one being built: not that block, not
    // a later one, not an older one.
    for back in [0, 4, u32::MAX] {
        let now = net.head() + 1;
        let named = now.saturating_sub(back);
        let e = net.refused(&bob, register_pow(netuid, hotkey, named, 0));
        assert_eq!(e, EconomyError::PowStaleBlock { block: named, now });
        says(&e, &[&format!("block {named}"), "last 3 blocks"]);
    }
    let now = net.head() + 1;
    let e = net.refused(&bob, register_pow(netuid, hotkey, now + 5, 0));
    assert_eq!(
        e,
        EconomyError::PowStaleBlock {
            block: now + 5,
            now
        }
    );

    // A nonce whose seal fails the (high, default) difficulty.
    let head = net.head();
    let hash = net.svc.chain().head_hash();
    let difficulty = net
        .get::<PowState>(&keys::pow(netuid))
        .expect("pow state")
        .difficulty;
    assert_eq!(difficulty, 10_000_000);
    let nonce = (0u64..)
        .find(|n| !pow_hash_meets(&seal(&hash, &hotkey, *n), difficulty))
        .expect("a failing nonce");
    let e = net.refused(&bob, register_pow(netuid, hotkey, head, nonce));
    assert_eq!(e, EconomyError::PowTooEasy { netuid, difficulty });
    says(&e, &["does not meet", &difficulty.to_string()]);

    // An already registered hotkey is refused before the work is even checked.
    net.ok(&bob, register(netuid, hotkey));
    let e = net.refused(&bob, register_pow(netuid, hotkey, net.head(), 0));
    assert!(matches!(e, EconomyError::AlreadyRegistered { uid: 1, .. }));
    let e = net.refused(&bob, register_pow(99, hotkey, net.head(), 0));
    assert_eq!(e, EconomyError::NoSuchSubnet(99));
}

#[test]
fn pow_registration_succeeds_and_difficulty_adjusts() {
    let mut g = genesis();
    g.economy.initial_difficulty = 64;
    g.economy.adjustment_interval = 10;
    let w = world_with(&g);
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let created = query::subnet(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("subnet")
        .created_at;
    let pow = |net: &Net| net.get::<PowState>(&keys::pow(netuid)).expect("pow state");
    assert_eq!(
        pow(net),
        PowState {
            difficulty: 64,
            registrations: 0,
            last_adjustment: created
        }
    );
    set(net, alice, netuid, OwnerParam::PowRegistration(true));

    let eve = pair("//Eve");
    let solve = |hotkey: AccountId, block: u32| {
        let hash = net
            .svc
            .chain()
            .block_hash(block)
            .expect("read")
            .expect("kept");
        let nonce = (0u64..)
            .find(|n| pow_hash_meets(&seal(&hash, &hotkey, *n), 64))
            .expect("a nonce");
        register_pow(netuid, hotkey, block, nonce)
    };
    let first = pair("//Eve//pow0").public();
    let call = solve(first, net.head());
    let before = net.free(&eve.public());
    net.ok(&eve, call);
    let events = net.events();
    let (burned, fee) = (
        events
            .iter()
            .find_map(|r| match r.event {
                Event::NeuronRegistered { burned, uid, .. } => Some((burned, uid)),
                _ => None,
            })
            .expect("registered"),
        events
            .iter()
            .find_map(|r| match r.event {
                Event::ExtrinsicSuccess { fee } => Some(fee),
                _ => None,
            })
            .expect("fee"),
    );
    assert_eq!(burned, (0, 1), "proof of work burns nothing");
    assert_eq!(net.free(&eve.public()), before - fee);
    assert_eq!(
        query::owner(&net.svc.chain().state(), &first).expect("read"),
        Some(eve.public())
    );
    // Work on a block two behind the head (three behind the block being built) is accepted.
    net.step();
    let second = pair("//Eve//pow1").public();
    let call = solve(second, net.head() - 2);
    net.ok(&eve, call);
    assert_eq!(net.metagraph(netuid).neurons[2].hotkey, second);

    // Two burned registrations: four in this interval.
    for i in 0..2 {
        net.ok(
            &eve,
            register(netuid, pair(&format!("//Eve//burn{i}")).public()),
        );
    }
    assert!(net.head() < created + 10);
    assert_eq!(pow(net).registrations, 4);
    net.step_to(created + 9);
    assert_eq!(pow(net).difficulty, 64, "not adjusted before the interval");
    net.step();
    assert_eq!(
        pow(net),
        PowState {
            difficulty: 64 * (4 + 2) / (2 * 2),
            registrations: 0,
            last_adjustment: created + 10
        },
        "above the target: harder"
    );
    net.step_to(created + 20);
    assert_eq!(
        pow(net).difficulty,
        96 / 2,
        "no registrations: half as hard"
    );
    net.check_invariants();
}

#[test]
fn serve_refusals() {
    let w = world();
    let (net, netuid) = (&w.net, w.netuid);
    let outsider = pair("//Charlie//validator");
    let e = net.refused(
        &outsider,
        serve(netuid, b"peer".to_vec(), b"/ip4/1.2.3.4".to_vec()),
    );
    assert_eq!(
        e,
        EconomyError::NotRegistered {
            netuid,
            hotkey: outsider.public()
        }
    );
    says(&e, &["not registered on subnet", "register it first"]);
    let e = net.refused(
        &outsider,
        serve(99, b"peer".to_vec(), b"/ip4/1.2.3.4".to_vec()),
    );
    assert_eq!(e, EconomyError::NoSuchSubnet(99));

    let validator = pair("//Bob//validator");
    net.ok(&pair("//Bob"), register(netuid, validator.public()));
    let e = net.refused(
        &validator,
        serve(netuid, vec![1; 257], b"/ip4/1.2.3.4".to_vec()),
    );
    assert_eq!(e, EconomyError::TooLong(Text::of("peer id")));
    says(&e, &["peer id is too long", "256 bytes"]);
    let e = net.refused(&validator, serve(netuid, vec![1; 8], vec![b'a'; 257]));
    assert_eq!(e, EconomyError::TooLong(Text::of("multiaddr")));
    says(&e, &["multiaddr is too long"]);

    net.ok(&validator, serve(netuid, vec![1; 256], vec![b'a'; 256]));
    let axon = net.metagraph(netuid).neurons[1]
        .axon
        .clone()
        .expect("served");
    assert_eq!((axon.peer_id.len(), axon.multiaddr.len()), (256, 256));
}

// ---------------------------------------------------------------------------------------------
// Staking
// ---------------------------------------------------------------------------------------------

#[test]
fn staking_refusals() {
    let w = world();
    let (net, netuid) = (&w.net, w.netuid);
    let (bob, charlie) = (pair("//Bob"), pair("//Charlie"));
    let validator = pair("//Bob//validator").public();
    net.ok(&bob, register(netuid, validator));
    for call in [add_stake(validator, 0), remove_stake(validator, 0)] {
        let e = net.refused(&bob, call);
        assert_eq!(e, EconomyError::ZeroAmount);
        says(&e, &["more than 0"]);
    }
    let unknown = pair("//Nobody").public();
    let e = net.refused(&bob, add_stake(unknown, TAO));
    assert_eq!(e, EconomyError::UnknownHotkey(unknown));
    says(&e, &[&unknown.to_string(), "not registered on any subnet"]);

    net.ok(&bob, add_stake(validator, 10 * TAO));
    let e = net.refused(&bob, remove_stake(validator, 10 * TAO + 1));
    assert_eq!(
        e,
        EconomyError::NotEnoughStake {
            staked: 10 * TAO,
            needed: 10 * TAO + 1
        }
    );
    says(&e, &["10000000000 rao staked", "10000000001 rao asked"]);
    let e = net.refused(&charlie, remove_stake(validator, 1));
    assert_eq!(
        e,
        EconomyError::NotEnoughStake {
            staked: 0,
            needed: 1
        }
    );

    let e = net.refused(&bob, set_take(validator, 11_797));
    assert_eq!(e, EconomyError::TakeTooHigh(11_797));
    says(&e, &["11797", "above the maximum"]);
    let e = net.refused(&charlie, set_take(validator, 100));
    assert_eq!(
        e,
        EconomyError::HotkeyNotYours {
            hotkey: validator,
            owner: bob.public()
        }
    );
    let e = net.refused(&bob, set_take(unknown, 100));
    assert_eq!(e, EconomyError::UnknownHotkey(unknown));

    // Not the economy's rules, but refused all the same, and without a trace.
    let poor = pair("//Poor");
    let bytes = net.sign(&poor, add_stake(validator, 100 * TAO));
    let (alone, _) = net.outcome_alone(&bytes);
    assert!(
        matches!(alone, Err(DispatchError::InsufficientBalance { .. })),
        "{alone:?}"
    );
    assert_eq!(net.include(&bytes), alone);
    // All but 100 rao after the fee (the amount's encoding has the same length either way).
    let free = net.free(&poor.public());
    let len = net.sign(&poor, add_stake(validator, free)).len();
    let fee = net
        .svc
        .chain()
        .params()
        .expect("params")
        .fee(len, 0)
        .expect("fee");
    let bytes = net.sign(&poor, add_stake(validator, free - fee - 100));
    assert_eq!(bytes.len(), len);
    let (alone, _) = net.outcome_alone(&bytes);
    assert_eq!(alone, Err(DispatchError::KeepAlive));
    net.include(&bytes).expect_err("keep alive");

    net.ok(&bob, set_take(validator, 11_796));
    net.ok(&bob, set_take(validator, 0));
    assert_eq!(
        query::stake(&net.svc.chain().state(), &validator, &bob.public()).expect("read"),
        10 * TAO
    );
    net.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------------------------

/// [`world`] at tempo 10 without a rate limit: UID 1 is //Bob//validator with 1,000 TAO staked
/// and a permit (after one epoch), UIDs 2 to 4 are //Dave's miners.
fn validator_world() -> (World, Pair, Vec<Pair>) {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    set(net, alice, netuid, OwnerParam::Tempo(10));
    set(net, alice, netuid, OwnerParam::WeightsRateLimit(0));
    let validator = pair("//Bob//validator");
    let miners: Vec<Pair> = (0..3).map(|i| pair(&format!("//Dave//miner{i}"))).collect();
    net.ok(&pair("//Bob"), register(netuid, validator.public()));
    for m in &miners {
        net.ok(&pair("//Dave"), register(netuid, m.public()));
    }
    net.ok(&pair("//Bob"), add_stake(validator.public(), 1000 * TAO));
    net.next_epoch(netuid, 10);
    let mg = net.metagraph(netuid);
    assert!(
        mg.neurons[1].validator_permit,
        "the validator holds a permit"
    );
    assert!(!mg.neurons[2].validator_permit, "miners hold none");
    (w, validator, miners)
}

#[test]
fn weights_refusals() {
    let (w, validator, miners) = validator_world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);

    let outsider = pair("//Charlie//validator");
    let e = net.refused(&outsider, weights(netuid, &[2], &[1]));
    assert_eq!(
        e,
        EconomyError::NotRegistered {
            netuid,
            hotkey: outsider.public()
        }
    );
    says(&e, &["not registered on subnet"]);
    let e = net.refused(&outsider, weights(99, &[2], &[1]));
    assert_eq!(e, EconomyError::NoSuchSubnet(99));

    let e = net.refused(&validator, weights(netuid, &[2, 3], &[1]));
    assert_eq!(e, EconomyError::LengthMismatch { uids: 2, values: 1 });
    says(&e, &["2 uids but 1 weight values"]);
    let e = net.refused(&validator, weights(netuid, &[2, 2], &[1, 1]));
    assert_eq!(e, EconomyError::DuplicateUid(2));
    says(&e, &["uid 2 appears more than once"]);
    let e = net.refused(&validator, weights(netuid, &[2, 9], &[1, 1]));
    assert_eq!(e, EconomyError::UidOutOfRange { uid: 9, n: 5 });
    says(&e, &["uid 9 does not exist", "5 uids"]);

    let e = net.refused(&miners[0], weights(netuid, &[3], &[1]));
    assert_eq!(e, EconomyError::NoPermit(2));
    says(&e, &["uid 2 has no validator permit"]);
    // A self-weight needs no permit.
    net.ok(&miners[0], weights(netuid, &[2], &[1]));

    set(net, alice, netuid, OwnerParam::MinAllowedWeights(3));
    let e = net.refused(&validator, weights(netuid, &[2, 3], &[1, 1]));
    assert_eq!(e, EconomyError::TooFewWeights { given: 2, min: 3 });
    says(&e, &["2 weights given", "at least 3"]);
    set(net, alice, netuid, OwnerParam::MinAllowedWeights(1));

    set(net, alice, netuid, OwnerParam::MaxWeightLimit(40_000));
    let e = net.refused(&validator, weights(netuid, &[2, 3], &[60_000, 1_000]));
    let value = (60_000u64 * 65_535 / 61_000) as u16;
    assert_eq!(
        e,
        EconomyError::WeightAboveLimit {
            value,
            limit: 40_000
        }
    );
    says(&e, &[&value.to_string(), "limit 40000"]);
    net.ok(&validator, weights(netuid, &[2, 3], &[30_000, 30_000]));
    set(net, alice, netuid, OwnerParam::MaxWeightLimit(u16::MAX));

    let e = net.refused(&validator, weights(netuid, &[2, 3], &[0, 0]));
    assert_eq!(e, EconomyError::AllZero);
    says(&e, &["all weights are zero"]);

    set(net, alice, netuid, OwnerParam::WeightsVersionKey(5));
    let e = net.refused(&validator, weights_v(netuid, &[2, 3], &[1, 2], 4));
    assert_eq!(
        e,
        EconomyError::OldVersionKey {
            given: 4,
            required: 5
        }
    );
    says(&e, &["version key 4", "5"]);
    net.ok(&validator, weights_v(netuid, &[2, 3], &[1, 2], 5));
    set(net, alice, netuid, OwnerParam::WeightsVersionKey(0));

    // The rate limit: one setting every 10 blocks.
    set(net, alice, netuid, OwnerParam::WeightsRateLimit(10));
    net.step_to(net.head() + 10);
    let last = net.head() + 1;
    net.ok(&validator, weights(netuid, &[2, 3], &[1, 2]));
    net.step_to(last + 8);
    let e = net.refused(&validator, weights(netuid, &[2, 3], &[1, 2]));
    assert_eq!(
        e,
        EconomyError::RateLimited {
            last: last.into(),
            limit: 10,
            next: (last + 10).into()
        }
    );
    says(&e, &[&format!("block {last}"), "every 10 blocks"]);
    assert_eq!(net.head(), last + 9);
    net.ok(&validator, weights(netuid, &[2, 3], &[1, 2]));
    let mg = net.metagraph(netuid);
    assert_eq!(mg.neurons[1].weights, vec![(2, 32_768), (3, 65_535)]);
    assert_eq!(mg.neurons[1].last_update, u64::from(last + 10));

    set(net, alice, netuid, OwnerParam::CommitReveal(true));
    let e = net.refused(&validator, weights(netuid, &[2, 3], &[1, 2]));
    assert_eq!(e, EconomyError::UseCommitReveal(netuid));
    says(&e, &["uses commit-reveal", "commit"]);
    net.check_invariants();
}

#[test]
fn commit_reveal_refusals() {
    let (w, validator, _) = validator_world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    let v = validator.public();
    let (uids, values) = ([2u16, 3], [1u16, 2]);
    let hash = |salt: u16| commit_hash(&v, netuid, &uids, &values, &[salt], 0);

    let e = net.refused(&validator, commit(netuid, hash(0)));
    assert_eq!(e, EconomyError::CommitRevealOff(netuid));
    says(&e, &["does not use commit-reveal", "set weights directly"]);
    let e = net.refused(&validator, reveal(netuid, &uids, &values, &[0]));
    assert_eq!(e, EconomyError::CommitRevealOff(netuid));

    set(net, alice, netuid, OwnerParam::CommitReveal(true));
    let e = net.refused(&pair("//Charlie//validator"), commit(netuid, hash(0)));
    assert!(matches!(e, EconomyError::NotRegistered { .. }));

    // Ten commits in one block, right after an epoch; the eleventh is refused.
    net.next_epoch(netuid, 10);
    let epoch: u64 = net.get(&keys::epoch_index(netuid)).expect("epoch index");
    let calls = (0..10).map(|salt| commit(netuid, hash(salt))).collect();
    let txs = net.sign_many(&validator, calls);
    assert!(net.include_all(&txs).iter().all(Result::is_ok));
    let committed = net.head();
    let e = net.refused(&validator, commit(netuid, hash(10)));
    assert_eq!(e, EconomyError::TooManyCommits);
    says(&e, &["10 unrevealed commits"]);

    let e = net.refused(&validator, reveal(netuid, &uids, &values, &[99]));
    assert_eq!(e, EconomyError::NoMatchingCommit);
    says(&e, &["no pending commit matches"]);
    let e = net.refused(&validator, reveal(netuid, &uids, &[2, 1], &[0]));
    assert_eq!(e, EconomyError::NoMatchingCommit, "other values");
    let e = net.refused(&validator, reveal(netuid, &uids, &values, &[0]));
    assert_eq!(
        e,
        EconomyError::RevealTooEarly {
            reveal_epoch: epoch + 1,
            epoch
        }
    );
    says(
        &e,
        &[
            &format!("revealed in epoch {}", epoch + 1),
            &format!("epoch {epoch}"),
        ],
    );

    // In the reveal epoch the reveal lands, dated at the commit.
    net.next_epoch(netuid, 10);
    net.ok(&validator, reveal(netuid, &uids, &values, &[0]));
    let mg = net.metagraph(netuid);
    assert_eq!(mg.neurons[1].weights, vec![(2, 32_768), (3, 65_535)]);
    assert_eq!(mg.neurons[1].last_update, u64::from(committed));
    // The same commit cannot be revealed twice.
    let e = net.refused(&validator, reveal(netuid, &uids, &values, &[0]));
    assert_eq!(e, EconomyError::NoMatchingCommit);
    net.check_invariants();
}

#[test]
fn commits_expire_after_their_reveal_epoch() {
    let (w, validator, _) = validator_world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    set(net, alice, netuid, OwnerParam::CommitReveal(true));
    let v = validator.public();
    let hash = commit_hash(&v, netuid, &[2], &[1], &[42], 0);
    net.ok(&validator, commit(netuid, hash));
    let epoch: u64 = net.get(&keys::epoch_index(netuid)).unwrap_or(0);
    let expired = |net: &Net| {
        net.events()
            .iter()
            .filter(|r| {
                r.event
                    == Event::WeightsCommitExpired {
                        netuid,
                        hotkey: v,
                        hash,
                    }
            })
            .count()
    };
    // Through the reveal epoch: still pending.
    loop {
        net.step();
        assert_eq!(expired(net), 0);
        if net.get::<u64>(&keys::epoch_index(netuid)) == Some(epoch + 1) {
            break;
        }
    }
    assert!(
        net.get::<Vec<economy::WeightCommit>>(&keys::commits(netuid, &v))
            .is_some()
    );
    // The epoch after it drops the commit, with an event.
    loop {
        net.step();
        if net.get::<u64>(&keys::epoch_index(netuid)) == Some(epoch + 2) {
            break;
        }
        assert_eq!(expired(net), 0);
    }
    assert_eq!(expired(net), 1, "{:?}", net.events());
    assert!(
        net.get::<Vec<economy::WeightCommit>>(&keys::commits(netuid, &v))
            .is_none()
    );
    let e = net.refused(&validator, reveal(netuid, &[2], &[1], &[42]));
    assert_eq!(e, EconomyError::NoMatchingCommit);
    net.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// Prices, pruning, delegation, emission
// ---------------------------------------------------------------------------------------------

#[test]
fn registration_price_rises_and_halves() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    set(net, alice, netuid, OwnerParam::BurnHalfLife(10));
    set(net, alice, netuid, OwnerParam::MinBurn(1_000));
    let price = |block: u32| {
        query::burn(&net.svc.chain().state(), netuid, block)
            .expect("read")
            .expect("subnet")
    };
    let dave = pair("//Dave");
    let paid = price(net.head() + 1);
    let total_burned = |net: &Net| net.get::<Balance>(&sk::total_burned()).unwrap_or(0);
    let burned_before = total_burned(net);
    net.ok(&dave, register(netuid, pair("//Dave//miner0").public()));
    let at = net.head();
    let (burned, fee) = net
        .events()
        .iter()
        .fold((None, None), |(b, f), r| match r.event {
            Event::NeuronRegistered { burned, .. } => (Some(burned), f),
            Event::ExtrinsicSuccess { fee } => (b, Some(fee)),
            _ => (b, f),
        });
    let (burned, fee) = (burned.expect("registered"), fee.expect("fee"));
    assert_eq!(burned, paid, "the registrant pays the price of its block");
    assert_eq!(
        total_burned(net),
        burned_before + paid + fee,
        "the price is burned"
    );
    let base = paid * 1_260 / 1_000;
    assert!(base > 4 * 1_000, "well above the floor: {base}");
    assert_eq!(price(at), base, "×1.26 after a registration");
    assert_eq!(
        price(at + 5),
        base - base / 2 * 5 / 10,
        "linear within a half-life"
    );
    assert_eq!(
        price(at + 10),
        base / 2,
        "halved after burn_half_life blocks"
    );
    assert_eq!(price(at + 15), base / 2 - base / 4 * 5 / 10);
    assert_eq!(price(at + 20), base / 4);
    assert_eq!(price(at + 10_000), 1_000, "never below min_burn");

    // The next registrant pays the decayed price, and the price rises from there.
    net.step_to(at + 4);
    net.ok(&dave, register(netuid, pair("//Dave//miner1").public()));
    let burned = net
        .events()
        .iter()
        .find_map(|r| match r.event {
            Event::NeuronRegistered { burned, .. } => Some(burned),
            _ => None,
        })
        .expect("registered");
    assert_eq!(burned, base - base / 2 * 5 / 10);
    assert_eq!(price(at + 5), burned * 1_260 / 1_000);

    // The ceiling clamps the rise.
    set(net, alice, netuid, OwnerParam::MaxBurn(burned));
    net.ok(&dave, register(netuid, pair("//Dave//miner2").public()));
    assert_eq!(price(net.head()), burned);
    net.check_invariants();
}

#[test]
fn a_full_subnet_replaces_the_lowest_emission_and_never_the_owner() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    set(net, alice, netuid, OwnerParam::Tempo(10));
    set(net, alice, netuid, OwnerParam::WeightsRateLimit(0));
    set(net, alice, netuid, OwnerParam::ImmunityPeriod(0));
    set(net, alice, netuid, OwnerParam::MaxUids(4));
    let (a, b, m) = (
        pair("//Bob//validator"),
        pair("//Charlie//validator"),
        pair("//Dave//miner0"),
    );
    net.ok(&pair("//Bob"), register(netuid, a.public()));
    net.ok(&pair("//Charlie"), register(netuid, b.public()));
    net.ok(&pair("//Dave"), register(netuid, m.public()));
    net.ok(&pair("//Bob"), add_stake(a.public(), 1000 * TAO));
    net.ok(&pair("//Charlie"), add_stake(b.public(), TAO));
    net.next_epoch(netuid, 10);
    // UIDs: 0 owner, 1 validator A, 2 small validator B, 3 miner.
    net.ok(&a, weights(netuid, &[2, 3], &[100, 65_535]));
    net.ok(&b, weights(netuid, &[3], &[65_535]));
    net.next_epoch(netuid, 10);
    net.next_epoch(netuid, 10);
    let mg = net.metagraph(netuid);
    let emission: Vec<u64> = mg.neurons.iter().map(|n| n.emission).collect();
    assert_eq!(emission[0], 0, "the owner earns nothing here");
    assert!(
        emission[2] > 0 && emission[2] < emission[1] && emission[2] < emission[3],
        "{emission:?}"
    );
    assert!(!mg.neurons[2].weights.is_empty() && !mg.neurons[2].bonds.is_empty());
    assert!(mg.neurons[1].weights.contains(&(2, 100)));

    let newcomer = pair("//Eve//newcomer").public();
    net.ok(&pair("//Eve"), register(netuid, newcomer));
    let replaced = net
        .events()
        .iter()
        .find_map(|r| match &r.event {
            Event::NeuronRegistered { uid, replaced, .. } => Some((*uid, *replaced)),
            _ => None,
        })
        .expect("registered");
    assert_eq!(replaced, (2, Some(b.public())));
    let now = u64::from(net.head());
    let mg = net.metagraph(netuid);
    assert_eq!(mg.neurons.len(), 4);
    assert_eq!(mg.neurons[0].hotkey, pair("//Alice//owner").public());
    let n2 = &mg.neurons[2];
    assert_eq!(n2.hotkey, newcomer);
    assert!(n2.weights.is_empty() && n2.bonds.is_empty(), "rows cleared");
    assert_eq!((n2.block_at_registration, n2.last_update), (now, now));
    assert_eq!(
        (n2.emission, n2.validator_permit, n2.active),
        (0, false, false)
    );
    assert_eq!(
        (
            n2.stake_weight,
            n2.consensus,
            n2.incentive,
            n2.dividends,
            n2.validator_trust
        ),
        (0, 0, 0, 0, 0),
        "per-UID values cleared"
    );
    assert_eq!(
        mg.neurons[1].weights,
        vec![(2, 0), (3, 65_535)],
        "weights on the replaced UID are kept at 0"
    );
    assert!(
        !query::metagraph(&net.svc.chain().state(), netuid)
            .expect("read")
            .expect("subnet")
            .neurons
            .iter()
            .any(|n| n.hotkey == b.public())
    );
    assert_eq!(net.get::<u16>(&keys::uid(netuid, &b.public())), None);
    // B keeps its stake.
    assert!(query::hotkey_stake(&net.svc.chain().state(), &b.public()).expect("read") > TAO);

    // The owner ties the newcomer at the lowest emission (0) and registered earlier, so the
    // tie-break alone would pick it: the owner is skipped.
    assert_eq!(mg.neurons[0].emission, 0);
    assert!(mg.neurons[0].block_at_registration < now);
    let second = pair("//Eve//second").public();
    net.ok(&pair("//Eve"), register(netuid, second));
    let mg = net.metagraph(netuid);
    assert_eq!(mg.neurons[0].hotkey, pair("//Alice//owner").public());
    assert_eq!(mg.neurons[2].hotkey, second);
    net.check_invariants();
}

#[test]
fn delegators_earn_dividends_in_proportion_after_the_take() {
    let w = world();
    let (net, alice, netuid) = (&w.net, &w.alice, w.netuid);
    set(net, alice, netuid, OwnerParam::Tempo(10));
    set(net, alice, netuid, OwnerParam::WeightsRateLimit(0));
    let (bob, charlie) = (pair("//Bob"), pair("//Charlie"));
    let validator = pair("//Bob//validator");
    let v = validator.public();
    net.ok(&bob, register(netuid, v));
    for i in 0..2 {
        net.ok(
            &pair("//Dave"),
            register(netuid, pair(&format!("//Dave//miner{i}")).public()),
        );
    }
    let take: u16 = 6_553;
    net.ok(&bob, set_take(v, take));
    net.ok(&bob, add_stake(v, 1000 * TAO));
    net.ok(&charlie, add_stake(v, 500 * TAO));
    net.next_epoch(netuid, 10);
    net.ok(&validator, weights(netuid, &[2, 3], &[65_535, 30_000]));
    net.next_epoch(netuid, 10);

    // Over one epoch: the validator's dividends D are split exactly as the rule says.
    let stake =
        |who: &Pair| query::stake(&net.svc.chain().state(), &v, &who.public()).expect("read");
    let epoch_at = (net.head() + 1..)
        .find(|b| economy::epoch_due(*b, netuid, 10))
        .expect("next epoch");
    net.step_to(epoch_at - 1);
    let (b0, c0) = (stake(&bob), stake(&charlie));
    let total = query::hotkey_stake(&net.svc.chain().state(), &v).expect("read");
    assert_eq!(total, b0 + c0);
    net.step();
    let mg = net.metagraph(netuid);
    assert_eq!(mg.neurons[1].incentive, 0, "nobody weights the validator");
    let d = mg.neurons[1].emission;
    assert!(d > 0, "dividends");
    let take_rao = d * u64::from(take) / 65_535;
    let share = (u128::from(d - take_rao) * u128::from(c0) / u128::from(total)) as u64;
    assert_eq!(stake(&charlie) - c0, share, "the delegator's share");
    assert_eq!(
        stake(&bob) - b0,
        d - share,
        "the owner: take, share and rounding"
    );
    assert_eq!(mg.neurons[1].stake, total + d);
    // In proportion: the delegator's gain per staked rao equals the owner's after the take,
    // up to rounding: share × b0 and owner × c0 differ by under one rao × (b0 + c0).
    let owner_after_take = d - share - take_rao;
    let (lhs, rhs) = (
        u128::from(share) * u128::from(b0),
        u128::from(owner_after_take) * u128::from(c0),
    );
    assert!(
        lhs.abs_diff(rhs) <= u128::from(total),
        "{share} on {c0} vs {owner_after_take} on {b0}"
    );

    // Removing the stake returns it as free TAO.
    let all = stake(&charlie);
    let before = net.free(&charlie.public());
    let totals = net.totals();
    net.ok(&charlie, remove_stake(v, all));
    let fee = net
        .events()
        .iter()
        .find_map(|r| match r.event {
            Event::ExtrinsicSuccess { fee } => Some(fee),
            _ => None,
        })
        .expect("fee");
    assert_eq!(net.free(&charlie.public()), before + all - fee);
    assert_eq!(stake(&charlie), 0);
    assert!(
        !query::stakers(&net.svc.chain().state(), &v)
            .expect("read")
            .iter()
            .any(|(c, _)| *c == charlie.public())
    );
    assert!(!economy::epoch_due(net.head(), netuid, 10));
    assert_eq!(net.totals().stake, totals.stake - all);
    net.check_invariants();
}

#[test]
fn the_block_reward_halves_and_stops_at_the_cap() {
    let base = TAO;
    let at = |tao: u64| tao * TAO;
    assert_eq!(block_reward(0, base), base);
    assert_eq!(block_reward(at(10_500_000) - 1, base), base);
    assert_eq!(block_reward(at(10_500_000), base), base / 2);
    assert_eq!(block_reward(at(15_750_000) - 1, base), base / 2);
    assert_eq!(block_reward(at(15_750_000), base), base / 4);
    assert_eq!(block_reward(at(18_375_000), base), base / 8);
    assert_eq!(
        block_reward(MAX_SUPPLY - MAX_SUPPLY / 1024, base),
        base / 1024
    );
    // Never past the cap, whatever the base.
    assert_eq!(block_reward(MAX_SUPPLY - 5, MAX_SUPPLY), 5);
    assert_eq!(block_reward(MAX_SUPPLY, MAX_SUPPLY), 0);
    assert_eq!(block_reward(MAX_SUPPLY, base), 0);
    assert_eq!(block_reward(u64::MAX, base), 0);
    for issuance in [0, at(10_000_000), at(20_999_999), MAX_SUPPLY - 1] {
        assert!(issuance + block_reward(issuance, MAX_SUPPLY) <= MAX_SUPPLY);
    }
}

#[test]
fn the_chain_mints_the_halved_reward() {
    // 10,499,998 TAO at genesis and 1,000 TAO blocks: the threshold is crossed within a few
    // blocks.
    let mut g = GenesisConfig::dev();
    g.endowed = vec![Endowment {
        account: pair("//Alice").public(),
        tao: "10499998".into(),
    }];
    g.economy.block_emission = 1_000 * TAO;
    g.economy.min_lock_cost = TAO;
    let net = Net::with(&g);
    let alice = pair("//Alice");
    net.ok(&alice, create(pair("//Alice//owner").public(), b"halving"));
    let mut rewards = Vec::new();
    for _ in 0..8 {
        let issuance = net.svc.chain().total_issuance().expect("issuance");
        let minted = net.totals().minted;
        net.step();
        let reward = net.totals().minted - minted;
        assert_eq!(reward, block_reward(issuance, 1_000 * TAO));
        rewards.push(reward / TAO);
        net.check_invariants();
    }
    assert!(
        rewards.contains(&1_000) && rewards.contains(&500),
        "{rewards:?}"
    );
    assert!(rewards.is_sorted_by(|a, b| a >= b));
}

// ---------------------------------------------------------------------------------------------
// Property test
// ---------------------------------------------------------------------------------------------

const COLDKEYS: [&str; 4] = ["//Alice", "//Bob", "//Charlie", "//Dave"];
const HOTKEYS: usize = 8;

fn hotkey(i: usize) -> Pair {
    pair(&format!("//hot{i}"))
}

/// Coldkeys, then hotkeys.
fn account(i: usize) -> Pair {
    match COLDKEYS.get(i) {
        Some(uri) => pair(uri),
        None => hotkey(i - COLDKEYS.len()),
    }
}

const ACCOUNTS: usize = COLDKEYS.len() + HOTKEYS;

/// A subnet: the i-th existing one, or (for 3) netuid 4, which never exists.
type SubnetPick = u16;

/// A coldkey: `Some(i)` names one; `None` is the natural signer (the hotkey's own coldkey, or
/// the subnet's owner), so that most calls pass the ownership checks and reach the others.
type Cold = Option<usize>;

#[derive(Debug, Clone)]
enum Op {
    Empty,
    Create {
        cold: Cold,
        hot: usize,
        bad_name: bool,
    },
    Register {
        cold: Cold,
        netuid: SubnetPick,
        hot: usize,
    },
    AddStake {
        cold: Cold,
        hot: usize,
        amount: usize,
    },
    RemoveStake {
        cold: Cold,
        hot: usize,
        part: usize,
    },
    SetTake {
        cold: Cold,
        hot: usize,
        take: u16,
    },
    /// Signed by one of the subnet's hotkeys (or, with `any`, by any hotkey); UIDs are
    /// taken modulo n + 1, so that most exist.
    Weights {
        hot: usize,
        any: bool,
        netuid: SubnetPick,
        pairs: Vec<(u16, u16)>,
        mismatch: bool,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: usize,
        keep_alive: bool,
    },
    /// Commits to (or reveals) a weight on UID 0 with one of two salts, signed by the
    /// subnet's first hotkey of ours (so that reveals often match).
    Commit {
        netuid: SubnetPick,
        salt: u16,
        reveal: bool,
    },
    Param {
        cold: Cold,
        netuid: SubnetPick,
        param: OwnerParam,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let cold = prop::option::weighted(0.2, 0..COLDKEYS.len());
    let hot = 0..HOTKEYS;
    let netuid = prop_oneof![8 => 0u16..3, 1 => Just(3u16)];
    let amount = prop_oneof![1 => Just(0usize), 3 => 1..4usize];
    prop_oneof![
        3 => Just(Op::Empty),
        1 => (cold.clone(), hot.clone(), prop::bool::weighted(0.2))
            .prop_map(|(cold, hot, bad_name)| Op::Create { cold, hot, bad_name }),
        4 => (cold.clone(), netuid.clone(), hot.clone())
            .prop_map(|(cold, netuid, hot)| Op::Register { cold, netuid, hot }),
        3 => (cold.clone(), hot.clone(), amount.clone())
            .prop_map(|(cold, hot, amount)| Op::AddStake { cold, hot, amount }),
        2 => (cold.clone(), hot.clone(), amount)
            .prop_map(|(cold, hot, part)| Op::RemoveStake { cold, hot, part }),
        1 => (cold.clone(), hot.clone(), prop_oneof![Just(0u16), Just(11_796), Just(11_797)])
            .prop_map(|(cold, hot, take)| Op::SetTake { cold, hot, take }),
        6 => (
            (hot.clone(), prop::bool::weighted(0.1)),
            netuid.clone(),
            prop::collection::vec((any::<u16>(), any::<u16>()), 0..5),
            prop::bool::weighted(0.05),
        )
            .prop_map(|((hot, any), netuid, pairs, mismatch)| Op::Weights {
                hot,
                any,
                netuid,
                pairs,
                mismatch,
            }),
        3 => (netuid.clone(), 0u16..2, any::<bool>())
            .prop_map(|(netuid, salt, reveal)| Op::Commit { netuid, salt, reveal }),
        2 => (0..ACCOUNTS, 0..=ACCOUNTS, 0..4usize, any::<bool>())
            .prop_map(|(from, to, amount, keep_alive)| Op::Transfer { from, to, amount, keep_alive }),
        3 => (
            cold,
            netuid,
            prop_oneof![
                (1u16..=4).prop_map(OwnerParam::Tempo),
                Just(OwnerParam::WeightsRateLimit(0)),
                (2u16..=6).prop_map(OwnerParam::MaxUids),
                (0u16..=3).prop_map(OwnerParam::ImmunityPeriod),
                (0u16..=3).prop_map(OwnerParam::MinAllowedWeights),
                any::<bool>().prop_map(OwnerParam::CommitReveal),
            ],
        )
            .prop_map(|(cold, netuid, param)| Op::Param { cold, netuid, param }),
    ]
}

fn prop_genesis() -> GenesisConfig {
    let mut g = GenesisConfig::dev();
    g.endowed
        .retain(|e| COLDKEYS.iter().any(|uri| pair(uri).public() == e.account));
    for i in 0..HOTKEYS {
        g.endowed.push(Endowment {
            account: hotkey(i).public(),
            tao: "100".into(),
        });
    }
    g.economy.min_lock_cost = 10 * TAO;
    g.economy.subnet_limit = 3;
    g
}

/// The call an op stands for, read against the head state, and its signer.
fn to_call(net: &Net, op: &Op) -> Option<(Pair, Call)> {
    // Hotkey i belongs (naturally) to coldkey i mod 4.
    let by_hotkey = |cold: &Cold, hot: usize| pair(COLDKEYS[cold.unwrap_or(hot % COLDKEYS.len())]);
    let netuids = query::netuids(&net.svc.chain().state()).expect("netuids");
    let subnet = |i: SubnetPick| match netuids.len() {
        0 => 4,
        len if i < 3 => netuids[usize::from(i) % len],
        _ => 4,
    };
    Some(match op {
        Op::Empty => return None,
        Op::Create {
            cold,
            hot,
            bad_name,
        } => {
            let name: &[u8] = if *bad_name { &[] } else { b"prop" };
            (by_hotkey(cold, *hot), create(hotkey(*hot).public(), name))
        }
        Op::Register { cold, netuid, hot } => (
            by_hotkey(cold, *hot),
            register(subnet(*netuid), hotkey(*hot).public()),
        ),
        Op::AddStake { cold, hot, amount } => {
            let amount = [0, TAO, 20 * TAO, 2_000_000 * TAO][*amount];
            (
                by_hotkey(cold, *hot),
                add_stake(hotkey(*hot).public(), amount),
            )
        }
        Op::RemoveStake { cold, hot, part } => {
            // Mostly a stake that exists: the first coldkey from `hot` on that stakes.
            let staked = |i: usize| -> Vec<AccountId> {
                net.get(&keys::staked_hotkeys(&pair(COLDKEYS[i]).public()))
                    .unwrap_or_default()
            };
            let i = cold.unwrap_or_else(|| {
                (0..COLDKEYS.len())
                    .map(|k| (hot + k) % COLDKEYS.len())
                    .find(|i| !staked(*i).is_empty())
                    .unwrap_or(*hot % COLDKEYS.len())
            });
            let c = pair(COLDKEYS[i]);
            let list = staked(i);
            let h = match list.len() {
                len if len > 0 && cold.is_none() => list[*hot % len],
                _ => hotkey(*hot).public(),
            };
            let staked = query::stake(&net.svc.chain().state(), &h, &c.public()).expect("read");
            let amount = [0, staked / 2, staked, staked + 1][*part];
            (c, remove_stake(h, amount))
        }
        Op::SetTake { cold, hot, take } => (
            by_hotkey(cold, *hot),
            set_take(hotkey(*hot).public(), *take),
        ),
        Op::Weights {
            hot,
            any,
            netuid,
            pairs,
            mismatch,
        } => {
            let netuid = subnet(*netuid);
            let n = net
                .get::<Vec<AccountId>>(&keys::hotkeys(netuid))
                .map_or(0, |h| h.len()) as u16;
            let signer = registered_hotkey(net, netuid, *hot, *any);
            let uids: Vec<u16> = pairs.iter().map(|p| p.0 % (n + 1)).collect();
            let mut values: Vec<u16> = pairs.iter().map(|p| p.1).collect();
            if *mismatch {
                values.push(1);
            }
            (signer, weights(netuid, &uids, &values))
        }
        Op::Transfer {
            from,
            to,
            amount,
            keep_alive,
        } => {
            let sender = account(*from);
            let dest = if *to == ACCOUNTS {
                pair("//fresh").public()
            } else {
                account(*to).public()
            };
            let free = net.free(&sender.public());
            // All but 100 rao after the fee: allow-death reaps the sender (unless it stakes or
            // owns a subnet), keep-alive is refused.
            let all = {
                let probe = Call::Balances(BalancesCall::TransferAllowDeath {
                    dest: dest.into(),
                    value: free,
                });
                let len = net.sign(&sender, probe).len();
                let fee = net
                    .svc
                    .chain()
                    .params()
                    .expect("params")
                    .fee(len, 0)
                    .expect("fee");
                free.saturating_sub(fee + 100)
            };
            let value = [100, TAO, all, free / 2][*amount];
            let call = if *keep_alive {
                BalancesCall::TransferKeepAlive {
                    dest: dest.into(),
                    value,
                }
            } else {
                BalancesCall::TransferAllowDeath {
                    dest: dest.into(),
                    value,
                }
            };
            (sender, Call::Balances(call))
        }
        Op::Commit {
            netuid,
            salt,
            reveal: is_reveal,
        } => {
            let netuid = subnet(*netuid);
            let signer = registered_hotkey(net, netuid, 0, false);
            let call = if *is_reveal {
                reveal(netuid, &[0], &[1], &[*salt])
            } else {
                let hash = commit_hash(&signer.public(), netuid, &[0], &[1], &[*salt], 0);
                commit(netuid, hash)
            };
            (signer, call)
        }
        Op::Param {
            cold,
            netuid,
            param,
        } => {
            let netuid = subnet(*netuid);
            let owner = net
                .get::<economy::SubnetInfo>(&keys::subnet(netuid))
                .and_then(|info| {
                    COLDKEYS
                        .iter()
                        .position(|uri| pair(uri).public() == info.owner)
                })
                .unwrap_or(0);
            (pair(COLDKEYS[cold.unwrap_or(owner)]), hyper(netuid, *param))
        }
    })
}

/// One of our hotkeys registered on `netuid` (the `hot`-th, cyclically), or with `any` (or
/// when there is none) hotkey `hot`.
fn registered_hotkey(net: &Net, netuid: u16, hot: usize, any: bool) -> Pair {
    let registered: Vec<AccountId> = net.get(&keys::hotkeys(netuid)).unwrap_or_default();
    let ours: Vec<Pair> = (0..HOTKEYS)
        .map(hotkey)
        .filter(|h| registered.contains(&h.public()))
        .collect();
    match ours.len() {
        len if len > 0 && !any => ours[hot % len].clone(),
        _ => hotkey(hot),
    }
}

/// Runs `op` in one block; a refused call must change nothing but its fee and nonce.
fn run_op(net: &Net, op: &Op) -> Option<bool> {
    let Some((signer, call)) = to_call(net, op) else {
        net.step();
        return None;
    };
    let bytes = net.sign(&signer, call);
    if net.svc.chain().validate_transaction(&bytes).is_err() {
        // The signer cannot pay the fee (a reaped or empty hotkey): the pool refuses it.
        net.step();
        return None;
    }
    let (alone, _) = net.outcome_alone(&bytes);
    let included = net.include(&bytes);
    assert_eq!(alone, included, "{op:?}");
    Some(included.is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random calls and blocks keep every invariant of `docs/economics.md`.
    #[test]
    fn random_calls_keep_the_invariants(
        commit_reveal in any::<bool>(),
        ops in prop::collection::vec(op(), 40..80),
    ) {
        let net = Net::with(&prop_genesis());
        // Start from a small subnet with a short tempo and no rate limit: it fills up, and
        // registrations replace UIDs. Half the cases use commit-reveal there.
        let alice = pair("//Alice");
        let bytes = net.sign(&alice, create(hotkey(0).public(), b"first"));
        prop_assert_eq!(net.include(&bytes), Ok(()));
        set(&net, &alice, 1, OwnerParam::Tempo(2));
        set(&net, &alice, 1, OwnerParam::WeightsRateLimit(0));
        set(&net, &alice, 1, OwnerParam::MaxUids(3));
        set(&net, &alice, 1, OwnerParam::CommitReveal(commit_reveal));
        net.check_invariants();
        let (mut ok, mut refused) = (0, 0);
        for op in &ops {
            match run_op(&net, op) {
                Some(true) => ok += 1,
                Some(false) => refused += 1,
                None => {}
            }
            net.check_invariants();
        }
        prop_assert!(ok + refused > 0);
    }
}
