//! `staking.*`: stake on hotkeys, delegation and takes.

use super::types::{EconomyError, Totals, keys};
use super::{list_insert, list_remove};
use crate::chain::execute::{Ctx, Fail};
use crate::chain::keys::AccountId;
use crate::chain::state::Event;
use crate::chain::units::Balance;

/// The default and maximum take: 11796 of 65535 (18%).
pub(crate) const MAX_TAKE: u16 = 11_796;

fn err(e: EconomyError) -> Fail {
    Fail::Dispatch(e.into())
}

/// Adds `amount` to `coldkey`'s stake on `hotkey`, updating every total (the rao comes from
/// the caller: a withdrawal or an emission payout).
pub(crate) fn credit(
    ctx: &mut Ctx<'_, '_>,
    hotkey: &AccountId,
    coldkey: &AccountId,
    amount: Balance,
) -> Result<(), Fail> {
    if amount == 0 {
        return Ok(());
    }
    let overflow = || err(EconomyError::Overflow);
    let staked: Balance = ctx.get_or_default(&keys::stake(hotkey, coldkey))?;
    ctx.put(
        keys::stake(hotkey, coldkey),
        &staked.checked_add(amount).ok_or_else(overflow)?,
    )?;
    let total: Balance = ctx.get_or_default(&keys::hotkey_stake(hotkey))?;
    ctx.put(
        keys::hotkey_stake(hotkey),
        &total.checked_add(amount).ok_or_else(overflow)?,
    )?;
    let mut totals: Totals = ctx.get_or_default(&keys::totals())?;
    totals.stake = totals.stake.checked_add(amount).ok_or_else(overflow)?;
    ctx.put(keys::totals(), &totals)?;
    if staked == 0 {
        list_insert(ctx, keys::stakers(hotkey), coldkey)?;
        list_insert(ctx, keys::staked_hotkeys(coldkey), hotkey)?;
    }
    Ok(())
}

pub(crate) fn add(
    ctx: &mut Ctx<'_, '_>,
    coldkey: &AccountId,
    hotkey: &AccountId,
    amount: Balance,
) -> Result<(), Fail> {
    if amount == 0 {
        return Err(err(EconomyError::ZeroAmount));
    }
    if ctx.get::<AccountId>(&keys::owner(hotkey))?.is_none() {
        return Err(err(EconomyError::UnknownHotkey(*hotkey)));
    }
    ctx.withdraw(coldkey, amount, true)?;
    credit(ctx, hotkey, coldkey, amount)?;
    ctx.emit(Event::StakeAdded {
        coldkey: *coldkey,
        hotkey: *hotkey,
        amount,
    });
    Ok(())
}

pub(crate) fn remove(
    ctx: &mut Ctx<'_, '_>,
    coldkey: &AccountId,
    hotkey: &AccountId,
    amount: Balance,
) -> Result<(), Fail> {
    if amount == 0 {
        return Err(err(EconomyError::ZeroAmount));
    }
    let staked: Balance = ctx.get_or_default(&keys::stake(hotkey, coldkey))?;
    if staked < amount {
        return Err(err(EconomyError::NotEnoughStake {
            staked,
            needed: amount,
        }));
    }
    let left = staked - amount;
    if left == 0 {
        ctx.remove(keys::stake(hotkey, coldkey))?;
        list_remove(ctx, keys::stakers(hotkey), coldkey)?;
        list_remove(ctx, keys::staked_hotkeys(coldkey), hotkey)?;
    } else {
        ctx.put(keys::stake(hotkey, coldkey), &left)?;
    }
    let total: Balance = ctx.get_or_default(&keys::hotkey_stake(hotkey))?;
    ctx.put(keys::hotkey_stake(hotkey), &total.saturating_sub(amount))?;
    let mut totals: Totals = ctx.get_or_default(&keys::totals())?;
    totals.stake = totals.stake.saturating_sub(amount);
    ctx.put(keys::totals(), &totals)?;
    ctx.deposit(coldkey, amount)?;
    ctx.emit(Event::StakeRemoved {
        coldkey: *coldkey,
        hotkey: *hotkey,
        amount,
    });
    Ok(())
}

pub(crate) fn set_take(
    ctx: &mut Ctx<'_, '_>,
    coldkey: &AccountId,
    hotkey: &AccountId,
    take: u16,
) -> Result<(), Fail> {
    match ctx.get::<AccountId>(&keys::owner(hotkey))? {
        None => return Err(err(EconomyError::UnknownHotkey(*hotkey))),
        Some(owner) if owner != *coldkey => {
            return Err(err(EconomyError::HotkeyNotYours {
                hotkey: *hotkey,
                owner,
            }));
        }
        Some(_) => {}
    }
    if take > MAX_TAKE {
        return Err(err(EconomyError::TakeTooHigh(take)));
    }
    ctx.put(keys::take(hotkey), &take)?;
    ctx.emit(Event::TakeSet {
        hotkey: *hotkey,
        take,
    });
    Ok(())
}

/// A hotkey's take (the default when never set).
pub(crate) fn take_of(ctx: &mut Ctx<'_, '_>, hotkey: &AccountId) -> Result<u16, Fail> {
    Ok(ctx.get::<u16>(&keys::take(hotkey))?.unwrap_or(MAX_TAKE))
}
