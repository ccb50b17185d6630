//! `weights.*`: setting weights with every check subtensor makes, and commit-reveal.

use parity_scale_codec::Encode;
use substrate_fixed::types::I32F32;

use super::types::{EconomyError, SubnetParams, Vector, WeightCommit, keys};
use crate::chain::execute::{Ctx, Fail};
use crate::chain::hashing::{H256, blake2_256};
use crate::chain::keys::AccountId;
use crate::chain::state::Event;

/// Most unrevealed commits per hotkey and subnet.
const MAX_COMMITS: usize = 10;

fn err(e: EconomyError) -> Fail {
    Fail::Dispatch(e.into())
}

/// The commitment `weights.commit` takes:
/// `blake2_256(SCALE(hotkey, netuid, uids, values, salt, version_key))`.
pub fn commit_hash(
    hotkey: &AccountId,
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> H256 {
    H256(blake2_256(
        &(hotkey, netuid, uids, values, salt, version_key).encode(),
    ))
}

/// subtensor's `vec_u16_max_upscale_to_u16`, in I32F32.
fn max_upscale(values: &[u16]) -> Vec<u16> {
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return values.to_vec();
    }
    let top = I32F32::from_num(u16::MAX);
    let max_f = I32F32::from_num(max);
    values
        .iter()
        .map(|v| {
            let v = I32F32::from_num(*v);
            let scaled = if max < 32_768 {
                v * top / max_f
            } else {
                v * (top / max_f)
            };
            scaled.round().saturating_to_num::<u16>()
        })
        .collect()
}

fn params(ctx: &mut Ctx<'_, '_>, netuid: u16) -> Result<SubnetParams, Fail> {
    ctx.get(&keys::params(netuid))?
        .ok_or(err(EconomyError::NoSuchSubnet(netuid)))
}

fn uid_of(ctx: &mut Ctx<'_, '_>, netuid: u16, hotkey: &AccountId) -> Result<u16, Fail> {
    ctx.get(&keys::uid(netuid, hotkey))?
        .ok_or(err(EconomyError::NotRegistered {
            netuid,
            hotkey: *hotkey,
        }))
}

/// Every check on a weights vector, then storage. `last_update` is the block recorded as the
/// setting's time (the commit's block under commit-reveal); `rate_limited` applies the rate
/// limit (direct settings and commits, not reveals).
#[expect(
    clippy::too_many_arguments,
    reason = "the weights call's fields, passed through"
)]
fn apply(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    hotkey: &AccountId,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
    last_update: u64,
    rate_limited: bool,
) -> Result<(), Fail> {
    let p = params(ctx, netuid)?;
    let uid = uid_of(ctx, netuid, hotkey)?;
    if version_key < p.weights_version_key {
        return Err(err(EconomyError::OldVersionKey {
            given: version_key,
            required: p.weights_version_key,
        }));
    }
    if uids.len() != values.len() {
        return Err(err(EconomyError::LengthMismatch {
            uids: uids.len() as u32,
            values: values.len() as u32,
        }));
    }
    if rate_limited {
        check_rate_limit(ctx, netuid, uid, &p)?;
    }
    let n = ctx
        .get_or_default::<Vec<AccountId>>(&keys::hotkeys(netuid))?
        .len() as u16;
    let mut seen = std::collections::BTreeSet::new();
    for target in uids {
        if !seen.insert(*target) {
            return Err(err(EconomyError::DuplicateUid(*target)));
        }
        if *target >= n {
            return Err(err(EconomyError::UidOutOfRange { uid: *target, n }));
        }
    }
    let self_only = uids == [uid];
    if !self_only {
        let permits: Vec<bool> =
            ctx.get_or_default(&keys::vector(netuid, Vector::ValidatorPermit))?;
        if !permits.get(usize::from(uid)).copied().unwrap_or(false) {
            return Err(err(EconomyError::NoPermit(uid)));
        }
        if uids.len() < usize::from(p.min_allowed_weights) {
            return Err(err(EconomyError::TooFewWeights {
                given: uids.len() as u32,
                min: p.min_allowed_weights,
            }));
        }
        let sum: u64 = values.iter().map(|v| u64::from(*v)).sum();
        if sum == 0 {
            return Err(err(EconomyError::AllZero));
        }
        if p.max_weight_limit < u16::MAX {
            for v in values {
                let normalized = (u64::from(*v) * u64::from(u16::MAX) / sum) as u16;
                if normalized > p.max_weight_limit {
                    return Err(err(EconomyError::WeightAboveLimit {
                        value: normalized,
                        limit: p.max_weight_limit,
                    }));
                }
            }
        }
    }
    let row: Vec<(u16, u16)> = uids.iter().copied().zip(max_upscale(values)).collect();
    ctx.put(keys::weights(netuid, uid), &row)?;
    let mut last: Vec<u64> = ctx.get_or_default(&keys::vector(netuid, Vector::LastUpdate))?;
    last.resize(usize::from(n), 0);
    if let Some(slot) = last.get_mut(usize::from(uid)) {
        *slot = last_update;
    }
    ctx.put(keys::vector(netuid, Vector::LastUpdate), &last)?;
    ctx.emit(Event::WeightsSet { netuid, uid });
    Ok(())
}

