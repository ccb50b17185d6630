//! Miner queries: what a validator sends a miner and what comes back (Bittensor's
//! axon/dendrite, on the node's own transport).
//!
//! A [`QueryRequest`] carries a subnet id and a payload in the plugin ABI's tensor format,
//! signed by the validator's hotkey over the *miner's* peer id, the subnet, a nonce and the
//! payload's blake3 hash ([`query_message`]). The miner checks the signature, that the nonce is
//! fresh (within [`NONCE_WINDOW_MS`] of its clock and not seen before from that hotkey), and
//! asks its [`Authorizer`] whether the hotkey may query that subnet (normally: a registered
//! validator with a permit). A signature made for one miner cannot be replayed to another, and
//! a replay to the same miner is refused.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use libp2p::PeerId;
use parity_scale_codec::{Decode, Encode};

use crate::chain::keys::{self, AccountId, Pair, Signature};

/// How far a request's nonce (milliseconds since the Unix epoch) may be from the miner's clock.
pub const NONCE_WINDOW_MS: u64 = 60_000;

/// A validator's query to a miner.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct QueryRequest {
    /// The subnet.
    pub netuid: u16,
    /// The validator's hotkey.
    pub validator: AccountId,
    /// Milliseconds since the Unix epoch when the request was made, unique per validator.
    pub nonce: u64,
    /// The task, in the plugin ABI's tensor format.
    pub payload: Vec<u8>,
    /// The hotkey's signature over [`query_message`].
    pub signature: Signature,
}

/// The message a validator signs to query `miner`.
pub fn query_message(miner: &PeerId, netuid: u16, nonce: u64, payload: &[u8]) -> Vec<u8> {
    (
        b"ganglion/query/v1",
        miner.to_bytes(),
        netuid,
        nonce,
        blake3::hash(payload).as_bytes(),
    )
        .encode()
}

impl QueryRequest {
    /// A request to `miner` signed by `hotkey`.
    pub fn sign(hotkey: &Pair, miner: &PeerId, netuid: u16, nonce: u64, payload: Vec<u8>) -> Self {
        let signature = hotkey.sign(&query_message(miner, netuid, nonce, &payload));
        QueryRequest {
            netuid,
            validator: hotkey.public(),
            nonce,
            payload,
            signature,
        }
    }

    /// Whether the signature is the validator's over this request to `miner`.
    pub fn verify(&self, miner: &PeerId) -> bool {
        keys::verify(
            &self.signature,
            &query_message(miner, self.netuid, self.nonce, &self.payload),
            &self.validator,
        )
    }
}

/// A miner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum QueryResponse {
    /// The miner's response, in the plugin ABI's tensor format.
    Answer(Vec<u8>),
    /// The caller may not query this miner (bad signature, stale nonce, not a validator).
    Refused(String),
    /// The miner is at capacity; try later.
    Busy,
    /// The miner's handler failed.
    Failed(String),
}

/// Why a query failed on the validator's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No answer within the timeout.
    #[error("the miner did not answer within {0} ms")]
    Timeout(u64),
    /// The miner could not be reached.
    #[error("cannot reach the miner: {0}")]
    Unreachable(String),
    /// The miner refused the query.
    #[error("the miner refused the query: {0}")]
    Refused(String),
    /// The miner is busy.
    #[error("the miner is busy")]
    Busy,
    /// The miner's handler failed.
    #[error("the miner failed: {0}")]
    Failed(String),
    /// The answer was not a valid response.
    #[error("the miner's answer is malformed: {0}")]
    Malformed(String),
    /// The network is shutting down or overloaded.
    #[error("{0}")]
    Network(String),
}

