//! The wire and WAL encoding of Malachite's messages: SCALE, field by field.
//!
//! Every decoder reads from bytes a peer sent: lengths are checked against limits before
//! anything is allocated, unknown tags and trailing bytes are errors, and nothing panics.

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use parity_scale_codec::{Compact, Decode, Encode, Input};

use super::context::{Ctx, Height, Proposal, ProposalPart, Value, Vote};
use super::signing::Sig;
use crate::chain::block::Block;
use crate::chain::hashing::H256;
use crate::chain::keys::{AccountId, Signature};
use malachitebft_app_channel::app::types::core::Round;

/// Most signatures in one certificate.
pub(crate) const MAX_SIGNATURES: u32 = 10_000;
/// Most bytes in a stream id.
pub(crate) const MAX_STREAM_ID_BYTES: u32 = 128;
/// Most bytes in one proposal part's data chunk.
pub(crate) const MAX_CHUNK_BYTES: u32 = 1 << 20;
/// Most bytes of a peer id.
const MAX_PEER_ID_BYTES: u32 = 128;

/// Why bytes could not be decoded (or, never in practice, a value encoded).
#[derive(Debug, thiserror::Error)]
#[error("malformed consensus message: {0}")]
pub(crate) struct CodecError(String);

impl From<parity_scale_codec::Error> for CodecError {
    fn from(e: parity_scale_codec::Error) -> Self {
        CodecError(e.to_string())
    }
}

fn bad(what: &str) -> CodecError {
    CodecError(what.to_string())
}

type Res<T> = Result<T, CodecError>;

/// A type with a SCALE wire form.
trait Wire: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get<I: Input>(input: &mut I) -> Res<Self>;
}

/// The SCALE codec for every message Malachite sends or logs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScaleCodec;

impl<T: Wire> Codec<T> for ScaleCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        let mut input = &bytes[..];
        let value = T::get(&mut input)?;
        if !input.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(value)
    }

    fn encode(&self, msg: &T) -> Result<Bytes, CodecError> {
        let mut out = Vec::new();
        msg.put(&mut out);
        Ok(Bytes::from(out))
    }
}

/// Encodes a value (block and author signature) for sync and storage.
pub(crate) fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    value.put(&mut out);
    out
}

/// Decodes a value encoded by [`encode_value`]; the whole input must be used.
pub(crate) fn decode_value(bytes: &[u8]) -> Res<Value> {
    let mut input = bytes;
    let value = Value::get(&mut input)?;
    if !input.is_empty() {
        return Err(bad("trailing bytes after the value"));
    }
    Ok(value)
}

/// Appends the encoding of a proposal part to `out`.
pub(crate) fn encode_part(part: &ProposalPart, out: &mut Vec<u8>) {
    part.put(out);
}

fn scale<T: Decode, I: Input>(input: &mut I) -> Res<T> {
    Ok(T::decode(input)?)
}

fn get_len<I: Input>(input: &mut I, max: u32, what: &str) -> Res<u32> {
    let len = Compact::<u32>::decode(input)?.0;
    if len > max {
        return Err(CodecError(format!(
            "{what}: {len} is over the limit of {max}"
        )));
    }
    Ok(len)
}

fn get_bytes<I: Input>(input: &mut I, max: u32, what: &str) -> Res<Vec<u8>> {
    let len = get_len(input, max, what)?;
    if let Ok(Some(left)) = input.remaining_len()
        && left < len as usize
    {
        return Err(CodecError(format!("{what}: truncated")));
    }
    let mut buf = vec![0u8; len as usize];
    input.read(&mut buf)?;
    Ok(buf)
}

fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    Compact(bytes.len() as u32).encode_to(out);
    out.extend_from_slice(bytes);
}

fn get_vec<T: Wire, I: Input>(input: &mut I, max: u32, what: &str) -> Res<Vec<T>> {
    let len = get_len(input, max, what)?;
    let mut items = Vec::with_capacity((len as usize).min(64));
    for _ in 0..len {
        items.push(T::get(input)?);
    }
    Ok(items)
}

fn put_vec<T: Wire>(items: &[T], out: &mut Vec<u8>) {
    Compact(items.len() as u32).encode_to(out);
    for item in items {
        item.put(out);
    }
}

impl Wire for Height {
    fn put(&self, out: &mut Vec<u8>) {
        Compact(self.0).encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(Height(Compact::<u64>::decode(input)?.0))
    }
}

impl Wire for Round {
    fn put(&self, out: &mut Vec<u8>) {
        self.as_u32().encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(Round::from(scale::<Option<u32>, I>(input)?))
    }
}

