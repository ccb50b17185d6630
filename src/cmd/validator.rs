//! `ganglion validator`: the validator loop. Each round it draws a seed from (the latest
//! block's hash, its hotkey, the round), generates a task with the subnet's plugin, queries
//! every served miner at once over libp2p with the task's timeout, scores each answer with
//! the plugin (no answer, or a malformed one, scores 0), smooths each miner's scores as the
//! spec says, and every `weights_rate_limit` blocks sets weights (or commits them, and reveals
//! them when the chain allows, on a commit-reveal subnet). It follows bundle upgrades at their
//! activation block, and survives node and miner restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use ganglion_dsl::bundle::Bundle;
use ganglion_dsl::ir::Smooth;
use ganglion_dsl::smooth::Smoother;
use ganglion_kernel::chain::economy::commit_hash;
use ganglion_kernel::chain::extrinsic::{Call, WeightsCall};
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::node::client::{RpcClient, random_salt};
use ganglion_kernel::p2p::query::QueryRequest;
use ganglion_kernel::p2p::{self, Multiaddr, Network, NetworkConfig, PeerId};
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{Host, Plugin, PluginSlot};
use serde_json::Value;

use super::account::{signer, wallet_root};
use crate::cli::ValidatorArgs;

/// A bundle version known to the validator.
struct Version {
    hash: [u8; 32],
    smooth: Smooth,
    timeout: Duration,
    name: String,
}

/// A miner to query this round.
struct Target {
    uid: u16,
    hotkey: AccountId,
    peer: PeerId,
    addr: Multiaddr,
}

/// Weights committed and not yet revealed.
struct Pending {
    uids: Vec<u16>,
    values: Vec<u16>,
    salt: Vec<u16>,
    epoch: u64,
}

