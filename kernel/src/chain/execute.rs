//! Executing blocks: a pure function of the parent state and the block.
//!
//! [`BlockBuilder`] is the one place state changes: the author uses it to build a proposal
//! (skipping transactions that no longer apply) and every importing node uses it, through
//! [`execute_block`], to re-execute a block and compare the result with the header. Neither
//! reads the clock, a random source or anything but the parent state and the block.

use std::collections::BTreeMap;
use std::thread;

use parity_scale_codec::{Decode, Encode};

use super::block::{Block, Header, extrinsics_root};
use super::era::BLOCK_HASH_COUNT;
use super::extrinsic::{Additional, BalancesCall, Call, Extrinsic, ExtrinsicError, extrinsic_hash};
use super::hashing::H256;
use super::keys::{self, AccountId, Signature};
use super::state::{
    AccountInfo, Authority, ChainParams, DispatchError, Event, EventRecord, LtHash, keys as k,
};
use super::store::StoreError;
use super::units::Balance;

/// Read access to a committed state.
pub trait StateView: Sync {
    /// The value at state key `key`.
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
}

impl StateView for BTreeMap<Vec<u8>, Vec<u8>> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get(key).cloned())
    }
}

/// The block a new block builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// Its hash.
    pub hash: H256,
    /// Its number.
    pub number: u32,
}

/// Why a transaction is not valid (now, or in this block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not an extrinsic this chain accepts.
    #[error(transparent)]
    Malformed(#[from] ExtrinsicError),
    /// Sent from the all-zero account (CheckNonZeroSender).
    #[error("the sender is the all-zero account, which nobody can sign for")]
    ZeroSender,
    /// The signature does not match.
    #[error(
        "bad signature: it was not made by {signer} over this call for this chain ({genesis}, spec version {spec}, transaction version {tx}); check the genesis hash and runtime version you signed with"
    )]
    BadSignature {
        /// The claimed signer.
        signer: AccountId,
        /// This chain's genesis hash.
        genesis: H256,
        /// This runtime's spec version.
        spec: u32,
        /// This runtime's transaction version.
        tx: u32,
    },
    /// The mortal era has passed.
    #[error(
        "the transaction expired: its mortal era covered blocks {birth}..{death} and the chain is at block {now}; sign it again"
    )]
    Expired {
        /// First block of its window.
        birth: u64,
        /// First block after it.
        death: u64,
        /// The block it would go in.
        now: u64,
    },
    /// The era's birth block is too old (or in the future).
    #[error(
        "the transaction's era begins at block {birth}, whose hash this chain no longer keeps (it keeps the last {BLOCK_HASH_COUNT}); sign it again with a recent block"
    )]
    AncientBirthBlock {
        /// The birth block.
        birth: u64,
    },
    /// The nonce was already used.
    #[error(
        "stale nonce {nonce}: the sender's next nonce is {expected}; the transaction was already applied or replaced"
    )]
    Stale {
        /// The transaction's nonce.
        nonce: u32,
        /// The account's next nonce.
        expected: u32,
    },
    /// The nonce is ahead of the account's.
    #[error("future nonce {nonce}: the sender's next nonce is {expected}")]
    Future {
        /// The transaction's nonce.
        nonce: u32,
        /// The account's next nonce.
        expected: u32,
    },
    /// The sender cannot pay the fee and stay alive.
    #[error(
        "the sender cannot pay the fee: it holds {free} rao and needs {fee} rao of fee plus the {existential_deposit} rao existential deposit"
    )]
    CannotPayFee {
        /// Free balance.
        free: Balance,
        /// Fee with tip.
        fee: Balance,
        /// Existential deposit.
        existential_deposit: Balance,
    },
    /// The fee overflows.
    #[error("the fee overflows a u64; lower the tip")]
    FeeOverflow,
    /// A hotkey's weights call would fail, so it is not free, and the hotkey cannot pay.
    #[error(
        "{reason} (weights calls are free for a registered hotkey only when they would pass this check; otherwise they pay the fee, and this hotkey holds {free} rao)"
    )]
    NotFree {
        /// Why the call would fail.
        reason: super::economy::EconomyError,
        /// The hotkey's free balance.
        free: Balance,
    },
    /// The block has no room left.
    #[error("the block is full")]
    BlockFull,
}

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// It does not build on the current head.
    #[error("block #{number} builds on {got}, but the head is {expected} (#{head})")]
    WrongParent {
        /// The block's number.
        number: u32,
        /// The head's hash.
        expected: H256,
        /// The block's parent.
        got: H256,
        /// The head's number.
        head: u32,
    },
    /// The number is not head + 1.
    #[error("block number {got} does not follow the head (#{head})")]
    WrongNumber {
        /// The block's number.
        got: u32,
        /// The head's number.
        head: u32,
    },
    /// The slot does not increase.
    #[error("slot {slot} is not after the parent's slot {last}")]
    Slot {
        /// The block's slot.
        slot: u64,
        /// The parent's slot.
        last: u64,
    },
    /// The author is not an authority.
    #[error("{0} is not an authority of this chain")]
    NotAnAuthority(AccountId),
    /// The author's signature does not match.
    #[error("the author's signature on the block is invalid")]
    BadAuthorSignature,
    /// Too many bytes or extrinsics.
    #[error(
        "the block has {count} extrinsics in {bytes} bytes; the limits are {max_count} and {max_bytes}"
    )]
    TooLarge {
        /// Extrinsics.
        count: usize,
        /// Bytes.
        bytes: usize,
        /// Most extrinsics.
        max_count: u32,
        /// Most bytes.
        max_bytes: u32,
    },
    /// The extrinsics root does not match the body.
    #[error("extrinsics root mismatch: the header says {claimed}, the body gives {computed}")]
    ExtrinsicsRoot {
        /// In the header.
        claimed: H256,
        /// Computed.
        computed: H256,
    },
    /// An extrinsic is invalid.
    #[error("extrinsic {index} is invalid: {error}")]
    Extrinsic {
        /// Its index.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// Re-execution gives another state.
    #[error(
        "state root mismatch: the header says {claimed}, re-executing the block gives {computed}"
    )]
    StateRoot {
        /// In the header.
        claimed: H256,
        /// Computed.
        computed: H256,
    },
    /// The certificate does not prove a decision.
    #[error("invalid certificate: {0}")]
    Certificate(String),
    /// The parent state could not be read.
    #[error("reading state: {0}")]
    State(String),
}

