//! The economy's heaviest block: one that runs the epochs of 8 subnets at once.
//!
//! Each subnet has 256 UIDs: the owner's, 64 validators with stake (and permits from earlier
//! epochs) that each weight all 191 miners, and the miners; bonds come from earlier epochs.
//! The tempos are set so that all 8 epochs fall in the same block, which is then timed:
//!
//! - `builder_new`: `BlockBuilder::new` on the parent state, where the block's own steps run
//!   (the block reward, the 8 epochs, their payouts);
//! - `execute_block`: the whole block re-executed as an importing node does
//!   (`Chain::execute`: the above, then the state root over every write);
//! - `yuma_only`: for comparison, the 8 epochs' arithmetic alone (`yuma::epoch`) on the same
//!   inputs, read from the state beforehand.
//!
//! Re-executing a block on the same parent state is pure, so nothing is committed between
//! iterations. The state is built through ordinary extrinsics (`submit_many` and `SoloEngine`),
//! a few thousand per block.
//!
//! Run with `cargo bench -p ganglion-kernel --bench economy`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ganglion_kernel::chain::block::Block;
use ganglion_kernel::chain::consensus::{Application, Budget, SoloEngine};
use ganglion_kernel::chain::economy::{SubnetInfo, SubnetParams, Vector, epoch_due, keys, query};
use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::extrinsic::{
    Additional, Call, Extra, Extrinsic, NeuronsCall, OwnerParam, StakingCall, SubnetsCall,
    WeightsCall,
};
use ganglion_kernel::chain::genesis::{Endowment, GenesisConfig};
use ganglion_kernel::chain::hashing::H256;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::ledger::Chain;
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::chain::service::ChainService;
use ganglion_kernel::chain::state::Event;
use ganglion_kernel::chain::store::MemStore;
use ganglion_kernel::chain::units::RAO_PER_TAO;
use ganglion_kernel::yuma::{self, EpochInput, Hyperparams};
use parity_scale_codec::Decode;

const SUBNETS: u8 = 8;
const UIDS: usize = 256;
const VALIDATORS: usize = 64;
/// Coldkeys registering each subnet's hotkeys, 32 each (a sender may have 64 transactions
/// pending).
const MEMBERS: usize = 8;
const PER_MEMBER: usize = UIDS / MEMBERS;

fn key(tag: u8, subnet: u8, index: usize) -> Pair {
    let mut seed = [0u8; 32];
    seed[0] = tag;
    seed[1] = subnet;
    seed[2..10].copy_from_slice(&(index as u64).to_le_bytes());
    Pair::from_seed(&seed)
}

fn owner(s: u8) -> Pair {
    key(1, s, 0)
}

fn member(s: u8, m: usize) -> Pair {
    key(2, s, m)
}

/// Hotkey `j` of subnet `s` (0..255; the first 64 are validators).
fn hotkey(s: u8, j: usize) -> Pair {
    key(3, s, j)
}

struct Net {
    svc: ChainService,
    genesis: H256,
}

impl Net {
    fn new() -> Net {
        let mut config = GenesisConfig::dev();
        for s in 0..SUBNETS {
            config.endowed.push(Endowment {
                account: owner(s).public(),
                tao: "10000".into(),
            });
            for m in 0..MEMBERS {
                config.endowed.push(Endowment {
                    account: member(s, m).public(),
                    tao: "100000".into(),
                });
            }
        }
        config.economy.min_lock_cost = RAO_PER_TAO;
        let chain = Chain::open(Arc::new(MemStore::default()), &config).expect("chain");
        let genesis = chain.genesis_hash();
        Net {
            svc: ChainService::new(chain, PoolLimits::default(), "bench".into()),
            genesis,
        }
    }

    /// `calls` signed by `who` with consecutive nonces from its next one.
    fn sign(&self, who: &Pair, calls: Vec<Call>) -> Vec<Vec<u8>> {
        let first = self.svc.chain().account(&who.public()).expect("read").nonce;
        calls
            .into_iter()
            .zip(first..)
            .map(|(call, nonce)| {
                let extra = Extra {
                    era: Era::Immortal,
                    nonce,
                    tip: 0,
                };
                let additional = Additional::new(self.genesis, self.genesis);
                Extrinsic::sign(who, call, extra, &additional).to_bytes()
            })
            .collect()
    }

    fn budget() -> Budget {
        Budget {
            max_bytes: usize::MAX,
            max_time: Duration::from_secs(600),
        }
    }

