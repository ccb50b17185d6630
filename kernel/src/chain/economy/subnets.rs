//! `subnets.*` and `admin.set`: creating subnets, their hyperparameters, bundles, root
//! parameters.

use super::neurons;
use super::types::{
    BurnState, EconomyError, EconomyParams, LockState, PowState, SubnetInfo, SubnetParams, Text,
    Totals, keys,
};
use crate::chain::execute::{Ctx, Fail};
use crate::chain::extrinsic::{OwnerParam, RootParam};
use crate::chain::genesis::MAX_SUPPLY;
use crate::chain::keys::AccountId;
use crate::chain::state::{Event, keys as sk};
use crate::chain::units::Balance;

/// The cost of locking a new subnet at `block`: the last cost doubled, decaying linearly by
/// the last cost per `lock_reduction_interval` blocks, never below the floor.
pub(crate) fn lock_cost(economy: &EconomyParams, lock: &LockState, block: u32) -> Balance {
    if lock.last_cost == 0 {
        return economy.min_lock_cost;
    }
    let elapsed = u128::from(block.saturating_sub(lock.last_block));
    let interval = u128::from(economy.lock_reduction_interval.max(1));
    let doubled = u128::from(lock.last_cost) * 2;
    let decay = u128::from(lock.last_cost) * elapsed / interval;
    let cost = doubled
        .saturating_sub(decay)
        .max(u128::from(economy.min_lock_cost));
    u64::try_from(cost).unwrap_or(u64::MAX)
}

fn err(e: EconomyError) -> Fail {
    Fail::Dispatch(e.into())
}

pub(crate) fn create(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    hotkey: &AccountId,
    name: &[u8],
) -> Result<(), Fail> {
    if name.is_empty() || name.len() > 64 || std::str::from_utf8(name).is_err() {
        return Err(err(EconomyError::BadName));
    }
    let economy: EconomyParams = ctx.get_or_default(&keys::economy())?;
    let mut netuids: Vec<u16> = ctx.get_or_default(&keys::netuids())?;
    if netuids.len() >= usize::from(economy.subnet_limit) {
        return Err(err(EconomyError::SubnetLimit(economy.subnet_limit)));
    }
    if let Some(owner) = ctx.get::<AccountId>(&keys::owner(hotkey))?
        && owner != *who
    {
        return Err(err(EconomyError::HotkeyNotYours {
            hotkey: *hotkey,
            owner,
        }));
    }
    let lock: LockState = ctx.get_or_default(&keys::lock_state())?;
    let cost = lock_cost(&economy, &lock, ctx.block);
    let free = ctx.account(who)?.data.free;
    if free < cost.saturating_add(ctx.params.existential_deposit) {
        return Err(err(EconomyError::CannotAffordLock { cost, free }));
    }
    ctx.withdraw(who, cost, true)?;
    let netuid = match netuids.last() {
        Some(last) => last
            .checked_add(1)
            .ok_or(EconomyError::Overflow)
            .map_err(err)?,
        None => 1,
    };
    netuids.push(netuid);
    ctx.put(keys::netuids(), &netuids)?;
    let info = SubnetInfo {
        owner: *who,
        owner_hotkey: *hotkey,
        name: name.to_vec(),
        created_at: ctx.block,
        locked: cost,
        bundle: None,
        previous_bundle: None,
    };
    ctx.put(keys::subnet(netuid), &info)?;
    let params = SubnetParams::default();
    ctx.put(keys::params(netuid), &params)?;
    ctx.put(
        keys::burn(netuid),
        &BurnState {
            base: params.min_burn,
            since: ctx.block,
        },
    )?;
    let pow = PowState {
        difficulty: economy.initial_difficulty,
        registrations: 0,
        last_adjustment: ctx.block,
    };
    ctx.put(keys::pow(netuid), &pow)?;
    ctx.put(keys::last_epoch_block(netuid), &u64::from(ctx.block))?;
    ctx.put(
        keys::lock_state(),
        &LockState {
            last_cost: cost,
            last_block: ctx.block,
        },
    )?;
    let mut totals: Totals = ctx.get_or_default(&keys::totals())?;
    totals.locked = totals
        .locked
        .checked_add(cost)
        .ok_or(EconomyError::Overflow)
        .map_err(err)?;
    ctx.put(keys::totals(), &totals)?;
    let mut owned: Vec<u16> = ctx.get_or_default(&keys::owned_subnets(who))?;
    owned.push(netuid);
    ctx.put(keys::owned_subnets(who), &owned)?;
    ctx.emit(Event::SubnetCreated {
        netuid,
        owner: *who,
        locked: cost,
    });
    neurons::place(ctx, netuid, hotkey, who, 0)?;
    Ok(())
}

