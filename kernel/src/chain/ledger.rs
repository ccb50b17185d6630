//! The chain on disk: blocks and state in a [`Store`], the head, import and commit.
//!
//! Store layout (one key space, so one atomic batch covers a whole block):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `s` | state key | state value |
//! | `b` | block hash | SCALE [`SignedBlock`] |
//! | `n` | block number, big-endian `u32` | block hash |
//! | `e` | block hash | the block's events (SCALE `Vec<EventRecord>`) |
//! | `m/genesis` | | genesis hash |
//! | `m/head` | | head hash |
//! | `m/lthash` | | the head state's [`LtHash`] lanes |

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};

use super::block::{Block, Certificate, Header, SignedBlock, vote_message};
use super::execute::{
    BlockBuilder, BlockError, Executed, Parent, StateView, TxError, execute_block,
    explain_bad_signature, fee_due, signed_payload,
};
use super::extrinsic::{Extrinsic, extrinsic_hash};
use super::genesis::{GenesisConfig, GenesisError};
use super::hashing::H256;
use super::keys::{self, AccountId, Signature};
use super::state::{AccountInfo, Authority, ChainParams, EventRecord, LtHash, keys as k};
use super::store::{Batch, Store, StoreError};
use super::units::Balance;

const STATE: u8 = b's';
const BLOCK: u8 = b'b';
const NUMBER: u8 = b'n';
const EVENTS: u8 = b'e';
const META_GENESIS: &[u8] = b"m/genesis";
const META_HEAD: &[u8] = b"m/head";
const META_LTHASH: &[u8] = b"m/lthash";

/// Why the chain refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis config is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The database does not hold what it should.
    #[error(
        "the chain database is corrupt: {0}. Move the base directory away (or delete it) and start again"
    )]
    Corrupt(String),
    /// The database belongs to another chain.
    #[error(
        "the database at this base path holds another chain (genesis {database}), but the config gives genesis {config}; use another --base-path or the matching genesis config"
    )]
    OtherChain {
        /// The database's genesis hash.
        database: H256,
        /// The config's genesis hash.
        config: H256,
    },
    /// A block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// A transaction that passed every check against the head state (its nonce may be ahead).
#[derive(Debug, Clone)]
pub struct ValidTransaction {
    /// Its hash.
    pub hash: H256,
    /// Its wire bytes.
    pub bytes: Vec<u8>,
    /// Decoded.
    pub xt: Extrinsic,
    /// Fee with tip.
    pub fee: Balance,
    /// The era birth block its signature names.
    pub birth: u64,
    /// The sender's next nonce in the head state.
    pub account_nonce: u32,
    /// The sender's free balance in the head state.
    pub free: Balance,
}

/// The chain: its store, genesis and head.
pub struct Chain {
    store: Arc<dyn Store>,
    genesis: H256,
    head: Header,
    head_hash: H256,
    lthash: LtHash,
    block_time_ms: u64,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("genesis", &self.genesis)
            .field("head", &self.head.number)
            .field("head_hash", &self.head_hash)
            .finish_non_exhaustive()
    }
}

/// The state after the head block, read from the store.
struct StoreState<'a>(&'a dyn Store);

impl StateView for StoreState<'_> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut full = Vec::with_capacity(1 + key.len());
        full.push(STATE);
        full.extend_from_slice(key);
        self.0.get(&full)
    }
}

fn prefixed(prefix: u8, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + key.len());
    full.push(prefix);
    full.extend_from_slice(key);
    full
}

fn corrupt(what: impl Into<String>) -> ChainError {
    ChainError::Corrupt(what.into())
}