impl From<StoreError> for BlockError {
    fn from(e: StoreError) -> Self {
        BlockError::State(e.to_string())
    }
}

/// The result of executing a block.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The header (computed for a proposal; the checked one on import).
    pub header: Header,
    /// State writes, in key order: `None` deletes.
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The state hash after the block.
    pub lthash: LtHash,
    /// The block's events.
    pub events: Vec<EventRecord>,
    /// The hashes of the block's extrinsics, in order.
    pub extrinsic_hashes: Vec<H256>,
}

struct Entry {
    original: Option<Vec<u8>>,
    current: Option<Vec<u8>>,
}

/// A journal entry: a key and its value before a write (`None`: not in the overlay then).
type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

/// Reads and writes over a committed state, with a journal so a failed call can be undone.
pub(crate) struct Overlay<'a> {
    base: &'a dyn StateView,
    entries: BTreeMap<Vec<u8>, Entry>,
    journal: Option<Vec<Undo>>,
}

impl<'a> Overlay<'a> {
    fn new(base: &'a dyn StateView) -> Overlay<'a> {
        Overlay {
            base,
            entries: BTreeMap::new(),
            journal: None,
        }
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(e) = self.entries.get(key) {
            return Ok(e.current.clone());
        }
        let value = self.base.read(key)?;
        self.entries.insert(
            key.to_vec(),
            Entry {
                original: value.clone(),
                current: value.clone(),
            },
        );
        Ok(value)
    }

    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        if let Some(e) = self.entries.get_mut(&key) {
            if let Some(journal) = &mut self.journal {
                journal.push((key, Some(std::mem::replace(&mut e.current, value))));
            } else {
                e.current = value;
            }
            return Ok(());
        }
        let original = self.base.read(&key)?;
        if let Some(journal) = &mut self.journal {
            journal.push((key.clone(), None));
        }
        self.entries.insert(
            key,
            Entry {
                original,
                current: value,
            },
        );
        Ok(())
    }