/// The subnet's record, and that `who` owns it.
fn owned(ctx: &mut Ctx<'_, '_>, who: &AccountId, netuid: u16) -> Result<SubnetInfo, Fail> {
    let info: SubnetInfo = ctx
        .get(&keys::subnet(netuid))?
        .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
    if info.owner != *who {
        return Err(err(EconomyError::NotOwner(netuid)));
    }
    Ok(info)
}

fn bounded(name: &str, value: u64, min: u64, max: u64) -> Result<(), Fail> {
    if value < min || value > max {
        return Err(err(EconomyError::OutOfBounds {
            name: Text::of(name),
            value,
            min,
            max,
        }));
    }
    Ok(())
}

pub(crate) fn set_hyperparameter(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    netuid: u16,
    param: OwnerParam,
) -> Result<(), Fail> {
    owned(ctx, who, netuid)?;
    let mut p: SubnetParams = ctx
        .get(&keys::params(netuid))?
        .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
    let n = ctx
        .get_or_default::<Vec<AccountId>>(&keys::hotkeys(netuid))?
        .len() as u64;
    let name = apply_owner_param(&mut p, param, n)?;
    ctx.put(keys::params(netuid), &p)?;
    ctx.emit(Event::ParameterSet {
        netuid: Some(netuid),
        name: name.into(),
    });
    Ok(())
}

/// Checks and applies one owner parameter; returns its name.
fn apply_owner_param(
    p: &mut SubnetParams,
    param: OwnerParam,
    n: u64,
) -> Result<&'static str, Fail> {
    Ok(match param {
        OwnerParam::Tempo(v) => {
            bounded("tempo", v.into(), 1, 10_000)?;
            p.tempo = v;
            "tempo"
        }
        OwnerParam::BondsMovingAverage(v) => {
            bounded("bonds_moving_average", v, 0, 975_000)?;
            p.bonds_moving_average = v;
            "bonds_moving_average"
        }
        OwnerParam::ImmunityPeriod(v) => {
            p.immunity_period = v;
            "immunity_period"
        }
        OwnerParam::MaxUids(v) => {
            bounded("max_uids", v.into(), n.max(2), 4096)?;
            if u64::from(p.min_allowed_weights) > u64::from(v) {
                return Err(err(EconomyError::Inconsistent(Text::of(
                    "max_uids cannot be below min_allowed_weights",
                ))));
            }
            p.max_uids = v;
            "max_uids"
        }
        OwnerParam::MinAllowedWeights(v) => {
            bounded("min_allowed_weights", v.into(), 0, p.max_uids.into())?;
            p.min_allowed_weights = v;
            "min_allowed_weights"
        }
        OwnerParam::MaxWeightLimit(v) => {
            bounded("max_weight_limit", v.into(), 1, u16::MAX.into())?;
            p.max_weight_limit = v;
            "max_weight_limit"
        }
        OwnerParam::WeightsRateLimit(v) => {
            bounded("weights_rate_limit", v, 0, 100_000)?;
            p.weights_rate_limit = v;
            "weights_rate_limit"
        }
        OwnerParam::ActivityCutoffFactorMilli(v) => {
            bounded("activity_cutoff_factor_milli", v.into(), 1_000, 50_000)?;
            p.activity_cutoff_factor_milli = v;
            "activity_cutoff_factor_milli"
        }
        OwnerParam::MinBurn(v) => {
            bounded("min_burn", v, 0, p.max_burn)?;
            p.min_burn = v;
            "min_burn"
        }
        OwnerParam::MaxBurn(v) => {
            bounded(
                "max_burn",
                v,
                p.min_burn.max(1),
                1_000_000 * crate::chain::units::RAO_PER_TAO,
            )?;
            p.max_burn = v;
            "max_burn"
        }
        OwnerParam::BurnHalfLife(v) => {
            bounded("burn_half_life", v.into(), 1, u16::MAX.into())?;
            p.burn_half_life = v;
            "burn_half_life"
        }
        OwnerParam::BurnIncreaseMultMilli(v) => {
            bounded("burn_increase_mult_milli", v.into(), 1_000, 10_000)?;
            p.burn_increase_mult_milli = v;
            "burn_increase_mult_milli"
        }
        OwnerParam::BondsPenalty(v) => {
            p.bonds_penalty = v;
            "bonds_penalty"
        }
        OwnerParam::Yuma3(v) => {
            p.yuma3 = v;
            "yuma3"
        }
        OwnerParam::CommitReveal(v) => {
            p.commit_reveal = v;
            "commit_reveal"
        }
        OwnerParam::RevealPeriodEpochs(v) => {
            bounded("reveal_period_epochs", v.into(), 1, 100)?;
            p.reveal_period_epochs = v;
            "reveal_period_epochs"
        }
        OwnerParam::LiquidAlpha(v) => {
            p.liquid_alpha = v;
            "liquid_alpha"
        }
        OwnerParam::AlphaValues(low, high) => {
            bounded("alpha_low", low.into(), 1638, u16::MAX.into())?;
            bounded("alpha_high", high.into(), low.into(), u16::MAX.into())?;
            p.alpha_low = low;
            p.alpha_high = high;
            "alpha_values"
        }
        OwnerParam::AlphaSigmoidSteepness(v) => {
            bounded(
                "alpha_sigmoid_steepness",
                u64::from(v.unsigned_abs()),
                0,
                i16::MAX as u64,
            )?;
            if v < 0 {
                return Err(err(EconomyError::Inconsistent(Text::of(
                    "alpha_sigmoid_steepness must not be negative",
                ))));
            }
            p.alpha_sigmoid_steepness = v;
            "alpha_sigmoid_steepness"
        }
        OwnerParam::PowRegistration(v) => {
            p.pow_registration = v;
            "pow_registration"
        }
        OwnerParam::TargetRegistrationsPerInterval(v) => {
            bounded("target_registrations_per_interval", v.into(), 1, 1_000)?;
            p.target_registrations_per_interval = v;
            "target_registrations_per_interval"
        }
        OwnerParam::WeightsVersionKey(v) => {
            p.weights_version_key = v;
            "weights_version_key"
        }
    })
}

