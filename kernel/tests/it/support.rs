//! Helpers shared by the economy's tests: an in-process dev chain driven block by block, call
//! helpers, the "a refused call changes nothing but its fee and nonce" check, and the economy's
//! invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ganglion_kernel::chain::Chain;
use ganglion_kernel::chain::consensus::{Budget, SoloEngine};
use ganglion_kernel::chain::economy::{self, EconomyError, Metagraph, Totals, Vector, keys, query};
use ganglion_kernel::chain::era::Era;
use ganglion_kernel::chain::execute::StateView;
use ganglion_kernel::chain::extrinsic::{
    Additional, AdminCall, Call, Extra, Extrinsic, OwnerParam, RootParam, SubnetsCall,
};
use ganglion_kernel::chain::genesis::{GenesisConfig, MAX_SUPPLY};
use ganglion_kernel::chain::hashing::storage_prefix;
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::pool::PoolLimits;
use ganglion_kernel::chain::service::ChainService;
use ganglion_kernel::chain::state::{AccountInfo, DispatchError, Event, EventRecord, keys as sk};
use ganglion_kernel::chain::store::{MemStore, Store};
use ganglion_kernel::chain::units::{Balance, RAO_PER_TAO};
use parity_scale_codec::Decode;

/// A dev chain in memory, with a handle on its store.
pub(crate) struct Net {
    pub(crate) svc: ChainService,
    pub(crate) store: Arc<MemStore>,
    /// The issuance at genesis.
    endowment: Balance,
}

pub(crate) fn pair(uri: &str) -> Pair {
    Pair::from_uri(uri).expect("dev key")
}

/// Whether `a` and `b` hold the same value at `key`, where each is a block's writes over
/// `base` (a key a block did not write keeps its value in `base`).
fn value_at(
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    base: &dyn StateView,
    key: &[u8],
) -> Option<Vec<u8>> {
    match writes.get(key) {
        Some(v) => v.clone(),
        None => base.read(key).expect("read"),
    }
}

fn decode<T: Decode>(bytes: Option<Vec<u8>>) -> Option<T> {
    bytes.map(|b| T::decode(&mut &b[..]).expect("decodes"))
}

impl Net {
    pub(crate) fn new() -> Net {
        Net::with(&GenesisConfig::dev())
    }

    pub(crate) fn with(config: &GenesisConfig) -> Net {
        let store = Arc::new(MemStore::default());
        let chain = Chain::open(store.clone(), config).expect("open");
        let endowment = chain.total_issuance().expect("issuance");
        Net {
            svc: ChainService::new(chain, PoolLimits::default(), "test".into()),
            store,
            endowment,
        }
    }

    /// The head block's number.
    pub(crate) fn head(&self) -> u32 {
        self.svc.chain().head().number
    }

    pub(crate) fn step(&self) {
        let slot = self.svc.chain().head().slot + 1;
        let budget = Budget {
            max_bytes: usize::MAX,
            max_time: Duration::from_secs(30),
        };
        SoloEngine::new(pair("//Alice"), Duration::from_secs(1))
            .step(&self.svc, slot, budget)
            .expect("block");
    }

    /// Steps until the head is block `number`.
    pub(crate) fn step_to(&self, number: u32) {
        while self.head() < number {
            self.step();
        }
    }

    /// Steps until the head is the next block at which subnet `netuid` (with `tempo`) runs its
    /// epoch; returns that block's number.
    pub(crate) fn next_epoch(&self, netuid: u16, tempo: u16) -> u32 {
        let head = self.head();
        let at = (head + 1..=head + u32::from(tempo) + 1)
            .find(|b| economy::epoch_due(*b, netuid, tempo))
            .expect("an epoch within a tempo");
        self.step_to(at);
        at
    }

    /// `call` signed by `who` with its next nonce, as extrinsic bytes.
    pub(crate) fn sign(&self, who: &Pair, call: Call) -> Vec<u8> {
        let chain = self.svc.chain();
        let nonce = chain.account(&who.public()).expect("read").nonce;
        let extra = Extra {
            era: Era::Immortal,
            nonce,
            tip: 0,
        };
        let genesis = chain.genesis_hash();
        Extrinsic::sign(who, call, extra, &Additional::new(genesis, genesis)).to_bytes()
    }