impl Wire for VoteType {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(match self {
            VoteType::Prevote => 0,
            VoteType::Precommit => 1,
        });
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => Ok(VoteType::Prevote),
            1 => Ok(VoteType::Precommit),
            _ => Err(bad("unknown vote type")),
        }
    }
}

impl Wire for NilOrVal<H256> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            NilOrVal::Nil => None::<H256>.encode_to(out),
            NilOrVal::Val(h) => Some(*h).encode_to(out),
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(match scale::<Option<H256>, I>(input)? {
            None => NilOrVal::Nil,
            Some(h) => NilOrVal::Val(h),
        })
    }
}

impl Wire for AccountId {
    fn put(&self, out: &mut Vec<u8>) {
        self.encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        scale(input)
    }
}

impl Wire for H256 {
    fn put(&self, out: &mut Vec<u8>) {
        self.encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        scale(input)
    }
}

impl Wire for Sig {
    fn put(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(Sig(scale::<Signature, I>(input)?))
    }
}

impl Wire for Value {
    fn put(&self, out: &mut Vec<u8>) {
        self.block.encode_to(out);
        self.author_signature.encode_to(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let block = scale::<Block, I>(input)?;
        let signature = scale::<Signature, I>(input)?;
        Ok(Value::new(block, signature))
    }
}

impl Wire for Vote {
    fn put(&self, out: &mut Vec<u8>) {
        self.kind.put(out);
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.voter.put(out);
        // Extensions carry `()`: only their signature travels.
        match &self.extension {
            None => out.push(0),
            Some(ext) => {
                out.push(1);
                ext.signature.put(out);
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let kind = VoteType::get(input)?;
        let height = Height::get(input)?;
        let round = Round::get(input)?;
        let value = NilOrVal::get(input)?;
        let voter = AccountId::get(input)?;
        let extension = match input.read_byte()? {
            0 => None,
            1 => Some(SignedMessage::new((), Sig::get(input)?)),
            _ => return Err(bad("unknown extension tag")),
        };
        Ok(Vote {
            kind,
            height,
            round,
            value,
            voter,
            extension,
        })
    }
}

impl Wire for Proposal {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value.put(out);
        self.pol_round.put(out);
        self.proposer.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(Proposal {
            height: Height::get(input)?,
            round: Round::get(input)?,
            value: Value::get(input)?,
            pol_round: Round::get(input)?,
            proposer: AccountId::get(input)?,
        })
    }
}

impl<T: Wire> Wire for SignedMessage<Ctx, T> {
    fn put(&self, out: &mut Vec<u8>) {
        self.message.put(out);
        self.signature.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let message = T::get(input)?;
        let signature = Sig::get(input)?;
        Ok(SignedMessage::new(message, signature))
    }
}

impl Wire for SignedConsensusMsg<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            SignedConsensusMsg::Vote(v) => {
                out.push(0);
                v.put(out);
            }
            SignedConsensusMsg::Proposal(p) => {
                out.push(1);
                p.put(out);
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => Ok(SignedConsensusMsg::Vote(Wire::get(input)?)),
            1 => Ok(SignedConsensusMsg::Proposal(Wire::get(input)?)),
            _ => Err(bad("unknown consensus message tag")),
        }
    }
}

impl Wire for PolkaSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.address.put(out);
        self.signature.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(PolkaSignature::new(
            AccountId::get(input)?,
            Sig::get(input)?,
        ))
    }
}

impl Wire for CommitSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.address.put(out);
        self.signature.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(CommitSignature::new(
            AccountId::get(input)?,
            Sig::get(input)?,
        ))
    }
}

impl Wire for RoundSignature<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.vote_type.put(out);
        self.value_id.put(out);
        self.address.put(out);
        self.signature.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(RoundSignature::new(
            VoteType::get(input)?,
            NilOrVal::get(input)?,
            AccountId::get(input)?,
            Sig::get(input)?,
        ))
    }
}

impl Wire for PolkaCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        put_vec(&self.polka_signatures, out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(PolkaCertificate {
            height: Height::get(input)?,
            round: Round::get(input)?,
            value_id: H256::get(input)?,
            polka_signatures: get_vec(input, MAX_SIGNATURES, "polka signatures")?,
        })
    }
}

