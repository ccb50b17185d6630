//! The transaction pool: validated transactions waiting for a block.
//!
//! Admission checks everything [`Chain::validate_transaction`] checks (size, signature, era,
//! stale nonce, fee) plus what only the pool knows: duplicates, a nonce already pending (a
//! higher tip replaces it), nonces too far ahead, the sender's pending fees, and the pool's
//! bounds. Transactions are kept per sender in nonce order; a transaction is *ready* when every
//! lower nonce of its sender is in the state or in the pool, and *future* otherwise.
//!
//! [`Chain::validate_transaction`]: super::ledger::Chain::validate_transaction

use std::collections::{BTreeMap, BinaryHeap};

use super::execute::TxError;
use super::hashing::H256;
use super::keys::AccountId;
use super::ledger::ValidTransaction;
use super::units::Balance;

/// The pool's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Most transactions held.
    pub max_count: usize,
    /// Most bytes held.
    pub max_bytes: usize,
    /// How far beyond a sender's next nonce a transaction may be.
    pub max_future_nonces: u32,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_count: 65_536,
            max_bytes: 64 * 1024 * 1024,
            max_future_nonces: 64,
        }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The transaction is invalid.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// Already in the pool.
    #[error("transaction {0} is already in the pool")]
    AlreadyKnown(H256),
    /// The sender already has a pending transaction with this nonce and at least this tip.
    #[error(
        "the sender already has a pending transaction with nonce {nonce}; to replace it, send one with a higher tip"
    )]
    NonceTaken {
        /// The nonce.
        nonce: u32,
    },
    /// The nonce is too far ahead.
    #[error(
        "nonce {nonce} is too far ahead: the sender's next nonce is {expected} and the pool holds at most {max} ahead"
    )]
    TooFarAhead {
        /// The transaction's nonce.
        nonce: u32,
        /// The account's next nonce.
        expected: u32,
        /// The limit.
        max: u32,
    },
    /// The sender's pending fees exceed its balance.
    #[error(
        "the sender's pending transactions already spend its balance: {pending} rao of fees pending, {free} rao free"
    )]
    Overspent {
        /// Fees pending, this one included.
        pending: Balance,
        /// Free balance.
        free: Balance,
    },
    /// The pool is full.
    #[error("the transaction pool is full ({count} transactions, {bytes} bytes); try again later")]
    Full {
        /// Transactions held.
        count: usize,
        /// Bytes held.
        bytes: usize,
    },
}

/// How a transaction entered the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It can go in the next block.
    Ready,
    /// It waits for lower nonces.
    Future,
}

/// A pooled transaction.
#[derive(Debug, Clone)]
pub struct Pooled {
    /// The validated transaction.
    pub tx: ValidTransaction,
    seq: u64,
}

/// A transaction the pool let go, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// In the block with this hash.
    Included(H256),
    /// No longer valid.
    Invalid(TxError),
    /// Replaced by a transaction with the same nonce and a higher tip.
    Replaced(H256),
}

/// The pool.
#[derive(Debug, Default)]
pub struct Pool {
    limits: PoolLimits,
    senders: BTreeMap<AccountId, BTreeMap<u32, Pooled>>,
    index: BTreeMap<H256, (AccountId, u32)>,
    bytes: usize,
    seq: u64,
}

impl Pool {
    /// An empty pool.
    pub fn new(limits: PoolLimits) -> Pool {
        Pool {
            limits,
            ..Pool::default()
        }
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &H256) -> bool {
        self.index.contains_key(hash)
    }

