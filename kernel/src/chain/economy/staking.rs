//! `staking.*`: stake on hotkeys, delegation and takes.

use super::types::{EconomyError, Totals, keys};
use crate::chain::execute::{Ctx, Fail};
use crate::chain::keys::AccountId;
use crate::chain::state::Event;
use crate::chain::units::Balance;

/// The default and maximum take: 11796 of 65535 (18%).
pub(crate) const MAX_TAKE: u16 = 11_796;

fn err(e: EconomyError) -> Fail {
    Fail::Dispatch(e.into())
}

fn insert_sorted(list: &mut Vec<AccountId>, who: AccountId) {
    if let Err(at) = list.binary_search(&who) {
        list.insert(at, who);
    }
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
        let mut stakers: Vec<AccountId> = ctx.get_or_default(&keys::stakers(hotkey))?;
        insert_sorted(&mut stakers, *coldkey);
        ctx.put(keys::stakers(hotkey), &stakers)?;
        let mut hotkeys: Vec<AccountId> = ctx.get_or_default(&keys::staked_hotkeys(coldkey))?;
        insert_sorted(&mut hotkeys, *hotkey);
        ctx.put(keys::staked_hotkeys(coldkey), &hotkeys)?;
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
        let mut stakers: Vec<AccountId> = ctx.get_or_default(&keys::stakers(hotkey))?;
        stakers.retain(|c| c != coldkey);
        ctx.put(keys::stakers(hotkey), &stakers)?;
        let mut hotkeys: Vec<AccountId> = ctx.get_or_default(&keys::staked_hotkeys(coldkey))?;
        hotkeys.retain(|h| h != hotkey);
        ctx.put(keys::staked_hotkeys(coldkey), &hotkeys)?;
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
