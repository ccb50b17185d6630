//! The consensus seam: how a consensus engine drives the chain.
//!
//! The kernel exposes three operations, shaped like a BFT engine's application interface
//! (Malachite's, Tendermint's ABCI): *build a proposal for height H*, *check a proposal from
//! another authority*, and *commit a decided block with its certificate*. An engine decides
//! which authority proposes, collects votes and forms certificates; the chain only checks that
//! the author is an authority and that the certificate carries more than two thirds of the
//! voting power. Nothing here assumes one author.
//!
//! [`SoloEngine`] is the simplest engine: one authority that decides its own proposal at each
//! block time (instant finality). It runs dev chains. [`BftEngine`] runs Malachite's Tendermint
//! for chains with several authorities (see [`BftConfig`]).

mod malachite;

use std::time::Duration;

use super::block::{Block, Certificate, SignedBlock, Vote, vote_message};
use super::execute::BlockError;
use super::hashing::H256;
use super::keys::{AccountId, Pair, Signature};

pub use malachite::{BftConfig, BftEngine};

/// Budget for building a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most bytes of extrinsics (also capped by the chain's own limit).
    pub max_bytes: usize,
    /// Time to spend applying transactions.
    pub max_time: Duration,
}

/// A proposal: a block for the next height, not yet decided.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: H256,
}

/// Why a consensus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// The height is not the next one.
    #[error("cannot propose for height {asked}: the next height is {next}")]
    Height {
        /// Asked.
        asked: u32,
        /// Expected.
        next: u32,
    },
    /// The block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The node failed (storage).
    #[error("{0}")]
    Node(String),
    /// The consensus engine could not start (the message says why and how to fix it).
    #[error("cannot start the consensus engine: {0}")]
    Start(String),
}

/// What a consensus engine calls on the chain.
pub trait Application: Send + Sync {
    /// The height of the next block.
    fn next_height(&self) -> u32;
    /// The chain's genesis hash (signed into every vote).
    fn genesis_hash(&self) -> H256;
    /// Builds a proposal for `height` by `author` in `slot`, from the pool, within `budget`.
    fn propose(
        &self,
        height: u32,
        author: AccountId,
        slot: u64,
        budget: Budget,
    ) -> Result<Proposal, ConsensusError>;
    /// Checks a proposal from another authority: re-executes it on the current head.
    fn check(&self, block: &Block, author_signature: &Signature) -> Result<(), ConsensusError>;
    /// Commits a decided block with its certificate.
    fn commit(&self, block: SignedBlock) -> Result<(), ConsensusError>;
}

/// One authority deciding its own proposals: the dev chain's engine.
#[derive(Debug)]
pub struct SoloEngine {
    key: Pair,
    block_time: Duration,
}

impl SoloEngine {
    /// An engine signing with `key` (the chain's only authority) every `block_time`.
    pub fn new(key: Pair, block_time: Duration) -> SoloEngine {
        SoloEngine { key, block_time }
    }

    /// The block time.
    pub fn block_time(&self) -> Duration {
        self.block_time
    }

    /// The authority's account.
    pub fn authority(&self) -> AccountId {
        self.key.public()
    }

    /// Proposes, decides and commits the next block in `slot`. Returns the new block's hash.
    pub fn step(
        &self,
        app: &dyn Application,
        slot: u64,
        budget: Budget,
    ) -> Result<H256, ConsensusError> {
        let height = app.next_height();
        let proposal = app.propose(height, self.key.public(), slot, budget)?;
        let author_signature = self.key.sign(proposal.hash.as_bytes());
        let round = 0;
        let message = vote_message(&app.genesis_hash(), height, round, &proposal.hash);
        let vote = Vote {
            authority: self.key.public(),
            signature: self.key.sign(&message),
        };
        let certificate = Certificate {
            round,
            votes: vec![vote],
        };
        app.commit(SignedBlock {
            block: proposal.block,
            author_signature,
            certificate,
        })?;
        Ok(proposal.hash)
    }
}
