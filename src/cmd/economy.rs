//! `ganglion subnet`, `register`, `stake`, `weights`, `metagraph` and `economy`: the economy's
//! commands, clients of a node's RPC.
//!
//! Calls are signed here and sent through [`RpcClient::submit_call`]; a call the chain refuses
//! prints the chain's reason and exits 1, and bad arguments exit 2 before anything is sent.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ganglion_kernel::chain::economy::commit_hash;
use ganglion_kernel::chain::extrinsic::{
    AdminCall, Call, NeuronsCall, OwnerParam, RootParam, StakingCall, SubnetsCall, WeightsCall,
};
use ganglion_kernel::chain::keys::{AccountId, Pair};
use ganglion_kernel::chain::state::Event;
use ganglion_kernel::chain::units::{Balance, RAO_PER_TAO, format_tao, parse_tao};
use ganglion_kernel::node::client::{Receipt, RpcClient, random_salt};
use serde_json::{Value, json};

use super::BadInput;
use super::account::{address, runtime, signer, wallet_root};
use crate::cli::{
    ClientArgs, ColdkeyArgs, EconomyArgs, MetagraphArgs, RegisterArgs, RootSetArgs, StakeArgs,
    StakeCommand, StakeShowArgs, SubnetCommand, SubnetCreateArgs, SubnetSetArgs,
    SubnetSetBundleArgs, SubnetShowArgs, TxArgs, WeightsArgs, WeightsCommand,
};

/// Salt values `weights commit` draws when no `--salt` is given (8 × 16 = 128 bits).
const SALT_LEN: usize = 8;

/// Runs `ganglion subnet ...`.
pub(crate) fn subnet(command: &SubnetCommand) -> anyhow::Result<ExitCode> {
    match command {
        SubnetCommand::Create(args) => create(args),
        SubnetCommand::List(args) => list(args),
        SubnetCommand::Show(args) => show(args),
        SubnetCommand::Set(args) => set(args),
        SubnetCommand::RootSet(args) => root_set(args),
        SubnetCommand::New(args) => super::spec::new(args),
        SubnetCommand::Check(args) => super::spec::check(args),
        SubnetCommand::Build(args) => super::spec::build(args),
        SubnetCommand::Fmt(args) => super::spec::fmt(args),
        SubnetCommand::Inspect(args) => super::spec::inspect(args),
        SubnetCommand::Try(args) => super::spec::try_spec(args),
        SubnetCommand::Publish(args) => super::spec::publish(args),
        SubnetCommand::SetBundle(args) => set_bundle(args),
        SubnetCommand::Fetch(args) => super::spec::fetch(args),
    }
}

/// Runs `ganglion stake ...`.
pub(crate) fn stake(command: &StakeCommand) -> anyhow::Result<ExitCode> {
    match command {
        StakeCommand::Add(args) => stake_move(args, true),
        StakeCommand::Remove(args) => stake_move(args, false),
        StakeCommand::Show(args) => stake_show(args),
    }
}

/// Runs `ganglion weights ...`.
pub(crate) fn weights(command: &WeightsCommand) -> anyhow::Result<ExitCode> {
    match command {
        WeightsCommand::Set(args) => weights_send(&args.weights, &args.tx, Mode::Set),
        WeightsCommand::Commit(args) => weights_send(
            &args.weights,
            &args.tx,
            Mode::Commit(args.salt.clone().unwrap_or_else(|| random_salt(SALT_LEN))),
        ),
        WeightsCommand::Reveal(args) => {
            weights_send(&args.weights, &args.tx, Mode::Reveal(args.salt.clone()))
        }
    }
}

// ------------------------------------------------------------------------------------------
// Keys
// ------------------------------------------------------------------------------------------

/// Whether a `--hotkey` value is a bare hotkey NAME (letters, digits, '_' and '-', and not an
/// SS58 address), which `--wallet W` turns into `W/NAME`.
fn is_bare_name(spec: &str) -> bool {
    !spec.is_empty()
        && spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && AccountId::from_ss58(spec).is_err()
}

/// A `--hotkey` value as the wallet module reads it: `NAME` under `--wallet W` is `W/NAME`.
fn hotkey_spec(hotkey: &str, wallet: Option<&str>) -> String {
    match wallet {
        Some(w) if is_bare_name(hotkey) => format!("{w}/{hotkey}"),
        _ => hotkey.to_owned(),
    }
}

/// The coldkey that signs: `--coldkey`, else `--wallet`'s coldkey.
fn coldkey(keys: &ColdkeyArgs, root: &Path) -> anyhow::Result<Pair> {
    let spec = keys
        .coldkey
        .as_deref()
        .or(keys.wallet.as_deref())
        .ok_or_else(|| BadInput("give --coldkey KEY_OR_URI or --wallet NAME".into()))?;
    signer(spec, root).context(if keys.coldkey.is_some() {
        "--coldkey"
    } else {
        "--wallet"
    })
}

/// The address of a `--hotkey` value.
fn hotkey_address(hotkey: &str, wallet: Option<&str>, root: &Path) -> anyhow::Result<AccountId> {
    address(&hotkey_spec(hotkey, wallet), root).context("--hotkey")
}

// ------------------------------------------------------------------------------------------
// Sending calls
// ------------------------------------------------------------------------------------------

/// Connects, signs `call` as `who`, submits it and waits for its block.
fn send(tx: &TxArgs, who: &Pair, call: Call) -> anyhow::Result<Receipt> {
    let timeout = Duration::from_secs(tx.timeout);
    Ok(runtime()?.block_on(async {
        let client = RpcClient::connect(&tx.client.url).await?;
        client.submit_call(who, call, timeout).await
    })?)
}

