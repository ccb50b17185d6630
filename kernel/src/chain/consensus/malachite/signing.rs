//! What each consensus message signs, with the authorities' sr25519 keys.
//!
//! Every message is domain-separated by a tag and bound to the chain's genesis hash:
//!
//! | message | bytes signed (SCALE) |
//! |---|---|
//! | precommit for block `hash` | [`vote_message`]`(genesis, number, round, hash)` (`"ganglion/commit/v1"`) |
//! | any other vote (prevote, nil) | `("ganglion/vote/v1", genesis, kind, height, round, value)` |
//! | proposal | `("ganglion/proposal/v1", genesis, height, round, valid_round, hash, proposer)` |
//! | proposal part | `("ganglion/part/v1", genesis, part)` |
//! | vote extension (unused) | `("ganglion/vote-ext/v1", genesis)` |
//!
//! Precommits for a block sign exactly what the chain's [`Certificate`] votes sign, so the
//! commit certificate Malachite assembles is the chain's certificate, signature for
//! signature.
//!
//! [`Certificate`]: crate::chain::block::Certificate

use std::fmt;

use malachitebft_app_channel::app::types::core::{
    NilOrVal, Round, SignedMessage, SigningProvider, SigningScheme, VoteType,
};
use parity_scale_codec::Encode;

use super::codec::encode_part;
use super::context::{Ctx, Proposal, ProposalPart, Vote};
use crate::chain::block::vote_message;
use crate::chain::hashing::H256;
use crate::chain::keys::{self, AccountId, Pair, Signature};

/// The sr25519 signing scheme of the chain's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sr25519;

/// An sr25519 signature, ordered by its bytes (Malachite keeps signatures in ordered sets).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sig(pub(crate) Signature);

impl PartialOrd for Sig {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sig {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.0.cmp(&other.0.0)
    }
}

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A signature that is not 64 bytes long.
#[derive(Debug, thiserror::Error)]
#[error("an sr25519 signature is 64 bytes, got {0}")]
pub(crate) struct SignatureLength(usize);

impl SigningScheme for Sr25519 {
    type DecodingError = SignatureLength;
    type Signature = Sig;
    type PublicKey = AccountId;
    type PrivateKey = Pair;

    fn decode_signature(bytes: &[u8]) -> Result<Sig, SignatureLength> {
        <[u8; 64]>::try_from(bytes)
            .map(|b| Sig(Signature(b)))
            .map_err(|_| SignatureLength(bytes.len()))
    }

    fn encode_signature(signature: &Sig) -> Vec<u8> {
        signature.0.0.to_vec()
    }
}

fn vote_kind(kind: VoteType) -> u8 {
    match kind {
        VoteType::Prevote => 0,
        VoteType::Precommit => 1,
    }
}

/// The bytes a vote signs (see the module docs).
pub(crate) fn vote_bytes(genesis: &H256, vote: &Vote) -> Vec<u8> {
    match (
        vote.kind,
        &vote.value,
        vote.height.number(),
        vote.round.as_u32(),
    ) {
        (VoteType::Precommit, NilOrVal::Val(hash), Some(number), Some(round)) => {
            vote_message(genesis, number, round, hash)
        }
        _ => {
            let value = match &vote.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(hash) => Some(*hash),
            };
            (
                b"ganglion/vote/v1",
                genesis,
                vote_kind(vote.kind),
                vote.height.0,
                vote.round.as_u32(),
                value,
            )
                .encode()
        }
    }
}

/// The bytes a proposal signs: `(height, round, valid_round)`, the block hash and the
/// proposer (see the module docs). The proposer signs these for a streamed proposal too.
pub(crate) fn proposal_message(
    genesis: &H256,
    height: u64,
    round: Round,
    valid_round: Round,
    hash: &H256,
    proposer: &AccountId,
) -> Vec<u8> {
    (
        b"ganglion/proposal/v1",
        genesis,
        height,
        round.as_u32(),
        valid_round.as_u32(),
        hash,
        proposer,
    )
        .encode()
}

fn part_bytes(genesis: &H256, part: &ProposalPart) -> Vec<u8> {
    let mut out = (b"ganglion/part/v1", genesis).encode();
    encode_part(part, &mut out);
    out
}

fn extension_bytes(genesis: &H256) -> Vec<u8> {
    (b"ganglion/vote-ext/v1", genesis).encode()
}

