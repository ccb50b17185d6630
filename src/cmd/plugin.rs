//! `ganglion plugin check`, `run` and `watch`.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload::{self, DType, Tensor};
use ganglion_plugins::{Host, PluginError, PluginSlot};
use serde_json::{Value, json};

use super::BadInput;
use crate::cli::{LimitArgs, PluginCall, PluginCheckArgs, PluginRunArgs, PluginWatchArgs};

fn limits(args: &LimitArgs) -> Limits {
    let mut limits = Limits::default();
    if let Some(fuel) = args.fuel {
        limits.fuel = fuel;
    }
    if let Some(mib) = args.memory {
        limits.memory_bytes = mib.saturating_mul(1 << 20);
    }
    if let Some(ms) = args.timeout {
        limits.timeout = Duration::from_millis(ms);
    }
    limits
}

/// The host for plugin commands: with the on-disk cache unless `--no-cache` (or no home).
fn host(args: &LimitArgs) -> anyhow::Result<Host> {
    if args.no_cache {
        return Ok(Host::new());
    }
    let dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".ganglion").join("plugin-cache"),
            None => return Ok(Host::new()),
        },
    };
    Host::with_cache_dir(&dir)
        .with_context(|| format!("opening the plugin cache {}", dir.display()))
}

/// The module bytes of a .wasm or .wat file (text is recognized by content, not name).
fn module_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = fs::read(path)
        .map_err(|e| BadInput(format!("{}: cannot read the plugin: {e}", path.display())))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .map_err(|e| {
            BadInput(format!(
                "{}: neither a WebAssembly binary nor valid text: {e}",
                path.display()
            ))
            .into()
        })
}