    /// Includes `bytes` in the next block; returns the call's outcome.
    pub(crate) fn include(&self, bytes: &[u8]) -> Result<(), DispatchError> {
        self.svc.submit(bytes).expect("admitted");
        self.step();
        let events = self.events();
        for record in events.iter().filter(|r| r.extrinsic == Some(0)) {
            match &record.event {
                Event::ExtrinsicSuccess { .. } => return Ok(()),
                Event::ExtrinsicFailed { error, .. } => return Err(*error),
                _ => {}
            }
        }
        panic!("no outcome in {events:?}")
    }

    /// `calls` signed by `who` with consecutive nonces from its next one.
    pub(crate) fn sign_many(&self, who: &Pair, calls: Vec<Call>) -> Vec<Vec<u8>> {
        let chain = self.svc.chain();
        let first = chain.account(&who.public()).expect("read").nonce;
        let genesis = chain.genesis_hash();
        calls
            .into_iter()
            .zip(first..)
            .map(|(call, nonce)| {
                let extra = Extra {
                    era: Era::Immortal,
                    nonce,
                    tip: 0,
                };
                Extrinsic::sign(who, call, extra, &Additional::new(genesis, genesis)).to_bytes()
            })
            .collect()
    }

    /// Includes all of `txs` in the next block; returns the outcomes in block order.
    pub(crate) fn include_all(&self, txs: &[Vec<u8>]) -> Vec<Result<(), DispatchError>> {
        for r in self.svc.submit_many(txs) {
            r.expect("admitted");
        }
        self.step();
        let outcomes: Vec<Result<(), DispatchError>> = self
            .events()
            .into_iter()
            .filter(|r| r.extrinsic.is_some())
            .filter_map(|r| match r.event {
                Event::ExtrinsicSuccess { .. } => Some(Ok(())),
                Event::ExtrinsicFailed { error, .. } => Some(Err(error)),
                _ => None,
            })
            .collect();
        assert_eq!(outcomes.len(), txs.len(), "every extrinsic is included");
        outcomes
    }

    /// Submits `call` signed by `who` and includes it in the next block; returns the outcome.
    pub(crate) fn call(&self, who: &Pair, call: Call) -> Result<(), DispatchError> {
        let bytes = self.sign(who, call);
        self.include(&bytes)
    }

    pub(crate) fn ok(&self, who: &Pair, call: Call) {
        if let Err(e) = self.call(who, call) {
            panic!("call refused: {e}");
        }
    }

    /// Runs `bytes` alone in a block built on the head (without committing it) and, when the
    /// call is refused, checks that the block differs from an empty block on the same head
    /// only in the signer's account (fee and nonce), the issuance and the burned total (the
    /// fee) and the events (one `ExtrinsicFailed` more). Returns the outcome and the fee.
    pub(crate) fn outcome_alone(&self, bytes: &[u8]) -> (Result<(), DispatchError>, Balance) {
        let chain = self.svc.chain();
        let xt = Extrinsic::from_bytes(bytes).expect("decodes");
        let head = chain.head().clone();
        let birth = xt.extra.era.birth(u64::from(head.number) + 1);
        let state = chain.state();
        let (slot, author) = (head.slot + 1, pair("//Alice").public());
        let empty = chain
            .builder(&state)
            .expect("builder")
            .finish(slot, author, chain.lthash())
            .expect("empty block");
        let mut builder = chain.builder(&state).expect("builder");
        builder
            .apply(bytes.to_vec(), &xt, birth)
            .expect("the extrinsic applies");
        let with = builder.finish(slot, author, chain.lthash()).expect("block");
        let (outcome, fee) = with
            .events
            .iter()
            .find_map(|r| match &r.event {
                Event::ExtrinsicSuccess { fee } => Some((Ok(()), *fee)),
                Event::ExtrinsicFailed { fee, error } => Some((Err(*error), *fee)),
                _ => None,
            })
            .expect("an outcome");
        if outcome.is_ok() {
            return (outcome, fee);
        }
        let a: BTreeMap<Vec<u8>, Option<Vec<u8>>> = empty.writes.into_iter().collect();
        let b: BTreeMap<Vec<u8>, Option<Vec<u8>>> = with.writes.into_iter().collect();
        let signer = sk::account(&xt.signer);
        let allowed: BTreeSet<Vec<u8>> = [
            signer.clone(),
            sk::total_issuance(),
            sk::total_burned(),
            sk::events(),
        ]
        .into_iter()
        .collect();
        for key in a.keys().chain(b.keys()) {
            if !allowed.contains(key) {
                assert_eq!(
                    value_at(&a, &state, key),
                    value_at(&b, &state, key),
                    "the refused call {:?} ({outcome:?}) changed state key 0x{}",
                    xt.call.name(),
                    hex::encode(key)
                );
            }
        }
        let before: AccountInfo = decode(value_at(&a, &state, &signer)).unwrap_or_default();
        let after: AccountInfo = decode(value_at(&b, &state, &signer)).unwrap_or_default();
        assert_eq!(after.nonce, before.nonce + 1, "the nonce is used");
        assert_eq!(after.data.free + fee, before.data.free, "the fee is paid");
        assert_eq!(
            (after.providers, after.consumers, after.data.reserved),
            (before.providers, before.consumers, before.data.reserved)
        );
        let issuance = |m| decode::<Balance>(value_at(m, &state, &sk::total_issuance()));
        assert_eq!(
            issuance(&b).expect("issuance") + fee,
            issuance(&a).expect("issuance")
        );
        let burned = |m| decode::<Balance>(value_at(m, &state, &sk::total_burned())).unwrap_or(0);
        assert_eq!(burned(&b), burned(&a) + fee);
        let (last, rest) = with.events.split_last().expect("events");
        assert_eq!(rest, &empty.events[..], "the refused call emitted events");
        assert!(matches!(last.event, Event::ExtrinsicFailed { .. }));
        (outcome, fee)
    }