    /// Starts recording writes so that [`Overlay::revert`] can undo them.
    fn begin(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Keeps the writes since [`Overlay::begin`].
    fn keep(&mut self) {
        self.journal = None;
    }

    /// Undoes every write since [`Overlay::begin`].
    fn revert(&mut self) {
        for (key, before) in self.journal.take().unwrap_or_default().into_iter().rev() {
            match before {
                Some(value) => {
                    if let Some(e) = self.entries.get_mut(&key) {
                        e.current = value;
                    }
                }
                None => {
                    self.entries.remove(&key);
                }
            }
        }
    }

    fn decode<T: Decode>(&mut self, key: &[u8]) -> Result<Option<T>, BlockError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => T::decode(&mut &bytes[..]).map(Some).map_err(|e| {
                BlockError::State(format!(
                    "state key 0x{} does not decode: {e}",
                    hex::encode(key)
                ))
            }),
        }
    }
}

/// Why a call failed: a rule said no (the call is undone, its fee kept), or the state could not
/// be read (the block cannot be built).
#[derive(Debug)]
pub(crate) enum Fail {
    /// Refused by a rule.
    Dispatch(DispatchError),
    /// The state is unreadable.
    Fatal(BlockError),
}

impl From<DispatchError> for Fail {
    fn from(e: DispatchError) -> Self {
        Fail::Dispatch(e)
    }
}

impl From<BlockError> for Fail {
    fn from(e: BlockError) -> Self {
        Fail::Fatal(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Fatal(e.into())
    }
}

/// What a call or a block step sees: typed state access, events, issuance, the block number.
pub(crate) struct Ctx<'x, 'a> {
    overlay: &'x mut Overlay<'a>,
    events: &'x mut Vec<EventRecord>,
    issuance: &'x mut Balance,
    burned: &'x mut Balance,
    /// The block being built.
    pub(crate) block: u32,
    /// The extrinsic being applied (`None` during block initialization).
    pub(crate) phase: Option<u32>,
    /// The chain parameters.
    pub(crate) params: ChainParams,
    /// The parent block.
    pub(crate) parent: Parent,
}

impl Ctx<'_, '_> {
    /// Reads and decodes a value.
    pub(crate) fn get<T: Decode>(&mut self, key: &[u8]) -> Result<Option<T>, BlockError> {
        self.overlay.decode(key)
    }

    /// Reads a value or its default.
    pub(crate) fn get_or_default<T: Decode + Default>(
        &mut self,
        key: &[u8],
    ) -> Result<T, BlockError> {
        Ok(self.overlay.decode(key)?.unwrap_or_default())
    }

    /// Writes a value.
    pub(crate) fn put<T: Encode>(&mut self, key: Vec<u8>, value: &T) -> Result<(), BlockError> {
        Ok(self.overlay.set(key, Some(value.encode()))?)
    }

    /// Deletes a value.
    pub(crate) fn remove(&mut self, key: Vec<u8>) -> Result<(), BlockError> {
        Ok(self.overlay.set(key, None)?)
    }

    /// Records an event.
    pub(crate) fn emit(&mut self, event: Event) {
        self.events.push(EventRecord {
            extrinsic: self.phase,
            event,
        });
    }

    /// Every rao in existence.
    pub(crate) fn issuance(&self) -> Balance {
        *self.issuance
    }

    /// Creates `amount` rao (emission).
    pub(crate) fn mint(&mut self, amount: Balance) {
        *self.issuance = self.issuance.saturating_add(amount);
    }

    /// Destroys `amount` rao (burns, fees, dust).
    pub(crate) fn burn(&mut self, amount: Balance) {
        *self.issuance = self.issuance.saturating_sub(amount);
        *self.burned = self.burned.saturating_add(amount);
    }

