//! `ganglion subnet new|check|build|fmt|inspect|try`: the subnet language's tooling.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ganglion_dsl::bundle::{Bundle, BundleError, MAGIC};
use ganglion_dsl::check::DirFiles;
use ganglion_dsl::{Error as DslError, Spec, SpecErrors};
use ganglion_kernel::node::client::RpcClient;
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::payload::{self, Tensor};
use ganglion_plugins::Host;
use serde_json::{Value, json};

use super::BadInput;
use super::plugin::payload_json;
use crate::cli::{
    SpecBuildArgs, SpecCheckArgs, SpecFetchArgs, SpecFmtArgs, SpecInspectArgs, SpecNewArgs,
    SpecPublishArgs, SpecTryArgs,
};

/// Loads and checks a spec; a spec with errors prints them and gives `Err(exit code 1)`.
fn load(path: &Path) -> anyhow::Result<Result<Spec, SpecErrors>> {
    match ganglion_dsl::load(path) {
        Ok(spec) => Ok(Ok(spec)),
        Err(DslError::Spec(errors)) => Ok(Err(errors)),
        Err(DslError::Read { path, source }) => {
            Err(BadInput(format!("cannot read {path}: {source}")).into())
        }
    }
}

fn errors_json(errors: &SpecErrors) -> Value {
    let list: Vec<Value> = errors
        .diagnostics
        .iter()
        .map(|d| {
            let (line, col) = d.line_col(&errors.source);
            json!({
                "file": errors.path,
                "line": line,
                "column": col,
                "message": d.message,
                "label": d.label,
                "help": d.help,
            })
        })
        .collect();
    json!({ "ok": false, "errors": list })
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints a spec's errors (text to stderr, or JSON to stdout); exit 1.
fn report_errors(errors: &SpecErrors, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&errors_json(errors))?;
    } else {
        eprintln!("{errors}");
    }
    Ok(ExitCode::from(1))
}