/// Prints a call's outcome: JSON (the receipt and `extra`) with `--json`, else `line` on
/// success. A refused call is an error (exit 1) carrying the chain's reason; with `--json`
/// the receipt is printed first.
fn report(
    json: bool,
    name: &str,
    who: &Pair,
    receipt: &Receipt,
    extra: Value,
    line: impl FnOnce() -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        let mut out = json!({
            "call": name,
            "signer": who.public(),
            "success": receipt.error.is_none(),
            "error": receipt.error.map(|e| e.to_string()),
            "block": receipt.block,
            "extrinsic": receipt.extrinsic,
            "fee": receipt.fee,
            "events": receipt.events,
        });
        if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
            out.extend(extra);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        if receipt.error.is_some() {
            return Ok(ExitCode::FAILURE);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(error) = receipt.error {
        anyhow::bail!(
            "{name} failed in block {}: {error} (fee paid: {} TAO)",
            receipt.block,
            format_tao(receipt.fee)
        );
    }
    println!("{}", line());
    Ok(ExitCode::SUCCESS)
}

fn fee_note(receipt: &Receipt) -> String {
    if receipt.fee == 0 {
        format!("block {}, no fee", receipt.block)
    } else {
        format!(
            "block {}, fee {} TAO",
            receipt.block,
            format_tao(receipt.fee)
        )
    }
}

// ------------------------------------------------------------------------------------------
// Subnets
// ------------------------------------------------------------------------------------------

fn create(args: &SubnetCreateArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let hotkey = hotkey_address(&args.hotkey, args.coldkey.wallet.as_deref(), &root)?;
    if args.name.is_empty() || args.name.len() > 64 {
        return Err(BadInput("--name must be 1 to 64 bytes".into()).into());
    }
    let call = Call::Subnets(SubnetsCall::Create {
        hotkey,
        name: args.name.clone().into_bytes(),
    });
    let receipt = send(&args.tx, &who, call)?;
    let created = receipt.events.iter().find_map(|e| match e {
        Event::SubnetCreated { netuid, locked, .. } => Some((*netuid, *locked)),
        _ => None,
    });
    let extra = json!({ "netuid": created.map(|c| c.0), "locked": created.map(|c| c.1) });
    report(
        args.tx.client.json,
        "subnets.create",
        &who,
        &receipt,
        extra,
        || match created {
            Some((netuid, locked)) => format!(
                "created subnet {netuid} {:?} owned by {}, hotkey {hotkey} as uid 0, locking {} TAO ({})",
                args.name,
                who.public(),
                format_tao(locked),
                fee_note(&receipt)
            ),
            None => format!("subnet created ({})", fee_note(&receipt)),
        },
    )
}

fn tao_cell(rao: Option<u64>) -> String {
    rao.map_or_else(|| "-".into(), short_tao)
}

fn list(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let subnets = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.url).await?;
        client.subnets().await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&subnets)?);
        return Ok(ExitCode::SUCCESS);
    }
    if subnets.is_empty() {
        println!("no subnets yet: create one with `ganglion subnet create`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<20} {:>9} {:>6} {:>13} {:>13}  OWNER",
        "NETUID", "NAME", "NEURONS", "TEMPO", "PRICE (TAO)", "PENDING (TAO)"
    );
    for s in &subnets {
        let neurons = format!("{}/{}", num(s, "neurons"), num(s, "max_uids"));
        println!(
            "{:>6}  {:<20} {:>9} {:>6} {:>13} {:>13}  {}",
            num(s, "netuid"),
            clip(text(s, "name"), 20),
            neurons,
            num(s, "tempo"),
            tao_cell(s["registration_price"].as_u64()),
            tao_cell(s["pending_emission"].as_u64()),
            short_key(text(s, "owner")),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: &SubnetShowArgs) -> anyhow::Result<ExitCode> {
    let (info, params) = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        let info = client.subnet_info(args.netuid).await?;
        let params = client.hyperparameters(args.netuid).await?;
        Ok::<_, anyhow::Error>((info, params))
    })?;
    if args.client.json {
        let out = json!({ "info": info, "hyperparameters": params });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tao = |k: &str| tao_cell(info[k].as_u64());
    println!("subnet {} {:?}", args.netuid, text(&info, "name"));
    println!("  owner              {}", text(&info, "owner"));
    println!("  owner hotkey       {}", text(&info, "owner_hotkey"));
    println!("  created at block   {}", num(&info, "created_at"));
    println!("  locked             {} TAO", tao("locked"));
    println!("  neurons            {}", num(&info, "neurons"));
    println!("  registration price {} TAO", tao("registration_price"));
    println!("  pending emission   {} TAO", tao("pending_emission"));
    println!("  pending owner cut  {} TAO", tao("pending_owner_cut"));
    println!(
        "  epochs             {} run, the last at block {}, the next at block {} (head {})",
        num(&info, "epoch_index"),
        num(&info, "last_epoch_block"),
        num(&info, "next_epoch_block"),
        num(&info, "head"),
    );
    match info.get("bundle") {
        Some(Value::Object(b)) => println!(
            "  bundle             {} from block {}",
            b.get("hash").and_then(Value::as_str).unwrap_or("?"),
            b.get("activation_block").unwrap_or(&Value::Null)
        ),
        _ => println!("  bundle             none"),
    }
    println!("hyperparameters:");
    if let Value::Object(map) = &params {
        for (name, value) in map {
            let shown = match (name.as_str(), value.as_u64()) {
                ("min_burn" | "max_burn", Some(rao)) => format!("{} TAO", format_tao(rao)),
                _ => value.to_string(),
            };
            println!("  {name:<34} {shown}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn set(args: &SubnetSetArgs) -> anyhow::Result<ExitCode> {
    let call = subnet_param_call(args.netuid, &args.param, &args.value)?;
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let name = call.name();
    let receipt = send(&args.tx, &who, call)?;
    let extra = json!({ "netuid": args.netuid, "param": args.param, "value": args.value });
    report(args.tx.client.json, name, &who, &receipt, extra, || {
        format!(
            "set {} = {} on subnet {} ({})",
            args.param,
            args.value,
            args.netuid,
            fee_note(&receipt)
        )
    })
}

fn set_bundle(args: &SubnetSetBundleArgs) -> anyhow::Result<ExitCode> {
    let bundle = super::spec::bundle_of(&args.bundle)?;
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let activation_block = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.tx.client.url).await?;
        client.publish_bundle(bundle.bytes()).await?;
        let head = client.head().await?.0;
        anyhow::Ok(
            args.activation_block
                .unwrap_or_else(|| head.saturating_add(args.delay.max(1))),
        )
    })?;
    let call = Call::Subnets(SubnetsCall::SetBundle {
        netuid: args.netuid,
        hash: bundle.hash(),
        activation_block,
    });
    let receipt = send(&args.tx, &who, call)?;
    let m = &bundle.manifest;
    let extra = json!({
        "netuid": args.netuid,
        "bundle": bundle.hash_hex(),
        "name": m.name,
        "version": m.version,
        "activation_block": activation_block,
    });
    report(
        args.tx.client.json,
        "subnets.set_bundle",
        &who,
        &receipt,
        extra,
        || {
            format!(
                "subnet {} runs {} {} ({}) from block {activation_block} ({})",
                args.netuid,
                m.name,
                m.version,
                &bundle.hash_hex()[..16],
                fee_note(&receipt)
            )
        },
    )
}

fn root_set(args: &RootSetArgs) -> anyhow::Result<ExitCode> {
    let call = root_param_call(&args.param, &args.value)?;
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let receipt = send(&args.tx, &who, call)?;
    let extra = json!({ "param": args.param, "value": args.value });
    report(
        args.tx.client.json,
        "admin.set",
        &who,
        &receipt,
        extra,
        || {
            format!(
                "set {} = {} for the whole chain ({})",
                args.param,
                args.value,
                fee_note(&receipt)
            )
        },
    )
}

/// Every parameter `subnet set` takes from a subnet's owner, in `OwnerParam`'s order.
const OWNER_PARAMS: &[&str] = &[
    "tempo",
    "bonds_moving_average",
    "immunity_period",
    "max_uids",
    "min_allowed_weights",
    "max_weight_limit",
    "weights_rate_limit",
    "activity_cutoff_factor_milli",
    "min_burn",
    "max_burn",
    "burn_half_life",
    "burn_increase_mult_milli",
    "bonds_penalty",
    "yuma3",
    "commit_reveal",
    "reveal_period_epochs",
    "liquid_alpha",
    "alpha_values",
    "alpha_sigmoid_steepness",
    "pow_registration",
    "target_registrations_per_interval",
    "weights_version_key",
];

/// Per-subnet parameters only the chain's root may set (through `subnet set` too).
const SUBNET_ROOT_PARAMS: &[&str] = &["kappa", "max_validators"];

/// Chain-wide parameters `subnet root-set` takes.
const GLOBAL_ROOT_PARAMS: &[&str] = &["owner_cut", "subnet_limit", "min_lock_cost"];

fn int<T: std::str::FromStr>(name: &str, value: &str, kind: &str) -> Result<T, BadInput> {
    value
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| BadInput(format!("{name}: {value:?} is not {kind}")))
}

