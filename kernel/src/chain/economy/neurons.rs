//! `neurons.*`: registration (burned or by proof of work), pruning, serving.

use parity_scale_codec::Encode;

use super::types::{
    AxonInfo, BurnState, EconomyError, PowState, SubnetInfo, SubnetParams, Text, Vector, keys,
};
use crate::chain::execute::{Ctx, Fail};
use crate::chain::hashing::{H256, blake2_256};
use crate::chain::keys::AccountId;
use crate::chain::state::{Event, keys as sk};
use crate::chain::units::Balance;

fn err(e: EconomyError) -> Fail {
    Fail::Dispatch(e.into())
}

/// The registration price at `block`: the base halves every `burn_half_life` blocks (linear
/// between halvings), clamped to `[min_burn, max_burn]`.
pub(crate) fn price(state: &BurnState, p: &SubnetParams, block: u32) -> Balance {
    let h = u64::from(p.burn_half_life.max(1));
    let elapsed = u64::from(block.saturating_sub(state.since));
    let halvings = elapsed / h;
    let within = elapsed % h;
    let at_halving = if halvings >= 64 {
        0
    } else {
        state.base >> halvings
    };
    let decayed =
        u128::from(at_halving) - u128::from(at_halving / 2) * u128::from(within) / u128::from(h);
    (decayed as u64).clamp(p.min_burn, p.max_burn.max(p.min_burn))
}

fn subnet(ctx: &mut Ctx<'_, '_>, netuid: u16) -> Result<(SubnetInfo, SubnetParams), Fail> {
    let info: SubnetInfo = ctx
        .get(&keys::subnet(netuid))?
        .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
    let params: SubnetParams = ctx
        .get(&keys::params(netuid))?
        .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
    Ok((info, params))
}

/// Checks that `hotkey` can be registered on `netuid` by `coldkey`.
fn check_new(
    ctx: &mut Ctx<'_, '_>,
    coldkey: &AccountId,
    netuid: u16,
    hotkey: &AccountId,
) -> Result<(), Fail> {
    if let Some(uid) = ctx.get::<u16>(&keys::uid(netuid, hotkey))? {
        return Err(err(EconomyError::AlreadyRegistered {
            netuid,
            hotkey: *hotkey,
            uid,
        }));
    }
    if let Some(owner) = ctx.get::<AccountId>(&keys::owner(hotkey))?
        && owner != *coldkey
    {
        return Err(err(EconomyError::HotkeyNotYours {
            hotkey: *hotkey,
            owner,
        }));
    }
    Ok(())
}

pub(crate) fn register(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    netuid: u16,
    hotkey: &AccountId,
) -> Result<(), Fail> {
    let (_, params) = subnet(ctx, netuid)?;
    check_new(ctx, who, netuid, hotkey)?;
    let state: BurnState = ctx.get_or_default(&keys::burn(netuid))?;
    let cost = price(&state, &params, ctx.block);
    let free = ctx.account(who)?.data.free;
    if free < cost.saturating_add(ctx.params.existential_deposit) {
        return Err(err(EconomyError::CannotAffordRegistration {
            netuid,
            price: cost,
            free,
        }));
    }
    ctx.withdraw(who, cost, true)?;
    ctx.burn(cost);
    let next = u128::from(cost) * u128::from(params.burn_increase_mult_milli) / 1000;
    let next = u64::try_from(next)
        .unwrap_or(u64::MAX)
        .clamp(params.min_burn, params.max_burn.max(params.min_burn));
    ctx.put(
        keys::burn(netuid),
        &BurnState {
            base: next,
            since: ctx.block,
        },
    )?;
    count_registration(ctx, netuid)?;
    place(ctx, netuid, hotkey, who, cost)
}

/// Whether `hash` (big-endian) times `difficulty` stays below 2^256.
pub fn pow_hash_meets(hash: &[u8; 32], difficulty: u64) -> bool {
    // Multiply the 256-bit hash by a 64-bit difficulty, limb by limb, from the lowest limb.
    let mut carry: u128 = 0;
    for limb in hash.rchunks(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(limb);
        let product = u128::from(u64::from_be_bytes(word)) * u128::from(difficulty) + carry;
        carry = product >> 64;
    }
    carry == 0
}