impl Chain {
    /// Opens the chain in `store`, writing the genesis block first if the store is empty.
    ///
    /// On an existing store it checks that the store holds this config's chain and that the
    /// stored state hashes to the head's state root, so a damaged database is refused at start
    /// rather than found later.
    pub fn open(store: Arc<dyn Store>, config: &GenesisConfig) -> Result<Chain, ChainError> {
        let genesis = config.build()?;
        let genesis_hash = genesis.header.hash();
        match store.get(META_GENESIS)? {
            None => {
                let mut batch = Batch::default();
                for (key, value) in &genesis.state {
                    batch.put(prefixed(STATE, key), value.clone());
                }
                let block = SignedBlock {
                    block: Block {
                        header: genesis.header.clone(),
                        extrinsics: Vec::new(),
                    },
                    author_signature: Signature([0; 64]),
                    certificate: Certificate {
                        round: 0,
                        votes: Vec::new(),
                    },
                };
                batch.put(prefixed(BLOCK, genesis_hash.as_bytes()), block.encode());
                batch.put(prefixed(NUMBER, &0u32.to_be_bytes()), genesis_hash.encode());
                batch.put(META_HEAD.to_vec(), genesis_hash.encode());
                batch.put(META_LTHASH.to_vec(), genesis.lthash.to_bytes());
                // The genesis marker goes last in the same batch: a store without it is empty.
                batch.put(META_GENESIS.to_vec(), genesis_hash.encode());
                store.apply(batch)?;
                Ok(Chain {
                    store,
                    genesis: genesis_hash,
                    head: genesis.header,
                    head_hash: genesis_hash,
                    lthash: genesis.lthash,
                    block_time_ms: config.block_time_ms,
                })
            }
            Some(bytes) => {
                let stored = H256::decode(&mut &bytes[..])
                    .map_err(|_| corrupt("the genesis hash record does not decode"))?;
                if stored != genesis_hash {
                    return Err(ChainError::OtherChain {
                        database: stored,
                        config: genesis_hash,
                    });
                }
                let head_hash = store
                    .get(META_HEAD)?
                    .and_then(|b| H256::decode(&mut &b[..]).ok())
                    .ok_or_else(|| corrupt("the head record is missing"))?;
                let lthash = store
                    .get(META_LTHASH)?
                    .and_then(|b| LtHash::from_bytes(&b))
                    .ok_or_else(|| corrupt("the state hash record is missing"))?;
                let mut chain = Chain {
                    store,
                    genesis: genesis_hash,
                    head: genesis.header,
                    head_hash,
                    lthash,
                    block_time_ms: config.block_time_ms,
                };
                let head = chain
                    .block(&head_hash)?
                    .ok_or_else(|| corrupt(format!("the head block {head_hash} is missing")))?;
                chain.head = head.block.header;
                chain.verify_state()?;
                Ok(chain)
            }
        }
    }

    /// Recomputes the state hash from every stored pair and checks it against the head.
    pub fn verify_state(&self) -> Result<(), ChainError> {
        let mut recomputed = LtHash::default();
        for (key, value) in self.store.scan_prefix(&[STATE])? {
            recomputed.insert(&key[1..], &value);
        }
        if recomputed != self.lthash || recomputed.root() != self.head.state_root {
            return Err(corrupt(format!(
                "the stored state hashes to {}, but head block #{} says {}",
                recomputed.root(),
                self.head.number,
                self.head.state_root
            )));
        }
        Ok(())
    }