impl Wire for RoundCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        out.push(match self.cert_type {
            RoundCertificateType::Skip => 0,
            RoundCertificateType::Precommit => 1,
        });
        put_vec(&self.round_signatures, out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let height = Height::get(input)?;
        let round = Round::get(input)?;
        let cert_type = match input.read_byte()? {
            0 => RoundCertificateType::Skip,
            1 => RoundCertificateType::Precommit,
            _ => return Err(bad("unknown round certificate type")),
        };
        Ok(RoundCertificate {
            height,
            round,
            cert_type,
            round_signatures: get_vec(input, MAX_SIGNATURES, "round signatures")?,
        })
    }
}

impl Wire for CommitCertificate<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.value_id.put(out);
        put_vec(&self.commit_signatures, out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        Ok(CommitCertificate {
            height: Height::get(input)?,
            round: Round::get(input)?,
            value_id: H256::get(input)?,
            commit_signatures: get_vec(input, MAX_SIGNATURES, "commit signatures")?,
        })
    }
}

impl Wire for LivenessMsg<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            LivenessMsg::Vote(v) => {
                out.push(0);
                v.put(out);
            }
            LivenessMsg::PolkaCertificate(c) => {
                out.push(1);
                c.put(out);
            }
            LivenessMsg::SkipRoundCertificate(c) => {
                out.push(2);
                c.put(out);
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => Ok(LivenessMsg::Vote(Wire::get(input)?)),
            1 => Ok(LivenessMsg::PolkaCertificate(Wire::get(input)?)),
            2 => Ok(LivenessMsg::SkipRoundCertificate(Wire::get(input)?)),
            _ => Err(bad("unknown liveness message tag")),
        }
    }
}

impl Wire for ProposalPart {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            ProposalPart::Init {
                height,
                round,
                valid_round,
                proposer,
            } => {
                out.push(0);
                height.put(out);
                round.put(out);
                valid_round.put(out);
                proposer.put(out);
            }
            ProposalPart::Data(bytes) => {
                out.push(1);
                put_bytes(bytes, out);
            }
            ProposalPart::Fin(signature) => {
                out.push(2);
                signature.encode_to(out);
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => Ok(ProposalPart::Init {
                height: Height::get(input)?,
                round: Round::get(input)?,
                valid_round: Round::get(input)?,
                proposer: AccountId::get(input)?,
            }),
            1 => Ok(ProposalPart::Data(Bytes::from(get_bytes(
                input,
                MAX_CHUNK_BYTES,
                "proposal chunk",
            )?))),
            2 => Ok(ProposalPart::Fin(scale(input)?)),
            _ => Err(bad("unknown proposal part tag")),
        }
    }
}

impl Wire for StreamMessage<ProposalPart> {
    fn put(&self, out: &mut Vec<u8>) {
        put_bytes(&self.stream_id.to_bytes(), out);
        Compact(self.sequence).encode_to(out);
        match &self.content {
            StreamContent::Data(part) => {
                out.push(0);
                part.put(out);
            }
            StreamContent::Fin => out.push(1),
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let id = get_bytes(input, MAX_STREAM_ID_BYTES, "stream id")?;
        let sequence = Compact::<u64>::decode(input)?.0;
        let content = match input.read_byte()? {
            0 => StreamContent::Data(ProposalPart::get(input)?),
            1 => StreamContent::Fin,
            _ => return Err(bad("unknown stream content tag")),
        };
        Ok(StreamMessage::new(
            StreamId::new(Bytes::from(id)),
            sequence,
            content,
        ))
    }
}

impl Wire for Status<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        put_bytes(&self.peer_id.to_bytes(), out);
        self.tip_height.put(out);
        self.history_min_height.put(out);
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let peer = get_bytes(input, MAX_PEER_ID_BYTES, "peer id")?;
        let peer_id = PeerId::from_bytes(&peer).map_err(|e| CodecError(e.to_string()))?;
        Ok(Status {
            peer_id,
            tip_height: Height::get(input)?,
            history_min_height: Height::get(input)?,
        })
    }
}

impl Wire for Request<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Request::ValueRequest(r) => {
                out.push(0);
                r.height.put(out);
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => Ok(Request::ValueRequest(ValueRequest::new(Height::get(
                input,
            )?))),
            _ => Err(bad("unknown sync request tag")),
        }
    }
}

impl Wire for Response<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Response::ValueResponse(r) => {
                out.push(0);
                r.height.put(out);
                match &r.value {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        put_bytes(&v.value_bytes, out);
                        v.certificate.put(out);
                    }
                }
            }
        }
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        match input.read_byte()? {
            0 => {
                let height = Height::get(input)?;
                let value = match input.read_byte()? {
                    0 => None,
                    1 => {
                        let bytes = get_bytes(input, u32::MAX, "synced value")?;
                        let certificate = CommitCertificate::get(input)?;
                        Some(RawDecidedValue::new(Bytes::from(bytes), certificate))
                    }
                    _ => return Err(bad("unknown sync value tag")),
                };
                Ok(Response::ValueResponse(ValueResponse::new(height, value)))
            }
            _ => Err(bad("unknown sync response tag")),
        }
    }
}