/// The seal a proof-of-work registration must bring: `blake2_256(SCALE(block_hash, hotkey,
/// nonce))`.
pub(crate) fn pow_seal(block_hash: &H256, hotkey: &AccountId, nonce: u64) -> [u8; 32] {
    blake2_256(&(block_hash, hotkey, nonce).encode())
}

pub(crate) fn register_pow(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    netuid: u16,
    hotkey: &AccountId,
    block_number: u32,
    nonce: u64,
) -> Result<(), Fail> {
    let (_, params) = subnet(ctx, netuid)?;
    if !params.pow_registration {
        return Err(err(EconomyError::PowDisabled(netuid)));
    }
    check_new(ctx, who, netuid, hotkey)?;
    let now = ctx.block;
    if block_number >= now || now - block_number > 3 {
        return Err(err(EconomyError::PowStaleBlock {
            block: block_number,
            now,
        }));
    }
    let hash = if block_number == ctx.parent.number {
        Some(ctx.parent.hash)
    } else {
        ctx.get::<H256>(&sk::block_hash(block_number))?
    };
    let hash = hash.ok_or(err(EconomyError::PowStaleBlock {
        block: block_number,
        now,
    }))?;
    let pow: PowState = ctx.get_or_default(&keys::pow(netuid))?;
    if !pow_hash_meets(&pow_seal(&hash, hotkey, nonce), pow.difficulty) {
        return Err(err(EconomyError::PowTooEasy {
            netuid,
            difficulty: pow.difficulty,
        }));
    }
    count_registration(ctx, netuid)?;
    place(ctx, netuid, hotkey, who, 0)
}

fn count_registration(ctx: &mut Ctx<'_, '_>, netuid: u16) -> Result<(), Fail> {
    let mut pow: PowState = ctx.get_or_default(&keys::pow(netuid))?;
    pow.registrations = pow.registrations.saturating_add(1);
    ctx.put(keys::pow(netuid), &pow)?;
    Ok(())
}

fn resize<T: parity_scale_codec::Decode + Encode + Clone + Default>(
    ctx: &mut Ctx<'_, '_>,
    key: Vec<u8>,
    n: usize,
    uid: usize,
    value: T,
) -> Result<(), Fail> {
    let mut v: Vec<T> = ctx.get_or_default(&key)?;
    v.resize(n, T::default());
    if let Some(slot) = v.get_mut(uid) {
        *slot = value;
    }
    ctx.put(key, &v)?;
    Ok(())
}

/// Gives `hotkey` (owned by `coldkey`) a UID on `netuid`: the next free one, or the one the
/// pruning rule picks when the subnet is full.
pub(crate) fn place(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    hotkey: &AccountId,
    coldkey: &AccountId,
    burned: Balance,
) -> Result<(), Fail> {
    let (info, params) = subnet(ctx, netuid)?;
    let mut hotkeys: Vec<AccountId> = ctx.get_or_default(&keys::hotkeys(netuid))?;
    let now = u64::from(ctx.block);
    let (uid, replaced) = if hotkeys.len() < usize::from(params.max_uids) {
        hotkeys.push(*hotkey);
        ((hotkeys.len() - 1) as u16, None)
    } else {
        let uid = to_prune(ctx, netuid, &hotkeys, &info, &params)?;
        let old = hotkeys
            .get(usize::from(uid))
            .copied()
            .ok_or(err(EconomyError::NothingToPrune(netuid)))?;
        if let Some(slot) = hotkeys.get_mut(usize::from(uid)) {
            *slot = *hotkey;
        }
        forget(ctx, netuid, uid, &old, hotkeys.len())?;
        (uid, Some(old))
    };
    let n = hotkeys.len();
    let u = usize::from(uid);
    ctx.put(keys::hotkeys(netuid), &hotkeys)?;
    ctx.put(keys::uid(netuid, hotkey), &uid)?;
    resize(
        ctx,
        keys::vector(netuid, Vector::BlockAtRegistration),
        n,
        u,
        now,
    )?;
    resize(ctx, keys::vector(netuid, Vector::LastUpdate), n, u, now)?;
    for v in [
        Vector::StakeWeight,
        Vector::Consensus,
        Vector::Incentive,
        Vector::Dividends,
        Vector::ValidatorTrust,
    ] {
        resize(ctx, keys::vector(netuid, v), n, u, 0u16)?;
    }
    resize(ctx, keys::vector(netuid, Vector::Active), n, u, false)?;
    resize(
        ctx,
        keys::vector(netuid, Vector::ValidatorPermit),
        n,
        u,
        false,
    )?;
    resize(ctx, keys::vector(netuid, Vector::Emission), n, u, 0u64)?;
    if ctx.get::<AccountId>(&keys::owner(hotkey))?.is_none() {
        ctx.put(keys::owner(hotkey), coldkey)?;
    }
    ctx.emit(Event::NeuronRegistered {
        netuid,
        uid,
        hotkey: *hotkey,
        burned,
        replaced,
    });
    Ok(())
}

