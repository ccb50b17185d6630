//! The economy's read methods (`ganglion_subnets`, `ganglion_metagraph`, ...), documented in
//! `docs/rpc.md` under "ganglion (economy)".
//!
//! Each method reads under one lock of the chain, so everything it returns (the `head` it
//! reports included) is the state after one block. Field names are snake_case, as the kernel's
//! types and the bittensor SDK name them.

use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parity_scale_codec::Decode;
use serde_json::{Map, Value, json};

use super::{RpcResult, account_param, bad_params, internal};
use crate::chain::economy::{
    self, EconomyError, NeuronView, PowState, SubnetInfo, SubnetParams, epoch_due, keys, query,
};
use crate::chain::execute::StateView;
use crate::chain::keys::AccountId;

/// The error for a netuid with no subnet: invalid params, with the economy's own message.
fn no_subnet(netuid: u16) -> ErrorObjectOwned {
    bad_params(EconomyError::NoSuchSubnet(netuid).to_string())
}

/// Decodes the value at a raw economy key (`None` when absent or undecodable, as `query`).
fn read<T: Decode>(view: &dyn StateView, key: &[u8]) -> Result<Option<T>, ErrorObjectOwned> {
    economy::read(view, key).map_err(internal)
}

/// A serializable value as a JSON object (the kernel's records all serialize to objects).
fn object(value: &impl serde::Serialize) -> Result<Map<String, Value>, ErrorObjectOwned> {
    match serde_json::to_value(value).map_err(internal)? {
        Value::Object(map) => Ok(map),
        other => Err(internal(format!("expected a JSON object, got {other}"))),
    }
}

/// The first block after `head` at which the subnet's epoch runs (`None` when tempo is 0).
fn next_epoch_block(head: u32, netuid: u16, tempo: u16) -> Option<u32> {
    (1..=u32::from(tempo).saturating_add(1))
        .map(|d| head.saturating_add(d))
        .find(|b| epoch_due(*b, netuid, tempo))
}

/// A subnet's record and hyperparameters, or the invalid-params error.
fn subnet_and_params(
    view: &dyn StateView,
    netuid: u16,
) -> Result<(SubnetInfo, SubnetParams), ErrorObjectOwned> {
    let info = query::subnet(view, netuid)
        .map_err(internal)?
        .ok_or_else(|| no_subnet(netuid))?;
    let params = query::params(view, netuid)
        .map_err(internal)?
        .ok_or_else(|| no_subnet(netuid))?;
    Ok((info, params))
}

fn neuron_count(view: &dyn StateView, netuid: u16) -> Result<usize, ErrorObjectOwned> {
    Ok(read::<Vec<AccountId>>(view, &keys::hotkeys(netuid))?
        .unwrap_or_default()
        .len())
}

fn subnet_summary(view: &dyn StateView, netuid: u16, head: u32) -> RpcResult {
    let (info, params) = subnet_and_params(view, netuid)?;
    Ok(json!({
        "netuid": netuid,
        "name": String::from_utf8_lossy(&info.name),
        "owner": info.owner,
        "owner_hotkey": info.owner_hotkey,
        "created_at": info.created_at,
        "neurons": neuron_count(view, netuid)?,
        "max_uids": params.max_uids,
        "tempo": params.tempo,
        "pending_emission": read::<u64>(view, &keys::pending(netuid))?.unwrap_or(0),
        "registration_price": query::burn(view, netuid, head.saturating_add(1)).map_err(internal)?,
        "bundle": info.bundle,
    }))
}