/// Who may query a miner.
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok` if `validator` may query subnet `netuid`, else the reason for refusing.
    fn authorize(&self, netuid: u16, validator: &AccountId) -> Result<(), String>;
}

/// Allows everyone (for tests and private setups).
#[derive(Debug, Clone, Copy)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: u16, _: &AccountId) -> Result<(), String> {
        Ok(())
    }
}

/// Remembers recent nonces per validator so a request cannot be replayed, in bounded memory:
/// at most `per_validator` nonces for each of at most `validators` hotkeys. When a hotkey's
/// oldest nonces are forgotten, every nonce up to the newest forgotten one is refused from
/// then on, so forgetting never reopens a replay.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: BTreeMap<AccountId, Seen>,
    order: VecDeque<AccountId>,
    per_validator: usize,
    validators: usize,
}

#[derive(Debug, Default)]
struct Seen {
    nonces: BTreeSet<u64>,
    /// Nonces at or below this are refused (they may have been forgotten).
    floor: Option<u64>,
}

impl ReplayGuard {
    /// A guard with the given bounds.
    pub fn new(per_validator: usize, validators: usize) -> ReplayGuard {
        ReplayGuard {
            seen: BTreeMap::new(),
            order: VecDeque::new(),
            per_validator: per_validator.max(1),
            validators: validators.max(1),
        }
    }

    /// Checks a request's nonce against the clock `now_ms` and the nonces seen, and records it.
    /// Call it only for authorized callers, so strangers cannot push validators out.
    pub fn check(&mut self, validator: &AccountId, nonce: u64, now_ms: u64) -> Result<(), String> {
        if nonce.abs_diff(now_ms) > NONCE_WINDOW_MS {
            return Err(format!(
                "the request's nonce {nonce} is more than {NONCE_WINDOW_MS} ms from this miner's clock ({now_ms}); check both clocks"
            ));
        }
        if !self.seen.contains_key(validator) {
            if self.order.len() >= self.validators
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            self.order.push_back(*validator);
        }
        let seen = self.seen.entry(*validator).or_default();
        if seen.floor.is_some_and(|floor| nonce <= floor) {
            return Err(format!(
                "nonce {nonce} is older than the requests this miner remembers from {validator}: use a fresh nonce"
            ));
        }
        if !seen.nonces.insert(nonce) {
            return Err(format!(
                "nonce {nonce} was already used: a replayed request"
            ));
        }
        if seen.nonces.len() > self.per_validator
            && let Some(oldest) = seen.nonces.pop_first()
        {
            seen.floor = Some(seen.floor.map_or(oldest, |f| f.max(oldest)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_only_for_its_miner_and_content() {
        let alice = Pair::from_uri("//Alice").unwrap();
        let miner = PeerId::random();
        let request = QueryRequest::sign(&alice, &miner, 3, 1_000, vec![1, 2, 3]);
        assert!(request.verify(&miner));
        assert!(!request.verify(&PeerId::random()));
        let mut changed = request.clone();
        changed.payload[0] ^= 1;
        assert!(!changed.verify(&miner));
        let mut other_net = request.clone();
        other_net.netuid = 4;
        assert!(!other_net.verify(&miner));
        let decoded = QueryRequest::decode(&mut &request.encode()[..]).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn replays_and_stale_nonces_are_refused_in_bounded_memory() {
        let mut guard = ReplayGuard::new(4, 2);
        let a = AccountId([1; 32]);
        let now = 10_000_000;
        assert!(guard.check(&a, now, now).is_ok());
        assert!(guard.check(&a, now, now).unwrap_err().contains("replayed"));
        assert!(
            guard
                .check(&a, now - NONCE_WINDOW_MS - 1, now)
                .unwrap_err()
                .contains("clock")
        );
        for i in 1..=10 {
            assert!(guard.check(&a, now + i, now).is_ok());
        }
        assert!(guard.seen[&a].nonces.len() <= 4);
        // Forgotten nonces stay refused.
        assert!(guard.check(&a, now + 1, now).unwrap_err().contains("older"));
        for v in 2..10u8 {
            guard.check(&AccountId([v; 32]), now, now).unwrap();
        }
        assert!(guard.seen.len() <= 2);
    }
}