pub(crate) fn set_bundle(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    netuid: u16,
    hash: [u8; 32],
    activation_block: u32,
) -> Result<(), Fail> {
    let mut info = owned(ctx, who, netuid)?;
    if activation_block <= ctx.block {
        return Err(err(EconomyError::ActivationInPast {
            block: activation_block,
            now: ctx.block,
        }));
    }
    // The bundle in force stays known until the new one activates.
    if let Some(current) = info.bundle
        && current.activation_block <= ctx.block
    {
        info.previous_bundle = Some(current);
    }
    info.bundle = Some(super::types::Bundle {
        hash,
        activation_block,
    });
    ctx.put(keys::subnet(netuid), &info)?;
    ctx.emit(Event::BundleSet {
        netuid,
        hash,
        activation_block,
    });
    Ok(())
}

pub(crate) fn set_root_param(
    ctx: &mut Ctx<'_, '_>,
    who: &AccountId,
    param: RootParam,
) -> Result<(), Fail> {
    let root: Option<AccountId> = ctx.get(&sk::root())?;
    if root != Some(*who) {
        return Err(err(EconomyError::NotRoot));
    }
    let mut economy: EconomyParams = ctx.get_or_default(&keys::economy())?;
    let (netuid, name) = match param {
        RootParam::Kappa { netuid, value } => {
            let mut p: SubnetParams = ctx
                .get(&keys::params(netuid))?
                .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
            p.kappa = value;
            ctx.put(keys::params(netuid), &p)?;
            (Some(netuid), "kappa")
        }
        RootParam::MaxValidators { netuid, value } => {
            let mut p: SubnetParams = ctx
                .get(&keys::params(netuid))?
                .ok_or(err(EconomyError::NoSuchSubnet(netuid)))?;
            bounded("max_validators", value.into(), 1, 4096)?;
            p.max_validators = value;
            ctx.put(keys::params(netuid), &p)?;
            (Some(netuid), "max_validators")
        }
        RootParam::OwnerCut(v) => {
            economy.owner_cut = v;
            (None, "owner_cut")
        }
        RootParam::SubnetLimit(v) => {
            let count = ctx.get_or_default::<Vec<u16>>(&keys::netuids())?.len() as u64;
            bounded("subnet_limit", v.into(), count, 1024)?;
            economy.subnet_limit = v;
            (None, "subnet_limit")
        }
        RootParam::MinLockCost(v) => {
            bounded("min_lock_cost", v, 0, MAX_SUPPLY)?;
            economy.min_lock_cost = v;
            (None, "min_lock_cost")
        }
    };
    ctx.put(keys::economy(), &economy)?;
    ctx.emit(Event::ParameterSet {
        netuid,
        name: name.into(),
    });
    Ok(())
}