    /// One block with `txs`, every one of which must succeed.
    fn block(&self, txs: &[Vec<u8>]) {
        for r in self.svc.submit_many(txs) {
            r.expect("admitted");
        }
        let slot = self.svc.chain().head().slot + 1;
        SoloEngine::new(
            Pair::from_uri("//Alice").expect("key"),
            Duration::from_secs(1),
        )
        .step(&self.svc, slot, Self::budget())
        .expect("block");
        let events = self.svc.chain().events().expect("events");
        let done = events
            .iter()
            .filter(|r| match &r.event {
                Event::ExtrinsicSuccess { .. } => true,
                Event::ExtrinsicFailed { error, .. } => panic!("refused: {error}"),
                _ => false,
            })
            .count();
        assert_eq!(done, txs.len(), "every transaction is in the block");
    }

    fn netuid_of(&self, s: u8) -> u16 {
        let chain = self.svc.chain();
        let state = chain.state();
        query::netuids(&state)
            .expect("netuids")
            .into_iter()
            .find(|n| {
                query::subnet(&state, *n)
                    .expect("read")
                    .is_some_and(|i: SubnetInfo| i.owner == owner(s).public())
            })
            .expect("created")
    }

    fn get<T: Decode>(&self, key: &[u8]) -> Option<T> {
        let bytes = self.svc.chain().storage(key).expect("read")?;
        Some(T::decode(&mut &bytes[..]).expect("decodes"))
    }

    fn uid(&self, netuid: u16, hotkey: &AccountId) -> u16 {
        self.get(&keys::uid(netuid, hotkey)).expect("registered")
    }

    /// The input of subnet `netuid`'s epoch at block `at`, read from the head state as the
    /// chain reads it.
    fn epoch_input(&self, netuid: u16, at: u32) -> EpochInput {
        let p: SubnetParams = self.get(&keys::params(netuid)).expect("params");
        let info: SubnetInfo = self.get(&keys::subnet(netuid)).expect("subnet");
        let hotkeys: Vec<AccountId> = self.get(&keys::hotkeys(netuid)).expect("hotkeys");
        let n = hotkeys.len() as u16;
        let rows = |bonds: bool| -> Vec<Vec<(u16, u16)>> {
            (0..n)
                .map(|uid| {
                    let key = if bonds {
                        keys::bonds(netuid, uid)
                    } else {
                        keys::weights(netuid, uid)
                    };
                    self.get(&key).unwrap_or_default()
                })
                .collect()
        };
        let tempo = u64::from(p.tempo);
        EpochInput {
            current_block: u64::from(at),
            tempo,
            last_mechanism_step_block: self.get(&keys::last_epoch_block(netuid)).unwrap_or(0),
            activity_cutoff: (u64::from(p.activity_cutoff_factor_milli) * tempo / 1000).max(1),
            stake: hotkeys
                .iter()
                .map(|h| self.get(&keys::hotkey_stake(h)).unwrap_or(0))
                .collect(),
            stake_threshold: 0,
            owner_uid: self.get(&keys::uid(netuid, &info.owner_hotkey)),
            weights: rows(false),
            bonds: rows(true),
            last_update: self
                .get(&keys::vector(netuid, Vector::LastUpdate))
                .expect("vector"),
            block_at_registration: self
                .get(&keys::vector(netuid, Vector::BlockAtRegistration))
                .expect("vector"),
            validator_permit: self
                .get(&keys::vector(netuid, Vector::ValidatorPermit))
                .expect("vector"),
            earliest_commit_block: None,
            params: Hyperparams {
                max_allowed_validators: p.max_validators,
                kappa: p.kappa,
                bonds_penalty: p.bonds_penalty,
                bonds_moving_average: p.bonds_moving_average,
                yuma3_enabled: p.yuma3,
                liquid_alpha_enabled: p.liquid_alpha,
                alpha_low: p.alpha_low,
                alpha_high: p.alpha_high,
                alpha_sigmoid_steepness: p.alpha_sigmoid_steepness,
            },
            rao_emission: self.get(&keys::pending(netuid)).unwrap_or(0),
        }
    }
}

