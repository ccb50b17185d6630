//! `ganglion yuma run` and `ganglion yuma synth`.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ganglion_kernel::yuma::{self, EpochOutput, Threads, case::Case, synth};
use serde::Serialize;

use super::BadInput;
use crate::cli::{RunArgs, SynthArgs};

/// `ganglion yuma run`.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let shown = args.case.display();
    let bytes = read_case(&args.case)?;
    let read = started.elapsed();
    let parse = if args.check.check {
        Case::from_json
    } else {
        Case::from_json_without_expected
    };
    let case = parse(&bytes).map_err(|e| BadInput(format!("{shown}: {e}")))?;
    let parsed = started.elapsed().saturating_sub(read);
    tracing::debug!(target: "ganglion::yuma", n = case.input.n(), ?parsed, "case parsed");

    let epoch_started = Instant::now();
    let out = if args.epoch.reference {
        yuma::reference::epoch(&case.input)
    } else {
        let threads = args.epoch.threads.map_or(Threads::Auto, Threads::Exactly);
        yuma::epoch_with(&case.input, threads)
    }
    .map_err(|e| BadInput(format!("{shown}: input.{e}")))?;
    let epoch_time = epoch_started.elapsed();

    let differences = if args.check.check {
        let expected = case.expected.as_ref().ok_or_else(|| {
            BadInput(format!(
                "{shown}: --check needs the case's `expected` object, and it has none"
            ))
        })?;
        Some(differences(expected, &out))
    } else {
        None
    };

    let write_started = Instant::now();
    let stdout = io::stdout().lock();
    let mut writer = BufWriter::with_capacity(1 << 16, stdout);
    match (&differences, args.check.json) {
        (Some(diffs), true) => {
            let report = Report {
                name: &case.name,
                matches: diffs.is_empty(),
                differences: diffs,
            };
            serde_json::to_writer(&mut writer, &report)?;
        }
        _ => serde_json::to_writer(&mut writer, &out)?,
    }
    writeln!(writer)?;
    writer.flush().context("writing the outputs to stdout")?;
    if args.epoch.timing {
        eprintln!(
            "read {:.3} ms, parse {:.3} ms, epoch {:.3} ms, write {:.3} ms",
            read.as_secs_f64() * 1e3,
            parsed.as_secs_f64() * 1e3,
            epoch_time.as_secs_f64() * 1e3,
            write_started.elapsed().as_secs_f64() * 1e3
        );
    }
    match differences {
        Some(diffs) if !diffs.is_empty() => {
            if !args.check.json {
                for d in &diffs {
                    eprintln!("mismatch: {d}");
                }
                eprintln!("{shown}: {} fields differ from `expected`", diffs.len());
            }
            Ok(ExitCode::from(1))
        }
        Some(_) => {
            if !args.check.json {
                eprintln!("{shown}: matches `expected`");
            }
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn read_case(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| BadInput(format!("standard input: cannot read: {e}")))?;
        return Ok(bytes);
    }
    fs::read(path).map_err(|e| {
        BadInput(format!(
            "{}: cannot read the case file: {e}",
            path.display()
        ))
        .into()
    })
}

#[derive(Serialize)]
struct Report<'a> {
    name: &'a str,
    matches: bool,
    differences: &'a [String],
}

/// One line per differing field: the first differing uid, both values, and how many differ.
fn differences(expected: &EpochOutput, got: &EpochOutput) -> Vec<String> {
    fn field<T: PartialEq + std::fmt::Debug>(out: &mut Vec<String>, name: &str, e: &[T], g: &[T]) {
        if e.len() != g.len() {
            out.push(format!(
                "{name}: expected {} entries, got {}",
                e.len(),
                g.len()
            ));
            return;
        }
        let mut differing = e.iter().zip(g).enumerate().filter(|(_, (x, y))| x != y);
        if let Some((i, (x, y))) = differing.next() {
            let more = differing.count();
            let tail = if more > 0 {
                format!(" (and {more} more uids)")
            } else {
                String::new()
            };
            out.push(format!("{name}[{i}]: expected {x:?}, got {y:?}{tail}"));
        }
    }
    let mut out = Vec::new();
    field(&mut out, "active", &expected.active, &got.active);
    field(
        &mut out,
        "stake_weight",
        &expected.stake_weight,
        &got.stake_weight,
    );
    field(
        &mut out,
        "new_validator_permit",
        &expected.new_validator_permit,
        &got.new_validator_permit,
    );
    field(&mut out, "consensus", &expected.consensus, &got.consensus);
    field(&mut out, "incentive", &expected.incentive, &got.incentive);
    field(&mut out, "dividends", &expected.dividends, &got.dividends);
    field(
        &mut out,
        "validator_trust",
        &expected.validator_trust,
        &got.validator_trust,
    );
    field(&mut out, "bonds", &expected.bonds, &got.bonds);
    field(
        &mut out,
        "server_emission",
        &expected.server_emission,
        &got.server_emission,
    );
    field(
        &mut out,
        "validator_emission",
        &expected.validator_emission,
        &got.validator_emission,
    );
    field(&mut out, "emission", &expected.emission, &got.emission);
    out
}

/// `ganglion yuma synth`.
pub(crate) fn synth(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    if args.validators > args.n {
        return Err(BadInput(format!(
            "--validators {} is more than --n {}: validators are uids 0 to V - 1",
            args.validators, args.n
        ))
        .into());
    }
    let shape = synth::Shape {
        n: usize::from(args.n),
        validators: usize::from(args.validators),
        weights_per_validator: usize::from(args.weights_per_validator),
        yuma3: args.yuma3 || args.liquid_alpha,
        liquid_alpha: args.liquid_alpha,
        seed: args.seed,
    };
    let input = synth::subnet(&shape);
    let expected = if args.expected {
        Some(yuma::epoch(&input).context("running the epoch on the synthetic case")?)
    } else {
        None
    };
    let case = Case {
        name: format!(
            "synth_n{}_v{}_w{}{}_seed{}",
            args.n,
            args.validators,
            args.weights_per_validator,
            match (shape.yuma3, shape.liquid_alpha) {
                (true, true) => "_yuma3_liquid_alpha",
                (true, false) => "_yuma3",
                _ => "",
            },
            args.seed
        ),
        input,
        expected,
    };
    let json = case.to_json();
    match &args.output {
        Some(path) => {
            fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
            if args.json {
                let summary = serde_json::json!({
                    "path": path.display().to_string(),
                    "n": args.n,
                    "bytes": json.len(),
                });
                println!("{summary}");
            }
        }
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&json)?;
            stdout.write_all(b"\n")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
