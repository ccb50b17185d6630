//! The chain's throughput: a block of 10,000 signed transfers between 1,000 accounts.
//!
//! - `admission`: the pool validates (decode, signature, era, nonce, fee) and admits all of
//!   them (`ChainService::submit_many`, on all cores);
//! - `author`: the authority builds the block from the pool, executes it, and commits it to
//!   sled (one atomic, flushed batch);
//! - `import`: another node checks the seal, re-executes the block (signatures batch-verified
//!   on all cores) and commits it to its own sled database.
//!
//! Run with `cargo bench -p ganglion-kernel --bench chain`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ganglion_kernel::chain::block::SignedBlock;
use ganglion_kernel::chain::consensus::{Budget, SoloEngine};
use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::extrinsic::{Additional, BalancesCall, Call, Extra, Extrinsic};
use ganglion_kernel::chain::genesis::{Endowment, GenesisConfig};
use ganglion_kernel::chain::keys::Pair;
use ganglion_kernel::chain::ledger::Chain;
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::chain::service::ChainService;
use ganglion_kernel::chain::store::SledStore;

const ACCOUNTS: usize = 1_000;
const PER_ACCOUNT: u32 = 10;
const TRANSFERS: usize = ACCOUNTS * PER_ACCOUNT as usize;

struct Setup {
    genesis: GenesisConfig,
    txs: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    let keys: Vec<Pair> = (0..ACCOUNTS)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Pair::from_seed(&seed)
        })
        .collect();
    let mut genesis = GenesisConfig::dev();
    genesis.endowed = keys
        .iter()
        .map(|k| Endowment {
            account: k.public(),
            tao: "1000".into(),
        })
        .collect();
    let hash = genesis.build().expect("genesis").header.hash();
    let additional = Additional::new(hash, hash);
    let mut txs = Vec::with_capacity(TRANSFERS);
    for nonce in 0..PER_ACCOUNT {
        for (i, key) in keys.iter().enumerate() {
            let to = keys[(i + 1 + nonce as usize) % ACCOUNTS].public();
            let call = Call::Balances(BalancesCall::TransferKeepAlive {
                dest: to.into(),
                value: 1_000_000,
            });
            let extra = Extra {
                era: Era::Immortal,
                nonce,
                tip: 0,
            };
            txs.push(Extrinsic::sign(key, call, extra, &additional).to_bytes());
        }
    }
    Setup { genesis, txs }
}

fn open(genesis: &GenesisConfig) -> (tempfile::TempDir, Chain) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(&dir.path().join("chain")).expect("sled");
    let chain = Chain::open(Arc::new(store), genesis).expect("chain");
    (dir, chain)
}

fn service(genesis: &GenesisConfig) -> (tempfile::TempDir, ChainService) {
    let (dir, chain) = open(genesis);
    (
        dir,
        ChainService::new(chain, PoolLimits::default(), "bench".into()),
    )
}

fn author(svc: &ChainService) -> SignedBlock {
    let engine = SoloEngine::new(
        Pair::from_uri("//Alice").expect("key"),
        Duration::from_secs(1),
    );
    let budget = Budget {
        max_bytes: usize::MAX,
        max_time: Duration::from_secs(60),
    };
    let slot = svc.chain().head().slot + 1;
    let hash = engine.step(svc, slot, budget).expect("block");
    svc.chain().block(&hash).expect("read").expect("stored")
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("chain/10k-transfers");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(TRANSFERS as u64));

    group.bench_function("admission", |b| {
        b.iter_batched(
            || service(&s.genesis),
            |(_dir, svc)| {
                let admitted = svc.submit_many(&s.txs);
                assert!(admitted.iter().all(Result::is_ok));
                black_box(svc)
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("author", |b| {
        b.iter_batched(
            || {
                let (dir, svc) = service(&s.genesis);
                assert!(svc.submit_many(&s.txs).iter().all(Result::is_ok));
                (dir, svc)
            },
            |(_dir, svc)| {
                let block = author(&svc);
                assert_eq!(block.block.extrinsics.len(), TRANSFERS);
                black_box(svc)
            },
            BatchSize::PerIteration,
        );
    });

    let (_dir, svc) = service(&s.genesis);
    assert!(svc.submit_many(&s.txs).iter().all(Result::is_ok));
    let block = author(&svc);
    assert_eq!(block.block.extrinsics.len(), TRANSFERS);
    group.bench_function("import", |b| {
        b.iter_batched(
            || (open(&s.genesis), block.clone()),
            |((_dir, mut chain), block)| {
                chain.import(block).expect("imports");
                black_box(chain)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
