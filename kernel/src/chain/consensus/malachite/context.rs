//! The chain's types as Malachite sees them: heights, validators, votes, proposals, values.
//!
//! - An address and a validator's public key are the authority's [`AccountId`].
//! - A height is a block number (Malachite's height 1 is block 1).
//! - A value is a proposed [`Block`] with its author's signature; its id is the block hash.
//! - The validator set is the chain's authorities, sorted by account; the proposer of
//!   `(height, round)` is the authority at index `(height + round) mod n` (round robin).

use std::fmt;
use std::sync::Arc;

use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, Round, SignedExtension, VoteType,
};

use super::signing::Sr25519;
use crate::chain::block::Block;
use crate::chain::hashing::H256;
use crate::chain::keys::{AccountId, Signature};
use crate::chain::state::Authority;

/// The consensus context: the chain's types plugged into Malachite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx;

/// A consensus height: a block number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Height(pub(crate) u64);

impl Height {
    /// The block number, if it fits the chain's `u32` numbers.
    pub(crate) fn number(self) -> Option<u32> {
        u32::try_from(self.0).ok()
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

impl mc::Address for AccountId {}

/// A proposed block with its author's signature over the block hash.
#[derive(Clone)]
pub(crate) struct Value {
    /// The block.
    pub(crate) block: Arc<Block>,
    /// The author's signature over the block hash.
    pub(crate) author_signature: Signature,
    /// The block hash (computed once).
    pub(crate) hash: H256,
}

impl Value {
    /// The value for `block` signed by its author.
    pub(crate) fn new(block: Block, author_signature: Signature) -> Value {
        let hash = block.header.hash();
        Value {
            block: Arc::new(block),
            author_signature,
            hash,
        }
    }

    /// The block number.
    pub(crate) fn number(&self) -> u32 {
        self.block.header.number
    }

    fn key(&self) -> (&H256, &Vec<Vec<u8>>, &[u8; 64]) {
        (&self.hash, &self.block.extrinsics, &self.author_signature.0)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("number", &self.block.header.number)
            .field("hash", &self.hash)
            .field("author", &self.block.header.author)
            .field("extrinsics", &self.block.extrinsics.len())
            .finish()
    }
}

// The hash covers the header, and the header covers the body through the extrinsics root for
// any block that passes the check; comparing the body and signature too keeps `Eq` and `Ord`
// consistent for blocks that do not.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl mc::Value for Value {
    type Id = H256;

    fn id(&self) -> H256 {
        self.hash
    }
}

/// One authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validator {
    /// Its account (also its address and public key).
    pub(crate) account: AccountId,
    /// Its voting power.
    pub(crate) power: u64,
}

impl mc::Validator<Ctx> for Validator {
    fn address(&self) -> &AccountId {
        &self.account
    }

    fn public_key(&self) -> &AccountId {
        &self.account
    }

    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The authorities, sorted by account, without duplicates or zero power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
    total: u64,
}

impl ValidatorSet {
    /// The set of `authorities` (sorted; a repeated account keeps its first entry; accounts
    /// with no power are left out).
    pub(crate) fn new(authorities: &[Authority]) -> ValidatorSet {
        let mut validators: Vec<Validator> = authorities
            .iter()
            .filter(|a| a.power > 0)
            .map(|a| Validator {
                account: a.id,
                power: a.power,
            })
            .collect();
        validators.sort_by_key(|v| v.account);
        validators.dedup_by(|a, b| a.account == b.account);
        let total = validators
            .iter()
            .fold(0u64, |sum, v| sum.saturating_add(v.power));
        ValidatorSet {
            validators: Arc::new(validators),
            total,
        }
    }

    /// The validators, sorted by account.
    pub(crate) fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Whether `who` is in the set.
    pub(crate) fn contains(&self, who: &AccountId) -> bool {
        self.find(who).is_some()
    }

