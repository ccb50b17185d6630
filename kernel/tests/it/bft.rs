//! Four authorities deciding blocks by Tendermint (Malachite) in one process, over loopback
//! TCP: agreement and certificates, a transaction through one authority's pool, progress
//! with one authority down, a stall with two down, and recovery (with sync) when one comes
//! back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ganglion_kernel::chain::consensus::{BftConfig, BftEngine};
use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::extrinsic::{Additional, BalancesCall, Call, Extra, Extrinsic};
use ganglion_kernel::chain::genesis::GenesisConfig;
use ganglion_kernel::chain::hashing::H256;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::ledger::{Chain, verify_certificate};
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::chain::service::ChainService;
use ganglion_kernel::chain::state::Authority;
use ganglion_kernel::chain::store::SledStore;
use ganglion_kernel::chain::units::RAO_PER_TAO;
use libp2p::Multiaddr;

const BLOCK_TIME: Duration = Duration::from_millis(250);

fn pair(uri: &str) -> Pair {
    Pair::from_uri(uri).expect("dev key")
}

fn genesis() -> GenesisConfig {
    let mut config = GenesisConfig::dev();
    config.name = "ganglion bft test".into();
    config.block_time_ms = BLOCK_TIME.as_millis() as u64;
    config.authorities = (1..=4)
        .map(|i| Authority {
            id: pair(&format!("//A{i}")).public(),
            power: 1,
        })
        .collect();
    config
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// One authority: its chain on sled in a temporary directory, and its engine when running.
struct Member {
    key: Pair,
    dir: tempfile::TempDir,
    svc: Arc<ChainService>,
    listen: Multiaddr,
    engine: Option<BftEngine>,
}

impl Member {
    fn open(index: usize, config: &GenesisConfig) -> Member {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(&dir.path().join("chain")).expect("sled");
        let chain = Chain::open(Arc::new(store), config).expect("chain");
        let svc = Arc::new(ChainService::new(
            chain,
            PoolLimits::default(),
            config.name.clone(),
        ));
        Member {
            key: pair(&format!("//A{}", index + 1)),
            dir,
            svc,
            listen: format!("/ip4/127.0.0.1/tcp/{}", free_port())
                .parse()
                .expect("multiaddr"),
            engine: None,
        }
    }

    fn head(&self) -> u32 {
        self.svc.chain().head().number
    }

    fn hash_at(&self, number: u32) -> Option<H256> {
        self.svc.chain().block_hash(number).expect("read")
    }

    fn free(&self, who: &AccountId) -> u64 {
        self.svc.chain().account(who).expect("read").data.free
    }
}

struct Net {
    members: Vec<Member>,
}

impl Net {
    fn new() -> Net {
        let config = genesis();
        Net {
            members: (0..4).map(|i| Member::open(i, &config)).collect(),
        }
    }

    async fn start(&mut self, i: usize) {
        let peers = self
            .members
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, m)| m.listen.clone())
            .collect();
        let m = &mut self.members[i];
        let config = BftConfig {
            key: m.key.clone(),
            listen: m.listen.clone(),
            peers,
            home: m.dir.path().join("bft"),
            block_time: BLOCK_TIME,
        };
        let engine = BftEngine::start(m.svc.clone(), config)
            .await
            .expect("engine starts");
        m.engine = Some(engine);
    }

    async fn stop(&mut self, i: usize) {
        if let Some(engine) = self.members[i].engine.take() {
            engine.stop().await;
        }
    }

    fn running(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.engine.is_some())
    }

    /// Waits until every running member's head is at least `number`.
    async fn wait_running_at(&self, number: u32, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            if self.running().all(|m| m.head() >= number) {
                return;
            }
            if Instant::now() > deadline {
                let heads: Vec<u32> = self.members.iter().map(Member::head).collect();
                panic!("{what}: not every running authority reached {number} (heads {heads:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks that all members agree on every block up to their common height, and that each
    /// stored block's certificate carries more than two thirds of the power.
    fn check_agreement(&self) {
        let common = self.members.iter().map(Member::head).min().unwrap_or(0);
        for number in 1..=common {
            let hash = self.members[0].hash_at(number).expect("block");
            for m in &self.members {
                assert_eq!(m.hash_at(number), Some(hash), "block {number} differs");
            }
        }
        for m in &self.members {
            let chain = m.svc.chain();
            let authorities = chain.authorities().expect("authorities");
            let total: u64 = authorities.iter().map(|a| a.power).sum();
            for number in 1..=chain.head().number {
                let hash = chain.block_hash(number).expect("read").expect("hash");
                let signed = chain.block(&hash).expect("read").expect("block");
                assert_eq!(signed.block.header.hash(), hash);
                chain.verify_seal(&signed).expect("seal verifies");
                verify_certificate(
                    &chain.genesis_hash(),
                    &authorities,
                    number,
                    &hash,
                    &signed.certificate,
                )
                .expect("certificate verifies");
                let mut voters: Vec<AccountId> = signed
                    .certificate
                    .votes
                    .iter()
                    .map(|v| v.authority)
                    .collect();
                voters.sort();
                voters.dedup();
                assert_eq!(voters.len(), signed.certificate.votes.len());
                let power: u64 = voters
                    .iter()
                    .map(|v| {
                        authorities
                            .iter()
                            .find(|a| a.id == *v)
                            .expect("an authority")
                            .power
                    })
                    .sum();
                assert!(3 * power > 2 * total, "block {number}: {power} of {total}");
            }
        }
    }
}

fn transfer(svc: &ChainService, from: &Pair, to: AccountId, value: u64) -> Vec<u8> {
    let chain = svc.chain();
    let nonce = chain.account(&from.public()).expect("read").nonce;
    let genesis = chain.genesis_hash();
    let extra = Extra {
        era: Era::Immortal,
        nonce,
        tip: 0,
    };
    Extrinsic::sign(
        from,
        Call::Balances(BalancesCall::TransferKeepAlive {
            dest: to.into(),
            value,
        }),
        extra,
        &Additional::new(genesis, genesis),
    )
    .to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_authorities_finalize_by_tendermint() {
    let mut net = Net::new();
    for i in 0..4 {
        net.start(i).await;
    }
    let ids: Vec<_> = net
        .members
        .iter()
        .map(|m| m.engine.as_ref().expect("running").peer_id())
        .collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "each authority has its own peer id");

    // (a) All four decide the same blocks, with certificates of more than 2/3.
    net.wait_running_at(5, Duration::from_secs(20), "four authorities")
        .await;
    net.check_agreement();

    // (d) A transaction submitted to one authority is included and executed everywhere.
    let alice = pair("//Alice");
    let bob = pair("//Bob").public();
    let before = net.members[3].free(&bob);
    let xt = transfer(&net.members[0].svc, &alice, bob, 7 * RAO_PER_TAO);
    net.members[0].svc.submit(&xt).expect("admitted");
    let deadline = Instant::now() + Duration::from_secs(15);
    while net
        .members
        .iter()
        .any(|m| m.free(&bob) != before + 7 * RAO_PER_TAO)
    {
        assert!(Instant::now() < deadline, "the transfer was not included");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // (b) With one of four stopped, the other three keep finalizing.
    net.stop(3).await;
    let head = net.running().map(Member::head).max().unwrap_or(0);
    net.wait_running_at(head + 4, Duration::from_secs(20), "three authorities")
        .await;

    // (c) With two of four stopped, nothing is finalized ...
    net.stop(2).await;
    tokio::time::sleep(BLOCK_TIME * 4).await;
    let stalled: Vec<u32> = net.members.iter().map(Member::head).collect();
    tokio::time::sleep(BLOCK_TIME * 12).await;
    let later: Vec<u32> = net.members.iter().map(Member::head).collect();
    assert_eq!(stalled, later, "blocks were finalized with half the power");

    // ... until one comes back (the one that missed the most, so it must sync first).
    let top = later.iter().copied().max().unwrap_or(0);
    assert!(
        net.members[3].head() < top,
        "the first stopped authority is behind"
    );
    net.start(3).await;
    net.wait_running_at(top + 3, Duration::from_secs(30), "after the restart")
        .await;
    net.check_agreement();

    for i in 0..4 {
        net.stop(i).await;
    }
}