    /// Submits `call`, expects an economy refusal that changed nothing but the fee and nonce
    /// (see [`Net::outcome_alone`]), includes it, and returns the refusal and the fee.
    pub(crate) fn refused_with_fee(&self, who: &Pair, call: Call) -> (EconomyError, Balance) {
        let bytes = self.sign(who, call);
        let (alone, fee) = self.outcome_alone(&bytes);
        let included = self.include(&bytes);
        assert_eq!(
            alone, included,
            "the same call in the block gives the same outcome"
        );
        match included {
            Err(DispatchError::Economy(e)) => (e, fee),
            other => panic!("expected an economy refusal, got {other:?}"),
        }
    }

    /// As [`Net::refused_with_fee`], the refusal only.
    pub(crate) fn refused(&self, who: &Pair, call: Call) -> EconomyError {
        self.refused_with_fee(who, call).0
    }

    /// An account's free balance.
    pub(crate) fn free(&self, who: &AccountId) -> Balance {
        self.svc.chain().account(who).expect("read").data.free
    }

    /// The head block's events.
    pub(crate) fn events(&self) -> Vec<EventRecord> {
        self.svc.chain().events().expect("events")
    }

    pub(crate) fn metagraph(&self, netuid: u16) -> Metagraph {
        query::metagraph(&self.svc.chain().state(), netuid)
            .expect("read")
            .expect("subnet")
    }

    pub(crate) fn totals(&self) -> Totals {
        query::totals(&self.svc.chain().state()).expect("totals")
    }

    /// A raw economy value.
    pub(crate) fn get<T: Decode>(&self, key: &[u8]) -> Option<T> {
        decode(self.svc.chain().storage(key).expect("read"))
    }

    /// Every state pair whose key starts with `prefix`.
    fn scan(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut full = vec![b's'];
        full.extend_from_slice(prefix);
        self.store
            .scan_prefix(&full)
            .expect("scan")
            .into_iter()
            .map(|(k, v)| (k[1..].to_vec(), v))
            .collect()
    }