fn u16_of(name: &str, value: &str) -> Result<u16, BadInput> {
    int(name, value, "an integer from 0 to 65535")
}

fn u32_of(name: &str, value: &str) -> Result<u32, BadInput> {
    int(name, value, "an integer from 0 to 4294967295")
}

fn u64_of(name: &str, value: &str) -> Result<u64, BadInput> {
    int(name, value, "an integer from 0 to 18446744073709551615")
}

fn bool_of(name: &str, value: &str) -> Result<bool, BadInput> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(BadInput(format!("{name}: {value:?} is not true or false"))),
    }
}

fn tao_of(name: &str, value: &str) -> Result<Balance, BadInput> {
    parse_tao(value).map_err(|e| BadInput(format!("{name}: {e}")))
}

fn unknown_param(name: &str) -> BadInput {
    BadInput(format!(
        "unknown parameter {name:?}. Subnet owners set: {}. The root sets per subnet: {}; \
         chain-wide (with `ganglion subnet root-set`): {}",
        OWNER_PARAMS.join(", "),
        SUBNET_ROOT_PARAMS.join(", "),
        GLOBAL_ROOT_PARAMS.join(", ")
    ))
}

/// The call `subnet set NETUID NAME VALUE` sends: `subnets.set_hyperparameter`, or
/// `admin.set` for kappa and max_validators.
pub(crate) fn subnet_param_call(netuid: u16, name: &str, value: &str) -> Result<Call, BadInput> {
    let param = match name {
        "tempo" => OwnerParam::Tempo(u16_of(name, value)?),
        "bonds_moving_average" => OwnerParam::BondsMovingAverage(u64_of(name, value)?),
        "immunity_period" => OwnerParam::ImmunityPeriod(u16_of(name, value)?),
        "max_uids" => OwnerParam::MaxUids(u16_of(name, value)?),
        "min_allowed_weights" => OwnerParam::MinAllowedWeights(u16_of(name, value)?),
        "max_weight_limit" => OwnerParam::MaxWeightLimit(u16_of(name, value)?),
        "weights_rate_limit" => OwnerParam::WeightsRateLimit(u64_of(name, value)?),
        "activity_cutoff_factor_milli" => {
            OwnerParam::ActivityCutoffFactorMilli(u32_of(name, value)?)
        }
        "min_burn" => OwnerParam::MinBurn(tao_of(name, value)?),
        "max_burn" => OwnerParam::MaxBurn(tao_of(name, value)?),
        "burn_half_life" => OwnerParam::BurnHalfLife(u16_of(name, value)?),
        "burn_increase_mult_milli" => OwnerParam::BurnIncreaseMultMilli(u32_of(name, value)?),
        "bonds_penalty" => OwnerParam::BondsPenalty(u16_of(name, value)?),
        "yuma3" => OwnerParam::Yuma3(bool_of(name, value)?),
        "commit_reveal" => OwnerParam::CommitReveal(bool_of(name, value)?),
        "reveal_period_epochs" => OwnerParam::RevealPeriodEpochs(u16_of(name, value)?),
        "liquid_alpha" => OwnerParam::LiquidAlpha(bool_of(name, value)?),
        "alpha_values" => {
            let (low, high) = value.split_once(',').ok_or_else(|| {
                BadInput(format!(
                    "alpha_values: {value:?} is not LOW,HIGH (two integers out of 65535, such as 45875,58982)"
                ))
            })?;
            OwnerParam::AlphaValues(u16_of("alpha_values", low)?, u16_of("alpha_values", high)?)
        }
        "alpha_sigmoid_steepness" => {
            OwnerParam::AlphaSigmoidSteepness(int(name, value, "an integer from -32768 to 32767")?)
        }
        "pow_registration" => OwnerParam::PowRegistration(bool_of(name, value)?),
        "target_registrations_per_interval" => {
            OwnerParam::TargetRegistrationsPerInterval(u16_of(name, value)?)
        }
        "weights_version_key" => OwnerParam::WeightsVersionKey(u64_of(name, value)?),
        "kappa" => {
            return Ok(admin(RootParam::Kappa {
                netuid,
                value: u16_of(name, value)?,
            }));
        }
        "max_validators" => {
            return Ok(admin(RootParam::MaxValidators {
                netuid,
                value: u16_of(name, value)?,
            }));
        }
        _ if GLOBAL_ROOT_PARAMS.contains(&name) => {
            return Err(BadInput(format!(
                "{name} is chain-wide, not a subnet's: set it with `ganglion subnet root-set {name} VALUE --coldkey ROOT`"
            )));
        }
        _ => return Err(unknown_param(name)),
    };
    Ok(Call::Subnets(SubnetsCall::SetHyperparameter {
        netuid,
        param,
    }))
}