fn shape(dtype: &str, dims: &[usize]) -> String {
    let d: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("{dtype}[{}]", d.join(", "))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a crash never
/// leaves a half-written file.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `ganglion subnet new NAME`.
pub(crate) fn new(args: &SpecNewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(BadInput(format!(
            "`{name}` is not a subnet name: use 1 to 64 letters, digits and `_`, starting with a letter"
        ))
        .into());
    }
    let dir = args.dir.join(name);
    let path = dir.join(format!("{name}.subnet"));
    if path.exists() {
        return Err(BadInput(format!(
            "{} already exists; pick another name or remove it",
            path.display()
        ))
        .into());
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&path, ganglion_dsl::starter(name).as_bytes())?;
    println!("created {}", path.display());
    println!("next: ganglion subnet try {} --seed 1", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `ganglion subnet check SPEC`.
pub(crate) fn check(args: &SpecCheckArgs) -> anyhow::Result<ExitCode> {
    let spec = match load(&args.spec)? {
        Ok(spec) => spec,
        Err(errors) => return report_errors(&errors, args.json),
    };
    // Compiling is part of checking: a spec that checks but cannot compile is not ready.
    let module = match ganglion_dsl::compile(&spec) {
        Ok(module) => module,
        Err(errors) => return report_errors(&errors, args.json),
    };
    let p = &spec.program;
    if args.json {
        print_json(&json!({
            "ok": true,
            "name": p.meta.name,
            "version": p.meta.version,
            "module_bytes": module.len(),
        }))?;
    } else {
        let sends: Vec<String> = p
            .task
            .send
            .iter()
            .map(|o| format!("{} {}", o.name, shape(o.dtype.name(), &o.shape)))
            .collect();
        println!(
            "ok: {} {} (sends {}; expects {}; module {} bytes)",
            p.meta.name,
            p.meta.version,
            sends.join(", "),
            shape(p.task.expect.dtype.name(), &p.task.expect.shape),
            module.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ganglion subnet build SPEC -o OUT`.
pub(crate) fn build(args: &SpecBuildArgs) -> anyhow::Result<ExitCode> {
    let spec = match load(&args.spec)? {
        Ok(spec) => spec,
        Err(errors) => return report_errors(&errors, args.json),
    };
    let dir = args.spec.parent().unwrap_or(Path::new(".")).to_path_buf();
    let bundle = match Bundle::build(&spec, &DirFiles(dir)) {
        Ok(bundle) => bundle,
        Err(BundleError::Codegen(e)) => {
            return report_errors(&ganglion_dsl::codegen_errors(&spec, &e), args.json);
        }
        Err(e) => return Err(BadInput(e.to_string()).into()),
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.bundle", spec.program.meta.name)));
    write_atomic(&out, bundle.bytes())?;
    if args.json {
        print_json(&json!({
            "bundle": out.display().to_string(),
            "blake3": bundle.hash_hex(),
            "bytes": bundle.bytes().len(),
            "name": bundle.manifest.name,
            "version": bundle.manifest.version,
        }))?;
    } else {
        println!(
            "built {} {} -> {} ({} bytes)",
            bundle.manifest.name,
            bundle.manifest.version,
            out.display(),
            bundle.bytes().len()
        );
        println!("blake3 {}", bundle.hash_hex());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ganglion subnet fmt FILE...`.
pub(crate) fn fmt(args: &SpecFmtArgs) -> anyhow::Result<ExitCode> {
    let mut unformatted = 0;
    for path in &args.files {
        let bytes =
            fs::read(path).map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())))?;
        let (source, file) = match ganglion_dsl::syntax::parse_bytes(&bytes) {
            Ok(parsed) => parsed,
            Err(d) => {
                let errors = SpecErrors {
                    path: path.display().to_string(),
                    source: String::from_utf8_lossy(&bytes).into_owned(),
                    diagnostics: vec![d],
                };
                eprintln!("{errors}");
                return Ok(ExitCode::from(1));
            }
        };
        let formatted = ganglion_dsl::fmt::format(&file, &source);
        if formatted == source {
            continue;
        }
        unformatted += 1;
        if args.check {
            println!("{} is not formatted", path.display());
            if let Some((n, (a, b))) = source
                .lines()
                .zip(formatted.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
            {
                println!("  line {}:\n  - {a}\n  + {b}", n + 1);
            }
        } else {
            write_atomic(path, formatted.as_bytes())?;
            println!("formatted {}", path.display());
        }
    }
    Ok(if args.check && unformatted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A bundle from a file: a bundle, or a spec (`*.subnet`) built on the spot.
pub(crate) fn bundle_of(path: &Path) -> anyhow::Result<Bundle> {
    if path.extension().is_none_or(|e| e != "subnet") {
        return read_bundle(path);
    }
    let spec = match load(path)? {
        Ok(spec) => spec,
        Err(errors) => return Err(BadInput(errors.to_string()).into()),
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Bundle::build(&spec, &DirFiles(dir))
        .map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

fn read_bundle(path: &Path) -> anyhow::Result<Bundle> {
    let bytes =
        fs::read(path).map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())))?;
    Bundle::from_bytes(&bytes).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

/// `ganglion subnet publish BUNDLE`.
pub(crate) fn publish(args: &SpecPublishArgs) -> anyhow::Result<ExitCode> {
    let bundle = read_bundle(&args.bundle)?;
    let hash = super::account::runtime()?.block_on(async {
        let client = RpcClient::connect(&args.url).await?;
        client.publish_bundle(bundle.bytes()).await
    })?;
    if hash != bundle.hash_hex() {
        anyhow::bail!(
            "the node kept the bundle under {hash}, not {}: is the node a ganglion node?",
            bundle.hash_hex()
        );
    }
    let m = &bundle.manifest;
    if args.json {
        print_json(
            &json!({ "blake3": hash, "name": m.name, "version": m.version, "bytes": bundle.bytes().len() }),
        )?;
    } else {
        println!(
            "published {} {} ({} bytes)",
            m.name,
            m.version,
            bundle.bytes().len()
        );
        println!("blake3 {hash}");
        println!(
            "fetch it anywhere on the network with: ganglion subnet fetch {hash} -o {}.gnglb",
            m.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ganglion subnet fetch HASH -o FILE`.
pub(crate) fn fetch(args: &SpecFetchArgs) -> anyhow::Result<ExitCode> {
    let hash = args
        .hash
        .trim()
        .trim_start_matches("0x")
        .to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadInput(format!(
            "{:?} is not a bundle hash: expected 64 hex digits, as `ganglion subnet build` prints",
            args.hash
        ))
        .into());
    }
    let bytes = super::account::runtime()?.block_on(async {
        let client = RpcClient::connect(&args.url).await?;
        client.fetch_bundle(&hash, args.timeout).await
    })?;
    let got = blake3::hash(&bytes).to_hex().to_string();
    if got != hash {
        anyhow::bail!("the node returned bytes hashing to {got}, not {hash}; nothing written");
    }
    let bundle = Bundle::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("bundle {hash} does not verify: {e}; nothing written"))?;
    let tmp = args.out.with_extension("part");
    fs::write(&tmp, &bytes)
        .and_then(|()| fs::rename(&tmp, &args.out))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
    let m = &bundle.manifest;
    if args.json {
        print_json(
            &json!({ "blake3": hash, "name": m.name, "version": m.version, "bytes": bytes.len(), "out": args.out }),
        )?;
    } else {
        println!(
            "fetched {} {} ({} bytes), verified, written to {}",
            m.name,
            m.version,
            bytes.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ganglion subnet inspect BUNDLE`.
pub(crate) fn inspect(args: &SpecInspectArgs) -> anyhow::Result<ExitCode> {
    let bundle = read_bundle(&args.bundle)?;
    let m = &bundle.manifest;
    if args.json {
        let mut v = json!({
            "blake3": bundle.hash_hex(),
            "bytes": bundle.bytes().len(),
            "reproduced": bundle.reproduced(),
            "manifest": m,
        });
        if args.spec {
            v["spec"] = json!(bundle.spec);
        }
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {}: {}", m.name, m.version, m.summary);
    println!("blake3   {}", bundle.hash_hex());
    println!(
        "size     {} bytes (module {} bytes, {} data file{})",
        bundle.bytes().len(),
        bundle.module.len(),
        m.data.len(),
        if m.data.len() == 1 { "" } else { "s" }
    );
    println!(
        "verified {}",
        if bundle.reproduced() {
            format!(
                "hashes, spec, and module rebuilt byte for byte by {}",
                m.compiler
            )
        } else {
            format!(
                "hashes and spec (built by {}; this is {})",
                m.compiler,
                ganglion_dsl::bundle::COMPILER
            )
        }
    );
    println!("abi      {}", m.abi_version);
    for t in &m.task.send {
        println!("send     {} {}", t.name, shape(&t.dtype, &t.shape));
    }
    for t in &m.task.keep {
        println!("keep     {} {}", t.name, shape(&t.dtype, &t.shape));
    }
    println!(
        "expect   {}",
        shape(&m.task.expect.dtype, &m.task.expect.shape)
    );
    println!("timeout  {} ms", m.task.timeout_ms);
    println!("smooth   {}", serde_json::to_string(&m.smooth)?);
    println!("reward   {}", if m.reward { "yes" } else { "no" });
    for (k, v) in &m.hyperparameters {
        println!("param    {k} = {}", serde_json::to_string(v)?);
    }
    for d in &m.data {
        println!(
            "data     {} {} ({} x {}, blake3 {})",
            d.name, d.file, d.rows, d.cols, d.blake3
        );
    }
    if args.spec {
        println!();
        print!("{}", bundle.spec);
    }
    Ok(ExitCode::SUCCESS)
}

/// The module and program of a spec or a bundle (told apart by content).
pub(crate) fn module_of(
    path: &Path,
) -> anyhow::Result<Result<(ganglion_dsl::ir::Program, Vec<u8>), SpecErrors>> {
    let bytes =
        fs::read(path).map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())))?;
    if bytes.starts_with(MAGIC) {
        let bundle = read_bundle(path)?;
        return Ok(Ok((bundle.program, bundle.module)));
    }
    let spec = match load(path)? {
        Ok(spec) => spec,
        Err(errors) => return Ok(Err(errors)),
    };
    match ganglion_dsl::compile(&spec) {
        Ok(module) => Ok(Ok((spec.program, module))),
        Err(errors) => Ok(Err(errors)),
    }
}

fn summary(t: &Tensor) -> String {
    let v = t.to_f64s();
    let n = v.len() as f64;
    let (lo, hi, sum) = v.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0.0),
        |(lo, hi, s), &x| (lo.min(x), hi.max(x), s + x),
    );
    let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:.3}")).collect();
    let more = if v.len() > 6 { ", …" } else { "" };
    format!(
        "min {lo:.3}  max {hi:.3}  mean {:.3}  [{}{more}]",
        sum / n,
        head.join(", ")
    )
}

fn zeros(spec: &ganglion_dsl::ir::TensorSpec) -> Tensor {
    let dims: Vec<u32> = spec.shape.iter().map(|&d| d as u32).collect();
    Tensor::from_f64s(spec.dtype, dims, &vec![0.0; spec.shape.iter().product()])
}

/// `ganglion subnet try SPEC --seed N`.
pub(crate) fn try_spec(args: &SpecTryArgs) -> anyhow::Result<ExitCode> {
    let (program, module) = match module_of(&args.spec)? {
        Ok(x) => x,
        Err(errors) => return report_errors(&errors, args.json),
    };
    let plugin = Host::new()
        .load(&module, Limits::default())
        .context("loading the compiled module")?;
    let task = plugin
        .task(args.seed, args.round)
        .context("generating the task")?;
    let public = payload::decode(&task.public)?;
    let private = payload::decode(&task.private)?;
    let expect = &program.task.expect;
    // Trivial answers: zeros, and every task value that has the response's shape (the kept
    // target shows what a perfect answer scores; an echo of the input, what copying does).
    let mut answers: Vec<(String, Tensor)> = vec![("zeros".to_owned(), zeros(expect))];
    let named = program
        .task
        .send
        .iter()
        .zip(&public)
        .map(|(o, t)| (format!("{} (sent)", o.name), t))
        .chain(
            program
                .task
                .keep
                .iter()
                .zip(&private)
                .map(|(o, t)| (format!("{} (kept)", o.name), t)),
        );
    for (name, t) in named {
        let dims: Vec<usize> = t.dims().iter().map(|&d| d as usize).collect();
        if dims == expect.shape {
            answers.push((
                name,
                Tensor::from_f64s(expect.dtype, t.dims().to_vec(), &t.to_f64s()),
            ));
        }
    }
    let mut scores = Vec::new();
    for (name, answer) in &answers {
        let response = payload::encode(std::slice::from_ref(answer));
        let score = plugin
            .score(&task.public, &task.private, &response)
            .with_context(|| format!("scoring the {name} answer"))?;
        scores.push((name.clone(), score));
    }
    if args.json {
        let scores: serde_json::Map<String, Value> =
            scores.iter().map(|(n, s)| (n.clone(), json!(s))).collect();
        print_json(&json!({
            "name": program.meta.name,
            "seed": args.seed,
            "round": args.round,
            "public": payload_json(&task.public),
            "private": payload_json(&task.private),
            "expect": { "dtype": expect.dtype.name(), "dims": expect.shape },
            "scores": scores,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {} · seed {} · round {} · module {} bytes",
        program.meta.name,
        program.meta.version,
        args.seed,
        args.round,
        module.len()
    );
    println!("task");
    for (o, t) in program.task.send.iter().zip(&public) {
        println!(
            "  send {:<10} {:<12} {}",
            o.name,
            shape(o.dtype.name(), &o.shape),
            summary(t)
        );
    }
    for (o, t) in program.task.keep.iter().zip(&private) {
        println!(
            "  keep {:<10} {:<12} {}",
            o.name,
            shape(o.dtype.name(), &o.shape),
            summary(t)
        );
    }
    println!("  expect {}", shape(expect.dtype.name(), &expect.shape));
    println!("scores of trivial answers");
    for (name, score) in &scores {
        println!("  {name:<20} {score:.4}");
    }
    Ok(ExitCode::SUCCESS)
}