fn proposal_bytes(genesis: &H256, proposal: &Proposal) -> Vec<u8> {
    proposal_message(
        genesis,
        proposal.height.0,
        proposal.round,
        proposal.pol_round,
        &proposal.value.hash,
        &proposal.proposer,
    )
}

/// Signs and verifies consensus messages for one authority of one chain.
pub(crate) struct Signer {
    key: Pair,
    genesis: H256,
}

impl Signer {
    /// A signer with `key` for the chain with `genesis`.
    pub(crate) fn new(key: Pair, genesis: H256) -> Signer {
        Signer { key, genesis }
    }
}

impl SigningProvider<Ctx> for Signer {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<Ctx, Vote> {
        let signature = Sig(self.key.sign(&vote_bytes(&self.genesis, &vote)));
        SignedMessage::new(vote, signature)
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Sig, public_key: &AccountId) -> bool {
        keys::verify(&signature.0, &vote_bytes(&self.genesis, vote), public_key)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<Ctx, Proposal> {
        let signature = Sig(self.key.sign(&proposal_bytes(&self.genesis, &proposal)));
        SignedMessage::new(proposal, signature)
    }

    fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Sig,
        public_key: &AccountId,
    ) -> bool {
        keys::verify(
            &signature.0,
            &proposal_bytes(&self.genesis, proposal),
            public_key,
        )
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<Ctx, ProposalPart> {
        let signature = Sig(self.key.sign(&part_bytes(&self.genesis, &part)));
        SignedMessage::new(part, signature)
    }

    fn verify_signed_proposal_part(
        &self,
        part: &ProposalPart,
        signature: &Sig,
        public_key: &AccountId,
    ) -> bool {
        keys::verify(&signature.0, &part_bytes(&self.genesis, part), public_key)
    }

    fn sign_vote_extension(&self, extension: ()) -> SignedMessage<Ctx, ()> {
        let signature = Sig(self.key.sign(&extension_bytes(&self.genesis)));
        SignedMessage::new(extension, signature)
    }

    fn verify_signed_vote_extension(
        &self,
        _extension: &(),
        signature: &Sig,
        public_key: &AccountId,
    ) -> bool {
        keys::verify(&signature.0, &extension_bytes(&self.genesis), public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::consensus::malachite::context::Height;
    use malachitebft_app_channel::app::types::core::Context as _;

    fn precommit(value: NilOrVal<H256>, kind: VoteType) -> Vote {
        let voter = Pair::from_uri("//A1").unwrap().public();
        match kind {
            VoteType::Precommit => Ctx.new_precommit(Height(7), Round::new(2), value, voter),
            VoteType::Prevote => Ctx.new_prevote(Height(7), Round::new(2), value, voter),
        }
    }

    #[test]
    fn a_precommit_for_a_block_signs_the_chains_vote_message() {
        let key = Pair::from_uri("//A1").unwrap();
        let genesis = H256([9; 32]);
        let signer = Signer::new(key.clone(), genesis);
        let hash = H256([5; 32]);
        let signed = signer.sign_vote(precommit(NilOrVal::Val(hash), VoteType::Precommit));
        assert!(keys::verify(
            &signed.signature.0,
            &vote_message(&genesis, 7, 2, &hash),
            &key.public()
        ));
        assert!(signer.verify_signed_vote(&signed.message, &signed.signature, &key.public()));

        // Prevotes and nil votes sign other messages.
        let prevote = signer.sign_vote(precommit(NilOrVal::Val(hash), VoteType::Prevote));
        assert!(!keys::verify(
            &prevote.signature.0,
            &vote_message(&genesis, 7, 2, &hash),
            &key.public()
        ));
        assert!(!signer.verify_signed_vote(
            &precommit(NilOrVal::Val(hash), VoteType::Precommit),
            &prevote.signature,
            &key.public()
        ));
        let nil = signer.sign_vote(precommit(NilOrVal::Nil, VoteType::Precommit));
        assert!(signer.verify_signed_vote(&nil.message, &nil.signature, &key.public()));
        assert!(!signer.verify_signed_vote(
            &precommit(NilOrVal::Nil, VoteType::Prevote),
            &nil.signature,
            &key.public()
        ));
        // Another chain does not accept it.
        let other = Signer::new(key.clone(), H256([8; 32]));
        assert!(!other.verify_signed_vote(&signed.message, &signed.signature, &key.public()));
    }
}