/// The validator's state across rounds.
struct Validator {
    netuid: u16,
    hotkey: Pair,
    host: Host,
    slot: PluginSlot,
    versions: BTreeMap<u64, Arc<Version>>,
    installed: BTreeSet<[u8; 32]>,
    bundle_dir: PathBuf,
    local_bundle: Option<PathBuf>,
    network: Network,
    /// Smoothed scores per uid, with the hotkey they belong to and the bundle they were made
    /// under (a new bundle or a new hotkey at the uid starts afresh).
    scores: BTreeMap<u16, (AccountId, [u8; 32], Smoother)>,
    last_weights: Option<u32>,
    pending: Vec<Pending>,
    round: u64,
    quiet: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The round's seed: blake3 of (block hash, hotkey, round), first 8 bytes.
fn seed(block_hash: &[u8], hotkey: &AccountId, round: u64) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"ganglion/validator/seed/v1");
    hasher.update(block_hash);
    hasher.update(hotkey.as_bytes());
    hasher.update(&round.to_le_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Scores scaled to weights: the best miner gets 65535, the others in proportion.
fn weights(scores: &[(u16, f64)]) -> (Vec<u16>, Vec<u16>) {
    let best = scores.iter().map(|(_, s)| *s).fold(0.0_f64, f64::max);
    let mut uids = Vec::new();
    let mut values = Vec::new();
    if best <= 0.0 {
        return (uids, values);
    }
    for &(uid, score) in scores {
        uids.push(uid);
        values.push(
            (score / best * f64::from(u16::MAX))
                .round()
                .clamp(0.0, 65535.0) as u16,
        );
    }
    (uids, values)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
}

impl Validator {
    /// Loads a bundle's bytes (checked against `hash` when given) and installs it from
    /// `activation` on.
    fn install(&mut self, bytes: &[u8], activation: u64) -> anyhow::Result<Arc<Version>> {
        let bundle = Bundle::from_bytes(bytes).context("the subnet's bundle does not verify")?;
        let plugin = self
            .host
            .load(&bundle.module, Limits::default())
            .context("loading the subnet's plugin")?;
        let version = Arc::new(Version {
            hash: bundle.hash(),
            smooth: bundle.program.score.smooth,
            timeout: Duration::from_millis(bundle.manifest.task.timeout_ms.max(1)),
            name: format!("{} {}", bundle.manifest.name, bundle.manifest.version),
        });
        self.slot.install(activation, Arc::new(plugin));
        self.versions.insert(activation, version.clone());
        self.installed.insert(bundle.hash());
        let line = format!(
            "bundle {} ({}) in force from block {activation}",
            &bundle.hash_hex()[..16],
            version.name
        );
        if self.quiet {
            tracing::info!("{line}");
        } else {
            println!("{line}");
        }
        Ok(version)
    }

    /// Installs every bundle the chain records for the subnet that is not installed yet,
    /// fetching it through the node (and caching it in the base path).
    async fn follow_bundles(&mut self, client: &RpcClient) -> anyhow::Result<()> {
        let info = client.subnet_info(self.netuid).await?;
        let mut recorded = Vec::new();
        for key in ["previous_bundle", "bundle"] {
            let b = &info[key];
            if let (Some(hash), Some(at)) = (
                b["hash"].as_str().and_then(hex32),
                b["activation_block"].as_u64(),
            ) {
                recorded.push((hash, at));
            }
        }
        if recorded.is_empty() && self.installed.is_empty() {
            let Some(path) = self.local_bundle.clone() else {
                bail!(
                    "subnet {} has no bundle on chain: its owner sets one with `ganglion subnet set-bundle`, or pass --bundle FILE",
                    self.netuid
                );
            };
            let bytes = read_bundle_file(&path)?;
            self.install(&bytes, 0)?;
        }
        for (hash, activation) in recorded {
            if self.installed.contains(&hash) {
                continue;
            }
            let cached = self.bundle_dir.join(format!("{}.gnglb", hex::encode(hash)));
            let bytes = match std::fs::read(&cached) {
                Ok(b) if *blake3::hash(&b).as_bytes() == hash => b,
                _ => {
                    let b = client
                        .fetch_bundle(&hex::encode(hash), 20)
                        .await
                        .with_context(|| format!("fetching bundle {}", hex::encode(hash)))?;
                    if *blake3::hash(&b).as_bytes() != hash {
                        bail!("the node returned a bundle that does not match its hash");
                    }
                    let _ = std::fs::create_dir_all(&self.bundle_dir);
                    let _ = std::fs::write(&cached, &b);
                    b
                }
            };
            self.install(&bytes, activation)?;
        }
        Ok(())
    }

    fn version_at(&self, block: u64) -> Option<Arc<Version>> {
        self.versions
            .range(..=block)
            .next_back()
            .map(|(_, v)| v.clone())
    }

    /// One round; returns its log line.
    async fn round(&mut self, client: &RpcClient) -> anyhow::Result<String> {
        self.follow_bundles(client).await?;
        let (number, block_hash) = client.head().await?;
        let block = u64::from(number);
        let (Some(plugin), Some(version)) = (self.slot.at(block), self.version_at(block)) else {
            bail!("no bundle is in force at block {number} yet");
        };
        let metagraph = client.metagraph(self.netuid).await?;
        let me = self.hotkey.public();
        let targets = targets(&metagraph, &me);
        let round = self.round;
        self.round += 1;
        let task = plugin
            .task(seed(block_hash.as_bytes(), &me, round), round)
            .context("the plugin's task")?;
        let queries = targets.iter().map(|t| {
            let request = QueryRequest::sign(
                &self.hotkey,
                &t.peer,
                self.netuid,
                now_ms(),
                task.public.clone(),
            );
            let network = self.network.clone();
            let addr = t.addr.clone();
            let peer = t.peer;
            let timeout = version.timeout;
            async move { network.query(peer, vec![addr], &request, timeout).await }
        });
        let answers = futures::future::join_all(queries).await;
        let mut line = format!(
            "round {round} #{number} {} {}/{} answered:",
            &hex::encode(version.hash)[..8],
            answers.iter().filter(|a| a.is_ok()).count(),
            targets.len()
        );
        for (t, answer) in targets.iter().zip(answers) {
            let score = match &answer {
                Ok(response) => score(&plugin, &task.public, &task.private, response.as_slice()),
                Err(_) => 0.0,
            };
            let entry = self
                .scores
                .entry(t.uid)
                .or_insert_with(|| (t.hotkey, version.hash, Smoother::new(version.smooth)));
            if entry.0 != t.hotkey || entry.1 != version.hash {
                *entry = (t.hotkey, version.hash, Smoother::new(version.smooth));
            }
            let smoothed = entry.2.push(score);
            line.push_str(&format!(" {}={score:.2}/{smoothed:.2}", t.uid));
        }
        // Forget uids no longer served.
        let live: BTreeSet<u16> = targets.iter().map(|t| t.uid).collect();
        self.scores.retain(|uid, _| live.contains(uid));
        let my_last_update = metagraph["neurons"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["hotkey"].as_str() == Some(me.to_string().as_str()))
            .and_then(|n| n["last_update"].as_u64());
        if let Some(note) = self
            .maybe_set_weights(client, number, my_last_update)
            .await?
        {
            line.push_str("  ");
            line.push_str(&note);
        }
        Ok(line)
    }

    /// Sets (or commits, and reveals) weights when the rate limit allows.
    async fn maybe_set_weights(
        &mut self,
        client: &RpcClient,
        number: u32,
        last_update: Option<u64>,
    ) -> anyhow::Result<Option<String>> {
        let hyper = client.hyperparameters(self.netuid).await?;
        let commit_reveal = hyper["commit_reveal"].as_bool().unwrap_or(false);
        // With commit-reveal, one commit per epoch (the chain keeps at most ten unrevealed).
        let rate_limit = hyper["weights_rate_limit"]
            .as_u64()
            .unwrap_or(0)
            .max(1)
            .max(if commit_reveal {
                hyper["tempo"].as_u64().unwrap_or(1)
            } else {
                1
            });
        let version_key = hyper["weights_version_key"].as_u64().unwrap_or(0);
        let reveal_period = hyper["reveal_period_epochs"].as_u64().unwrap_or(1);
        let mut notes = Vec::new();
        if commit_reveal && !self.pending.is_empty() {
            let epoch = client.subnet_info(self.netuid).await?["epoch_index"]
                .as_u64()
                .unwrap_or(0);
            while let Some(p) = self.pending.first() {
                if epoch < p.epoch + reveal_period {
                    break;
                }
                let p = self.pending.remove(0);
                let call = Call::Weights(WeightsCall::Reveal {
                    netuid: self.netuid,
                    uids: p.uids,
                    values: p.values,
                    salt: p.salt,
                    version_key,
                });
                let receipt = client
                    .submit_call(&self.hotkey, call, Duration::from_secs(30))
                    .await?;
                notes.push(match receipt.error {
                    None => format!("weights revealed #{number}"),
                    Some(e) => format!("reveal refused: {e}"),
                });
            }
        }
        // The chain's record of the last setting is the truth (a setting sent last round may
        // have landed a block later than the head it was sent at); ours covers a commit whose
        // block the metagraph does not show yet.
        let last = match (last_update.filter(|&b| b > 0), self.last_weights) {
            (Some(chain), Some(ours)) => Some(chain.max(u64::from(ours))),
            (Some(chain), None) => Some(chain),
            (None, ours) => ours.map(u64::from),
        };
        let due = last.is_none_or(|last| u64::from(number).saturating_sub(last) > rate_limit);
        let scored: Vec<(u16, f64)> = self
            .scores
            .iter()
            .filter_map(|(uid, (_, _, s))| s.value().map(|v| (*uid, v)))
            .collect();
        let (uids, values) = weights(&scored);
        if !due || uids.is_empty() {
            return Ok((!notes.is_empty()).then(|| notes.join(", ")));
        }
        let call = if commit_reveal {
            let salt = random_salt(8);
            let hash = commit_hash(
                &self.hotkey.public(),
                self.netuid,
                &uids,
                &values,
                &salt,
                version_key,
            );
            let epoch = client.subnet_info(self.netuid).await?["epoch_index"]
                .as_u64()
                .unwrap_or(0);
            self.pending.push(Pending {
                uids: uids.clone(),
                values: values.clone(),
                salt,
                epoch,
            });
            Call::Weights(WeightsCall::Commit {
                netuid: self.netuid,
                hash,
            })
        } else {
            Call::Weights(WeightsCall::Set {
                netuid: self.netuid,
                uids: uids.clone(),
                values: values.clone(),
                version_key,
            })
        };
        self.last_weights = Some(number);
        let receipt = client
            .submit_call(&self.hotkey, call, Duration::from_secs(30))
            .await?;
        notes.push(match (receipt.error, commit_reveal) {
            (None, false) => format!("weights set on {} miners", uids.len()),
            (None, true) => format!("weights committed on {} miners", uids.len()),
            (Some(e), _) => {
                if commit_reveal {
                    self.pending.pop();
                }
                format!("weights refused: {e}")
            }
        });
        Ok(Some(notes.join(", ")))
    }
}

/// The plugin's score of one answer; a malformed answer (or a plugin error) scores 0.
fn score(plugin: &Plugin, public: &[u8], private: &[u8], response: &[u8]) -> f64 {
    match plugin.score(public, private, response) {
        Ok(s) if s.is_finite() => s.clamp(0.0, 1.0),
        _ => 0.0,
    }
}

/// The served miners of a metagraph, except `me`.
fn targets(metagraph: &Value, me: &AccountId) -> Vec<Target> {
    let mut out = Vec::new();
    for n in metagraph["neurons"].as_array().into_iter().flatten() {
        let (Some(uid), Some(hotkey)) = (
            n["uid"].as_u64().and_then(|u| u16::try_from(u).ok()),
            n["hotkey"]
                .as_str()
                .and_then(|h| h.parse::<AccountId>().ok()),
        ) else {
            continue;
        };
        if hotkey == *me {
            continue;
        }
        let axon = &n["axon"];
        let peer = axon["peer_id"]
            .as_str()
            .and_then(|p| hex::decode(p.trim_start_matches("0x")).ok())
            .and_then(|b| PeerId::from_bytes(&b).ok());
        let addr = axon["multiaddr"]
            .as_str()
            .and_then(|a| a.parse::<Multiaddr>().ok());
        if let (Some(peer), Some(addr)) = (peer, addr) {
            out.push(Target {
                uid,
                hotkey,
                peer,
                addr,
            });
        }
    }
    out
}

fn read_bundle_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(super::spec::bundle_of(path)?.bytes().to_vec())
}

