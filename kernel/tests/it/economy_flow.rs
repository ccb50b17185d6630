//! The economy end to end in one process: a subnet, validators and miners, weights, epochs
//! and payouts, on the dev chain's rules.

use ganglion_kernel::chain::economy::{self, EconomyError, commit_hash, query};
use ganglion_kernel::chain::extrinsic::{Call, NeuronsCall, OwnerParam, StakingCall, WeightsCall};
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::chain::state::DispatchError;
use ganglion_kernel::chain::units::RAO_PER_TAO;

use super::support::{Net, create_subnet, pair, set};

#[test]
fn a_subnet_pays_miners_by_incentive_and_validators_by_dividends() {
    run(false);
}

#[test]
fn the_same_through_commit_reveal() {
    run(true);
}

fn run(commit_reveal: bool) {
    let net = Net::new();
    let owner = pair("//Alice");
    let netuid = create_subnet(&net, &owner, pair("//Alice//owner").public());
    set(&net, &owner, netuid, OwnerParam::Tempo(10));
    set(&net, &owner, netuid, OwnerParam::WeightsRateLimit(0));
    set(&net, &owner, netuid, OwnerParam::ImmunityPeriod(0));
    if commit_reveal {
        set(&net, &owner, netuid, OwnerParam::CommitReveal(true));
    }
    let validators = [pair("//Bob//validator"), pair("//Charlie//validator")];
    let miners: Vec<Pair> = (0..4).map(|i| pair(&format!("//Dave//miner{i}"))).collect();
    net.ok(
        &pair("//Bob"),
        Call::Neurons(NeuronsCall::Register {
            netuid,
            hotkey: validators[0].public(),
        }),
    );
    net.ok(
        &pair("//Charlie"),
        Call::Neurons(NeuronsCall::Register {
            netuid,
            hotkey: validators[1].public(),
        }),
    );
    for m in &miners {
        net.ok(
            &pair("//Dave"),
            Call::Neurons(NeuronsCall::Register {
                netuid,
                hotkey: m.public(),
            }),
        );
    }
    net.ok(
        &pair("//Bob"),
        Call::Staking(StakingCall::Add {
            hotkey: validators[0].public(),
            amount: 1000 * RAO_PER_TAO,
        }),
    );
    net.ok(
        &pair("//Charlie"),
        Call::Staking(StakingCall::Add {
            hotkey: validators[1].public(),
            amount: 500 * RAO_PER_TAO,
        }),
    );
    // Wait for an epoch so that the validators hold permits.
    let state_netuid = netuid;
    let epoch_blocks = |net: &Net| {
        let head = net.svc.chain().head().number;
        (head + 1..head + 13)
            .find(|b| economy::epoch_due(*b, state_netuid, 10))
            .expect("an epoch within a tempo")
    };
    let next = epoch_blocks(&net);
    while net.svc.chain().head().number < next {
        net.step();
    }
    let mg = query::metagraph(&net.svc.chain().state(), netuid)
        .expect("read")
        .expect("subnet");
    assert!(
        mg.neurons[1].validator_permit && mg.neurons[2].validator_permit,
        "validators hold permits"
    );
    // Uids: 0 owner, 1-2 validators, 3.. miners A, B, C, D.
    let uids = vec![3u16, 4, 5];
    let values = vec![60_000u16, 30_000, 10_000];
    for v in &validators {
        if commit_reveal {
            let salt = vec![7u16, 8, 9];
            let hash = commit_hash(&v.public(), netuid, &uids, &values, &salt, 0);
            net.ok(v, Call::Weights(WeightsCall::Commit { netuid, hash }));
        } else {
            net.ok(
                v,
                Call::Weights(WeightsCall::Set {
                    netuid,
                    uids: uids.clone(),
                    values: values.clone(),
                    version_key: 0,
                }),
            );
        }
    }
    if commit_reveal {
        // Too early: the reveal epoch has not come.
        let err = net.call(
            &validators[0],
            Call::Weights(WeightsCall::Reveal {
                netuid,
                uids: uids.clone(),
                values: values.clone(),
                salt: vec![7, 8, 9],
                version_key: 0,
            }),
        );
        assert!(
            matches!(
                err,
                Err(DispatchError::Economy(EconomyError::RevealTooEarly { .. }))
            ),
            "{err:?}"
        );
        let next = epoch_blocks(&net);
        while net.svc.chain().head().number < next {
            net.step();
        }
        for v in &validators {
            net.ok(
                v,
                Call::Weights(WeightsCall::Reveal {
                    netuid,
                    uids: uids.clone(),
                    values: values.clone(),
                    salt: vec![7, 8, 9],
                    version_key: 0,
                }),
            );
        }
    }
    let before_owner = net
        .svc
        .chain()
        .account(&owner.public())
        .expect("read")
        .data
        .free;
    for _ in 0..2 {
        let next = epoch_blocks(&net);
        while net.svc.chain().head().number < next {
            net.step();
        }
    }
    let chain = net.svc.chain();
    let state = chain.state();
    let mg = query::metagraph(&state, netuid)
        .expect("read")
        .expect("subnet");
    let inc: Vec<u16> = mg.neurons.iter().map(|n| n.incentive).collect();
    assert!(
        inc[3] > inc[4] && inc[4] > inc[5],
        "incentive follows A > B > C: {inc:?}"
    );
    assert_eq!(inc[6], 0, "D has no weight");
    assert!(
        mg.neurons[1].dividends > 0 && mg.neurons[2].dividends > 0,
        "validators earn dividends"
    );
    assert!(
        chain.account(&owner.public()).expect("read").data.free > before_owner,
        "the owner got its cut"
    );
    // Issuance: everything minted is accounted for, to the rao.
    let totals = query::totals(&state).expect("totals");
    // Emission starts with the first block after the subnet's creation.
    let created = query::subnet(&state, netuid)
        .expect("read")
        .expect("subnet")
        .created_at;
    let blocks = u64::from(chain.head().number - created);
    assert_eq!(
        totals.minted,
        blocks * RAO_PER_TAO,
        "block reward times blocks"
    );
    let free: u64 = ganglion_kernel::chain::ledger::all_free(&chain).expect("scan");
    assert_eq!(
        chain.total_issuance().expect("issuance"),
        free + totals.stake + totals.locked + totals.pending,
        "issuance = free + stake + locked + pending"
    );
}