fn check_rate_limit(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    uid: u16,
    p: &SubnetParams,
) -> Result<(), Fail> {
    let last_update: Vec<u64> = ctx.get_or_default(&keys::vector(netuid, Vector::LastUpdate))?;
    let last = last_update.get(usize::from(uid)).copied().unwrap_or(0);
    let now = u64::from(ctx.block);
    if last != 0 && now.saturating_sub(last) < p.weights_rate_limit {
        return Err(err(EconomyError::RateLimited {
            last,
            limit: p.weights_rate_limit,
            next: last + p.weights_rate_limit,
        }));
    }
    Ok(())
}

pub(crate) fn set(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
) -> Result<(), Fail> {
    if params(ctx, netuid)?.commit_reveal {
        return Err(err(EconomyError::UseCommitReveal(netuid)));
    }
    let now = u64::from(ctx.block);
    apply(ctx, netuid, hotkey, uids, values, version_key, now, true)
}

pub(crate) fn commit(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    netuid: u16,
    hash: H256,
) -> Result<(), Fail> {
    let p = params(ctx, netuid)?;
    if !p.commit_reveal {
        return Err(err(EconomyError::CommitRevealOff(netuid)));
    }
    uid_of(ctx, netuid, hotkey)?;
    let mut commits: Vec<WeightCommit> = ctx.get_or_default(&keys::commits(netuid, hotkey))?;
    if commits.len() >= MAX_COMMITS {
        return Err(err(EconomyError::TooManyCommits));
    }
    let epoch: u64 = ctx.get_or_default(&keys::epoch_index(netuid))?;
    commits.push(WeightCommit {
        hash,
        block: ctx.block,
        epoch,
    });
    ctx.put(keys::commits(netuid, hotkey), &commits)?;
    super::list_insert(ctx, keys::committers(netuid), hotkey)?;
    ctx.emit(Event::WeightsCommitted {
        netuid,
        hotkey: *hotkey,
        hash,
    });
    Ok(())
}

pub(crate) fn reveal(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> Result<(), Fail> {
    let p = params(ctx, netuid)?;
    if !p.commit_reveal {
        return Err(err(EconomyError::CommitRevealOff(netuid)));
    }
    uid_of(ctx, netuid, hotkey)?;
    let hash = commit_hash(hotkey, netuid, uids, values, salt, version_key);
    let mut commits: Vec<WeightCommit> = ctx.get_or_default(&keys::commits(netuid, hotkey))?;
    let Some(at) = commits.iter().position(|c| c.hash == hash) else {
        return Err(err(EconomyError::NoMatchingCommit));
    };
    let found = commits.remove(at);
    let epoch: u64 = ctx.get_or_default(&keys::epoch_index(netuid))?;
    let reveal_epoch = found.epoch + u64::from(p.reveal_period_epochs);
    if epoch < reveal_epoch {
        return Err(err(EconomyError::RevealTooEarly {
            reveal_epoch,
            epoch,
        }));
    }
    apply(
        ctx,
        netuid,
        hotkey,
        uids,
        values,
        version_key,
        u64::from(found.block),
        false,
    )?;
    if commits.is_empty() {
        ctx.remove(keys::commits(netuid, hotkey))?;
        super::list_remove(ctx, keys::committers(netuid), hotkey)?;
    } else {
        ctx.put(keys::commits(netuid, hotkey), &commits)?;
    }
    Ok(())
}

/// At an epoch: drops commits whose reveal epoch passed (with an event each), and returns each
/// UID's earliest unexpired commit block, for the epoch's commit-reveal mask.
pub(crate) fn expire_commits(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    epoch: u64,
    reveal_period: u16,
    hotkeys: &[AccountId],
) -> Result<Vec<Option<u64>>, Fail> {
    let mut earliest = vec![None; hotkeys.len()];
    let committers: Vec<AccountId> = ctx.get_or_default(&keys::committers(netuid))?;
    let mut still = Vec::with_capacity(committers.len());
    for hotkey in committers {
        let mut commits: Vec<WeightCommit> = ctx.get_or_default(&keys::commits(netuid, &hotkey))?;
        let mut expired = Vec::new();
        commits.retain(|c| {
            let keep = epoch <= c.epoch + u64::from(reveal_period);
            if !keep {
                expired.push(c.hash);
            }
            keep
        });
        for hash in expired {
            ctx.emit(Event::WeightsCommitExpired {
                netuid,
                hotkey,
                hash,
            });
        }
        if commits.is_empty() {
            ctx.remove(keys::commits(netuid, &hotkey))?;
            continue;
        }
        if let Some(uid) = ctx.get::<u16>(&keys::uid(netuid, &hotkey))?
            && let Some(slot) = earliest.get_mut(usize::from(uid))
        {
            *slot = commits.iter().map(|c| u64::from(c.block)).min();
        }
        ctx.put(keys::commits(netuid, &hotkey), &commits)?;
        still.push(hotkey);
    }
    ctx.put(keys::committers(netuid), &still)?;
    Ok(earliest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_upscale_matches_subtensor() {
        assert_eq!(max_upscale(&[0, 0]), vec![0, 0]);
        assert_eq!(max_upscale(&[1, 2]), vec![32768, 65535]);
        assert_eq!(max_upscale(&[65535, 1]), vec![65535, 1]);
        // Above 32768 subtensor multiplies by `65535 / max` first: 65535/40000 truncated to
        // I32F32, times 20000, is 32767.4999..., which rounds down (exact math would give
        // 32767.5 and round up).
        assert_eq!(max_upscale(&[40000, 20000]), vec![65535, 32767]);
    }
}