fn admin(param: RootParam) -> Call {
    Call::Admin(AdminCall::Set { param })
}

/// The call `subnet root-set NAME VALUE` sends.
fn root_param_call(name: &str, value: &str) -> Result<Call, BadInput> {
    let param = match name {
        "owner_cut" => RootParam::OwnerCut(u16_of(name, value)?),
        "subnet_limit" => RootParam::SubnetLimit(u16_of(name, value)?),
        "min_lock_cost" => RootParam::MinLockCost(tao_of(name, value)?),
        _ if SUBNET_ROOT_PARAMS.contains(&name) || OWNER_PARAMS.contains(&name) => {
            return Err(BadInput(format!(
                "{name} is a subnet's parameter: set it with `ganglion subnet set NETUID {name} VALUE`"
            )));
        }
        _ => return Err(unknown_param(name)),
    };
    Ok(admin(param))
}

// ------------------------------------------------------------------------------------------
// Neurons and stake
// ------------------------------------------------------------------------------------------

/// Runs `ganglion register`.
pub(crate) fn register(args: &RegisterArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let hotkey = hotkey_address(&args.hotkey, args.coldkey.wallet.as_deref(), &root)?;
    let call = Call::Neurons(NeuronsCall::Register {
        netuid: args.netuid,
        hotkey,
    });
    let receipt = send(&args.tx, &who, call)?;
    let registered = receipt.events.iter().find_map(|e| match e {
        Event::NeuronRegistered {
            uid,
            burned,
            replaced,
            ..
        } => Some((*uid, *burned, *replaced)),
        _ => None,
    });
    let extra = json!({
        "netuid": args.netuid,
        "hotkey": hotkey,
        "uid": registered.map(|r| r.0),
        "burned": registered.map(|r| r.1),
        "replaced": registered.and_then(|r| r.2),
    });
    report(
        args.tx.client.json,
        "neurons.register",
        &who,
        &receipt,
        extra,
        || match registered {
            Some((uid, burned, replaced)) => {
                let replaced = replaced.map_or(String::new(), |r| format!(", replacing {r}"));
                format!(
                    "registered {hotkey} on subnet {} as uid {uid} for {} TAO{replaced} ({})",
                    args.netuid,
                    format_tao(burned),
                    fee_note(&receipt)
                )
            }
            None => format!("registered ({})", fee_note(&receipt)),
        },
    )
}

