//! The JSON-RPC 2.0 server (HTTP and WebSocket on one port). Every method is documented in
//! `docs/rpc.md`; names and result shapes follow Substrate's where the meaning is the same.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{ServerBuilder, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::chain::block::{Header, SignedBlock};
use crate::chain::execute::TxError;
use crate::chain::extrinsic::RUNTIME_VERSION;
use crate::chain::hashing::H256;
use crate::chain::keys::{AccountId, SS58_PREFIX};
use crate::chain::pool::{Admission, PoolError, Removal};
use crate::chain::service::{ChainEvent, ChainService};
use crate::chain::units::format_tao;
use crate::node::net::SyncStatus;
use crate::p2p::{Network, Topic};

mod economy;

/// JSON-RPC's "invalid params".
const INVALID_PARAMS: i32 = -32602;
/// Internal error.
const INTERNAL: i32 = -32603;
/// Substrate's author error codes.
const INVALID_TX: i32 = 1010;
const ALREADY_IMPORTED: i32 = 1013;
const TOO_LOW_PRIORITY: i32 = 1014;
const IMMEDIATELY_DROPPED: i32 = 1016;
/// ganglion: asked for state the node does not keep.
const UNAVAILABLE: i32 = 4003;

type RpcResult = Result<Value, ErrorObjectOwned>;

fn bad_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INVALID_PARAMS, message.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL, e.to_string(), None::<()>)
}

fn pool_error(e: &PoolError) -> ErrorObjectOwned {
    let code = match e {
        PoolError::Invalid(_) | PoolError::TooFarAhead { .. } | PoolError::Overspent { .. } => {
            INVALID_TX
        }
        PoolError::AlreadyKnown(_) => ALREADY_IMPORTED,
        PoolError::NonceTaken { .. } => TOO_LOW_PRIORITY,
        PoolError::Full { .. } => IMMEDIATELY_DROPPED,
    };
    let kind = match e {
        PoolError::Invalid(TxError::Malformed(_)) => "malformed",
        PoolError::Invalid(TxError::BadSignature { .. }) => "bad_signature",
        PoolError::Invalid(TxError::Stale { .. }) => "stale",
        PoolError::Invalid(TxError::Expired { .. } | TxError::AncientBirthBlock { .. }) => {
            "expired"
        }
        PoolError::Invalid(TxError::CannotPayFee { .. }) | PoolError::Overspent { .. } => "payment",
        PoolError::Invalid(_) => "invalid",
        PoolError::TooFarAhead { .. } => "future",
        PoolError::AlreadyKnown(_) => "already_imported",
        PoolError::NonceTaken { .. } => "priority_too_low",
        PoolError::Full { .. } => "pool_full",
    };
    ErrorObject::owned(code, e.to_string(), Some(json!({ "kind": kind })))
}

/// `"0x..."` to bytes.
fn hex_bytes(text: &str, what: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| bad_params(format!("{what} must be hex starting with 0x")))?;
    hex::decode(digits).map_err(|e| bad_params(format!("{what} is not valid hex: {e}")))
}

fn hash_param(value: Option<String>) -> Result<Option<H256>, ErrorObjectOwned> {
    value
        .map(|h| h.parse::<H256>().map_err(|e| bad_params(e.to_string())))
        .transpose()
}

fn account_param(text: &str) -> Result<AccountId, ErrorObjectOwned> {
    text.parse::<AccountId>()
        .map_err(|e| bad_params(format!("{text:?} is not an address: {e}")))
}

fn header_json(h: &Header) -> Value {
    json!({
        "parentHash": h.parent_hash,
        "number": format!("0x{:x}", h.number),
        "stateRoot": h.state_root,
        "extrinsicsRoot": h.extrinsics_root,
        "digest": { "logs": [] },
        "slot": h.slot,
        "author": h.author,
    })
}

fn block_json(b: &SignedBlock) -> Value {
    let extrinsics: Vec<String> = b
        .block
        .extrinsics
        .iter()
        .map(|x| format!("0x{}", hex::encode(x)))
        .collect();
    json!({
        "block": { "header": header_json(&b.block.header), "extrinsics": extrinsics },
        "justifications": null,
        "authorSignature": format!("0x{}", hex::encode(b.author_signature.0)),
        "certificate": {
            "round": b.certificate.round,
            "votes": b.certificate.votes.iter().map(|v| json!({
                "authority": v.authority,
                "signature": format!("0x{}", hex::encode(v.signature.0)),
            })).collect::<Vec<_>>(),
        },
    })
}