    /// Checks the economy's invariants on the head state (see `docs/economics.md`).
    pub(crate) fn check_invariants(&self) {
        let (totals, issuance, free, netuids) = {
            let chain = self.svc.chain();
            let state = chain.state();
            (
                query::totals(&state).expect("totals"),
                chain.total_issuance().expect("issuance"),
                ganglion_kernel::chain::ledger::all_free(&chain).expect("scan"),
                query::netuids(&state).expect("netuids"),
            )
        };
        assert_eq!(
            issuance,
            free + totals.stake + totals.locked + totals.pending,
            "issuance = free + stake + locked + pending ({totals:?})"
        );
        assert!(issuance <= MAX_SUPPLY, "issuance {issuance} above the cap");
        let burned: Balance = self.get(&sk::total_burned()).unwrap_or(0);
        assert_eq!(
            issuance + burned,
            self.endowment + totals.minted,
            "issuance = endowment + minted - burned"
        );
        let mut pending: Balance = 0;
        let mut locked: Balance = 0;
        for netuid in netuids {
            pending += self.get::<Balance>(&keys::pending(netuid)).unwrap_or(0);
            pending += self
                .get::<Balance>(&keys::pending_owner_cut(netuid))
                .unwrap_or(0);
            locked += self
                .get::<economy::SubnetInfo>(&keys::subnet(netuid))
                .expect("subnet")
                .locked;
            self.check_subnet(netuid);
        }
        assert_eq!(pending, totals.pending, "Σ subnet pending = totals.pending");
        assert_eq!(locked, totals.locked, "Σ subnet locks = totals.locked");
        // Stake: every Stake(hotkey, coldkey) entry, grouped by hotkey, sums to the hotkey's
        // total; the totals sum to totals.stake; Stakers and StakedHotkeys list exactly the
        // nonzero entries.
        let account = |bytes: &[u8]| AccountId(bytes.try_into().expect("32 bytes"));
        let mut by_hotkey: BTreeMap<AccountId, Vec<(AccountId, Balance)>> = BTreeMap::new();
        let mut by_coldkey: BTreeMap<AccountId, Vec<AccountId>> = BTreeMap::new();
        for (key, value) in self.scan(&storage_prefix("SubtensorModule", "Stake")) {
            // prefix (32) ++ blake2_128(hotkey) (16) ++ hotkey (32) ++ blake2_128(coldkey) (16)
            // ++ coldkey (32)
            assert_eq!(key.len(), 128);
            let (hotkey, coldkey) = (account(&key[48..80]), account(&key[96..128]));
            let staked = Balance::decode(&mut &value[..]).expect("stake");
            assert!(staked > 0, "a zero stake entry is kept");
            by_hotkey.entry(hotkey).or_default().push((coldkey, staked));
            by_coldkey.entry(coldkey).or_default().push(hotkey);
        }
        let mut all: Balance = 0;
        let mut with_total = BTreeSet::new();
        for (key, value) in self.scan(&storage_prefix("SubtensorModule", "TotalHotkeyStake")) {
            let hotkey = account(&key[48..80]);
            let total = Balance::decode(&mut &value[..]).expect("total");
            let entries = by_hotkey.get(&hotkey).cloned().unwrap_or_default();
            let sum: Balance = entries.iter().map(|(_, s)| s).sum();
            assert_eq!(sum, total, "Σ stake on {hotkey} = its total");
            let mut stakers: Vec<AccountId> = entries.iter().map(|(c, _)| *c).collect();
            stakers.sort();
            let listed: Vec<AccountId> = self.get(&keys::stakers(&hotkey)).unwrap_or_default();
            assert_eq!(listed, stakers, "Stakers({hotkey})");
            with_total.insert(hotkey);
            all += total;
        }
        for hotkey in by_hotkey.keys() {
            assert!(
                with_total.contains(hotkey),
                "{hotkey} has stake but no total"
            );
        }
        assert_eq!(all, totals.stake, "Σ hotkey totals = totals.stake");
        for hotkeys in by_coldkey.values_mut() {
            hotkeys.sort();
        }
        for (key, value) in self.scan(&storage_prefix("SubtensorModule", "StakedHotkeys")) {
            let coldkey = account(&key[48..80]);
            let listed = Vec::<AccountId>::decode(&mut &value[..]).expect("hotkeys");
            let staked = by_coldkey.remove(&coldkey).unwrap_or_default();
            assert_eq!(listed, staked, "StakedHotkeys({coldkey})");
        }
        assert!(
            by_coldkey.is_empty(),
            "stake without StakedHotkeys: {by_coldkey:?}"
        );
    }