    /// An account (empty if it does not exist).
    pub(crate) fn account(&mut self, who: &AccountId) -> Result<AccountInfo, BlockError> {
        self.get_or_default(&k::account(who))
    }

    /// Writes an account; one with no providers and nonce 0 is removed.
    pub(crate) fn put_account(
        &mut self,
        who: &AccountId,
        info: &AccountInfo,
    ) -> Result<(), BlockError> {
        if info.providers == 0 && info.nonce == 0 {
            self.remove(k::account(who))
        } else {
            self.put(k::account(who), info)
        }
    }

    /// Takes `amount` from `who`'s free balance (to stake, lock or burn: the caller decides).
    /// With `keep_alive` the account must keep the existential deposit.
    pub(crate) fn withdraw(
        &mut self,
        who: &AccountId,
        amount: Balance,
        keep_alive: bool,
    ) -> Result<(), Fail> {
        let mut info = self.account(who)?;
        let Some(left) = info.data.free.checked_sub(amount) else {
            return Err(DispatchError::InsufficientBalance {
                free: info.data.free,
                needed: amount,
            }
            .into());
        };
        if keep_alive && left < self.params.existential_deposit {
            return Err(DispatchError::KeepAlive.into());
        }
        info.data.free = left;
        self.put_account(who, &info)?;
        Ok(())
    }

    /// Adds `amount` to `who`'s free balance, creating the account if needed (refused below
    /// the existential deposit).
    pub(crate) fn deposit(&mut self, who: &AccountId, amount: Balance) -> Result<(), Fail> {
        let mut info = self.account(who)?;
        if info.providers == 0 {
            if amount < self.params.existential_deposit {
                return Err(DispatchError::ExistentialDeposit.into());
            }
            info.providers = 1;
            self.emit(Event::NewAccount { account: *who });
        }
        info.data.free = info
            .data
            .free
            .checked_add(amount)
            .ok_or(DispatchError::Overflow)?;
        self.put_account(who, &info)?;
        Ok(())
    }
}

/// The hash of block `birth`, if the chain still keeps it, seen from a block building on
/// `parent`.
pub fn birth_hash(
    view: &dyn StateView,
    parent: &Parent,
    birth: u64,
) -> Result<Option<H256>, StoreError> {
    if birth == u64::from(parent.number) {
        return Ok(Some(parent.hash));
    }
    let Ok(number) = u32::try_from(birth) else {
        return Ok(None);
    };
    if number > parent.number {
        return Ok(None);
    }
    Ok(view
        .read(&k::block_hash(number))?
        .and_then(|v| H256::decode(&mut &v[..]).ok()))
}

/// What an extrinsic's signature must cover in the block after `parent`, and the birth block
/// it names.
pub fn signed_payload(
    view: &dyn StateView,
    genesis: &H256,
    parent: &Parent,
    xt: &Extrinsic,
) -> Result<(Vec<u8>, u64), TxError> {
    let now = u64::from(parent.number) + 1;
    let birth = xt.extra.era.birth(now);
    let hash = birth_hash(view, parent, birth)
        .ok()
        .flatten()
        .ok_or(TxError::AncientBirthBlock { birth })?;
    Ok((xt.payload(&Additional::new(*genesis, hash)), birth))
}

/// Explains a signature that does not verify: an expired era, or a bad signature.
pub fn explain_bad_signature(
    view: &dyn StateView,
    genesis: &H256,
    parent: &Parent,
    xt: &Extrinsic,
) -> TxError {
    let now = u64::from(parent.number) + 1;
    if let super::era::Era::Mortal { period, .. } = xt.extra.era {
        // Was it valid in an earlier window (still remembered)? Then it expired.
        let mut birth = xt.extra.era.birth(now);
        while birth >= period {
            birth -= period;
            let Ok(Some(hash)) = birth_hash(view, parent, birth) else {
                break;
            };
            if keys::verify(
                &xt.signature,
                &xt.payload(&Additional::new(*genesis, hash)),
                &xt.signer,
            ) {
                return TxError::Expired {
                    birth,
                    death: birth + period,
                    now,
                };
            }
        }
    }
    TxError::BadSignature {
        signer: xt.signer,
        genesis: *genesis,
        spec: super::extrinsic::RUNTIME_VERSION.spec_version,
        tx: super::extrinsic::RUNTIME_VERSION.transaction_version,
    }
}

/// Verifies many signatures, in batches, on all cores. Returns the index of the first bad one.
pub fn verify_all(items: &[(Vec<u8>, Signature, AccountId)]) -> Result<(), usize> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    let chunk = items.len().div_ceil(threads).max(64);
    let bad: Vec<Option<usize>> = thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    let refs: Vec<(&[u8], Signature, AccountId)> = part
                        .iter()
                        .map(|(m, sig, who)| (m.as_slice(), *sig, *who))
                        .collect();
                    if keys::verify_batch(&refs) {
                        return None;
                    }
                    part.iter()
                        .position(|(m, sig, who)| !keys::verify(sig, m, who))
                        .map(|i| c * chunk + i)
                        .or(Some(c * chunk))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Some(0)))
            .collect()
    });
    match bad.into_iter().flatten().min() {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

/// Builds the state after one block, one extrinsic at a time.
pub struct BlockBuilder<'a> {
    overlay: Overlay<'a>,
    parent: Parent,
    number: u32,
    params: ChainParams,
    authorities: Vec<Authority>,
    total_issuance: Balance,
    /// `Ganglion.TotalBurned` as the block goes, and as it was before (written back at the
    /// end, only if it changed).
    total_burned: (Balance, Balance),
    events: Vec<EventRecord>,
    extrinsics: Vec<Vec<u8>>,
    hashes: Vec<H256>,
    bytes: usize,
}