    /// The next nonce `who` can use: the state's, or beyond its pooled run of nonces.
    pub fn next_nonce(&self, who: &AccountId, state_nonce: u32) -> u32 {
        let mut next = state_nonce;
        if let Some(queue) = self.senders.get(who) {
            for nonce in queue.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Admits a validated transaction. Returns how it entered and what it replaced.
    pub fn admit(&mut self, tx: ValidTransaction) -> Result<(Admission, Option<H256>), PoolError> {
        if self.index.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown(tx.hash));
        }
        let sender = tx.xt.signer;
        let nonce = tx.xt.extra.nonce;
        let max = self.limits.max_future_nonces;
        if nonce > tx.account_nonce.saturating_add(max) {
            return Err(PoolError::TooFarAhead {
                nonce,
                expected: tx.account_nonce,
                max,
            });
        }
        let queue = self.senders.get(&sender);
        let replaced = queue.and_then(|q| q.get(&nonce));
        if let Some(old) = replaced
            && old.tx.xt.extra.tip >= tx.xt.extra.tip
        {
            return Err(PoolError::NonceTaken { nonce });
        }
        let pending: Balance = queue
            .map(|q| {
                q.range(tx.account_nonce..)
                    .filter(|(n, _)| **n != nonce)
                    .map(|(_, p)| p.tx.fee)
                    .sum()
            })
            .unwrap_or(0);
        let pending = pending.saturating_add(tx.fee);
        if pending > tx.free {
            return Err(PoolError::Overspent {
                pending,
                free: tx.free,
            });
        }
        let freed = replaced.map_or(0, |p| p.tx.bytes.len());
        let count = self.index.len() - usize::from(replaced.is_some());
        if count >= self.limits.max_count
            || self.bytes - freed + tx.bytes.len() > self.limits.max_bytes
        {
            return Err(PoolError::Full {
                count: self.index.len(),
                bytes: self.bytes,
            });
        }
        let replaced = replaced.map(|p| p.tx.hash);
        if let Some(old) = replaced {
            self.remove(&old);
        }
        self.seq += 1;
        self.bytes += tx.bytes.len();
        self.index.insert(tx.hash, (sender, nonce));
        let account_nonce = tx.account_nonce;
        self.senders
            .entry(sender)
            .or_default()
            .insert(nonce, Pooled { tx, seq: self.seq });
        let ready = self.next_nonce(&sender, account_nonce) > nonce;
        Ok((
            if ready {
                Admission::Ready
            } else {
                Admission::Future
            },
            replaced,
        ))
    }

    fn remove(&mut self, hash: &H256) -> Option<Pooled> {
        let (sender, nonce) = self.index.remove(hash)?;
        let queue = self.senders.get_mut(&sender)?;
        let pooled = queue.remove(&nonce)?;
        if queue.is_empty() {
            self.senders.remove(&sender);
        }
        self.bytes -= pooled.tx.bytes.len();
        Some(pooled)
    }

    /// Candidates for the next block: every sender's transactions in nonce order, senders
    /// interleaved by tip (highest first), then by arrival.
    pub fn candidates(&self) -> Vec<&ValidTransaction> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Head(Balance, std::cmp::Reverse<u64>, AccountId, u32);
        let mut heap = BinaryHeap::with_capacity(self.senders.len());
        for (sender, queue) in &self.senders {
            if let Some((nonce, p)) = queue.iter().next() {
                heap.push(Head(
                    p.tx.xt.extra.tip,
                    std::cmp::Reverse(p.seq),
                    *sender,
                    *nonce,
                ));
            }
        }
        let mut out = Vec::with_capacity(self.index.len());
        while let Some(Head(_, _, sender, nonce)) = heap.pop() {
            let Some(queue) = self.senders.get(&sender) else {
                continue;
            };
            let Some(p) = queue.get(&nonce) else { continue };
            out.push(&p.tx);
            if let Some((next, q)) = queue.range(nonce + 1..).next() {
                heap.push(Head(
                    q.tx.xt.extra.tip,
                    std::cmp::Reverse(q.seq),
                    sender,
                    *next,
                ));
            }
        }
        out
    }

    /// After a block: removes what it included, what it made invalid (stale nonces, eras that
    /// passed), and what `invalid` names (found invalid while building). `nonce_of` gives each
    /// sender's next nonce in the new state; `next_block` is the number of the block to come.
    pub fn prune(
        &mut self,
        block: H256,
        included: &[H256],
        invalid: &[(H256, TxError)],
        nonce_of: impl Fn(&AccountId) -> u32,
        next_block: u64,
    ) -> Vec<(H256, Removal)> {
        let mut removed = Vec::new();
        for hash in included {
            if self.remove(hash).is_some() {
                removed.push((*hash, Removal::Included(block)));
            }
        }
        for (hash, error) in invalid {
            if self.remove(hash).is_some() {
                removed.push((*hash, Removal::Invalid(error.clone())));
            }
        }
        let mut stale = Vec::new();
        for (sender, queue) in &self.senders {
            let next = nonce_of(sender);
            for (nonce, p) in queue {
                if *nonce < next {
                    stale.push((
                        p.tx.hash,
                        TxError::Stale {
                            nonce: *nonce,
                            expected: next,
                        },
                    ));
                } else if p.tx.xt.extra.era.birth(next_block) != p.tx.birth {
                    let death = p.tx.xt.extra.era.death(p.tx.birth);
                    let error = TxError::Expired {
                        birth: p.tx.birth,
                        death,
                        now: next_block,
                    };
                    stale.push((p.tx.hash, error));
                }
            }
        }
        for (hash, error) in stale {
            if self.remove(&hash).is_some() {
                removed.push((hash, Removal::Invalid(error)));
            }
        }
        removed
    }
}