    /// The genesis block hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis
    }

    /// The block time the genesis config sets, in milliseconds.
    pub fn block_time_ms(&self) -> u64 {
        self.block_time_ms
    }

    /// The head block's header.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// The head block's hash.
    pub fn head_hash(&self) -> H256 {
        self.head_hash
    }

    /// The head, as the parent of the next block.
    pub fn parent(&self) -> Parent {
        Parent {
            hash: self.head_hash,
            number: self.head.number,
        }
    }

    /// The head state's hash.
    pub fn lthash(&self) -> &LtHash {
        &self.lthash
    }

    /// The head state, for reading.
    pub fn state(&self) -> impl StateView + '_ {
        StoreState(&*self.store)
    }

    fn decode_state<T: Decode>(&self, key: &[u8], what: &str) -> Result<Option<T>, ChainError> {
        match self.state().read(key)? {
            None => Ok(None),
            Some(b) => T::decode(&mut &b[..])
                .map(Some)
                .map_err(|e| corrupt(format!("{what} does not decode: {e}"))),
        }
    }

    /// The value at a raw state key.
    pub fn storage(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        Ok(self.state().read(key)?)
    }

    /// An account (the default, empty account if it does not exist).
    pub fn account(&self, who: &AccountId) -> Result<AccountInfo, ChainError> {
        Ok(self
            .decode_state(&k::account(who), "System.Account")?
            .unwrap_or_default())
    }

    /// The chain parameters.
    pub fn params(&self) -> Result<ChainParams, ChainError> {
        self.decode_state(&k::chain_params(), "Ganglion.ChainParams")?
            .ok_or_else(|| corrupt("Ganglion.ChainParams is missing"))
    }

    /// The authority set.
    pub fn authorities(&self) -> Result<Vec<Authority>, ChainError> {
        self.decode_state(&k::authorities(), "Ganglion.Authorities")?
            .ok_or_else(|| corrupt("Ganglion.Authorities is missing"))
    }

    /// Every rao in existence.
    pub fn total_issuance(&self) -> Result<Balance, ChainError> {
        Ok(self
            .decode_state(&k::total_issuance(), "Balances.TotalIssuance")?
            .unwrap_or(0))
    }

    /// The head block's events.
    pub fn events(&self) -> Result<Vec<EventRecord>, ChainError> {
        Ok(self
            .decode_state(&k::events(), "System.Events")?
            .unwrap_or_default())
    }

    /// The events of block `hash`, if the block exists.
    pub fn block_events(&self, hash: &H256) -> Result<Option<Vec<EventRecord>>, ChainError> {
        match self.store.get(&prefixed(EVENTS, hash.as_bytes()))? {
            None if *hash == self.genesis => Ok(Some(Vec::new())),
            None => Ok(None),
            Some(b) => Vec::<EventRecord>::decode(&mut &b[..])
                .map(Some)
                .map_err(|e| corrupt(format!("the events of block {hash} do not decode: {e}"))),
        }
    }

    /// The hash of block `number`, if it exists.
    pub fn block_hash(&self, number: u32) -> Result<Option<H256>, ChainError> {
        match self.store.get(&prefixed(NUMBER, &number.to_be_bytes()))? {
            None => Ok(None),
            Some(b) => H256::decode(&mut &b[..])
                .map(Some)
                .map_err(|_| corrupt(format!("the hash of block #{number} does not decode"))),
        }
    }

    /// A block by hash.
    pub fn block(&self, hash: &H256) -> Result<Option<SignedBlock>, ChainError> {
        match self.store.get(&prefixed(BLOCK, hash.as_bytes()))? {
            None => Ok(None),
            Some(b) => SignedBlock::decode(&mut &b[..])
                .map(Some)
                .map_err(|e| corrupt(format!("block {hash} does not decode: {e}"))),
        }
    }

    /// Checks a transaction against the head state, as the pool admits it: well-formed,
    /// signed for this chain and era, nonce not stale, fee payable.
    pub fn validate_transaction(&self, bytes: &[u8]) -> Result<ValidTransaction, TxError> {
        let xt = Extrinsic::from_bytes(bytes)?;
        if xt.signer.0 == [0; 32] {
            return Err(TxError::ZeroSender);
        }
        let state = self.state();
        let parent = self.parent();
        let (payload, birth) = signed_payload(&state, &self.genesis, &parent, &xt)?;
        if !keys::verify(&xt.signature, &payload, &xt.signer) {
            return Err(explain_bad_signature(&state, &self.genesis, &parent, &xt));
        }
        let account = self.account(&xt.signer).unwrap_or_default();
        if xt.extra.nonce < account.nonce {
            return Err(TxError::Stale {
                nonce: xt.extra.nonce,
                expected: account.nonce,
            });
        }
        let params = self.params().unwrap_or_default();
        let fee = {
            let state = self.state();
            let mut get = |key: &[u8]| state.read(key).ok().flatten();
            fee_due(
                &mut get,
                self.head.number + 1,
                &params,
                &xt,
                bytes.len(),
                &account,
            )?
        };
        Ok(ValidTransaction {
            hash: extrinsic_hash(bytes),
            bytes: bytes.to_vec(),
            xt,
            fee,
            birth,
            account_nonce: account.nonce,
            free: account.data.free,
        })
    }

    /// A builder for the next block, over the head state.
    pub fn builder<'a>(&'a self, state: &'a dyn StateView) -> Result<BlockBuilder<'a>, BlockError> {
        BlockBuilder::new(state, self.parent())
    }

    /// Re-executes a block on the head state (see [`execute_block`]).
    pub fn execute(&self, block: &Block) -> Result<Executed, BlockError> {
        execute_block(
            &self.state(),
            &self.genesis,
            self.parent(),
            &self.lthash,
            block,
        )
    }

    /// Checks the author's signature and the certificate against the authority set.
    pub fn verify_seal(&self, signed: &SignedBlock) -> Result<(), BlockError> {
        let header = &signed.block.header;
        let hash = header.hash();
        let authorities = self
            .authorities()
            .map_err(|e| BlockError::State(e.to_string()))?;
        if !authorities.iter().any(|a| a.id == header.author) {
            return Err(BlockError::NotAnAuthority(header.author));
        }
        if !keys::verify(&signed.author_signature, hash.as_bytes(), &header.author) {
            return Err(BlockError::BadAuthorSignature);
        }
        verify_certificate(
            &self.genesis,
            &authorities,
            header.number,
            &hash,
            &signed.certificate,
        )
    }

    /// Commits a decided block whose execution result is `executed`: one atomic, durable batch
    /// with the block, its state writes and the new head.
    pub fn commit(&mut self, signed: SignedBlock, executed: Executed) -> Result<(), ChainError> {
        let header = &signed.block.header;
        if header.parent_hash != self.head_hash || header.number != self.head.number + 1 {
            return Err(BlockError::WrongParent {
                number: header.number,
                expected: self.head_hash,
                got: header.parent_hash,
                head: self.head.number,
            }
            .into());
        }
        if *header != executed.header {
            return Err(BlockError::StateRoot {
                claimed: header.state_root,
                computed: executed.header.state_root,
            }
            .into());
        }
        self.verify_seal(&signed)?;
        let hash = header.hash();
        let mut batch = Batch::default();
        batch.put(prefixed(EVENTS, hash.as_bytes()), executed.events.encode());
        for (key, value) in executed.writes {
            match value {
                Some(v) => batch.put(prefixed(STATE, &key), v),
                None => batch.delete(prefixed(STATE, &key)),
            }
        }
        batch.put(
            prefixed(NUMBER, &header.number.to_be_bytes()),
            hash.encode(),
        );
        batch.put(META_HEAD.to_vec(), hash.encode());
        batch.put(META_LTHASH.to_vec(), executed.lthash.to_bytes());
        let header = header.clone();
        batch.put(prefixed(BLOCK, hash.as_bytes()), signed.encode());
        self.store.apply(batch)?;
        self.head = header;
        self.head_hash = hash;
        self.lthash = executed.lthash;
        Ok(())
    }

    /// Imports a block decided elsewhere: checks the seal, re-executes, commits.
    pub fn import(&mut self, signed: SignedBlock) -> Result<Executed, ChainError> {
        self.verify_seal(&signed)?;
        let executed = self.execute(&signed.block)?;
        let kept = executed.clone();
        self.commit(signed, executed)?;
        Ok(kept)
    }
}

