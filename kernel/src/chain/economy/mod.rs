//! The economy: subnets, neurons, staking, weights, emission and epochs.
//!
//! Every rule here follows subtensor's unless `docs/economics.md` says otherwise, and that page
//! lists every rule and default. Calls run through `dispatch`; the block's own steps (minting
//! the block reward, running due epochs and paying them) through `on_initialize`. Both see
//! the state through the block's context, so a refused call changes nothing but its fee.
//!
//! Amounts are rao (`u64`); balances and stake are in TAO (no subnet alpha tokens).

mod emission;
mod neurons;
mod staking;
mod subnets;
mod types;
mod weights;

pub use emission::{IdentityShaper, IncentiveShaper, block_reward, epoch_due, split_emission};
pub use neurons::pow_hash_meets;
pub use types::*;
pub use weights::commit_hash;

use super::execute::{BlockError, Ctx, Fail, StateView};
use super::extrinsic::{AdminCall, Call, NeuronsCall, StakingCall, SubnetsCall, WeightsCall};
use super::keys::AccountId;
use super::store::StoreError;

/// Runs an economy call for `who`.
pub(crate) fn dispatch(ctx: &mut Ctx<'_, '_>, who: &AccountId, call: &Call) -> Result<(), Fail> {
    match call {
        Call::Balances(_) => {
            Err(BlockError::State("balances calls are not economy calls".into()).into())
        }
        Call::Subnets(SubnetsCall::Create { hotkey, name }) => {
            subnets::create(ctx, who, hotkey, name)
        }
        Call::Subnets(SubnetsCall::SetHyperparameter { netuid, param }) => {
            subnets::set_hyperparameter(ctx, who, *netuid, *param)
        }
        Call::Subnets(SubnetsCall::SetBundle {
            netuid,
            hash,
            activation_block,
        }) => subnets::set_bundle(ctx, who, *netuid, *hash, *activation_block),
        Call::Admin(AdminCall::Set { param }) => subnets::set_root_param(ctx, who, *param),
        Call::Neurons(NeuronsCall::Register { netuid, hotkey }) => {
            neurons::register(ctx, who, *netuid, hotkey)
        }
        Call::Neurons(NeuronsCall::RegisterPow {
            netuid,
            hotkey,
            block_number,
            nonce,
        }) => neurons::register_pow(ctx, who, *netuid, hotkey, *block_number, *nonce),
        Call::Neurons(NeuronsCall::Serve {
            netuid,
            peer_id,
            multiaddr,
            protocol,
        }) => neurons::serve(ctx, who, *netuid, peer_id, multiaddr, *protocol),
        Call::Staking(StakingCall::Add { hotkey, amount }) => {
            staking::add(ctx, who, hotkey, *amount)
        }
        Call::Staking(StakingCall::Remove { hotkey, amount }) => {
            staking::remove(ctx, who, hotkey, *amount)
        }
        Call::Staking(StakingCall::SetTake { hotkey, take }) => {
            staking::set_take(ctx, who, hotkey, *take)
        }
        Call::Weights(WeightsCall::Set {
            netuid,
            uids,
            values,
            version_key,
        }) => weights::set(ctx, who, *netuid, uids, values, *version_key),
        Call::Weights(WeightsCall::Commit { netuid, hash }) => {
            weights::commit(ctx, who, *netuid, *hash)
        }
        Call::Weights(WeightsCall::Reveal {
            netuid,
            uids,
            values,
            salt,
            version_key,
        }) => weights::reveal(ctx, who, *netuid, uids, values, salt, *version_key),
    }
}

/// The block's own economy steps, before its extrinsics: mint and split the block reward,
/// then run and pay every epoch due at this block.
pub(crate) fn on_initialize(ctx: &mut Ctx<'_, '_>) -> Result<(), BlockError> {
    emission::on_initialize(ctx, &IdentityShaper)
}

/// Adds `who` to the sorted account list stored at `key` (the stakers of a hotkey, the
/// committers of a subnet, ...), unless it is there already.
pub(crate) fn list_insert(
    ctx: &mut Ctx<'_, '_>,
    key: Vec<u8>,
    who: &AccountId,
) -> Result<(), BlockError> {
    let mut list: Vec<AccountId> = ctx.get_or_default(&key)?;
    if let Err(at) = list.binary_search(who) {
        list.insert(at, *who);
        ctx.put(key, &list)?;
    }
    Ok(())
}

/// Removes `who` from the sorted account list stored at `key`, if it is there.
pub(crate) fn list_remove(
    ctx: &mut Ctx<'_, '_>,
    key: Vec<u8>,
    who: &AccountId,
) -> Result<(), BlockError> {
    let mut list: Vec<AccountId> = ctx.get_or_default(&key)?;
    if let Ok(at) = list.binary_search(who) {
        list.remove(at);
        ctx.put(key, &list)?;
    }
    Ok(())
}