fn stake_move(args: &StakeArgs, add: bool) -> anyhow::Result<ExitCode> {
    let amount = parse_tao(&args.amount).map_err(|e| BadInput(format!("--amount: {e}")))?;
    let root = wallet_root(args.tx.client.wallet_path.as_ref())?;
    let who = coldkey(&args.coldkey, &root)?;
    let hotkey = hotkey_address(&args.hotkey, args.coldkey.wallet.as_deref(), &root)?;
    if let Some(netuid) = args.netuid {
        let view = runtime()?.block_on(async {
            let client = RpcClient::connect(&args.tx.client.url).await?;
            client.stake(&hotkey).await
        })?;
        let registered = view["registrations"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["netuid"].as_u64() == Some(netuid.into()))
        });
        if !registered {
            anyhow::bail!("hotkey {hotkey} is not registered on subnet {netuid}");
        }
    }
    let (call, name) = if add {
        (StakingCall::Add { hotkey, amount }, "staking.add")
    } else {
        (StakingCall::Remove { hotkey, amount }, "staking.remove")
    };
    let receipt = send(&args.tx, &who, Call::Staking(call))?;
    let extra = json!({ "hotkey": hotkey, "amount": amount });
    report(args.tx.client.json, name, &who, &receipt, extra, || {
        let (verb, dir) = if add {
            ("staked", "on")
        } else {
            ("unstaked", "from")
        };
        format!(
            "{verb} {} TAO {dir} {hotkey} ({})",
            format_tao(amount),
            fee_note(&receipt)
        )
    })
}