/// Builds the state and returns it with the block that runs all 8 epochs, and those epochs'
/// inputs.
fn setup() -> (Net, Block, Vec<EpochInput>) {
    let net = Net::new();
    // Subnets: short tempos for now (permits and bonds come quickly), no rate limit, and a
    // registration price that does not climb.
    let mut txs = Vec::new();
    for s in 0..SUBNETS {
        let create = Call::Subnets(SubnetsCall::Create {
            hotkey: hotkey(s, 255).public(),
            name: format!("bench{s}").into_bytes(),
        });
        txs.extend(net.sign(&owner(s), vec![create]));
    }
    net.block(&txs);
    let netuids: Vec<u16> = (0..SUBNETS).map(|s| net.netuid_of(s)).collect();
    let mut txs = Vec::new();
    for (s, netuid) in (0..SUBNETS).zip(&netuids) {
        let set = |param| {
            Call::Subnets(SubnetsCall::SetHyperparameter {
                netuid: *netuid,
                param,
            })
        };
        txs.extend(net.sign(
            &owner(s),
            vec![
                set(OwnerParam::Tempo(1)),
                set(OwnerParam::WeightsRateLimit(0)),
                set(OwnerParam::BurnIncreaseMultMilli(1000)),
            ],
        ));
        // 255 hotkeys (the owner's is the 256th UID); the validators get stake.
        for m in 0..MEMBERS {
            let mut calls = Vec::new();
            let hotkeys: Vec<usize> = (m * PER_MEMBER..(m + 1) * PER_MEMBER)
                .filter(|j| *j < UIDS - 1)
                .collect();
            for j in &hotkeys {
                calls.push(Call::Neurons(NeuronsCall::Register {
                    netuid: *netuid,
                    hotkey: hotkey(s, *j).public(),
                }));
            }
            for j in hotkeys.iter().filter(|j| **j < VALIDATORS) {
                calls.push(Call::Staking(StakingCall::Add {
                    hotkey: hotkey(s, *j).public(),
                    amount: (1000 + 10 * *j as u64) * RAO_PER_TAO,
                }));
            }
            txs.extend(net.sign(&member(s, m), calls));
        }
    }
    net.block(&txs);
    // Two blocks: every subnet runs an epoch (tempo 1), so the validators hold permits.
    net.block(&[]);
    net.block(&[]);
    // Every validator weights every miner.
    let mut txs = Vec::new();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for (s, netuid) in (0..SUBNETS).zip(&netuids) {
        let miners: Vec<u16> = (VALIDATORS..UIDS - 1)
            .map(|j| net.uid(*netuid, &hotkey(s, j).public()))
            .collect();
        for v in 0..VALIDATORS {
            let values = miners
                .iter()
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 65_535) as u16 + 1
                })
                .collect();
            let call = Call::Weights(WeightsCall::Set {
                netuid: *netuid,
                uids: miners.clone(),
                values,
                version_key: 0,
            });
            txs.extend(net.sign(&hotkey(s, v), vec![call]));
        }
    }
    net.block(&txs);
    // One more epoch each (bonds), then tempos such that all 8 epochs fall in block `at`:
    // epochs run when (block + netuid + 1) % (tempo + 1) == 0.
    net.block(&[]);
    let at = net.svc.chain().head().number + 2;
    let mut txs = Vec::new();
    for (s, netuid) in (0..SUBNETS).zip(&netuids) {
        let tempo = u16::try_from(at).expect("small") + netuid;
        assert!(epoch_due(at, *netuid, tempo));
        txs.extend(net.sign(
            &owner(s),
            vec![Call::Subnets(SubnetsCall::SetHyperparameter {
                netuid: *netuid,
                param: OwnerParam::Tempo(tempo),
            })],
        ));
    }
    net.block(&txs);
    let slot = net.svc.chain().head().slot + 1;
    let proposal = net
        .svc
        .propose(
            at,
            Pair::from_uri("//Alice").expect("key").public(),
            slot,
            Net::budget(),
        )
        .expect("proposal");
    let executed = net.svc.chain().execute(&proposal.block).expect("executes");
    let epochs = executed
        .events
        .iter()
        .filter(|r| matches!(r.event, Event::EpochRun { paid, .. } if paid > 0))
        .count();
    assert_eq!(epochs, usize::from(SUBNETS), "all 8 epochs run and pay");
    let chain = net.svc.chain();
    for netuid in &netuids {
        let mg = query::metagraph(&chain.state(), *netuid)
            .expect("read")
            .expect("subnet");
        assert_eq!(mg.neurons.len(), UIDS);
        let permits = mg.neurons.iter().filter(|n| n.validator_permit).count();
        assert!(permits >= VALIDATORS, "{permits} permits");
        let rows = mg
            .neurons
            .iter()
            .filter(|n| n.weights.len() == UIDS - VALIDATORS - 1);
        assert_eq!(rows.count(), VALIDATORS);
    }
    drop(chain);
    let inputs = netuids.iter().map(|n| net.epoch_input(*n, at)).collect();
    (net, proposal.block, inputs)
}

fn bench(c: &mut Criterion) {
    let (net, block, inputs) = setup();
    let mut group = c.benchmark_group("economy/epochs_8x_n256_v64");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("builder_new", |b| {
        let chain = net.svc.chain();
        let state = chain.state();
        b.iter(|| black_box(chain.builder(&state).expect("builder")));
    });
    group.bench_function("execute_block", |b| {
        let chain = net.svc.chain();
        b.iter(|| black_box(chain.execute(&block).expect("executes")));
    });
    group.bench_function("yuma_only", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(yuma::epoch(black_box(input)).expect("valid input"));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