/// Resolves an optional block hash parameter to a stored block (the head when absent).
fn block_at(
    shared: &ChainService,
    at: Option<H256>,
) -> Result<Option<SignedBlock>, ErrorObjectOwned> {
    let chain = shared.chain();
    let hash = at.unwrap_or_else(|| chain.head_hash());
    chain.block(&hash).map_err(internal)
}

/// Only the head's state is kept: refuse reads at other blocks clearly.
fn head_only(shared: &ChainService, at: Option<H256>) -> Result<(), ErrorObjectOwned> {
    let head = shared.chain().head_hash();
    match at {
        Some(h) if h != head => Err(ErrorObject::owned(
            UNAVAILABLE,
            format!(
                "state at block {h} is not available: this node keeps only the head's state ({head})"
            ),
            None::<()>,
        )),
        _ => Ok(()),
    }
}

fn register(
    module: &mut RpcModule<RpcContext>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("system_name", |_, _, _| -> RpcResult {
        Ok(json!("ganglion"))
    })?;
    module.register_method("system_version", |_, _, _| -> RpcResult {
        Ok(json!(env!("CARGO_PKG_VERSION")))
    })?;
    module.register_method("system_chain", |_, s, _| -> RpcResult {
        Ok(json!(s.chain_name()))
    })?;
    module.register_method("system_health", |_, s, _| -> RpcResult {
        Ok(match &s.network {
            Some((network, status)) => json!({
                "peers": network.peer_count(),
                "isSyncing": status.syncing.load(std::sync::atomic::Ordering::SeqCst),
                "shouldHavePeers": true,
            }),
            None => json!({ "peers": 0, "isSyncing": false, "shouldHavePeers": false }),
        })
    })?;
    module.register_method("system_localPeerId", |_, s, _| -> RpcResult {
        Ok(json!(s.network()?.0.local_peer_id().to_string()))
    })?;
    module.register_method("system_localListenAddresses", |_, s, _| -> RpcResult {
        let addrs: Vec<String> = s
            .network()?
            .0
            .listen_addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(json!(addrs))
    })?;
    module.register_async_method("ganglion_publishBundle", |p, s, _| async move {
        let bytes = hex_bytes(&p.one::<String>()?, "the bundle")?;
        let (network, _) = s.network()?;
        let hash = *blake3::hash(&bytes).as_bytes();
        network
            .provide_bundle(hash, bytes)
            .await
            .map_err(|e| ErrorObject::owned(INVALID_PARAMS, e.to_string(), None::<()>))?;
        RpcResult::Ok(json!(hex::encode(hash)))
    })?;
    module.register_async_method("ganglion_fetchBundle", |p, s, _| async move {
        let mut seq = p.sequence();
        let text: String = seq.next()?;
        let secs: Option<u64> = seq.optional_next()?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        let hash: [u8; 32] = hex::decode(digits)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| bad_params(format!("{text:?} is not a 32-byte blake3 hash in hex")))?;
        let (network, _) = s.network()?;
        let timeout = std::time::Duration::from_secs(secs.unwrap_or(20).clamp(1, 25));
        let bytes = network
            .fetch_bundle(hash, timeout)
            .await
            .map_err(|e| ErrorObject::owned(UNAVAILABLE, e.to_string(), None::<()>))?;
        RpcResult::Ok(json!(format!("0x{}", hex::encode(bytes))))
    })?;
    module.register_method("system_peers", |_, s, _| -> RpcResult {
        let (network, status) = s.network()?;
        let peers: Vec<Value> = network
            .peers()
            .into_iter()
            .map(|p| {
                json!({
                    "peerId": p.peer_id.to_string(),
                    "roles": "FULL",
                    "bestNumber": status.peer_best(&p.peer_id),
                    "agent": p.agent,
                    "score": p.score,
                })
            })
            .collect();
        Ok(json!(peers))
    })?;
    module.register_method("system_properties", |_, _, _| -> RpcResult {
        Ok(json!({ "ss58Format": SS58_PREFIX, "tokenDecimals": 9, "tokenSymbol": "TAO" }))
    })?;
    module.register_method(
        "system_accountNextIndex",
        |p: Params<'_>, s, _| -> RpcResult {
            let who = account_param(&p.one::<String>()?)?;
            let state_nonce = s.chain().account(&who).map_err(internal)?.nonce;
            Ok(json!(s.pool().next_nonce(&who, state_nonce)))
        },
    )?;
    module.register_method("state_getRuntimeVersion", |_, _, _| -> RpcResult {
        let v = RUNTIME_VERSION;
        Ok(json!({
            "specName": v.spec_name, "implName": v.impl_name, "authoringVersion": 0,
            "specVersion": v.spec_version, "implVersion": v.impl_version,
            "transactionVersion": v.transaction_version, "stateVersion": 1, "apis": [],
        }))
    })?;
    module.register_method("state_getStorage", |p: Params<'_>, s, _| -> RpcResult {
        let mut seq = p.sequence();
        let key = hex_bytes(&seq.next::<String>()?, "the storage key")?;
        head_only(s, hash_param(seq.optional_next::<String>()?)?)?;
        let value = s.chain().storage(&key).map_err(internal)?;
        Ok(value.map_or(Value::Null, |v| json!(format!("0x{}", hex::encode(v)))))
    })?;
    module.register_method("chain_getBlockHash", |p: Params<'_>, s, _| -> RpcResult {
        let arg: Option<Value> = p.sequence().optional_next()?;
        let chain = s.chain();
        let number = match arg {
            None | Some(Value::Null) => chain.head().number,
            Some(Value::Number(n)) => {
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        bad_params(format!("{n} is not a block number (0 to 4294967295)"))
                    })?
            }
            Some(Value::String(t)) => t
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad_params(format!("{t:?} is not a block number")))?,
            Some(other) => return Err(bad_params(format!("{other} is not a block number"))),
        };
        Ok(chain
            .block_hash(number)
            .map_err(internal)?
            .map_or(Value::Null, |h| json!(h)))
    })?;
    module.register_method("chain_getHeader", |p: Params<'_>, s, _| -> RpcResult {
        let at = hash_param(p.sequence().optional_next::<String>()?)?;
        Ok(block_at(s, at)?.map_or(Value::Null, |b| header_json(&b.block.header)))
    })?;
    module.register_method("chain_getBlock", |p: Params<'_>, s, _| -> RpcResult {
        let at = hash_param(p.sequence().optional_next::<String>()?)?;
        Ok(block_at(s, at)?.map_or(Value::Null, |b| block_json(&b)))
    })?;
    module.register_method("chain_getFinalizedHead", |_, s, _| -> RpcResult {
        Ok(json!(s.chain().head_hash()))
    })?;
    module.register_method(
        "author_submitExtrinsic",
        |p: Params<'_>, s, _| -> RpcResult {
            let bytes = hex_bytes(&p.one::<String>()?, "the extrinsic")?;
            let (hash, _) = s.submit(&bytes).map_err(|e| pool_error(&e))?;
            Ok(json!(hash))
        },
    )?;
    module.register_method("author_pendingExtrinsics", |_, s, _| -> RpcResult {
        let pool = s.pool();
        let all: Vec<String> = pool
            .candidates()
            .iter()
            .map(|t| format!("0x{}", hex::encode(&t.bytes)))
            .collect();
        Ok(json!(all))
    })?;
    module.register_method("ganglion_accountInfo", |p: Params<'_>, s, _| -> RpcResult {
        let who = account_param(&p.one::<String>()?)?;
        let info = s.chain().account(&who).map_err(internal)?;
        Ok(json!({
            "address": who,
            "nonce": info.nonce,
            "free": info.data.free,
            "freeTao": format_tao(info.data.free),
            "reserved": info.data.reserved,
            "exists": info.providers > 0,
        }))
    })?;
    module.register_method("ganglion_blockEvents", |p: Params<'_>, s, _| -> RpcResult {
        let at = hash_param(p.sequence().optional_next::<String>()?)?;
        let chain = s.chain();
        let hash = at.unwrap_or_else(|| chain.head_hash());
        let Some(block) = chain.block(&hash).map_err(internal)? else {
            return Ok(Value::Null);
        };
        let events = chain
            .block_events(&hash)
            .map_err(internal)?
            .unwrap_or_default();
        let hashes: Vec<H256> = block
            .block
            .extrinsics
            .iter()
            .map(|x| crate::chain::extrinsic::extrinsic_hash(x))
            .collect();
        Ok(json!({ "block": hash, "extrinsics": hashes, "events": events }))
    })?;
    module.register_method("ganglion_chainInfo", |_, s, _| -> RpcResult {
        let chain = s.chain();
        let params = chain.params().map_err(internal)?;
        Ok(json!({
            "name": s.chain_name(),
            "genesis": chain.genesis_hash(),
            "head": chain.head().number,
            "blockTimeMs": chain.block_time_ms(),
            "totalIssuance": chain.total_issuance().map_err(internal)?,
            "authorities": chain.authorities().map_err(internal)?,
            "params": params,
            "pool": s.pool().len(),
        }))
    })?;
    for (sub, notif, unsub) in [
        (
            "chain_subscribeNewHeads",
            "chain_newHead",
            "chain_unsubscribeNewHeads",
        ),
        (
            "chain_subscribeFinalizedHeads",
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
        ),
        (
            "chain_subscribeAllHeads",
            "chain_allHead",
            "chain_unsubscribeAllHeads",
        ),
    ] {
        module.register_subscription(sub, notif, unsub, |_, pending, s, _| async move {
            heads(pending, s).await;
        })?;
    }
    module.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |p, pending, s, _| async move {
            watch(p, pending, s).await;
        },
    )?;
    economy::register(module)?;
    Ok(())
}