/// The UID to replace: the lowest emission among UIDs past their immunity (ties: the oldest
/// registration, then the lowest UID); immune UIDs only if every UID is immune; never the
/// owner's hotkey.
fn to_prune(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    hotkeys: &[AccountId],
    info: &SubnetInfo,
    params: &SubnetParams,
) -> Result<u16, Fail> {
    let emission: Vec<u64> = ctx.get_or_default(&keys::vector(netuid, Vector::Emission))?;
    let registered: Vec<u64> =
        ctx.get_or_default(&keys::vector(netuid, Vector::BlockAtRegistration))?;
    let now = u64::from(ctx.block);
    let best = |immune: bool| {
        hotkeys
            .iter()
            .enumerate()
            .filter(|(_, h)| **h != info.owner_hotkey)
            .filter(|(uid, _)| {
                let at = registered.get(*uid).copied().unwrap_or(0);
                (now.saturating_sub(at) < u64::from(params.immunity_period)) == immune
            })
            .min_by_key(|(uid, _)| {
                (
                    emission.get(*uid).copied().unwrap_or(0),
                    registered.get(*uid).copied().unwrap_or(0),
                    *uid,
                )
            })
            .map(|(uid, _)| uid as u16)
    };
    best(false)
        .or_else(|| best(true))
        .ok_or(err(EconomyError::NothingToPrune(netuid)))
}

/// Clears a pruned UID: its rows, the weights pointing at it (kept, set to 0), its permit and
/// its records.
fn forget(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    uid: u16,
    old: &AccountId,
    n: usize,
) -> Result<(), Fail> {
    ctx.remove(keys::uid(netuid, old))?;
    ctx.remove(keys::weights(netuid, uid))?;
    ctx.remove(keys::bonds(netuid, uid))?;
    ctx.remove(keys::axon(netuid, old))?;
    if ctx
        .get::<Vec<super::types::WeightCommit>>(&keys::commits(netuid, old))?
        .is_some()
    {
        ctx.remove(keys::commits(netuid, old))?;
        super::list_remove(ctx, keys::committers(netuid), old)?;
    }
    for row in 0..n as u16 {
        if row == uid {
            continue;
        }
        let key = keys::weights(netuid, row);
        let Some(mut weights) = ctx.get::<Vec<(u16, u16)>>(&key)? else {
            continue;
        };
        let mut changed = false;
        for (target, value) in &mut weights {
            if *target == uid && *value != 0 {
                *value = 0;
                changed = true;
            }
        }
        if changed {
            ctx.put(key, &weights)?;
        }
    }
    Ok(())
}

pub(crate) fn serve(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    netuid: u16,
    peer_id: &[u8],
    multiaddr: &[u8],
    protocol: u32,
) -> Result<(), Fail> {
    subnet(ctx, netuid)?;
    if ctx.get::<u16>(&keys::uid(netuid, hotkey))?.is_none() {
        return Err(err(EconomyError::NotRegistered {
            netuid,
            hotkey: *hotkey,
        }));
    }
    if peer_id.len() > 256 {
        return Err(err(EconomyError::TooLong(Text::of("peer id"))));
    }
    if multiaddr.len() > 256 {
        return Err(err(EconomyError::TooLong(Text::of("multiaddr"))));
    }
    let axon = AxonInfo {
        peer_id: peer_id.to_vec(),
        multiaddr: multiaddr.to_vec(),
        protocol,
        block: ctx.block,
    };
    ctx.put(keys::axon(netuid, hotkey), &axon)?;
    ctx.emit(Event::Served {
        netuid,
        hotkey: *hotkey,
    });
    Ok(())
}