    /// A subnet's UIDs: Keys and Uids agree both ways, no hotkey holds two UIDs, and every
    /// per-UID vector has one entry per UID.
    fn check_subnet(&self, netuid: u16) {
        let hotkeys: Vec<AccountId> = self.get(&keys::hotkeys(netuid)).unwrap_or_default();
        let n = hotkeys.len();
        let distinct: BTreeSet<&AccountId> = hotkeys.iter().collect();
        assert_eq!(distinct.len(), n, "a hotkey holds two UIDs on {netuid}");
        for (uid, hotkey) in hotkeys.iter().enumerate() {
            assert_eq!(
                self.get::<u16>(&keys::uid(netuid, hotkey)),
                Some(uid as u16),
                "Uids({netuid}, {hotkey})"
            );
        }
        let any = keys::uid(netuid, &AccountId([0; 32]));
        let prefix = &any[..any.len() - 48];
        let uids = self.scan(prefix);
        assert_eq!(uids.len(), n, "Uids({netuid}) has one entry per UID");
        for (key, value) in uids {
            let hotkey = AccountId(key[key.len() - 32..].try_into().expect("32 bytes"));
            let uid = u16::decode(&mut &value[..]).expect("uid");
            assert_eq!(
                hotkeys.get(usize::from(uid)),
                Some(&hotkey),
                "Keys({netuid})[{uid}]"
            );
        }
        let params: economy::SubnetParams = self.get(&keys::params(netuid)).expect("params");
        assert!(n <= usize::from(params.max_uids), "more UIDs than max_uids");
        for v in [Vector::Active, Vector::ValidatorPermit] {
            let got: Vec<bool> = self.get(&keys::vector(netuid, v)).expect("vector");
            assert_eq!(got.len(), n, "{v:?} of {netuid}");
        }
        for v in [
            Vector::StakeWeight,
            Vector::Consensus,
            Vector::Incentive,
            Vector::Dividends,
            Vector::ValidatorTrust,
        ] {
            let got: Vec<u16> = self.get(&keys::vector(netuid, v)).expect("vector");
            assert_eq!(got.len(), n, "{v:?} of {netuid}");
        }
        for v in [
            Vector::Emission,
            Vector::LastUpdate,
            Vector::BlockAtRegistration,
        ] {
            let got: Vec<u64> = self.get(&keys::vector(netuid, v)).expect("vector");
            assert_eq!(got.len(), n, "{v:?} of {netuid}");
        }
        for uid in n as u16..n as u16 + 8 {
            assert!(
                self.get::<Vec<(u16, u16)>>(&keys::weights(netuid, uid))
                    .is_none()
            );
            assert!(
                self.get::<Vec<(u16, u16)>>(&keys::bonds(netuid, uid))
                    .is_none()
            );
        }
        // Pending commits: Committers lists exactly the registered hotkeys with commits.
        let committers: Vec<AccountId> = self.get(&keys::committers(netuid)).unwrap_or_default();
        let mut sorted = committers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted, committers,
            "Committers({netuid}) is sorted, without repeats"
        );
        let any = keys::commits(netuid, &AccountId([0; 32]));
        let mut with_commits = Vec::new();
        for (key, value) in self.scan(&any[..any.len() - 48]) {
            let hotkey = AccountId(key[key.len() - 32..].try_into().expect("32 bytes"));
            let commits = Vec::<economy::WeightCommit>::decode(&mut &value[..]).expect("commits");
            assert!(
                (1..=10).contains(&commits.len()),
                "{} commits of {hotkey}",
                commits.len()
            );
            assert!(
                hotkeys.contains(&hotkey),
                "{hotkey} commits but holds no UID"
            );
            with_commits.push(hotkey);
        }
        with_commits.sort();
        assert_eq!(with_commits, committers, "Committers({netuid})");
    }
}

/// Lowers the lock cost floor to 10 TAO (as root) and creates a subnet owned by `owner`.
pub(crate) fn create_subnet(net: &Net, owner: &Pair, hotkey: AccountId) -> u16 {
    net.ok(
        &pair("//Alice"),
        Call::Admin(AdminCall::Set {
            param: RootParam::MinLockCost(10 * RAO_PER_TAO),
        }),
    );
    net.ok(
        owner,
        Call::Subnets(SubnetsCall::Create {
            hotkey,
            name: b"test".to_vec(),
        }),
    );
    *query::netuids(&net.svc.chain().state())
        .expect("netuids")
        .last()
        .expect("a subnet")
}

/// Sets a hyperparameter (signed by the owner).
pub(crate) fn set(net: &Net, owner: &Pair, netuid: u16, param: OwnerParam) {
    net.ok(
        owner,
        Call::Subnets(SubnetsCall::SetHyperparameter { netuid, param }),
    );
}
