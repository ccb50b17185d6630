//! The block reward, its split across subnets, and the epochs that pay it.

use super::staking;
use super::types::{EconomyParams, PowState, SubnetInfo, SubnetParams, Totals, Vector, keys};
use super::weights;
use crate::chain::execute::{BlockError, Ctx, Fail};
use crate::chain::genesis::MAX_SUPPLY;
use crate::chain::keys::AccountId;
use crate::chain::state::Event;
use crate::chain::units::Balance;
use crate::yuma::{self, EpochInput, Hyperparams};

/// Reshapes a subnet's incentive vector before payment: the seam where a subnet's on-chain
/// reward rule (its plugin's `reward` entry point) plugs in. The shaped vector must have the
/// same length; the miners' share of the emission is then split in proportion to it.
pub trait IncentiveShaper {
    /// The incentive to pay by, given the epoch's.
    fn shape(&self, netuid: u16, incentive: &[u16]) -> Vec<u16>;
}

/// Pays by the epoch's own incentive.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityShaper;

impl IncentiveShaper for IdentityShaper {
    fn shape(&self, _netuid: u16, incentive: &[u16]) -> Vec<u16> {
        incentive.to_vec()
    }
}

/// The block reward at `issuance`: `base` halved once for each threshold passed (10.5 M,
/// 15.75 M, 18.375 M, ... TAO: each half of what remains below 21 M), never beyond the cap.
pub fn block_reward(issuance: Balance, base: Balance) -> Balance {
    let mut halvings = 0u32;
    for k in 1..64u32 {
        let threshold = MAX_SUPPLY - (MAX_SUPPLY >> k);
        if issuance >= threshold {
            halvings = k;
        } else {
            break;
        }
    }
    let reward = if halvings >= 64 { 0 } else { base >> halvings };
    reward.min(MAX_SUPPLY.saturating_sub(issuance))
}

/// Splits a block's reward across subnets: equal shares; the remainder's rao go one each to
/// the lowest netuids. One function, so a flow- or stake-based rule can replace it.
pub fn split_emission(reward: Balance, netuids: &[u16]) -> Vec<(u16, Balance)> {
    let n = netuids.len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let (each, rest) = (reward / n, reward % n);
    netuids
        .iter()
        .enumerate()
        .map(|(i, netuid)| (*netuid, each + u64::from((i as u64) < rest)))
        .collect()
}

/// Whether subnet `netuid` with `tempo` runs its epoch at `block` (subtensor's rule).
pub fn epoch_due(block: u32, netuid: u16, tempo: u16) -> bool {
    tempo > 0 && (u64::from(block) + u64::from(netuid) + 1) % (u64::from(tempo) + 1) == 0
}

fn fatal(e: Fail) -> BlockError {
    match e {
        Fail::Fatal(b) => b,
        Fail::Dispatch(d) => BlockError::State(format!("a block step failed: {d}")),
    }
}

pub(crate) fn on_initialize(
    ctx: &mut Ctx<'_, '_>,
    shaper: &dyn IncentiveShaper,
) -> Result<(), BlockError> {
    let netuids: Vec<u16> = ctx.get_or_default(&keys::netuids())?;
    if netuids.is_empty() {
        return Ok(());
    }
    let economy: EconomyParams = ctx.get_or_default(&keys::economy())?;
    let reward = block_reward(ctx.issuance(), economy.block_emission);
    let mut totals: Totals = ctx.get_or_default(&keys::totals())?;
    for (netuid, share) in split_emission(reward, &netuids) {
        let cut =
            (u128::from(share) * u128::from(economy.owner_cut) / u128::from(u16::MAX)) as Balance;
        let owner: Balance = ctx.get_or_default(&keys::pending_owner_cut(netuid))?;
        ctx.put(keys::pending_owner_cut(netuid), &(owner + cut))?;
        let pending: Balance = ctx.get_or_default(&keys::pending(netuid))?;
        ctx.put(keys::pending(netuid), &(pending + share - cut))?;
    }
    ctx.mint(reward);
    totals.pending += reward;
    totals.minted += reward;
    ctx.put(keys::totals(), &totals)?;
    for netuid in netuids {
        let params: SubnetParams = ctx.get_or_default(&keys::params(netuid))?;
        adjust_difficulty(ctx, netuid, &economy, &params)?;
        if epoch_due(ctx.block, netuid, params.tempo) {
            run_epoch(ctx, netuid, &params, shaper).map_err(fatal)?;
        }
    }
    Ok(())
}