fn subnet_info(view: &dyn StateView, netuid: u16, head: u32) -> RpcResult {
    let (info, params) = subnet_and_params(view, netuid)?;
    let mut out = Map::new();
    out.insert("netuid".into(), json!(netuid));
    out.insert("head".into(), json!(head));
    out.extend(object(&info)?);
    let pow: PowState = read(view, &keys::pow(netuid))?.unwrap_or_default();
    let next = head.saturating_add(1);
    out.extend(
        [
            ("neurons", json!(neuron_count(view, netuid)?)),
            ("tempo", json!(params.tempo)),
            (
                "registration_price",
                json!(query::burn(view, netuid, next).map_err(internal)?),
            ),
            (
                "lock_cost",
                json!(query::lock_cost(view, next).map_err(internal)?),
            ),
            ("pow", json!(pow)),
            (
                "pending_emission",
                json!(read::<u64>(view, &keys::pending(netuid))?.unwrap_or(0)),
            ),
            (
                "pending_owner_cut",
                json!(read::<u64>(view, &keys::pending_owner_cut(netuid))?.unwrap_or(0)),
            ),
            (
                "last_epoch_block",
                json!(read::<u64>(view, &keys::last_epoch_block(netuid))?.unwrap_or(0)),
            ),
            (
                "epoch_index",
                json!(read::<u64>(view, &keys::epoch_index(netuid))?.unwrap_or(0)),
            ),
            (
                "next_epoch_block",
                json!(next_epoch_block(head, netuid, params.tempo)),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    Ok(Value::Object(out))
}

/// One neuron by UID (a JSON number) or hotkey (an address string).
fn neuron(
    view: &dyn StateView,
    netuid: u16,
    which: &Value,
) -> Result<NeuronView, ErrorObjectOwned> {
    let metagraph = query::metagraph(view, netuid)
        .map_err(internal)?
        .ok_or_else(|| no_subnet(netuid))?;
    let n = metagraph.neurons.len();
    let found = match which {
        Value::Number(number) => {
            let uid = number
                .as_u64()
                .and_then(|u| u16::try_from(u).ok())
                .ok_or_else(|| bad_params(format!("{number} is not a UID (0 to 65535)")))?;
            metagraph
                .neurons
                .into_iter()
                .find(|v| v.uid == uid)
                .ok_or_else(|| {
                    bad_params(format!(
                        "uid {uid} does not exist on subnet {netuid} ({n} neurons)"
                    ))
                })?
        }
        Value::String(text) => {
            let hotkey = match text.parse::<u16>() {
                Ok(uid) => return neuron(view, netuid, &json!(uid)),
                Err(_) => account_param(text)?,
            };
            metagraph
                .neurons
                .into_iter()
                .find(|v| v.hotkey == hotkey)
                .ok_or_else(|| {
                    bad_params(format!(
                        "hotkey {hotkey} is not registered on subnet {netuid}"
                    ))
                })?
        }
        other => {
            return Err(bad_params(format!(
                "{other} is neither a UID nor a hotkey address"
            )));
        }
    };
    Ok(found)
}

fn stake(view: &dyn StateView, hotkey: &AccountId) -> RpcResult {
    let stakers: Vec<Value> = query::stakers(view, hotkey)
        .map_err(internal)?
        .into_iter()
        .map(|(coldkey, amount)| json!({ "coldkey": coldkey, "amount": amount }))
        .collect();
    let mut registrations = Vec::new();
    for netuid in query::netuids(view).map_err(internal)? {
        if let Some(uid) = read::<u16>(view, &keys::uid(netuid, hotkey))? {
            registrations.push(json!({ "netuid": netuid, "uid": uid }));
        }
    }
    Ok(json!({
        "hotkey": hotkey,
        "owner": query::owner(view, hotkey).map_err(internal)?,
        "total": query::hotkey_stake(view, hotkey).map_err(internal)?,
        "take": read::<u16>(view, &keys::take(hotkey))?,
        "stakers": stakers,
        "registrations": registrations,
    }))
}

pub(super) fn register(
    module: &mut RpcModule<super::RpcContext>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("ganglion_subnets", |_, s, _| -> RpcResult {
        let chain = s.chain();
        let view = chain.state();
        let head = chain.head().number;
        let list = query::netuids(&view)
            .map_err(internal)?
            .into_iter()
            .map(|netuid| subnet_summary(&view, netuid, head))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(list))
    })?;
    module.register_method("ganglion_subnetInfo", |p: Params<'_>, s, _| -> RpcResult {
        let netuid: u16 = p.one()?;
        let chain = s.chain();
        subnet_info(&chain.state(), netuid, chain.head().number)
    })?;
    module.register_method(
        "ganglion_hyperparameters",
        |p: Params<'_>, s, _| -> RpcResult {
            let netuid: u16 = p.one()?;
            let chain = s.chain();
            let (_, params) = subnet_and_params(&chain.state(), netuid)?;
            Ok(Value::Object(object(&params)?))
        },
    )?;
    module.register_method("ganglion_metagraph", |p: Params<'_>, s, _| -> RpcResult {
        let netuid: u16 = p.one()?;
        let chain = s.chain();
        let metagraph = query::metagraph(&chain.state(), netuid)
            .map_err(internal)?
            .ok_or_else(|| no_subnet(netuid))?;
        let mut out = object(&metagraph)?;
        out.insert("block".into(), json!(chain.head().number));
        Ok(Value::Object(out))
    })?;
    module.register_method("ganglion_neuron", |p: Params<'_>, s, _| -> RpcResult {
        let mut seq = p.sequence();
        let netuid: u16 = seq.next()?;
        let which: Value = seq.next()?;
        let chain = s.chain();
        let found = neuron(&chain.state(), netuid, &which)?;
        Ok(Value::Object(object(&found)?))
    })?;
    module.register_method("ganglion_stake", |p: Params<'_>, s, _| -> RpcResult {
        let hotkey = account_param(&p.one::<String>()?)?;
        let chain = s.chain();
        stake(&chain.state(), &hotkey)
    })?;
    module.register_method("ganglion_economy", |_, s, _| -> RpcResult {
        let chain = s.chain();
        let view = chain.state();
        let head = chain.head().number;
        Ok(json!({
            "head": head,
            "params": query::economy(&view).map_err(internal)?,
            "totals": query::totals(&view).map_err(internal)?,
            "lock_cost": query::lock_cost(&view, head.saturating_add(1)).map_err(internal)?,
            "subnets": query::netuids(&view).map_err(internal)?,
            "total_issuance": chain.total_issuance().map_err(internal)?,
        }))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_epoch_block;

    #[test]
    fn next_epoch_is_the_first_due_block_after_the_head() {
        // Subnet 1, tempo 10: due when (block + 2) % 11 == 0, so at 9, 20, 31...
        assert_eq!(next_epoch_block(0, 1, 10), Some(9));
        assert_eq!(next_epoch_block(9, 1, 10), Some(20));
        assert_eq!(next_epoch_block(19, 1, 10), Some(20));
        assert_eq!(next_epoch_block(5, 1, 0), None);
    }
}