impl Wire for ProposedValue<Ctx> {
    fn put(&self, out: &mut Vec<u8>) {
        self.height.put(out);
        self.round.put(out);
        self.valid_round.put(out);
        self.proposer.put(out);
        self.value.put(out);
        out.push(u8::from(self.validity.is_valid()));
    }
    fn get<I: Input>(input: &mut I) -> Res<Self> {
        let height = Height::get(input)?;
        let round = Round::get(input)?;
        let valid_round = Round::get(input)?;
        let proposer = AccountId::get(input)?;
        let value = Value::get(input)?;
        let validity = match input.read_byte()? {
            0 => Validity::Invalid,
            1 => Validity::Valid,
            _ => return Err(bad("unknown validity")),
        };
        Ok(ProposedValue {
            height,
            round,
            valid_round,
            proposer,
            value,
            validity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::Header;

    fn value() -> Value {
        let block = Block {
            header: Header {
                parent_hash: H256([1; 32]),
                number: 3,
                state_root: H256([2; 32]),
                extrinsics_root: H256([3; 32]),
                slot: 77,
                author: AccountId([4; 32]),
            },
            extrinsics: vec![vec![8, 1, 2]],
        };
        Value::new(block, Signature([6; 64]))
    }

    fn roundtrip<T: Wire + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = Codec::<T>::encode(&ScaleCodec, &v).unwrap();
        let back: T = Codec::<T>::decode(&ScaleCodec, bytes.clone()).unwrap();
        assert_eq!(back, v);
        // Every truncation fails, and so do trailing bytes.
        for cut in 0..bytes.len() {
            assert!(Codec::<T>::decode(&ScaleCodec, bytes.slice(..cut)).is_err());
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Codec::<T>::decode(&ScaleCodec, Bytes::from(longer)).is_err());
    }

    #[test]
    fn messages_roundtrip() {
        let vote = Vote {
            kind: VoteType::Precommit,
            height: Height(3),
            round: Round::new(1),
            value: NilOrVal::Val(H256([7; 32])),
            voter: AccountId([4; 32]),
            extension: None,
        };
        roundtrip(SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(
            vote.clone(),
            Sig(Signature([1; 64])),
        )));
        roundtrip(SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(
            Proposal {
                height: Height(3),
                round: Round::new(0),
                value: value(),
                pol_round: Round::Nil,
                proposer: AccountId([4; 32]),
            },
            Sig(Signature([2; 64])),
        )));
        roundtrip(LivenessMsg::<Ctx>::PolkaCertificate(PolkaCertificate {
            height: Height(3),
            round: Round::new(2),
            value_id: H256([7; 32]),
            polka_signatures: vec![PolkaSignature::new(
                AccountId([4; 32]),
                Sig(Signature([3; 64])),
            )],
        }));
        roundtrip(StreamMessage::new(
            StreamId::new(Bytes::from_static(b"id")),
            2,
            StreamContent::Data(ProposalPart::Data(Bytes::from_static(b"chunk"))),
        ));
        roundtrip(StreamMessage::<ProposalPart>::new(
            StreamId::new(Bytes::from_static(b"id")),
            3,
            StreamContent::Fin,
        ));
        roundtrip(ProposedValue::<Ctx> {
            height: Height(3),
            round: Round::new(0),
            valid_round: Round::Nil,
            proposer: AccountId([4; 32]),
            value: value(),
            validity: Validity::Valid,
        });
        roundtrip(Response::<Ctx>::ValueResponse(ValueResponse::new(
            Height(3),
            Some(RawDecidedValue::new(
                Bytes::from(encode_value(&value())),
                CommitCertificate {
                    height: Height(3),
                    round: Round::new(0),
                    value_id: value().hash,
                    commit_signatures: vec![CommitSignature::new(
                        AccountId([4; 32]),
                        Sig(Signature([3; 64])),
                    )],
                },
            )),
        )));
        assert_eq!(decode_value(&encode_value(&value())).unwrap(), value());
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocating() {
        let mut bytes = vec![0u8];
        Compact(u32::MAX).encode_to(&mut bytes);
        assert!(
            Codec::<StreamMessage<ProposalPart>>::decode(&ScaleCodec, Bytes::from(bytes)).is_err()
        );
    }
}