pub(crate) fn run(args: &ValidatorArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.wallet_path.as_ref())?;
    let spec = super::account::hotkey_spec(args.wallet.as_deref(), &args.hotkey);
    let config = ValidatorConfig {
        netuid: args.netuid,
        hotkey: signer(&spec, &root)?,
        url: args.url.clone(),
        base: args
            .base_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("validator-{}", args.netuid))),
        bundle: args.bundle.clone(),
        rounds: args.rounds,
        quiet: false,
    };
    let runtime = super::account::service_runtime()?;
    runtime.block_on(validate(config, super::account::shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

/// A validator to run.
pub(crate) struct ValidatorConfig {
    /// The subnet.
    pub(crate) netuid: u16,
    /// Its hotkey (registered on the subnet).
    pub(crate) hotkey: Pair,
    /// The node's RPC address.
    pub(crate) url: String,
    /// Where it keeps its node key and fetched bundles.
    pub(crate) base: PathBuf,
    /// A bundle or spec for a subnet with none on chain.
    pub(crate) bundle: Option<PathBuf>,
    /// Stop after this many rounds (0: until `stop`).
    pub(crate) rounds: u64,
    /// Log rounds through tracing only (the local network prints its own view).
    pub(crate) quiet: bool,
}

/// Runs rounds until `stop` resolves (or `rounds` are done).
pub(crate) async fn validate(
    config: ValidatorConfig,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let keypair = p2p::key::load_or_create(&config.base.join(p2p::key::NODE_KEY_FILE))?;
    let mut network_config = NetworkConfig::new(keypair, 0);
    network_config.listen = p2p::default_listen(Ipv4Addr::LOCALHOST, 0);
    network_config.listen.truncate(1);
    let (network, _events) = Network::start(network_config).await?;
    let mut validator = Validator {
        netuid: config.netuid,
        hotkey: config.hotkey,
        host: Host::new(),
        slot: PluginSlot::new(),
        versions: BTreeMap::new(),
        installed: BTreeSet::new(),
        bundle_dir: config.base.join("bundles"),
        local_bundle: config.bundle.clone(),
        network: network.clone(),
        scores: BTreeMap::new(),
        last_weights: None,
        pending: Vec::new(),
        round: 0,
        quiet: config.quiet,
    };
    let say = |quiet: bool, line: &str| {
        if quiet {
            tracing::debug!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(
        config.quiet,
        &format!(
            "validator {} on subnet {} (node {})",
            validator.hotkey.public(),
            config.netuid,
            config.url
        ),
    );
    let mut client: Option<RpcClient> = None;
    let mut last_block = None;
    let mut done = 0u64;
    tokio::pin!(stop);
    loop {
        if config.rounds > 0 && done >= config.rounds {
            break;
        }
        let connected = match client.take() {
            Some(c) => Some(c),
            None => match RpcClient::connect(&config.url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("cannot reach the node: {e}; retrying");
                    None
                }
            },
        };
        let Some(c) = connected else {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        };
        // One round per new block.
        let head = c.head().await.ok().map(|(n, _)| n);
        if head.is_none() {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        }
        if head == last_block {
            client = Some(c);
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => continue,
            }
        }
        last_block = head;
        tokio::select! {
            () = &mut stop => break,
            result = validator.round(&c) => match result {
                Ok(line) => {
                    say(config.quiet, &line);
                    done += 1;
                    client = Some(c);
                }
                Err(e) => {
                    tracing::warn!("round failed: {e:#}");
                    if !config.quiet {
                        eprintln!("round failed: {e:#}");
                    }
                    // Reconnect: the node may have restarted.
                    drop(c);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
    network.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_scale_the_best_to_the_top_and_keep_proportions() {
        let (uids, values) = weights(&[(1, 0.5), (2, 1.0), (3, 0.0)]);
        assert_eq!(uids, vec![1, 2, 3]);
        assert_eq!(values, vec![32768, 65535, 0]);
        assert_eq!(weights(&[(1, 0.0)]), (vec![], vec![]));
    }

    #[test]
    fn seeds_differ_by_block_hotkey_and_round() {
        let a = AccountId([1; 32]);
        let b = AccountId([2; 32]);
        let s = seed(&[0; 32], &a, 0);
        assert_eq!(s, seed(&[0; 32], &a, 0));
        assert_ne!(s, seed(&[1; 32], &a, 0));
        assert_ne!(s, seed(&[0; 32], &b, 0));
        assert_ne!(s, seed(&[0; 32], &a, 1));
    }
}
