//! The chain as a service: the chain, its pool and events, behind the consensus seam.

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use tokio::sync::broadcast;

use super::block::{Block, Header, SignedBlock};
use super::consensus::{Application, Budget, ConsensusError, Proposal};
use super::execute::{BlockError, Executed, TxError};
use super::extrinsic::Extrinsic;
use super::hashing::H256;
use super::keys::{self, AccountId, Signature};
use super::ledger::{Chain, ChainError, ValidTransaction};
use super::pool::{Admission, Pool, PoolError, PoolLimits, Removal};

/// Something that happened on the chain, for subscribers.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A block was committed (and, with instant finality, finalized).
    Block {
        /// Its header.
        header: Header,
        /// Its hash.
        hash: H256,
    },
    /// Transactions left the pool (included, invalid or replaced).
    Removed(Arc<Vec<(H256, Removal)>>),
}

/// A chain and its pool, driven by a consensus engine through [`Application`], with events
/// for subscribers. The node serves it over RPC; tests and benchmarks use it directly.
pub struct ChainService {
    chain: RwLock<Chain>,
    pool: Mutex<Pool>,
    events: broadcast::Sender<ChainEvent>,
    /// The last proposal or checked block and its execution, so commit need not re-execute.
    executed: Mutex<Option<(H256, Executed)>>,
    /// Transactions found invalid while building the last proposal.
    invalid: Mutex<Vec<(H256, TxError)>>,
    name: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ChainService {
    /// Opens a service over `chain` with a pool bounded by `limits`.
    pub fn new(chain: Chain, limits: PoolLimits, name: String) -> ChainService {
        let (events, _) = broadcast::channel(1024);
        ChainService {
            chain: RwLock::new(chain),
            pool: Mutex::new(Pool::new(limits)),
            events,
            executed: Mutex::new(None),
            invalid: Mutex::new(Vec::new()),
            name,
        }
    }

    /// The chain, for reading.
    pub fn chain(&self) -> RwLockReadGuard<'_, Chain> {
        self.chain
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn chain_mut(&self) -> RwLockWriteGuard<'_, Chain> {
        self.chain
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pool.
    pub fn pool(&self) -> MutexGuard<'_, Pool> {
        lock(&self.pool)
    }

    /// Subscribes to chain events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    /// The chain's name.
    pub fn chain_name(&self) -> &str {
        &self.name
    }

    /// Validates many transactions against the head on all cores, then admits them in order.
    pub fn submit_many(&self, txs: &[Vec<u8>]) -> Vec<Result<(H256, Admission), PoolError>> {
        let chain = self.chain();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(16);
        let chunk = txs.len().div_ceil(threads).max(32);
        let validated: Vec<Result<ValidTransaction, TxError>> = std::thread::scope(|s| {
            let chain = &*chain;
            let handles: Vec<_> = txs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|b| chain.validate_transaction(b))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut pool = self.pool();
        let mut replaced = Vec::new();
        let admitted = validated
            .into_iter()
            .map(|v| {
                let v = v?;
                let hash = v.hash;
                let (admission, old) = pool.admit(v)?;
                replaced.extend(old.map(|old| (old, Removal::Replaced(hash))));
                Ok((hash, admission))
            })
            .collect();
        drop(pool);
        drop(chain);
        if !replaced.is_empty() {
            let _ = self.events.send(ChainEvent::Removed(Arc::new(replaced)));
        }
        admitted
    }

    /// Validates a transaction against the head and admits it to the pool.
    pub fn submit(&self, bytes: &[u8]) -> Result<(H256, Admission), PoolError> {
        // Hold the chain while admitting, so no block commits between the check and the
        // admission (the pool is always checked against the state it sits on).
        let chain = self.chain();
        let valid = chain.validate_transaction(bytes)?;
        let hash = valid.hash;
        let (admission, replaced) = self.pool().admit(valid)?;
        drop(chain);
        if let Some(old) = replaced {
            let _ = self.events.send(ChainEvent::Removed(Arc::new(vec![(
                old,
                Removal::Replaced(hash),
            )])));
        }
        tracing::debug!(%hash, ?admission, "transaction admitted");
        Ok((hash, admission))
    }
}

impl Application for ChainService {
    fn next_height(&self) -> u32 {
        self.chain().head().number + 1
    }