/// Whether a coldkey still has something on chain besides its free balance (stake, or a
/// subnet it owns): such an account is never reaped.
pub(crate) fn holds_anything(
    ctx: &mut Ctx<'_, '_>,
    coldkey: &AccountId,
) -> Result<bool, BlockError> {
    Ok(!ctx
        .get_or_default::<Vec<AccountId>>(&keys::staked_hotkeys(coldkey))?
        .is_empty()
        || !ctx
            .get_or_default::<Vec<u16>>(&keys::owned_subnets(coldkey))?
            .is_empty())
}

/// Whether a hotkey-signed weights or serving call is free: the hotkey is registered on the
/// subnet and the call passes the cheap checks that keep free calls from being spam (the
/// subnet's mode, the rate limit, a matching commit for a reveal). Otherwise it pays the
/// normal fee, like any call. `get` reads the state the call will run on.
pub(crate) fn is_free_call(
    get: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    block: u32,
    signer: &AccountId,
    call: &Call,
) -> Result<(), Option<EconomyError>> {
    fn decode<T: parity_scale_codec::Decode>(
        get: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
        key: &[u8],
    ) -> Option<T> {
        get(key).and_then(|b| T::decode(&mut &b[..]).ok())
    }
    let netuid = call.fee_free_netuid().ok_or(None)?;
    let uid = decode::<u16>(get, &keys::uid(netuid, signer)).ok_or(None)?;
    let params = decode::<SubnetParams>(get, &keys::params(netuid)).ok_or(None)?;
    let check = |ok: bool, why: EconomyError| if ok { Ok(()) } else { Err(Some(why)) };
    match call {
        Call::Weights(WeightsCall::Set { .. }) => {
            check(!params.commit_reveal, EconomyError::UseCommitReveal(netuid))?;
            let last: Vec<u64> =
                decode(get, &keys::vector(netuid, Vector::LastUpdate)).unwrap_or_default();
            let last = last.get(usize::from(uid)).copied().unwrap_or(0);
            let limit = params.weights_rate_limit;
            check(
                last == 0 || u64::from(block).saturating_sub(last) >= limit,
                EconomyError::RateLimited {
                    last,
                    limit,
                    next: last + limit,
                },
            )
        }
        Call::Weights(WeightsCall::Commit { .. }) => {
            check(params.commit_reveal, EconomyError::CommitRevealOff(netuid))?;
            let commits: Vec<WeightCommit> =
                decode(get, &keys::commits(netuid, signer)).unwrap_or_default();
            check(commits.len() < 10, EconomyError::TooManyCommits)
        }
        Call::Weights(WeightsCall::Reveal {
            uids,
            values,
            salt,
            version_key,
            ..
        }) => {
            check(params.commit_reveal, EconomyError::CommitRevealOff(netuid))?;
            let hash = commit_hash(signer, netuid, uids, values, salt, *version_key);
            let commits: Vec<WeightCommit> =
                decode(get, &keys::commits(netuid, signer)).unwrap_or_default();
            check(
                commits.iter().any(|c| c.hash == hash),
                EconomyError::NoMatchingCommit,
            )
        }
        Call::Neurons(NeuronsCall::Serve { .. }) => Ok(()),
        _ => Err(None),
    }
}

/// Decodes the value at a state key (`None` when absent or undecodable).
pub(crate) fn read<T: parity_scale_codec::Decode>(
    view: &dyn StateView,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    Ok(view.read(key)?.and_then(|b| T::decode(&mut &b[..]).ok()))
}

/// Read-only views of the economy's state, for RPC and tools.
pub mod query {
    use super::*;

    /// Every subnet's netuid, ascending.
    pub fn netuids(view: &dyn StateView) -> Result<Vec<u16>, StoreError> {
        Ok(read(view, &keys::netuids())?.unwrap_or_default())
    }

    /// A subnet's record.
    pub fn subnet(view: &dyn StateView, netuid: u16) -> Result<Option<SubnetInfo>, StoreError> {
        read(view, &keys::subnet(netuid))
    }

    /// A subnet's hyperparameters.
    pub fn params(view: &dyn StateView, netuid: u16) -> Result<Option<SubnetParams>, StoreError> {
        read(view, &keys::params(netuid))
    }

    /// The global economy parameters.
    pub fn economy(view: &dyn StateView) -> Result<EconomyParams, StoreError> {
        Ok(read(view, &keys::economy())?.unwrap_or_default())
    }

    /// The current registration price of a subnet at `block`.
    pub fn burn(view: &dyn StateView, netuid: u16, block: u32) -> Result<Option<u64>, StoreError> {
        let Some(params) = params(view, netuid)? else {
            return Ok(None);
        };
        let state: BurnState = read(view, &keys::burn(netuid))?.unwrap_or_default();
        Ok(Some(neurons::price(&state, &params, block)))
    }

