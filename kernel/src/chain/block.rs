//! Blocks: header, body, the author's signature and the decision certificate.
//!
//! - The block hash is blake2-256 of the SCALE-encoded [`Header`].
//! - The extrinsics root is a binary Merkle root: leaves are blake2-256 of each extrinsic's wire
//!   bytes, a node is blake2-256 of its two children, an odd node is carried up unchanged, and
//!   an empty body's root is blake2-256 of nothing.
//! - The author signs the block hash ([`SignedBlock::author_signature`]); the consensus engine
//!   attaches a [`Certificate`]: votes for the block from authorities holding more than two
//!   thirds of the voting power, each signing [`vote_message`].

use parity_scale_codec::{Compact, Decode, Encode, Error as CodecError, Input, Output};

use super::extrinsic::MAX_EXTRINSIC_BYTES;
use super::hashing::{H256, blake2_256};
use super::keys::{AccountId, Signature};

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The parent block's hash (zero for genesis).
    pub parent_hash: H256,
    /// Height: genesis is 0.
    #[codec(compact)]
    pub number: u32,
    /// The state root after executing this block.
    pub state_root: H256,
    /// Merkle root of the extrinsics.
    pub extrinsics_root: H256,
    /// The proposer's slot (block-time periods since the Unix epoch); strictly increasing.
    pub slot: u64,
    /// Who proposed the block.
    pub author: AccountId,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> H256 {
        H256(blake2_256(&self.encode()))
    }
}

/// A block: header and extrinsics (each in its wire encoding, length prefix included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The extrinsics, in order.
    pub extrinsics: Vec<Vec<u8>>,
}

impl Encode for Block {
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        self.header.encode_to(dest);
        Compact(self.extrinsics.len() as u32).encode_to(dest);
        for xt in &self.extrinsics {
            // Each extrinsic already carries its length prefix (Substrate's OpaqueExtrinsic).
            dest.write(xt);
        }
    }
}

impl Decode for Block {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let header = Header::decode(input)?;
        let count = Compact::<u32>::decode(input)?.0;
        let mut extrinsics = Vec::with_capacity((count as usize).min(4096));
        for _ in 0..count {
            let len = Compact::<u32>::decode(input)?.0;
            if len as usize > MAX_EXTRINSIC_BYTES {
                return Err("an extrinsic in the block is longer than the most allowed".into());
            }
            let mut xt = Compact(len).encode();
            let start = xt.len();
            xt.resize(start + len as usize, 0);
            input.read(&mut xt[start..])?;
            extrinsics.push(xt);
        }
        Ok(Block { header, extrinsics })
    }
}

/// One authority's vote for a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Vote {
    /// The voter.
    pub authority: AccountId,
    /// Its signature over [`vote_message`].
    pub signature: Signature,
}

/// Proof that the authorities decided a block: their votes in the deciding round.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Certificate {
    /// The consensus round that decided (0 for the single-authority engine).
    #[codec(compact)]
    pub round: u32,
    /// The votes.
    pub votes: Vec<Vote>,
}

/// The message an authority signs to vote for block `hash` at `number` in `round` of the chain
/// with `genesis`.
pub fn vote_message(genesis: &H256, number: u32, round: u32, hash: &H256) -> Vec<u8> {
    (b"ganglion/commit/v1", genesis, number, round, hash).encode()
}

/// A decided block, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SignedBlock {
    /// The block.
    pub block: Block,
    /// The author's signature over the block hash.
    pub author_signature: Signature,
    /// The decision.
    pub certificate: Certificate,
}

/// The Merkle root of a block body (see the module docs).
pub fn extrinsics_root(extrinsics: &[Vec<u8>]) -> H256 {
    if extrinsics.is_empty() {
        return H256(blake2_256(&[]));
    }
    let mut level: Vec<[u8; 32]> = extrinsics.iter().map(|x| blake2_256(x)).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => blake2_256(&[a.as_slice(), b.as_slice()].concat()),
                _ => pair.first().copied().unwrap_or_default(),
            })
            .collect();
    }
    H256(level.first().copied().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn root_depends_on_order_and_content() {
        let a = vec![vec![4u8, 1, 2, 3, 4], vec![4u8, 5, 6, 7, 8], vec![0u8]];
        let mut b = a.clone();
        b.swap(0, 1);
        assert_ne!(extrinsics_root(&a), extrinsics_root(&b));
        assert_ne!(extrinsics_root(&a), extrinsics_root(&a[..2]));
        assert_eq!(extrinsics_root(&a[..1]), H256(blake2_256(&a[0])));
    }

    proptest! {
        #[test]
        fn block_codec_roundtrips(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70), 0..5), number in any::<u32>()) {
            let extrinsics: Vec<Vec<u8>> = bodies
                .into_iter()
                .map(|b| { let mut x = Compact(b.len() as u32).encode(); x.extend(b); x })
                .collect();
            let block = Block {
                header: Header { parent_hash: H256([1; 32]), number, state_root: H256([2; 32]),
                    extrinsics_root: extrinsics_root(&extrinsics), slot: 9, author: AccountId([3; 32]) },
                extrinsics,
            };
            let bytes = block.encode();
            prop_assert_eq!(Block::decode(&mut &bytes[..]), Ok(block));
            for cut in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
                if cut < bytes.len() {
                    prop_assert!(Block::decode(&mut &bytes[..cut]).is_err());
                }
            }
        }
    }
}