fn message(value: &Value) -> Option<SubscriptionMessage> {
    serde_json::value::to_raw_value(value)
        .ok()
        .map(SubscriptionMessage::from)
}

async fn heads(pending: PendingSubscriptionSink, shared: Arc<RpcContext>) {
    let mut rx = shared.subscribe();
    let head = shared.chain().head().clone();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    // Substrate sends the current head first.
    if let Some(m) = message(&header_json(&head))
        && sink.send(m).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            () = sink.closed() => return,
            event = rx.recv() => match event {
                Ok(ChainEvent::Block { header, .. }) => {
                    let Some(m) = message(&header_json(&header)) else { continue };
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Ok(ChainEvent::Removed(_)) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn watch(params: Params<'static>, pending: PendingSubscriptionSink, shared: Arc<RpcContext>) {
    let bytes = match params
        .one::<String>()
        .and_then(|h| hex_bytes(&h, "the extrinsic"))
    {
        Ok(b) => b,
        Err(e) => return pending.reject(e).await,
    };
    // Subscribe before submitting, so the inclusion cannot be missed.
    let mut rx = shared.subscribe();
    let (hash, admission) = match shared.submit(&bytes) {
        Ok(ok) => ok,
        Err(e) => return pending.reject(pool_error(&e)).await,
    };
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let first = match admission {
        Admission::Ready => json!("ready"),
        Admission::Future => json!("future"),
    };
    let send = |v: Value| {
        let sink = &sink;
        async move {
            match message(&v) {
                Some(m) => sink.send(m).await.is_ok(),
                None => false,
            }
        }
    };
    if !send(first).await {
        return;
    }
    loop {
        let event = tokio::select! {
            () = sink.closed() => return,
            event = rx.recv() => event,
        };
        match event {
            Ok(ChainEvent::Removed(list)) => {
                let Some((_, why)) = list.iter().find(|(h, _)| *h == hash) else {
                    continue;
                };
                match why {
                    Removal::Included(block) => {
                        if send(json!({ "inBlock": block })).await {
                            let _ = send(json!({ "finalized": block })).await;
                        }
                    }
                    Removal::Invalid(e) => {
                        tracing::debug!(%hash, error = %e, "watched transaction dropped as invalid");
                        let _ = send(json!("invalid")).await;
                    }
                    Removal::Replaced(by) => {
                        let _ = send(json!({ "usurped": by })).await;
                    }
                }
                return;
            }
            Ok(ChainEvent::Block { .. }) => {}
            Err(RecvError::Lagged(_)) => {
                if !shared.pool().contains(&hash) {
                    let _ = send(json!("dropped")).await;
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// What RPC methods see: the chain service and, on a network, the network and sync status.
pub(crate) struct RpcContext {
    pub(crate) service: Arc<ChainService>,
    pub(crate) network: Option<(Network, Arc<SyncStatus>)>,
}

impl std::ops::Deref for RpcContext {
    type Target = ChainService;

    fn deref(&self) -> &ChainService {
        &self.service
    }
}

impl RpcContext {
    /// Admits a transaction and, on a network, gossips it towards the authorities.
    fn submit(&self, bytes: &[u8]) -> Result<(H256, Admission), PoolError> {
        let admitted = self.service.submit(bytes)?;
        if let Some((network, _)) = &self.network {
            network.gossip(Topic::Transactions, bytes.to_vec());
        }
        Ok(admitted)
    }

    fn network(&self) -> Result<&(Network, Arc<SyncStatus>), ErrorObjectOwned> {
        self.network.as_ref().ok_or_else(|| {
            ErrorObject::owned(
                UNAVAILABLE,
                "this node runs without a network (it was started with --no-network)",
                None::<()>,
            )
        })
    }
}

/// Starts the server on `addr`; returns its handle and bound address.
pub(crate) async fn start(
    shared: RpcContext,
    addr: SocketAddr,
    max_connections: u32,
) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let config = ServerConfig::builder()
        .max_connections(max_connections)
        .max_request_body_size(40 * 1024 * 1024)
        .max_response_body_size(40 * 1024 * 1024)
        .build();
    let server = ServerBuilder::with_config(config).build(addr).await?;
    let bound = server.local_addr()?;
    let mut module = RpcModule::new(shared);
    register(&mut module).map_err(std::io::Error::other)?;
    Ok((server.start(module), bound))
}