/// The sum of every account's free balance (a scan of the whole account map: for checks and
/// tools, not for block execution).
pub fn all_free(chain: &Chain) -> Result<Balance, ChainError> {
    let mut prefix = vec![STATE];
    prefix.extend(k::account_prefix());
    let mut total: Balance = 0;
    for (key, value) in chain.store.scan_prefix(&prefix)? {
        let info = AccountInfo::decode(&mut &value[..]).map_err(|e| {
            corrupt(format!(
                "account 0x{} does not decode: {e}",
                hex::encode(&key[1..])
            ))
        })?;
        total = total.saturating_add(info.data.free);
    }
    Ok(total)
}

/// Checks that `cert` holds valid votes for block `hash` at `number` from authorities holding
/// more than two thirds of the voting power.
pub fn verify_certificate(
    genesis: &H256,
    authorities: &[Authority],
    number: u32,
    hash: &H256,
    cert: &Certificate,
) -> Result<(), BlockError> {
    let total: u128 = authorities.iter().map(|a| u128::from(a.power)).sum();
    let message = vote_message(genesis, number, cert.round, hash);
    let mut seen = std::collections::BTreeSet::new();
    let mut power: u128 = 0;
    for vote in &cert.votes {
        let Some(authority) = authorities.iter().find(|a| a.id == vote.authority) else {
            return Err(BlockError::Certificate(format!(
                "{} is not an authority",
                vote.authority
            )));
        };
        if !seen.insert(vote.authority) {
            return Err(BlockError::Certificate(format!(
                "{} voted twice",
                vote.authority
            )));
        }
        if !keys::verify(&vote.signature, &message, &vote.authority) {
            return Err(BlockError::Certificate(format!(
                "the vote of {} does not sign this block",
                vote.authority
            )));
        }
        power += u128::from(authority.power);
    }
    if power * 3 <= total * 2 {
        return Err(BlockError::Certificate(format!(
            "votes hold {power} of {total} voting power; more than two thirds are needed"
        )));
    }
    Ok(())
}