/// Moves PoW difficulty toward the target registrations per interval.
fn adjust_difficulty(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    economy: &EconomyParams,
    params: &SubnetParams,
) -> Result<(), BlockError> {
    let mut pow: PowState = ctx.get_or_default(&keys::pow(netuid))?;
    if ctx.block.saturating_sub(pow.last_adjustment) < u32::from(economy.adjustment_interval.max(1))
    {
        return Ok(());
    }
    let target = u128::from(params.target_registrations_per_interval.max(1));
    let next = u128::from(pow.difficulty) * (u128::from(pow.registrations) + target) / (2 * target);
    pow.difficulty = u64::try_from(next).unwrap_or(u64::MAX).max(1);
    pow.registrations = 0;
    pow.last_adjustment = ctx.block;
    ctx.put(keys::pow(netuid), &pow)
}

fn rows(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    n: usize,
    bonds: bool,
) -> Result<Vec<Vec<(u16, u16)>>, BlockError> {
    (0..n as u16)
        .map(|uid| {
            let key = if bonds {
                keys::bonds(netuid, uid)
            } else {
                keys::weights(netuid, uid)
            };
            ctx.get_or_default(&key)
        })
        .collect()
}

fn vector<T: parity_scale_codec::Decode + Clone + Default>(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    v: Vector,
    n: usize,
) -> Result<Vec<T>, BlockError> {
    let mut out: Vec<T> = ctx.get_or_default(&keys::vector(netuid, v))?;
    out.resize(n, T::default());
    Ok(out)
}

/// Runs the subnet's epoch on its stored state, stores the outputs and pays.
fn run_epoch(
    ctx: &mut Ctx<'_, '_>,
    netuid: u16,
    params: &SubnetParams,
    shaper: &dyn IncentiveShaper,
) -> Result<(), Fail> {
    let info: SubnetInfo = ctx
        .get(&keys::subnet(netuid))?
        .ok_or_else(|| BlockError::State(format!("subnet {netuid} is listed but has no record")))?;
    let hotkeys: Vec<AccountId> = ctx.get_or_default(&keys::hotkeys(netuid))?;
    let n = hotkeys.len();
    let epoch: u64 = ctx.get_or_default::<u64>(&keys::epoch_index(netuid))? + 1;
    ctx.put(keys::epoch_index(netuid), &epoch)?;
    let earliest =
        weights::expire_commits(ctx, netuid, epoch, params.reveal_period_epochs, &hotkeys)?;
    let pending: Balance = ctx.get_or_default(&keys::pending(netuid))?;
    let stake = hotkeys
        .iter()
        .map(|h| ctx.get_or_default::<Balance>(&keys::hotkey_stake(h)))
        .collect::<Result<Vec<_>, _>>()?;
    let owner_uid = ctx.get::<u16>(&keys::uid(netuid, &info.owner_hotkey))?;
    let tempo = u64::from(params.tempo);
    let input = EpochInput {
        current_block: u64::from(ctx.block),
        tempo,
        last_mechanism_step_block: ctx.get_or_default(&keys::last_epoch_block(netuid))?,
        activity_cutoff: (u64::from(params.activity_cutoff_factor_milli) * tempo / 1000).max(1),
        stake,
        stake_threshold: 0,
        owner_uid,
        weights: rows(ctx, netuid, n, false)?,
        bonds: rows(ctx, netuid, n, true)?,
        last_update: vector(ctx, netuid, Vector::LastUpdate, n)?,
        block_at_registration: vector(ctx, netuid, Vector::BlockAtRegistration, n)?,
        validator_permit: vector(ctx, netuid, Vector::ValidatorPermit, n)?,
        earliest_commit_block: params.commit_reveal.then_some(earliest),
        params: Hyperparams {
            max_allowed_validators: params.max_validators,
            kappa: params.kappa,
            bonds_penalty: params.bonds_penalty,
            bonds_moving_average: params.bonds_moving_average,
            yuma3_enabled: params.yuma3,
            liquid_alpha_enabled: params.liquid_alpha,
            alpha_low: params.alpha_low,
            alpha_high: params.alpha_high,
            alpha_sigmoid_steepness: params.alpha_sigmoid_steepness,
        },
        rao_emission: pending,
    };
    let out = yuma::epoch(&input).map_err(|e| {
        BlockError::State(format!(
            "subnet {netuid}'s epoch input is inconsistent: {e}"
        ))
    })?;
    let incentive = shaper.shape(netuid, &out.incentive);
    let server = if incentive.len() == n && incentive != out.incentive {
        reshape(&out.server_emission, &incentive)
    } else {
        out.server_emission.clone()
    };
    let emission: Vec<u64> = server
        .iter()
        .zip(&out.validator_emission)
        .map(|(s, v)| s + v)
        .collect();
    ctx.put(keys::vector(netuid, Vector::Active), &out.active)?;
    ctx.put(keys::vector(netuid, Vector::StakeWeight), &out.stake_weight)?;
    ctx.put(keys::vector(netuid, Vector::Consensus), &out.consensus)?;
    ctx.put(keys::vector(netuid, Vector::Incentive), &incentive)?;
    ctx.put(keys::vector(netuid, Vector::Dividends), &out.dividends)?;
    ctx.put(
        keys::vector(netuid, Vector::ValidatorTrust),
        &out.validator_trust,
    )?;
    ctx.put(
        keys::vector(netuid, Vector::ValidatorPermit),
        &out.new_validator_permit,
    )?;
    ctx.put(keys::vector(netuid, Vector::Emission), &emission)?;
    for (uid, row) in out.bonds.iter().enumerate() {
        let key = keys::bonds(netuid, uid as u16);
        if row.is_empty() {
            ctx.remove(key)?;
        } else {
            ctx.put(key, row)?;
        }
    }
    ctx.put(keys::last_epoch_block(netuid), &u64::from(ctx.block))?;

    // Pay: incentive to each miner's stake (the owner's own hotkey's incentive is burned),
    // dividends to each validator's stakers after its owner's take.
    let mut paid: Balance = 0;
    let mut burned: Balance = 0;
    for (uid, hotkey) in hotkeys.iter().enumerate() {
        let owner: AccountId = ctx.get(&keys::owner(hotkey))?.unwrap_or(info.owner);
        let incentive_rao = server.get(uid).copied().unwrap_or(0);
        if *hotkey == info.owner_hotkey {
            burned += incentive_rao;
        } else {
            staking::credit(ctx, hotkey, &owner, incentive_rao)?;
        }
        let dividends = out.validator_emission.get(uid).copied().unwrap_or(0);
        pay_dividends(ctx, hotkey, &owner, dividends)?;
        paid += incentive_rao + dividends;
    }
    if burned > 0 {
        ctx.burn(burned);
    }
    let mut totals: Totals = ctx.get_or_default(&keys::totals())?;
    totals.pending = totals.pending.saturating_sub(paid);
    ctx.put(keys::pending(netuid), &pending.saturating_sub(paid))?;
    // The owner's cut, to the owner's coldkey.
    let cut: Balance = ctx.get_or_default(&keys::pending_owner_cut(netuid))?;
    let owner_paid = if cut > 0 && ctx.deposit(&info.owner, cut).is_ok() {
        ctx.put(keys::pending_owner_cut(netuid), &0u64)?;
        totals.pending = totals.pending.saturating_sub(cut);
        cut
    } else {
        0
    };
    ctx.put(keys::totals(), &totals)?;
    ctx.emit(Event::EpochRun {
        netuid,
        paid: paid - burned,
        owner_cut: owner_paid,
    });
    Ok(())
}