fn limits_json(l: &Limits) -> Value {
    json!({
        "fuel": l.fuel,
        "memory_bytes": l.memory_bytes,
        "table_elements": l.table_elements,
        "stack_bytes": l.stack_bytes,
        "output_bytes": l.output_bytes,
        "timeout_ms": l.timeout.as_millis(),
        "module_bytes": l.module_bytes,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ganglion plugin check`.
pub(crate) fn check(args: &PluginCheckArgs) -> anyhow::Result<ExitCode> {
    let bytes = module_bytes(&args.file)?;
    let shown = args.file.display();
    match host(&args.limits)?.load(&bytes, limits(&args.limits)) {
        Ok(plugin) => {
            let info = plugin.info();
            if args.json {
                println!(
                    "{}",
                    json!({
                        "ok": true,
                        "abi_version": info.abi_version,
                        "hash": hex(&plugin.hash()),
                        "module_bytes": info.module_bytes,
                        "exports": info.exports,
                        "imports": info.imports,
                        "reward": info.has_reward,
                        "limits": limits_json(plugin.limits()),
                    })
                );
            } else {
                let l = plugin.limits();
                println!("{shown}: ok");
                println!("  abi version  {}", info.abi_version);
                println!("  hash         {}", hex(&plugin.hash()));
                println!("  size         {} bytes", info.module_bytes);
                println!("  exports      {}", info.exports.join(", "));
                let imports = if info.imports.is_empty() {
                    "none".to_owned()
                } else {
                    info.imports.join(", ")
                };
                println!("  imports      {imports}");
                println!(
                    "  limits       fuel {}, memory {} bytes, table {} elements, stack {} bytes, output {} bytes, timeout {:?}",
                    l.fuel,
                    l.memory_bytes,
                    l.table_elements,
                    l.stack_bytes,
                    l.output_bytes,
                    l.timeout
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if args.json {
                let problems: Vec<String> = match &err {
                    PluginError::Abi { problems, .. } => {
                        problems.iter().map(|p| p.to_string()).collect()
                    }
                    other => vec![other.to_string()],
                };
                println!("{}", json!({ "ok": false, "problems": problems }));
            } else {
                eprintln!("{shown}: {err}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `ganglion plugin run`.
pub(crate) fn run(args: &PluginRunArgs) -> anyhow::Result<ExitCode> {
    let bytes = module_bytes(&args.file)?;
    let shown = args.file.display().to_string();
    let plugin = match host(&args.limits)?.load(&bytes, limits(&args.limits)) {
        Ok(plugin) => plugin,
        Err(err) => {
            eprintln!("{shown}: {err}");
            return Ok(ExitCode::from(1));
        }
    };
    let result = match &args.call {
        PluginCall::Task { seed, round } => plugin.task(*seed, *round).map(|task| {
            json!({
                "seed": seed,
                "round": round,
                "public": payload_json(&task.public),
                "private": payload_json(&task.private),
            })
            .to_string()
        }),
        PluginCall::Score { task, response } => {
            let task_json = read_json(task)?;
            let public =
                payload_from_json(&task_json["public"], &format!("{}: public", task.display()))?;
            let private = payload_from_json(
                &task_json["private"],
                &format!("{}: private", task.display()),
            )?;
            let response_json = read_json(response)?;
            let answer = payload_from_json(&response_json, &response.display().to_string())?;
            plugin.score(&public, &private, &answer).map(|score| {
                if args.json {
                    json!({ "score": score }).to_string()
                } else {
                    score.to_string()
                }
            })
        }
        PluginCall::Reward { incentive } => plugin.reward(incentive).map(|out| {
            if args.json {
                json!({ "incentive": out }).to_string()
            } else {
                out.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
            }
        }),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let local = if err.is_local_fault() {
                " [local fault]"
            } else {
                ""
            };
            eprintln!("{shown}: {err}{local}");
            Ok(ExitCode::from(1))
        }
    }
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes =
        fs::read(path).map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BadInput(format!("{}: not JSON: {e}", path.display())).into())
}

/// A payload as JSON tensors (NaN and infinities as null).
pub(crate) fn payload_json(bytes: &[u8]) -> Value {
    match payload::decode(bytes) {
        Ok(tensors) => Value::Array(
            tensors
                .iter()
                .map(|t| {
                    let data: Vec<Value> = match t.dtype() {
                        DType::I32 | DType::I64 | DType::U8 => {
                            t.to_f64s().into_iter().map(|v| json!(v as i64)).collect()
                        }
                        DType::F32 | DType::F64 => t
                            .to_f64s()
                            .into_iter()
                            .map(|v| {
                                serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
                            })
                            .collect(),
                    };
                    json!({ "dtype": t.dtype().name(), "dims": t.dims(), "data": data })
                })
                .collect(),
        ),
        Err(e) => json!({ "undecodable": e.to_string() }),
    }
}

/// Payload bytes from JSON tensors, each field checked and named on error.
fn payload_from_json(value: &Value, what: &str) -> anyhow::Result<Vec<u8>> {
    let bad = |msg: String| anyhow::Error::from(BadInput(format!("{what}: {msg}")));
    let list = value.as_array().ok_or_else(|| {
        bad("expected a list of tensors {\"dtype\", \"dims\", \"data\"}".to_owned())
    })?;
    let mut tensors = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let dtype_name = t["dtype"]
            .as_str()
            .ok_or_else(|| bad(format!("[{i}].dtype: missing or not a string")))?;
        let dtype = DType::from_name(dtype_name).ok_or_else(|| {
            bad(format!(
                "[{i}].dtype: unknown dtype `{dtype_name}` (f32, f64, i32, i64, u8)"
            ))
        })?;
        let dims = t["dims"]
            .as_array()
            .ok_or_else(|| bad(format!("[{i}].dims: missing or not a list")))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| u32::try_from(d).ok()))
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| {
                bad(format!(
                    "[{i}].dims: each dimension must be an integer below 2^32"
                ))
            })?;
        let data = t["data"]
            .as_array()
            .ok_or_else(|| bad(format!("[{i}].data: missing or not a list")))?;
        let mut bytes = Vec::with_capacity(data.len() * dtype.size());
        for (k, v) in data.iter().enumerate() {
            let at = || bad(format!("[{i}].data[{k}]: {v} is not a {dtype}"));
            match dtype {
                DType::F32 => bytes.extend((v.as_f64().unwrap_or(f64::NAN) as f32).to_le_bytes()),
                DType::F64 => bytes.extend(v.as_f64().unwrap_or(f64::NAN).to_le_bytes()),
                DType::I32 => bytes.extend(
                    v.as_i64()
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or_else(at)?
                        .to_le_bytes(),
                ),
                DType::I64 => bytes.extend(v.as_i64().ok_or_else(at)?.to_le_bytes()),
                DType::U8 => bytes.push(
                    v.as_u64()
                        .and_then(|x| u8::try_from(x).ok())
                        .ok_or_else(at)?,
                ),
            }
        }
        tensors
            .push(Tensor::from_bytes(dtype, dims, bytes).map_err(|e| bad(format!("[{i}]: {e}")))?);
    }
    Ok(payload::encode(&tensors))
}

/// `ganglion plugin watch`.
pub(crate) fn watch(args: &PluginWatchArgs) -> anyhow::Result<ExitCode> {
    let slot = PluginSlot::new();
    let host = host(&args.limits)?;
    let limits = limits(&args.limits);
    let shown = args.file.display().to_string();
    let mut last_seen: Option<(SystemTime, u64)> = None;
    let interval = Duration::from_millis(args.interval.max(10));
    loop {
        let stamp = fs::metadata(&args.file)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .with_context(|| format!("watching {shown}"));
        let stamp = match stamp {
            Ok(stamp) => Some(stamp),
            Err(err) => {
                report(
                    args.json,
                    json!({ "event": "error", "error": format!("{err:#}") }),
                    &format!("{err:#}"),
                );
                None
            }
        };
        if stamp.is_some() && stamp != last_seen {
            last_seen = stamp;
            let loaded = module_bytes(&args.file).and_then(|bytes| {
                let started = std::time::Instant::now();
                let plugin = host.load(&bytes, limits.clone())?;
                // A smoke test before the swap: the new version must generate a task.
                plugin.task(0, 0)?;
                Ok((plugin, started.elapsed()))
            });
            match loaded {
                Ok((plugin, took)) => {
                    let hash = hex(&plugin.hash());
                    slot.install(0, Arc::new(plugin));
                    report(
                        args.json,
                        json!({ "event": "loaded", "hash": hash, "compile_ms": took.as_millis() }),
                        &format!("{shown}: loaded {hash} in {took:?}; swapped in"),
                    );
                }
                Err(err) => report(
                    args.json,
                    json!({ "event": "rejected", "error": format!("{err:#}") }),
                    &format!("{shown}: rejected, keeping the previous version: {err:#}"),
                ),
            }
        }
        std::thread::sleep(interval);
    }
}

fn report(json: bool, event: Value, text: &str) {
    use std::io::Write;
    if json {
        println!("{event}");
    } else {
        println!("{text}");
    }
    let _ = std::io::stdout().flush();
}