fn stake_show(args: &StakeShowArgs) -> anyhow::Result<ExitCode> {
    let root = wallet_root(args.client.wallet_path.as_ref())?;
    let hotkey = hotkey_address(&args.hotkey, args.wallet.as_deref(), &root)?;
    let view = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        client.stake(&hotkey).await
    })?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("hotkey {hotkey}");
    println!(
        "  owner  {}",
        view["owner"].as_str().unwrap_or("none (never registered)")
    );
    println!("  stake  {} TAO", tao_cell(view["total"].as_u64()));
    let take = view["take"].as_u64().unwrap_or(11_796);
    println!(
        "  take   {take} of 65535 ({}%)",
        ratio(take.try_into().unwrap_or(u16::MAX), 100, 2)
    );
    let regs: Vec<String> = view["registrations"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| format!("subnet {} uid {}", r["netuid"], r["uid"]))
                .collect()
        })
        .unwrap_or_default();
    if regs.is_empty() {
        println!("  registered nowhere");
    } else {
        println!("  registered on {}", regs.join(", "));
    }
    if let Some(stakers) = view["stakers"].as_array() {
        for s in stakers {
            println!(
                "  {}  {} TAO",
                text(s, "coldkey"),
                tao_cell(s["amount"].as_u64())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------------------------------
// Weights
// ------------------------------------------------------------------------------------------

/// Which weights call to send.
enum Mode {
    Set,
    Commit(Vec<u16>),
    Reveal(Vec<u16>),
}

/// A non-negative decimal with at most 9 decimals, in billionths.
fn nanos(text: &str) -> Option<u128> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_digits = frac.bytes().chain(std::iter::repeat(b'0')).take(9);
    let frac = frac_digits.fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'));
    whole.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// `--weights` as u16 values: with `raw`, as given; otherwise decimals scaled so that the
/// largest is 65535, rounding half up, in integers (the same on every machine).
fn weight_values(weights: &[String], raw: bool) -> Result<Vec<u16>, BadInput> {
    if raw {
        return weights
            .iter()
            .map(|w| u16_of("--weights (--raw)", w))
            .collect();
    }
    let parsed = weights
        .iter()
        .map(|w| {
            nanos(w).ok_or_else(|| {
                BadInput(format!(
                    "--weights: {w:?} is not a non-negative decimal with at most 9 decimals, such as 0.25"
                ))
            })
        })
        .collect::<Result<Vec<u128>, _>>()?;
    let max = parsed.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(BadInput("--weights: all weights are zero".into()));
    }
    Ok(parsed
        .iter()
        .map(|w| {
            let scaled = (w * u128::from(u16::MAX) + max / 2) / max;
            u16::try_from(scaled).unwrap_or(u16::MAX)
        })
        .collect())
}

fn csv<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn weights_send(w: &WeightsArgs, tx: &TxArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let values = weight_values(&w.weights, w.raw)?;
    if values.len() != w.uids.len() {
        return Err(BadInput(format!(
            "{} uids but {} weights: give one weight per uid",
            w.uids.len(),
            values.len()
        ))
        .into());
    }
    let root = wallet_root(tx.client.wallet_path.as_ref())?;
    let hotkey = signer(&hotkey_spec(&w.hotkey, w.wallet.as_deref()), &root).context("--hotkey")?;
    let timeout = Duration::from_secs(tx.timeout);
    let netuid = w.netuid;
    let uids = w.uids.clone();
    let (receipt, version_key, call_name, hash, salt) = runtime()?.block_on(async {
        let client = RpcClient::connect(&tx.client.url).await?;
        // The subnet's mode and version key: a call in the wrong mode is refused here, as
        // the chain would, but without a fee.
        let hyper = client.hyperparameters(netuid).await?;
        let commit_reveal = hyper["commit_reveal"].as_bool().unwrap_or(false);
        match (&mode, commit_reveal) {
            (Mode::Set, true) => anyhow::bail!(
                "subnet {netuid} uses commit-reveal: commit the weights with `ganglion weights commit`, then reveal them with `ganglion weights reveal`"
            ),
            (Mode::Commit(_) | Mode::Reveal(_), false) => anyhow::bail!(
                "subnet {netuid} does not use commit-reveal: set the weights with `ganglion weights set`"
            ),
            _ => {}
        }
        let version_key = match w.version_key {
            Some(k) => k,
            None => hyper["weights_version_key"].as_u64().unwrap_or(0),
        };
        let (call, hash, salt) = match mode {
            Mode::Set => (
                WeightsCall::Set {
                    netuid,
                    uids: uids.clone(),
                    values: values.clone(),
                    version_key,
                },
                None,
                None,
            ),
            Mode::Commit(salt) => {
                let hash = commit_hash(
                    &hotkey.public(),
                    netuid,
                    &uids,
                    &values,
                    &salt,
                    version_key,
                );
                (WeightsCall::Commit { netuid, hash }, Some(hash), Some(salt))
            }
            Mode::Reveal(salt) => (
                WeightsCall::Reveal {
                    netuid,
                    uids: uids.clone(),
                    values: values.clone(),
                    salt: salt.clone(),
                    version_key,
                },
                None,
                Some(salt),
            ),
        };
        let call = Call::Weights(call);
        let name = call.name();
        let receipt = match client.submit_call(&hotkey, call, timeout).await {
            Ok(receipt) => receipt,
            Err(e) if e.to_string().contains("cannot pay the fee") => {
                return Err(anyhow::Error::new(e).context(
                    "the node refused the weights call. Weights calls are free only when they \
                     would pass the subnet's cheap checks (the hotkey registered, the rate limit, \
                     the commit-reveal mode, a matching commit for a reveal); otherwise the \
                     hotkey pays the usual fee",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        Ok::<_, anyhow::Error>((receipt, version_key, name, hash, salt))
    })?;
    let extra = json!({
        "netuid": netuid,
        "hotkey": hotkey.public(),
        "uids": uids,
        "values": values,
        "version_key": version_key,
        "salt": salt,
        "hash": hash,
    });
    report(
        tx.client.json,
        call_name,
        &hotkey,
        &receipt,
        extra,
        || match (hash, &salt, call_name) {
            (Some(hash), Some(salt), _) => format!(
                "committed weights {hash} on subnet {netuid} ({}).\n\
                 Keep the salt: nothing is stored. Reveal in the reveal epoch with:\n  \
                 ganglion weights reveal --netuid {netuid} --hotkey {} --uids {} --weights {} --raw --version-key {version_key} --salt {}",
                fee_note(&receipt),
                w.hotkey,
                csv(&uids),
                csv(&values),
                csv(salt)
            ),
            (_, _, "weights.reveal") => format!(
                "revealed {} weights on subnet {netuid} ({})",
                uids.len(),
                fee_note(&receipt)
            ),
            _ => format!(
                "set {} weights on subnet {netuid}: uids {} values {} ({})",
                uids.len(),
                csv(&uids),
                csv(&values),
                fee_note(&receipt)
            ),
        },
    )
}

// ------------------------------------------------------------------------------------------
// Metagraph and economy
// ------------------------------------------------------------------------------------------

fn num(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".into(),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// At most `width` characters of `s`, the last one an ellipsis when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An address shortened to 13 characters: its first 7 and last 5.
fn short_key(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 13 {
        return address.to_owned();
    }
    let head: String = chars.iter().take(7).collect();
    let tail: String = chars.iter().skip(chars.len() - 5).collect();
    format!("{head}…{tail}")
}

/// Rao as TAO with 4 decimals (truncated), for tables.
fn short_tao(rao: u64) -> String {
    format!(
        "{}.{:04}",
        rao / RAO_PER_TAO,
        (rao % RAO_PER_TAO) / (RAO_PER_TAO / 10_000)
    )
}

/// `value / 65535` times `scale`, with `decimals` decimals (rounded half up), in integers.
fn ratio(value: u16, scale: u64, decimals: u32) -> String {
    let unit = 10u64.pow(decimals);
    let max = u64::from(u16::MAX);
    let scaled = (u64::from(value) * scale * unit + max / 2) / max;
    format!(
        "{}.{:0width$}",
        scaled / unit,
        scaled % unit,
        width = decimals as usize
    )
}

fn u16_field(n: &Value, key: &str) -> u16 {
    n.get(key)
        .and_then(Value::as_u64)
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(0)
}

/// One metagraph row; the columns of [`METAGRAPH_HEADER`], at most 100 characters.
fn metagraph_row(n: &Value, block: u64) -> String {
    let last_update = n["last_update"].as_u64().unwrap_or(0);
    let axon = match n.get("axon") {
        Some(Value::Object(a)) => a
            .get("multiaddr")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    };
    format!(
        "{:>4} {:<13} {:>12} {:>6} {:>6} {:>6} {:>6} {:>2} {:>11} {:>7} {}",
        num(n, "uid"),
        short_key(text(n, "hotkey")),
        short_tao(n["stake"].as_u64().unwrap_or(0)),
        ratio(u16_field(n, "consensus"), 1, 4),
        ratio(u16_field(n, "incentive"), 1, 4),
        ratio(u16_field(n, "dividends"), 1, 4),
        ratio(u16_field(n, "validator_trust"), 1, 4),
        if n["validator_permit"].as_bool() == Some(true) {
            "*"
        } else {
            ""
        },
        short_tao(n["emission"].as_u64().unwrap_or(0)),
        block.saturating_sub(last_update),
        clip(&axon, 16),
    )
    .trim_end()
    .to_owned()
}

const METAGRAPH_HEADER: &str =
    " UID HOTKEY         STAKE (TAO)   CONS INCENT   DIVS VTRUST VP   EMIT (TAO) UPDATED AXON";

/// Runs `ganglion metagraph`.
pub(crate) fn metagraph(args: &MetagraphArgs) -> anyhow::Result<ExitCode> {
    let mg = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        client.metagraph(args.netuid).await
    })?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&mg)?);
        return Ok(ExitCode::SUCCESS);
    }
    let block = mg["block"].as_u64().unwrap_or(0);
    let mut neurons: Vec<&Value> = mg["neurons"]
        .as_array()
        .map(|n| n.iter().collect())
        .unwrap_or_default();
    neurons.sort_by_key(|n| n["uid"].as_u64().unwrap_or(0));
    println!(
        "subnet {} {:?}: {} neurons at block {block}; last epoch at block {}, {} TAO pending",
        args.netuid,
        text(&mg, "name"),
        neurons.len(),
        num(&mg, "last_epoch_block"),
        short_tao(mg["pending_emission"].as_u64().unwrap_or(0)),
    );
    println!("owner {}", text(&mg, "owner"));
    println!("{METAGRAPH_HEADER}");
    let mut stake: u64 = 0;
    let mut emission: u64 = 0;
    for n in &neurons {
        stake = stake.saturating_add(n["stake"].as_u64().unwrap_or(0));
        emission = emission.saturating_add(n["emission"].as_u64().unwrap_or(0));
        println!("{}", metagraph_row(n, block));
    }
    println!(
        "{:>4} {:<13} {:>12} {:>6} {:>6} {:>6} {:>6} {:>2} {:>11}",
        "",
        "total",
        short_tao(stake),
        "",
        "",
        "",
        "",
        "",
        short_tao(emission)
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `ganglion economy`.
pub(crate) fn economy(args: &EconomyArgs) -> anyhow::Result<ExitCode> {
    let view = runtime()?.block_on(async {
        let client = RpcClient::connect(&args.client.url).await?;
        client.economy().await
    })?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tao = |v: &Value| v.as_u64().map_or_else(|| "-".into(), format_tao);
    let p = &view["params"];
    let t = &view["totals"];
    println!("at block {}", num(&view, "head"));
    println!(
        "  subnets           {} (limit {})",
        view["subnets"].as_array().map_or(0, Vec::len),
        num(p, "subnet_limit")
    );
    println!(
        "  lock cost         {} TAO (floor {} TAO)",
        tao(&view["lock_cost"]),
        tao(&p["min_lock_cost"])
    );
    println!("  block emission    {} TAO", tao(&p["block_emission"]));
    println!(
        "  owner cut         {} of 65535 ({}%)",
        num(p, "owner_cut"),
        ratio(u16_field(p, "owner_cut"), 100, 2)
    );
    println!("  total issuance    {} TAO", tao(&view["total_issuance"]));
    println!("  minted            {} TAO", tao(&t["minted"]));
    println!("  staked            {} TAO", tao(&t["stake"]));
    println!("  locked            {} TAO", tao(&t["locked"]));
    println!("  pending           {} TAO", tao(&t["pending"]));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The snake_case name of every owner parameter; exhaustive, so a new `OwnerParam`
    /// fails to compile here until `subnet set` knows it.
    fn name_of(p: OwnerParam) -> &'static str {
        match p {
            OwnerParam::Tempo(_) => "tempo",
            OwnerParam::BondsMovingAverage(_) => "bonds_moving_average",
            OwnerParam::ImmunityPeriod(_) => "immunity_period",
            OwnerParam::MaxUids(_) => "max_uids",
            OwnerParam::MinAllowedWeights(_) => "min_allowed_weights",
            OwnerParam::MaxWeightLimit(_) => "max_weight_limit",
            OwnerParam::WeightsRateLimit(_) => "weights_rate_limit",
            OwnerParam::ActivityCutoffFactorMilli(_) => "activity_cutoff_factor_milli",
            OwnerParam::MinBurn(_) => "min_burn",
            OwnerParam::MaxBurn(_) => "max_burn",
            OwnerParam::BurnHalfLife(_) => "burn_half_life",
            OwnerParam::BurnIncreaseMultMilli(_) => "burn_increase_mult_milli",
            OwnerParam::BondsPenalty(_) => "bonds_penalty",
            OwnerParam::Yuma3(_) => "yuma3",
            OwnerParam::CommitReveal(_) => "commit_reveal",
            OwnerParam::RevealPeriodEpochs(_) => "reveal_period_epochs",
            OwnerParam::LiquidAlpha(_) => "liquid_alpha",
            OwnerParam::AlphaValues(..) => "alpha_values",
            OwnerParam::AlphaSigmoidSteepness(_) => "alpha_sigmoid_steepness",
            OwnerParam::PowRegistration(_) => "pow_registration",
            OwnerParam::TargetRegistrationsPerInterval(_) => "target_registrations_per_interval",
            OwnerParam::WeightsVersionKey(_) => "weights_version_key",
        }
    }

    fn sample(name: &str) -> &'static str {
        match name {
            "yuma3" | "commit_reveal" | "liquid_alpha" | "pow_registration" => "true",
            "alpha_values" => "45875,58982",
            "min_burn" | "max_burn" => "0.5",
            _ => "7",
        }
    }

    #[test]
    fn every_owner_param_parses_to_itself() {
        assert_eq!(OWNER_PARAMS.len(), 22);
        for name in OWNER_PARAMS {
            match subnet_param_call(3, name, sample(name)) {
                Ok(Call::Subnets(SubnetsCall::SetHyperparameter { netuid: 3, param })) => {
                    assert_eq!(name_of(param), *name);
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn values_parse_exactly() {
        let param = |name: &str, value: &str| match subnet_param_call(1, name, value) {
            Ok(Call::Subnets(SubnetsCall::SetHyperparameter { param, .. })) => param,
            other => panic!("{other:?}"),
        };
        assert_eq!(param("tempo", "10"), OwnerParam::Tempo(10));
        assert_eq!(
            param("commit_reveal", "true"),
            OwnerParam::CommitReveal(true)
        );
        assert_eq!(
            param("commit_reveal", "off"),
            OwnerParam::CommitReveal(false)
        );
        assert_eq!(
            param("alpha_values", "45875,58982"),
            OwnerParam::AlphaValues(45875, 58982)
        );
        assert_eq!(param("min_burn", "0.5"), OwnerParam::MinBurn(500_000_000));
        assert_eq!(
            param("alpha_sigmoid_steepness", "-5"),
            OwnerParam::AlphaSigmoidSteepness(-5)
        );
        assert_eq!(
            subnet_param_call(4, "kappa", "30000").ok(),
            Some(admin(RootParam::Kappa {
                netuid: 4,
                value: 30000
            }))
        );
        assert_eq!(
            root_param_call("min_lock_cost", "10").ok(),
            Some(admin(RootParam::MinLockCost(10 * RAO_PER_TAO)))
        );
    }

    #[test]
    fn bad_params_say_what_is_valid() {
        let e = subnet_param_call(1, "tempoo", "1").expect_err("unknown");
        assert!(e.0.contains("tempo, bonds_moving_average"), "{e}");
        assert!(e.0.contains("kappa") && e.0.contains("owner_cut"), "{e}");
        let e = subnet_param_call(1, "tempo", "70000").expect_err("too big");
        assert!(e.0.contains("0 to 65535"), "{e}");
        let e = subnet_param_call(1, "owner_cut", "1").expect_err("global");
        assert!(e.0.contains("root-set"), "{e}");
        let e = root_param_call("tempo", "1").expect_err("subnet's");
        assert!(e.0.contains("subnet set NETUID tempo"), "{e}");
        assert!(subnet_param_call(1, "yuma3", "maybe").is_err());
        assert!(subnet_param_call(1, "alpha_values", "3").is_err());
    }

    #[test]
    fn weights_scale_to_u16_deterministically() {
        let w = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            weight_values(&v, false)
        };
        assert_eq!(
            w(&["0.6", "0.3", "0.1"]).ok(),
            Some(vec![65535, 32768, 10923])
        );
        assert_eq!(w(&["2", "1"]).ok(), Some(vec![65535, 32768]));
        assert_eq!(w(&["1", "0"]).ok(), Some(vec![65535, 0]));
        assert_eq!(w(&[".5", "1."]).ok(), Some(vec![32768, 65535]));
        assert!(w(&["0", "0"]).is_err());
        assert!(w(&["-1"]).is_err());
        assert!(w(&["1e3"]).is_err());
        assert!(w(&["0.0000000001"]).is_err());
        let raw: Vec<String> = vec!["7".into(), "65535".into()];
        assert_eq!(weight_values(&raw, true).ok(), Some(vec![7, 65535]));
        assert!(weight_values(&["65536".into()], true).is_err());
    }

    #[test]
    fn hotkey_names_resolve_under_a_wallet() {
        assert_eq!(hotkey_spec("miner1", Some("w")), "w/miner1");
        assert_eq!(hotkey_spec("//Alice//miner1", Some("w")), "//Alice//miner1");
        assert_eq!(hotkey_spec("other/hk", Some("w")), "other/hk");
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        assert_eq!(hotkey_spec(alice, Some("w")), alice);
        assert_eq!(hotkey_spec("miner1", None), "miner1");
    }

    #[test]
    fn table_cells() {
        assert_eq!(ratio(65535, 1, 4), "1.0000");
        assert_eq!(ratio(0, 1, 4), "0.0000");
        assert_eq!(ratio(32768, 1, 4), "0.5000");
        assert_eq!(ratio(11796, 100, 2), "18.00");
        assert_eq!(short_tao(1_234_567_890_123), "1234.5678");
        assert_eq!(
            short_key("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            "5GrwvaE…KutQY"
        );
        assert_eq!(clip("/ip4/127.0.0.1/tcp/30333/p2p", 10), "/ip4/127.…");
        let n = json!({
            "uid": 65535, "hotkey": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "stake": 999_999_999_999_999u64, "consensus": 65535, "incentive": 65535,
            "dividends": 65535, "validator_trust": 65535, "validator_permit": true,
            "emission": 99_999_999_999_999u64, "last_update": 0,
            "axon": { "multiaddr": "/ip4/255.255.255.255/tcp/65535/p2p/12D3KooW" },
        });
        let row = metagraph_row(&n, 9_999_999);
        assert!(
            row.chars().count() <= 100,
            "{} chars: {row}",
            row.chars().count()
        );
        assert!(METAGRAPH_HEADER.len() <= 100);
    }
}
