//! A JSON-RPC client for a ganglion node: what `ganglion balance`, `ganglion transfer` and the
//! economy commands (`ganglion subnet`, `register`, `stake`, `weights`, `metagraph`) use.

use std::time::Duration;

use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::Value;

use crate::chain::era::Era;
use crate::chain::extrinsic::{
    Additional, BalancesCall, Call, Extra, Extrinsic, RUNTIME_VERSION, extrinsic_hash,
};
use crate::chain::hashing::H256;
use crate::chain::keys::{AccountId, Pair};
use crate::chain::state::{DispatchError, Event, EventRecord};
use crate::chain::units::Balance;

/// A neuron of a subnet, by UID or by hotkey (`ganglion_neuron`'s second parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeuronId {
    /// Its UID.
    Uid(u16),
    /// Its hotkey.
    Hotkey(AccountId),
}

/// A fresh random salt for `weights.commit`: `len` values from the operating system's
/// random source (8 values are 128 bits).
///
/// ```
/// let salt = ganglion_kernel::node::client::random_salt(8);
/// assert_eq!(salt.len(), 8);
/// assert_ne!(salt, ganglion_kernel::node::client::random_salt(8));
/// ```
pub fn random_salt(len: usize) -> Vec<u16> {
    use rand_core::RngCore as _;
    let mut bytes = vec![0u8; len.saturating_mul(2)];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// The mortality period the client signs transfers with, in blocks.
pub const TRANSFER_ERA_PERIOD: u64 = 64;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error(
        "cannot reach a ganglion node at {url}: {reason}. Is `ganglion node --dev` running, and is --url right?"
    )]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error.
    #[error("{method}: {message}")]
    Call {
        /// The method.
        method: &'static str,
        /// The node's message.
        message: String,
    },
    /// The node answered something this client does not understand.
    #[error("{method}: unexpected answer from the node: {detail}")]
    Unexpected {
        /// The method.
        method: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The node runs another runtime.
    #[error(
        "the node runs spec version {node_spec} / transaction version {node_tx}, but this client signs for {ours_spec} / {ours_tx}; use a matching ganglion"
    )]
    Runtime {
        /// The node's spec version.
        node_spec: u64,
        /// The node's transaction version.
        node_tx: u64,
        /// Ours.
        ours_spec: u32,
        /// Ours.
        ours_tx: u32,
    },
    /// The transaction left the pool without being included.
    #[error("the transaction was not included: the node reported it {0}")]
    NotIncluded(String),
    /// No answer in time.
    #[error("no answer from the node within {0:?}")]
    Timeout(Duration),
}

/// An account as `ganglion_accountInfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountView {
    /// SS58 address.
    pub address: AccountId,
    /// Next nonce.
    pub nonce: u32,
    /// Free balance, rao.
    pub free: Balance,
    /// Free balance, TAO.
    #[serde(rename = "freeTao")]
    pub free_tao: String,
    /// Whether the account exists (holds at least the existential deposit).
    pub exists: bool,
}

/// What happened to a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// The extrinsic's hash.
    pub extrinsic: H256,
    /// The block it is in.
    pub block: H256,
    /// Fee paid, rao.
    pub fee: Balance,
    /// Why the call failed, if it did (its fee was still paid).
    pub error: Option<DispatchError>,
    /// The call's own events (a `subnet_created` with its netuid, say), without the outcome
    /// event that `fee` and `error` summarize; empty when the call failed.
    pub events: Vec<Event>,
}

/// A connected client.
#[derive(Debug)]
pub struct RpcClient {
    inner: WsClient,
}

fn call_err(method: &'static str) -> impl FnOnce(jsonrpsee::core::client::Error) -> ClientError {
    move |e| match e {
        jsonrpsee::core::client::Error::Call(obj) => ClientError::Call {
            method,
            message: obj.message().to_owned(),
        },
        other => ClientError::Call {
            method,
            message: other.to_string(),
        },
    }
}

fn unexpected(method: &'static str, detail: impl Into<String>) -> ClientError {
    ClientError::Unexpected {
        method,
        detail: detail.into(),
    }
}

impl RpcClient {
    /// Connects over WebSocket (`ws://127.0.0.1:9944`).
    pub async fn connect(url: &str) -> Result<RpcClient, ClientError> {
        let inner = WsClientBuilder::default()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(30))
            .max_request_size(40 * 1024 * 1024)
            .max_response_size(40 * 1024 * 1024)
            .build(url)
            .await
            .map_err(|e| ClientError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(RpcClient { inner })
    }

    async fn request<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<T, ClientError> {
        self.inner
            .request(method, params)
            .await
            .map_err(call_err(method))
    }

    /// `ganglion_accountInfo`.
    pub async fn account(&self, who: &AccountId) -> Result<AccountView, ClientError> {
        self.request("ganglion_accountInfo", rpc_params![who.to_string()])
            .await
    }