impl<'a> BlockBuilder<'a> {
    /// Starts block `parent.number + 1` over `view`, the state after `parent`.
    pub fn new(view: &'a dyn StateView, parent: Parent) -> Result<BlockBuilder<'a>, BlockError> {
        let mut overlay = Overlay::new(view);
        let missing = |what: &str| BlockError::State(format!("{what} is missing from state"));
        let params: ChainParams = overlay
            .decode(&k::chain_params())?
            .ok_or_else(|| missing("Ganglion.ChainParams"))?;
        let authorities: Vec<Authority> = overlay
            .decode(&k::authorities())?
            .ok_or_else(|| missing("Ganglion.Authorities"))?;
        let total_issuance: Balance = overlay
            .decode(&k::total_issuance())?
            .ok_or_else(|| missing("Balances.TotalIssuance"))?;
        let total_burned: Balance = overlay.decode(&k::total_burned())?.unwrap_or(0);
        let number = parent
            .number
            .checked_add(1)
            .ok_or_else(|| BlockError::State("the block number would overflow a u32".into()))?;
        // FRAME's on_initialize: remember the parent's hash, forget one beyond the window.
        overlay.set(k::block_hash(parent.number), Some(parent.hash.encode()))?;
        if let Some(old) = parent.number.checked_sub(BLOCK_HASH_COUNT)
            && old > 0
        {
            overlay.set(k::block_hash(old), None)?;
        }
        overlay.set(k::number(), Some(number.encode()))?;
        overlay.set(k::parent_hash(), Some(parent.hash.encode()))?;
        let mut builder = BlockBuilder {
            overlay,
            parent,
            number,
            params,
            authorities,
            total_issuance,
            total_burned: (total_burned, total_burned),
            events: Vec::new(),
            extrinsics: Vec::new(),
            hashes: Vec::new(),
            bytes: 0,
        };
        super::economy::on_initialize(&mut builder.ctx(None))?;
        Ok(builder)
    }

    /// The chain parameters in force.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Number of extrinsics applied so far.
    pub fn len(&self) -> usize {
        self.extrinsics.len()
    }

    /// Whether nothing was applied yet.
    pub fn is_empty(&self) -> bool {
        self.extrinsics.is_empty()
    }

    fn ctx(&mut self, phase: Option<u32>) -> Ctx<'_, 'a> {
        Ctx {
            overlay: &mut self.overlay,
            events: &mut self.events,
            issuance: &mut self.total_issuance,
            burned: &mut self.total_burned.0,
            block: self.number,
            phase,
            params: self.params,
            parent: self.parent,
        }
    }

    /// Applies one extrinsic whose signature was checked against the hash of block
    /// `signed_birth`. On `Err` nothing changed; on `Ok` the fee was paid and the nonce used,
    /// whether the call itself succeeded or failed (see the events; a failed call changes
    /// nothing else).
    pub fn apply(
        &mut self,
        bytes: Vec<u8>,
        xt: &Extrinsic,
        signed_birth: u64,
    ) -> Result<(), TxError> {
        if self.extrinsics.len() >= self.params.max_block_extrinsics as usize
            || self.bytes + bytes.len() > self.params.max_block_bytes as usize
        {
            return Err(TxError::BlockFull);
        }
        if xt.signer.0 == [0; 32] {
            return Err(TxError::ZeroSender);
        }
        let now = u64::from(self.number);
        let birth = xt.extra.era.birth(now);
        if birth != signed_birth {
            let death = xt.extra.era.death(signed_birth);
            return Err(TxError::Expired {
                birth: signed_birth,
                death,
                now,
            });
        }
        let state = |e: BlockError| {
            TxError::Malformed(ExtrinsicError::Malformed {
                field: "state",
                reason: e.to_string(),
            })
        };
        let index = self.extrinsics.len() as u32;
        let mut ctx = self.ctx(Some(index));
        let mut sender = ctx.account(&xt.signer).map_err(state)?;
        if xt.extra.nonce < sender.nonce {
            return Err(TxError::Stale {
                nonce: xt.extra.nonce,
                expected: sender.nonce,
            });
        }
        if xt.extra.nonce > sender.nonce {
            return Err(TxError::Future {
                nonce: xt.extra.nonce,
                expected: sender.nonce,
            });
        }
        let fee = {
            let (block, params) = (ctx.block, ctx.params);
            let overlay = &mut *ctx.overlay;
            let mut get = |key: &[u8]| overlay.get(key).ok().flatten();
            fee_due(&mut get, block, &params, xt, bytes.len(), &sender)?
        };
        sender.data.free -= fee;
        sender.nonce += 1;
        ctx.put_account(&xt.signer, &sender).map_err(state)?;
        ctx.burn(fee);
        let events_before = ctx.events.len();
        let (issuance_before, burned_before) = (*ctx.issuance, *ctx.burned);
        ctx.overlay.begin();
        let outcome = dispatch(&mut ctx, &xt.signer, &xt.call);
        let event = match outcome {
            Ok(()) => {
                ctx.overlay.keep();
                Event::ExtrinsicSuccess { fee }
            }
            Err(Fail::Dispatch(error)) => {
                ctx.overlay.revert();
                ctx.events.truncate(events_before);
                *ctx.issuance = issuance_before;
                *ctx.burned = burned_before;
                Event::ExtrinsicFailed { fee, error }
            }
            Err(Fail::Fatal(e)) => {
                ctx.overlay.revert();
                return Err(state(e));
            }
        };
        ctx.emit(event);
        self.hashes.push(extrinsic_hash(&bytes));
        self.bytes += bytes.len();
        self.extrinsics.push(bytes);
        Ok(())
    }

    /// Ends the block: writes events, slot and issuance, and computes the state root from the
    /// parent's state hash.
    pub fn finish(
        mut self,
        slot: u64,
        author: AccountId,
        parent_lthash: &LtHash,
    ) -> Result<Executed, BlockError> {
        let last: u64 = self.overlay.decode(&k::last_slot())?.unwrap_or(0);
        if slot <= last {
            return Err(BlockError::Slot { slot, last });
        }
        if !self.authorities.iter().any(|a| a.id == author) {
            return Err(BlockError::NotAnAuthority(author));
        }
        self.overlay.set(k::last_slot(), Some(slot.encode()))?;
        self.overlay.set(k::events(), Some(self.events.encode()))?;
        self.overlay
            .set(k::total_issuance(), Some(self.total_issuance.encode()))?;
        let (burned, burned_before) = self.total_burned;
        if burned != burned_before {
            self.overlay.set(k::total_burned(), Some(burned.encode()))?;
        }
        let changed: Vec<(Vec<u8>, Entry)> = self
            .overlay
            .entries
            .into_iter()
            .filter(|(_, e)| e.original != e.current)
            .collect();
        let lthash = update_lthash(parent_lthash, &changed);
        let header = Header {
            parent_hash: self.parent.hash,
            number: self.number,
            state_root: lthash.root(),
            extrinsics_root: extrinsics_root(&self.extrinsics),
            slot,
            author,
        };
        Ok(Executed {
            header,
            writes: changed
                .into_iter()
                .map(|(key, e)| (key, e.current))
                .collect(),
            lthash,
            events: self.events,
            extrinsic_hashes: self.hashes,
        })
    }

    /// The extrinsics applied, in order.
    pub fn extrinsics(&self) -> &[Vec<u8>] {
        &self.extrinsics
    }
}

/// The fee `xt` (`len` bytes, sent by `sender`) pays in block `block`, or why it cannot: a
/// hotkey call that passes `economy::is_free_call` is free; any other pays base + bytes + tip
/// and must leave the sender the existential deposit. `get` reads the state it runs on. The
/// pool and block execution both decide through here, so they never disagree.
pub(crate) fn fee_due(
    get: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    block: u32,
    params: &ChainParams,
    xt: &Extrinsic,
    len: usize,
    sender: &AccountInfo,
) -> Result<Balance, TxError> {
    let free_call = if xt.extra.tip == 0 {
        super::economy::is_free_call(get, block, &xt.signer, &xt.call)
    } else {
        Err(None)
    };
    if free_call.is_ok() {
        return Ok(0);
    }
    let fee = params.fee(len, xt.extra.tip).ok_or(TxError::FeeOverflow)?;
    let ed = params.existential_deposit;
    let free = sender.data.free;
    if sender.providers == 0 || fee.checked_add(ed).is_none_or(|need| free < need) {
        return Err(match free_call {
            Err(Some(reason)) => TxError::NotFree { reason, free },
            _ => TxError::CannotPayFee {
                free,
                fee,
                existential_deposit: ed,
            },
        });
    }
    Ok(fee)
}

/// Runs a call for `from`.
fn dispatch(ctx: &mut Ctx<'_, '_>, from: &AccountId, call: &Call) -> Result<(), Fail> {
    match call {
        Call::Balances(BalancesCall::TransferAllowDeath { dest, value }) => {
            transfer(ctx, from, &dest.0, *value, false)
        }
        Call::Balances(BalancesCall::TransferKeepAlive { dest, value }) => {
            transfer(ctx, from, &dest.0, *value, true)
        }
        other => super::economy::dispatch(ctx, from, other),
    }
}

/// `balances.transfer_*`.
fn transfer(
    ctx: &mut Ctx<'_, '_>,
    from: &AccountId,
    to: &AccountId,
    value: Balance,
    keep_alive: bool,
) -> Result<(), Fail> {
    let ed = ctx.params.existential_deposit;
    let mut sender = ctx.account(from)?;
    let Some(left) = sender.data.free.checked_sub(value) else {
        return Err(DispatchError::InsufficientBalance {
            free: sender.data.free,
            needed: value,
        }
        .into());
    };
    if keep_alive && left < ed {
        return Err(DispatchError::KeepAlive.into());
    }
    if from == to {
        ctx.emit(Event::Transfer {
            from: *from,
            to: *to,
            amount: value,
        });
        return Ok(());
    }
    let recipient = ctx.account(to)?;
    if recipient.providers == 0 && value < ed {
        return Err(DispatchError::ExistentialDeposit.into());
    }
    if recipient.data.free.checked_add(value).is_none() {
        return Err(DispatchError::Overflow.into());
    }
    sender.data.free = left;
    let reaped = left < ed && sender.providers > 0 && !super::economy::holds_anything(ctx, from)?;
    if reaped {
        ctx.burn(left);
        sender = AccountInfo::default();
    }
    ctx.put_account(from, &sender)?;
    ctx.deposit(to, value)?;
    ctx.emit(Event::Transfer {
        from: *from,
        to: *to,
        amount: value,
    });
    if reaped {
        ctx.emit(Event::KilledAccount {
            account: *from,
            dust: left,
        });
    }
    Ok(())
}

/// The parent's state hash with `changed` applied, hashing on all cores.
fn update_lthash(parent: &LtHash, changed: &[(Vec<u8>, Entry)]) -> LtHash {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = changed.len().div_ceil(threads).max(256);
    let parts: Vec<(LtHash, LtHash)> = thread::scope(|s| {
        let handles: Vec<_> = changed
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let (mut added, mut removed) = (LtHash::default(), LtHash::default());
                    for (key, e) in part {
                        if let Some(v) = &e.original {
                            removed.insert(key, v);
                        }
                        if let Some(v) = &e.current {
                            added.insert(key, v);
                        }
                    }
                    (added, removed)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut out = parent.clone();
    for (added, removed) in parts {
        out.add(&added);
        out.sub(&removed);
    }
    out
}

/// Re-executes `block` on `view` (the state after `parent`, whose state hash is
/// `parent_lthash`): checks limits, the extrinsics root, every signature, every extrinsic's
/// validity, and that the resulting state root is the header's.
pub fn execute_block(
    view: &dyn StateView,
    genesis: &H256,
    parent: Parent,
    parent_lthash: &LtHash,
    block: &Block,
) -> Result<Executed, BlockError> {
    let header = &block.header;
    if header.parent_hash != parent.hash {
        return Err(BlockError::WrongParent {
            number: header.number,
            expected: parent.hash,
            got: header.parent_hash,
            head: parent.number,
        });
    }
    if Some(header.number) != parent.number.checked_add(1) {
        return Err(BlockError::WrongNumber {
            got: header.number,
            head: parent.number,
        });
    }
    let computed = extrinsics_root(&block.extrinsics);
    if computed != header.extrinsics_root {
        return Err(BlockError::ExtrinsicsRoot {
            claimed: header.extrinsics_root,
            computed,
        });
    }
    let mut builder = BlockBuilder::new(view, parent)?;
    let bytes: usize = block.extrinsics.iter().map(Vec::len).sum();
    let p = builder.params;
    if block.extrinsics.len() > p.max_block_extrinsics as usize
        || bytes > p.max_block_bytes as usize
    {
        return Err(BlockError::TooLarge {
            count: block.extrinsics.len(),
            bytes,
            max_count: p.max_block_extrinsics,
            max_bytes: p.max_block_bytes,
        });
    }
    let mut decoded = Vec::with_capacity(block.extrinsics.len());
    let mut checks = Vec::with_capacity(block.extrinsics.len());
    for (index, raw) in block.extrinsics.iter().enumerate() {
        let xt = Extrinsic::from_bytes(raw).map_err(|e| BlockError::Extrinsic {
            index,
            error: e.into(),
        })?;
        let (payload, birth) = signed_payload(view, genesis, &parent, &xt)
            .map_err(|error| BlockError::Extrinsic { index, error })?;
        checks.push((payload, xt.signature, xt.signer));
        decoded.push((xt, birth));
    }
    if let Err(index) = verify_all(&checks) {
        let error = decoded
            .get(index)
            .map(|(xt, _)| explain_bad_signature(view, genesis, &parent, xt))
            .unwrap_or(TxError::BlockFull);
        return Err(BlockError::Extrinsic { index, error });
    }
    drop(checks);
    for (index, (raw, (xt, birth))) in block.extrinsics.iter().zip(decoded).enumerate() {
        builder
            .apply(raw.clone(), &xt, birth)
            .map_err(|error| BlockError::Extrinsic { index, error })?;
    }
    let mut executed = builder.finish(header.slot, header.author, parent_lthash)?;
    if executed.header.state_root != header.state_root {
        return Err(BlockError::StateRoot {
            claimed: header.state_root,
            computed: executed.header.state_root,
        });
    }
    executed.header = header.clone();
    Ok(executed)
}