/// Splits the miners' total in proportion to a reshaped incentive vector.
fn reshape(server: &[u64], incentive: &[u16]) -> Vec<u64> {
    let total: u128 = server.iter().map(|s| u128::from(*s)).sum();
    let weight: u128 = incentive.iter().map(|i| u128::from(*i)).sum();
    if weight == 0 {
        return vec![0; server.len()];
    }
    incentive
        .iter()
        .map(|i| (total * u128::from(*i) / weight) as u64)
        .collect()
}

/// A validator's dividends: the owner's take, then the rest to every staker in proportion to
/// its stake (the rounding remainder to the owner).
fn pay_dividends(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    owner: &AccountId,
    amount: Balance,
) -> Result<(), Fail> {
    if amount == 0 {
        return Ok(());
    }
    let take = staking::take_of(ctx, hotkey)?;
    let take_rao = (u128::from(amount) * u128::from(take) / u128::from(u16::MAX)) as Balance;
    let rest = amount - take_rao;
    let total: Balance = ctx.get_or_default(&keys::hotkey_stake(hotkey))?;
    let stakers: Vec<AccountId> = ctx.get_or_default(&keys::stakers(hotkey))?;
    let mut given: Balance = 0;
    if total > 0 {
        for coldkey in &stakers {
            let staked: Balance = ctx.get_or_default(&keys::stake(hotkey, coldkey))?;
            let share = (u128::from(rest) * u128::from(staked) / u128::from(total)) as Balance;
            staking::credit(ctx, hotkey, coldkey, share)?;
            given += share;
        }
    }
    staking::credit(ctx, hotkey, owner, take_rao + (rest - given))
}