    fn find(&self, who: &AccountId) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.account.cmp(who))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    /// The proposer of `round` at `height`: round robin over the sorted set.
    pub(crate) fn proposer(&self, height: Height, round: Round) -> Option<&Validator> {
        let n = u64::try_from(self.validators.len())
            .ok()
            .filter(|n| *n > 0)?;
        let round = u64::from(round.as_u32().unwrap_or(0));
        let index = height.0.wrapping_add(round) % n;
        self.validators.get(usize::try_from(index).ok()?)
    }
}

impl mc::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.total
    }

    fn get_by_address(&self, address: &AccountId) -> Option<&Validator> {
        self.find(address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A prevote or precommit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Vote {
    pub(crate) kind: VoteType,
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: NilOrVal<H256>,
    pub(crate) voter: AccountId,
    pub(crate) extension: Option<SignedExtension<Ctx>>,
}

impl mc::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<H256> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<H256> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &AccountId {
        &self.voter
    }

    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<Ctx>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// A proposal: a value for `(height, round)` by the round's proposer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proposal {
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: Value,
    pub(crate) pol_round: Round,
    pub(crate) proposer: AccountId,
}

impl mc::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &Value {
        &self.value
    }

    fn take_value(self) -> Value {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &AccountId {
        &self.proposer
    }
}

/// One piece of a streamed proposal: the stream opens with `Init`, carries the SCALE
/// encoding of the value (block and author signature) in `Data` chunks, and closes with
/// `Fin`: the proposer's signature over the proposal
/// ([`super::signing::proposal_message`]).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum ProposalPart {
    /// Which proposal the stream carries.
    Init {
        /// The height.
        height: Height,
        /// The round.
        round: Round,
        /// The round in which the value was locked (`Nil` for a new value).
        valid_round: Round,
        /// The round's proposer (who signs `Fin`).
        proposer: AccountId,
    },
    /// A chunk of the encoded value.
    Data(bytes::Bytes),
    /// The proposer's signature over the proposal.
    Fin(Signature),
}

impl fmt::Debug for ProposalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalPart::Init {
                height,
                round,
                valid_round,
                proposer,
            } => f
                .debug_struct("Init")
                .field("height", height)
                .field("round", round)
                .field("valid_round", valid_round)
                .field("proposer", proposer)
                .finish(),
            ProposalPart::Data(bytes) => write!(f, "Data({} bytes)", bytes.len()),
            ProposalPart::Fin(_) => f.write_str("Fin"),
        }
    }
}

impl mc::ProposalPart<Ctx> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The proposer of an empty validator set: an account nobody holds.
static NOBODY: Validator = Validator {
    account: AccountId([0; 32]),
    power: 0,
};

impl mc::Context for Ctx {
    type Address = AccountId;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = Value;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Sr25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        // Malachite never starts a height without validators; were it to, nobody proposes
        // and every round times out.
        validator_set.proposer(height, round).unwrap_or(&NOBODY)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
        pol_round: Round,
        address: AccountId,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<H256>,
        address: AccountId,
    ) -> Vote {
        Vote {
            kind: VoteType::Prevote,
            height,
            round,
            value: value_id,
            voter: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<H256>,
        address: AccountId,
    ) -> Vote {
        Vote {
            kind: VoteType::Precommit,
            height,
            round,
            value: value_id,
            voter: address,
            extension: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    #[test]
    fn proposers_rotate_over_the_sorted_set() {
        let set = ValidatorSet::new(&[
            Authority {
                id: account(3),
                power: 1,
            },
            Authority {
                id: account(1),
                power: 1,
            },
            Authority {
                id: account(2),
                power: 0,
            },
            Authority {
                id: account(1),
                power: 5,
            },
        ]);
        assert_eq!(set.validators().len(), 2);
        assert_eq!(mc::ValidatorSet::<Ctx>::total_voting_power(&set), 2);
        let p = |h, r| set.proposer(Height(h), Round::new(r)).map(|v| v.account);
        assert_eq!(p(0, 0), Some(account(1)));
        assert_eq!(p(1, 0), Some(account(3)));
        assert_eq!(p(1, 1), Some(account(1)));
        assert_eq!(p(2, 0), Some(account(1)));
        assert!(
            ValidatorSet::new(&[])
                .proposer(Height(1), Round::ZERO)
                .is_none()
        );
    }
}