    /// The lock cost of a new subnet at `block`.
    pub fn lock_cost(view: &dyn StateView, block: u32) -> Result<u64, StoreError> {
        let economy = economy(view)?;
        let lock: LockState = read(view, &keys::lock_state())?.unwrap_or_default();
        Ok(subnets::lock_cost(&economy, &lock, block))
    }

    /// The stake `coldkey` holds on `hotkey`.
    pub fn stake(
        view: &dyn StateView,
        hotkey: &AccountId,
        coldkey: &AccountId,
    ) -> Result<u64, StoreError> {
        Ok(read(view, &keys::stake(hotkey, coldkey))?.unwrap_or(0))
    }

    /// Every stake on `hotkey`: `(coldkey, rao)`.
    pub fn stakers(
        view: &dyn StateView,
        hotkey: &AccountId,
    ) -> Result<Vec<(AccountId, u64)>, StoreError> {
        let coldkeys: Vec<AccountId> = read(view, &keys::stakers(hotkey))?.unwrap_or_default();
        coldkeys
            .into_iter()
            .map(|c| Ok((c, stake(view, hotkey, &c)?)))
            .collect()
    }

    /// Total stake on `hotkey`.
    pub fn hotkey_stake(view: &dyn StateView, hotkey: &AccountId) -> Result<u64, StoreError> {
        Ok(read(view, &keys::hotkey_stake(hotkey))?.unwrap_or(0))
    }

    /// The coldkey that owns `hotkey`.
    pub fn owner(
        view: &dyn StateView,
        hotkey: &AccountId,
    ) -> Result<Option<AccountId>, StoreError> {
        read(view, &keys::owner(hotkey))
    }

    /// Totals for the issuance invariant.
    pub fn totals(view: &dyn StateView) -> Result<Totals, StoreError> {
        Ok(read(view, &keys::totals())?.unwrap_or_default())
    }

    /// A subnet's metagraph: every per-UID value.
    pub fn metagraph(view: &dyn StateView, netuid: u16) -> Result<Option<Metagraph>, StoreError> {
        let Some(info) = subnet(view, netuid)? else {
            return Ok(None);
        };
        let hotkeys: Vec<AccountId> = read(view, &keys::hotkeys(netuid))?.unwrap_or_default();
        let n = hotkeys.len();
        let padded_bools = |v| padded::<bool>(view, netuid, v, n);
        let padded_u16s = |v| padded::<u16>(view, netuid, v, n);
        let padded_u64s = |v| padded::<u64>(view, netuid, v, n);
        let active = padded_bools(Vector::Active)?;
        let stake_weight = padded_u16s(Vector::StakeWeight)?;
        let consensus = padded_u16s(Vector::Consensus)?;
        let incentive = padded_u16s(Vector::Incentive)?;
        let dividends = padded_u16s(Vector::Dividends)?;
        let validator_trust = padded_u16s(Vector::ValidatorTrust)?;
        let validator_permit = padded_bools(Vector::ValidatorPermit)?;
        let emission = padded_u64s(Vector::Emission)?;
        let last_update = padded_u64s(Vector::LastUpdate)?;
        let block_at_registration = padded_u64s(Vector::BlockAtRegistration)?;
        let mut neurons = Vec::with_capacity(n);
        for (uid, hotkey) in hotkeys.iter().enumerate() {
            let u = uid;
            neurons.push(NeuronView {
                uid: uid as u16,
                hotkey: *hotkey,
                coldkey: owner(view, hotkey)?,
                stake: hotkey_stake(view, hotkey)?,
                active: active[u],
                stake_weight: stake_weight[u],
                consensus: consensus[u],
                incentive: incentive[u],
                dividends: dividends[u],
                validator_trust: validator_trust[u],
                validator_permit: validator_permit[u],
                emission: emission[u],
                last_update: last_update[u],
                block_at_registration: block_at_registration[u],
                axon: read(view, &keys::axon(netuid, hotkey))?,
                weights: read(view, &keys::weights(netuid, uid as u16))?.unwrap_or_default(),
                bonds: read(view, &keys::bonds(netuid, uid as u16))?.unwrap_or_default(),
            });
        }
        Ok(Some(Metagraph {
            netuid,
            name: String::from_utf8_lossy(&info.name).into_owned(),
            owner: info.owner,
            owner_hotkey: info.owner_hotkey,
            last_epoch_block: read(view, &keys::last_epoch_block(netuid))?.unwrap_or(0),
            pending_emission: read(view, &keys::pending(netuid))?.unwrap_or(0),
            neurons,
        }))
    }

    /// A subnet's per-UID vector, padded with defaults to `n` entries.
    fn padded<T: parity_scale_codec::Decode + Clone + Default>(
        view: &dyn StateView,
        netuid: u16,
        v: Vector,
        n: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut out: Vec<T> = read(view, &keys::vector(netuid, v))?.unwrap_or_default();
        out.resize(n, T::default());
        Ok(out)
    }
}