    /// Calls any RPC method with positional parameters and returns its raw JSON result.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        let mut array = jsonrpsee::core::params::ArrayParams::new();
        for p in params {
            array
                .insert(p)
                .map_err(|e| unexpected("call", e.to_string()))?;
        }
        self.inner
            .request(method, array)
            .await
            .map_err(|e| unexpected("call", format!("{method}: {e}")))
    }

    /// `ganglion_publishBundle`: the node keeps the bundle and announces it; returns its
    /// blake3 hash in hex.
    pub async fn publish_bundle(&self, bytes: &[u8]) -> Result<String, ClientError> {
        self.request(
            "ganglion_publishBundle",
            rpc_params![format!("0x{}", hex::encode(bytes))],
        )
        .await
    }

    /// `ganglion_fetchBundle`: the node finds a peer holding the bundle `hash` (hex) and
    /// fetches it, verified against the hash, waiting up to `timeout_secs`.
    pub async fn fetch_bundle(
        &self,
        hash: &str,
        timeout_secs: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let text: String = self
            .request("ganglion_fetchBundle", rpc_params![hash, timeout_secs])
            .await?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        hex::decode(digits).map_err(|e| unexpected("ganglion_fetchBundle", e.to_string()))
    }

    /// The genesis hash.
    pub async fn genesis_hash(&self) -> Result<H256, ClientError> {
        let h: Option<H256> = self.request("chain_getBlockHash", rpc_params![0]).await?;
        h.ok_or_else(|| unexpected("chain_getBlockHash", "no genesis block"))
    }

    /// The head's number and hash.
    pub async fn head(&self) -> Result<(u32, H256), ClientError> {
        let hash: Option<H256> = self.request("chain_getBlockHash", rpc_params![]).await?;
        let hash = hash.ok_or_else(|| unexpected("chain_getBlockHash", "no head"))?;
        let header: Value = self
            .request("chain_getHeader", rpc_params![hash.to_string()])
            .await?;
        let number = header
            .get("number")
            .and_then(Value::as_str)
            .and_then(|n| n.strip_prefix("0x"))
            .and_then(|n| u32::from_str_radix(n, 16).ok())
            .ok_or_else(|| unexpected("chain_getHeader", format!("no block number in {header}")))?;
        Ok((number, hash))
    }

    /// The next nonce of `who`, counting its pending transactions.
    pub async fn next_nonce(&self, who: &AccountId) -> Result<u32, ClientError> {
        self.request("system_accountNextIndex", rpc_params![who.to_string()])
            .await
    }

    /// Checks that the node runs the runtime this client signs for.
    pub async fn check_runtime(&self) -> Result<(), ClientError> {
        let v: Value = self
            .request("state_getRuntimeVersion", rpc_params![])
            .await?;
        let get = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let (spec, tx) = (get("specVersion"), get("transactionVersion"));
        if spec != u64::from(RUNTIME_VERSION.spec_version)
            || tx != u64::from(RUNTIME_VERSION.transaction_version)
        {
            return Err(ClientError::Runtime {
                node_spec: spec,
                node_tx: tx,
                ours_spec: RUNTIME_VERSION.spec_version,
                ours_tx: RUNTIME_VERSION.transaction_version,
            });
        }
        Ok(())
    }

    /// Signs a call as `signer` with a mortal era from the current head and the next nonce.
    pub async fn sign(
        &self,
        signer: &Pair,
        call: Call,
        tip: Balance,
    ) -> Result<Vec<u8>, ClientError> {
        self.check_runtime().await?;
        let genesis = self.genesis_hash().await?;
        let (number, head) = self.head().await?;
        let nonce = self.next_nonce(&signer.public()).await?;
        let era = Era::mortal(TRANSFER_ERA_PERIOD, u64::from(number));
        let extra = Extra { era, nonce, tip };
        Ok(Extrinsic::sign(signer, call, extra, &Additional::new(genesis, head)).to_bytes())
    }

    /// Submits a signed extrinsic to the pool and returns its hash, without waiting.
    pub async fn submit(&self, bytes: &[u8]) -> Result<H256, ClientError> {
        self.request(
            "author_submitExtrinsic",
            rpc_params![format!("0x{}", hex::encode(bytes))],
        )
        .await
    }

    /// A `ganglion_chainInfo` field.
    pub async fn chain_info(&self) -> Result<Value, ClientError> {
        self.request("ganglion_chainInfo", rpc_params![]).await
    }

    /// Submits a signed extrinsic and waits until it is in a block (at most `timeout`).
    pub async fn submit_and_wait(
        &self,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<Receipt, ClientError> {
        const METHOD: &str = "author_submitAndWatchExtrinsic";
        let hash = extrinsic_hash(bytes);
        let mut sub: Subscription<Value> = self
            .inner
            .subscribe(
                METHOD,
                rpc_params![format!("0x{}", hex::encode(bytes))],
                "author_unwatchExtrinsic",
            )
            .await
            .map_err(call_err(METHOD))?;
        let block = tokio::time::timeout(timeout, async {
            while let Some(update) = sub.next().await {
                let update = update.map_err(|e| unexpected(METHOD, e.to_string()))?;
                if let Some(block) = update.get("inBlock").or_else(|| update.get("finalized")) {
                    return serde_json::from_value::<H256>(block.clone())
                        .map_err(|e| unexpected(METHOD, e.to_string()));
                }
                match update.as_str() {
                    Some("ready" | "future" | "broadcast") => {}
                    _ => return Err(ClientError::NotIncluded(update.to_string())),
                }
            }
            Err(ClientError::NotIncluded(
                "gone (the subscription closed)".into(),
            ))
        })
        .await
        .map_err(|_| ClientError::Timeout(timeout))??;
        let _ = sub.unsubscribe().await;
        self.receipt(hash, block).await
    }

    /// What the events of `block` say about extrinsic `hash`.
    pub async fn receipt(&self, hash: H256, block: H256) -> Result<Receipt, ClientError> {
        const METHOD: &str = "ganglion_blockEvents";
        #[derive(serde::Deserialize)]
        struct BlockEvents {
            extrinsics: Vec<H256>,
            events: Vec<EventRecord>,
        }
        let found: Option<BlockEvents> =
            self.request(METHOD, rpc_params![block.to_string()]).await?;
        let found = found.ok_or_else(|| unexpected(METHOD, format!("block {block} is unknown")))?;
        let index = found
            .extrinsics
            .iter()
            .position(|h| *h == hash)
            .ok_or_else(|| unexpected(METHOD, format!("{hash} is not in block {block}")))?;
        let mut events = Vec::new();
        for record in found
            .events
            .into_iter()
            .filter(|r| r.extrinsic == Some(index as u32))
        {
            let (fee, error) = match record.event {
                Event::ExtrinsicSuccess { fee } => (fee, None),
                Event::ExtrinsicFailed { fee, error } => (fee, Some(error)),
                other => {
                    events.push(other);
                    continue;
                }
            };
            return Ok(Receipt {
                extrinsic: hash,
                block,
                fee,
                error,
                events,
            });
        }
        Err(unexpected(METHOD, format!("no outcome event for {hash}")))
    }

    /// Signs `call` as `signer` (see [`RpcClient::sign`]), submits it and waits until it is in a
    /// block (at most `timeout`). A call the chain refused is still a receipt, with its
    /// [`Receipt::error`] set.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: once submitted, the transaction stays in the node's pool and may be
    /// included even if this future is dropped.
    pub async fn submit_call(
        &self,
        signer: &Pair,
        call: Call,
        timeout: Duration,
    ) -> Result<Receipt, ClientError> {
        let bytes = self.sign(signer, call, 0).await?;
        self.submit_and_wait(&bytes, timeout).await
    }

    /// `ganglion_subnets`: every subnet's summary (see `docs/rpc.md`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn subnets(&self) -> Result<Vec<Value>, ClientError> {
        self.request("ganglion_subnets", rpc_params![]).await
    }

    /// `ganglion_subnetInfo`: a subnet's record, prices and epoch schedule.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn subnet_info(&self, netuid: u16) -> Result<Value, ClientError> {
        self.request("ganglion_subnetInfo", rpc_params![netuid])
            .await
    }

    /// `ganglion_hyperparameters`: a subnet's hyperparameters.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn hyperparameters(&self, netuid: u16) -> Result<Value, ClientError> {
        self.request("ganglion_hyperparameters", rpc_params![netuid])
            .await
    }

    /// `ganglion_metagraph`: every neuron of a subnet, with the head's number as `block`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn metagraph(&self, netuid: u16) -> Result<Value, ClientError> {
        self.request("ganglion_metagraph", rpc_params![netuid])
            .await
    }

    /// `ganglion_neuron`: one neuron of a subnet.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn neuron(&self, netuid: u16, which: NeuronId) -> Result<Value, ClientError> {
        let which = match which {
            NeuronId::Uid(uid) => Value::from(uid),
            NeuronId::Hotkey(hotkey) => Value::from(hotkey.to_string()),
        };
        self.request("ganglion_neuron", rpc_params![netuid, which])
            .await
    }

    /// `ganglion_stake`: the stake on a hotkey, by coldkey, and where it is registered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn stake(&self, hotkey: &AccountId) -> Result<Value, ClientError> {
        self.request("ganglion_stake", rpc_params![hotkey.to_string()])
            .await
    }

    /// `ganglion_economy`: the chain-wide parameters and totals, with the head they are at.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn economy(&self) -> Result<Value, ClientError> {
        self.request("ganglion_economy", rpc_params![]).await
    }

    /// Transfers `amount` rao from `from` to `to` and waits for the block.
    pub async fn transfer(
        &self,
        from: &Pair,
        to: AccountId,
        amount: Balance,
        keep_alive: bool,
        timeout: Duration,
    ) -> Result<Receipt, ClientError> {
        let call = if keep_alive {
            BalancesCall::TransferKeepAlive {
                dest: to.into(),
                value: amount,
            }
        } else {
            BalancesCall::TransferAllowDeath {
                dest: to.into(),
                value: amount,
            }
        };
        let bytes = self.sign(from, Call::Balances(call), 0).await?;
        self.submit_and_wait(&bytes, timeout).await
    }
}