    fn genesis_hash(&self) -> H256 {
        self.chain().genesis_hash()
    }

    fn propose(
        &self,
        height: u32,
        author: AccountId,
        slot: u64,
        budget: Budget,
    ) -> Result<Proposal, ConsensusError> {
        let started = Instant::now();
        let chain = self.chain();
        let next = chain.head().number + 1;
        if height != next {
            return Err(ConsensusError::Height {
                asked: height,
                next,
            });
        }
        let candidates: Vec<(H256, Vec<u8>, Extrinsic, u64)> = self
            .pool()
            .candidates()
            .into_iter()
            .map(|t| (t.hash, t.bytes.clone(), t.xt.clone(), t.birth))
            .collect();
        let state = chain.state();
        let mut builder = chain.builder(&state)?;
        let mut skip: Option<AccountId> = None;
        let mut invalid = Vec::new();
        let mut bytes = 0usize;
        for (i, (hash, raw, xt, birth)) in candidates.into_iter().enumerate() {
            if i % 64 == 0 && started.elapsed() > budget.max_time {
                break;
            }
            if skip == Some(xt.signer) {
                continue;
            }
            if bytes + raw.len() > budget.max_bytes {
                break;
            }
            let len = raw.len();
            match builder.apply(raw, &xt, birth) {
                Ok(()) => bytes += len,
                Err(TxError::BlockFull) => break,
                Err(TxError::Future { .. }) => skip = Some(xt.signer),
                Err(e) => {
                    skip = Some(xt.signer);
                    invalid.push((hash, e));
                }
            }
        }
        let extrinsics = builder.extrinsics().to_vec();
        let executed = builder.finish(slot, author, chain.lthash())?;
        let header = executed.header.clone();
        let hash = header.hash();
        drop(state);
        drop(chain);
        *lock(&self.executed) = Some((hash, executed));
        *lock(&self.invalid) = invalid;
        Ok(Proposal {
            block: Block { header, extrinsics },
            hash,
        })
    }

    fn check(&self, block: &Block, author_signature: &Signature) -> Result<(), ConsensusError> {
        let chain = self.chain();
        let hash = block.header.hash();
        if !keys::verify(author_signature, hash.as_bytes(), &block.header.author) {
            return Err(BlockError::BadAuthorSignature.into());
        }
        let executed = chain.execute(block)?;
        drop(chain);
        *lock(&self.executed) = Some((hash, executed));
        Ok(())
    }

    fn commit(&self, block: SignedBlock) -> Result<(), ConsensusError> {
        let hash = block.block.header.hash();
        let header = block.block.header.clone();
        let mut chain = self.chain_mut();
        let cached = lock(&self.executed)
            .take()
            .filter(|(h, _)| *h == hash)
            .map(|(_, e)| e);
        let executed = match cached {
            Some(e) => e,
            None => chain.execute(&block.block)?,
        };
        let included = executed.extrinsic_hashes.clone();
        let store = |e: ChainError| match e {
            ChainError::Block(b) => ConsensusError::Block(b),
            other => ConsensusError::Node(other.to_string()),
        };
        chain.commit(block, executed).map_err(store)?;
        let invalid = std::mem::take(&mut *lock(&self.invalid));
        let removed = {
            let chain = &*chain;
            self.pool().prune(
                hash,
                &included,
                &invalid,
                |who| chain.account(who).map(|a| a.nonce).unwrap_or(0),
                u64::from(header.number) + 1,
            )
        };
        drop(chain);
        tracing::info!(
            number = header.number,
            %hash,
            extrinsics = included.len(),
            "imported block"
        );
        let _ = self.events.send(ChainEvent::Block { header, hash });
        let _ = self.events.send(ChainEvent::Removed(Arc::new(removed)));
        Ok(())
    }
}
