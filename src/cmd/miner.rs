//! `ganglion miner train`, `eval` and `bench`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ganglion_gpu::{
    Batch, BoxError, ModelConfig, ModelKind, Observer, Predictor, TaskShape, TrainConfig, Trainer,
};
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugins::{Host, Plugin};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::BadInput;
use super::spec::module_of;
use crate::cli::{MinerBenchArgs, MinerEvalArgs, MinerTrainArgs};
use crate::miner::{self, TaskIo};

/// What `miner train` records beside the checkpoint, so `eval` can check it has the subnet
/// the model was trained for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MinerFile {
    /// The subnet's name.
    subnet: String,
    /// blake3 of the plugin module it was trained on, hex.
    module_blake3: String,
    /// The model kind.
    model: String,
    /// The task's shapes.
    task: TaskShape,
}

const MINER_FILE: &str = "miner.json";

/// The subnet's program, plugin and task mapping.
pub(crate) fn subnet(
    path: &Path,
) -> anyhow::Result<(ganglion_dsl::ir::Program, Plugin, String, TaskIo)> {
    let (program, module) = match module_of(path)? {
        Ok(x) => x,
        Err(errors) => return Err(BadInput(errors.to_string()).into()),
    };
    let plugin = Host::new()
        .load(&module, Limits::default())
        .context("loading the subnet's plugin")?;
    let hash = blake3::hash(&module).to_hex().to_string();
    let io = TaskIo::from_program(&program).map_err(|e| BadInput(format!("{e:#}")))?;
    Ok((program, plugin, hash, io))
}

/// Progress on a terminal: a bar with the loss and the last score; or nothing.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    limit: Option<Duration>,
    score: Option<f64>,
    scores: Vec<(u64, f64)>,
}

impl Observer for Progress {
    fn on_step(&mut self, step: u64, loss: f32) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            let score = self
                .score
                .map_or(String::new(), |s| format!("  score {s:.4}"));
            bar.set_message(format!("loss {loss:.5}{score}"));
        }
    }

    fn on_eval(&mut self, step: u64, score: f64) {
        self.score = Some(score);
        self.scores.push((step, score));
        if let Some(bar) = &self.bar {
            bar.println(format!("step {step:>7}  score {score:.4}"));
        }
    }

    fn should_stop(&mut self) -> bool {
        self.limit.is_some_and(|l| self.started.elapsed() >= l)
    }
}

/// `ganglion miner train`.
pub(crate) fn train(args: &MinerTrainArgs) -> anyhow::Result<ExitCode> {
    let (program, plugin, hash, io) = subnet(&args.bundle)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("miner-{}", program.meta.name)));
    let device = ganglion_gpu::cpu();
    let mut trainer = if args.resume {
        let file: MinerFile = read_miner_file(&out)?;
        if file.module_blake3 != hash {
            bail!(BadInput(format!(
                "{} was trained on another version of the subnet (module {}); train anew without --resume",
                out.display(),
                &file.module_blake3[..16]
            )));
        }
        let mut t = Trainer::resume(&out, &device)
            .with_context(|| format!("resuming from {}", out.display()))?;
        t.set_steps(args.steps);
        t
    } else {
        if out.join(MINER_FILE).exists() {
            bail!(BadInput(format!(
                "{} already holds a model: continue it with --resume, or choose another --out",
                out.display()
            )));
        }
        let kind = match args.model.as_str() {
            "auto" => ModelKind::auto(&io.shape.input, &io.shape.output),
            other => other
                .parse::<ModelKind>()
                .map_err(|e| BadInput(e.to_string()))?,
        };
        let model = ModelConfig::for_task(kind, &io.shape).map_err(|e| BadInput(e.to_string()))?;
        let config = TrainConfig {
            steps: args.steps,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            seed: args.seed,
            eval_every: args.eval_every,
            checkpoint_every: args.eval_every,
            ..TrainConfig::default()
        };
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let file = MinerFile {
            subnet: program.meta.name.clone(),
            module_blake3: hash.clone(),
            model: kind.name().to_owned(),
            task: io.shape.clone(),
        };
        std::fs::write(out.join(MINER_FILE), serde_json::to_vec_pretty(&file)?)?;
        Trainer::new(io.shape.clone(), model, config, &device)
            .map_err(|e| BadInput(e.to_string()))?
            .with_checkpoint_dir(&out)
    };
    let kind = trainer.model_config().kind();
    let bar = (!args.json).then(|| {
        let bar = ProgressBar::new(args.steps);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}",
            )
            .expect("a valid template"),
        );
        bar.set_position(trainer.step());
        bar.println(format!(
            "training a {} on {} ({:?} -> {:?}, {:?}) into {}",
            kind.name(),
            program.meta.name,
            io.shape.input,
            io.shape.output,
            io.shape.target,
            out.display()
        ));
        bar
    });
    let mut progress = Progress {
        bar,
        started: Instant::now(),
        limit: args.time_limit.map(Duration::from_secs_f64),
        score: None,
        scores: Vec::new(),
    };
    let seed = args.seed;
    let mut source = |step: u64, rows: usize| -> Result<Batch, BoxError> {
        miner::batch(&plugin, &io, seed, step, rows)
    };
    let eval_seed = ganglion_dsl::rng::mix(seed ^ 0x6576_616c);
    let rounds = args.eval_rounds;
    let mut eval = |p: &Predictor| -> f64 {
        miner::evaluate(&plugin, &io, p, eval_seed, rounds).map_or(0.0, |e| e.score)
    };
    let started = Instant::now();
    let report = trainer
        .run_with_eval(&mut source, &mut progress, &mut eval)
        .context("training")?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let evaluation = miner::evaluate(&plugin, &io, &trainer.predictor(), eval_seed, rounds)?;
    let steps = trainer.step();
    if args.json {
        let mut out_json = std::io::stdout().lock();
        serde_json::to_writer_pretty(
            &mut out_json,
            &json!({
                "subnet": program.meta.name,
                "model": kind.name(),
                "steps": steps,
                "seconds": seconds,
                "steps_per_second": report_steps(&report) as f64 / seconds.max(1e-9),
                "score": evaluation.score,
                "baseline": evaluation.baseline,
                "scores": progress.scores,
                "checkpoint": out.display().to_string(),
            }),
        )?;
        writeln!(out_json)?;
    } else {
        println!(
            "trained {} steps in {seconds:.1} s: score {:.4} (answering zeros: {:.4}) on {} tasks",
            steps, evaluation.score, evaluation.baseline, evaluation.rounds
        );
        println!("checkpoint in {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn report_steps(report: &ganglion_gpu::TrainReport) -> u64 {
    report.end_step - report.start_step
}

fn read_miner_file(dir: &Path) -> anyhow::Result<MinerFile> {
    let path = dir.join(MINER_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        BadInput(format!(
            "{}: {e} (is this a directory `ganglion miner train` wrote?)",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

/// `ganglion miner eval`.
pub(crate) fn eval(args: &MinerEvalArgs) -> anyhow::Result<ExitCode> {
    let (program, plugin, hash, io) = subnet(&args.bundle)?;
    let file = read_miner_file(&args.checkpoint)?;
    if file.task != io.shape {
        bail!(BadInput(format!(
            "{} holds a model for {:?} -> {:?}, but {} needs {:?} -> {:?}",
            args.checkpoint.display(),
            file.task.input,
            file.task.output,
            program.meta.name,
            io.shape.input,
            io.shape.output
        )));
    }
    if file.module_blake3 != hash {
        tracing::warn!(
            "the model was trained on another version of {} (module {}); scoring it anyway",
            program.meta.name,
            &file.module_blake3[..16]
        );
    }
    let predictor = Predictor::load(&args.checkpoint, &ganglion_gpu::cpu())
        .with_context(|| format!("loading the model in {}", args.checkpoint.display()))?;
    let e = miner::evaluate(&plugin, &io, &predictor, args.seed, args.rounds)?;
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(
            &mut out,
            &json!({
                "subnet": program.meta.name,
                "model": file.model,
                "rounds": e.rounds,
                "score": e.score,
                "baseline": e.baseline,
            }),
        )?;
        writeln!(out)?;
    } else {
        println!(
            "{} on {}: mean score {:.4} over {} tasks (answering zeros: {:.4})",
            file.model, program.meta.name, e.score, e.rounds, e.baseline
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ganglion miner bench`.
pub(crate) fn bench(args: &MinerBenchArgs) -> anyhow::Result<ExitCode> {
    let tasks: Vec<(String, TaskShape)> = match &args.bundle {
        Some(path) => {
            let (program, _, _, io) = subnet(path)?;
            vec![(program.meta.name, io.shape)]
        }
        None => vec![
            (
                "[64] -> [64]".to_owned(),
                TaskShape::regression(vec![64], vec![64]),
            ),
            (
                "[8, 8] -> 10 classes".to_owned(),
                TaskShape::classes(vec![8, 8], 10),
            ),
        ],
    };
    let device = ganglion_gpu::cpu();
    let budget = Duration::from_secs_f64(args.seconds.clamp(0.05, 60.0));
    let mut rows = Vec::new();
    for (name, task) in &tasks {
        for kind in [
            ModelKind::Mlp,
            ModelKind::Cnn1d,
            ModelKind::Cnn2d,
            ModelKind::Transformer,
        ] {
            let Ok(model) = ModelConfig::for_task(kind, task) else {
                continue;
            };
            let trainer = Trainer::new(task.clone(), model, TrainConfig::default(), &device)
                .map_err(|e| BadInput(e.to_string()))?;
            let predictor = trainer.predictor();
            for batch in [1usize, 64] {
                let inputs: Vec<f32> = (0..batch * task.input_len())
                    .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
                    .collect();
                predictor.predict(&inputs, batch)?; // warm up
                let started = Instant::now();
                let mut samples = 0usize;
                while started.elapsed() < budget {
                    predictor.predict(&inputs, batch)?;
                    samples += batch;
                }
                let per_second = samples as f64 / started.elapsed().as_secs_f64();
                rows.push((name.clone(), kind.name(), batch, per_second));
            }
        }
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(task, model, batch, sps)| {
                json!({ "task": task, "model": model, "batch": batch, "samples_per_second": sps })
            })
            .collect();
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        println!(
            "{:<22} {:<12} {:>6} {:>16}",
            "task", "model", "batch", "samples/s (CPU)"
        );
        for (task, model, batch, sps) in rows {
            println!("{task:<22} {model:<12} {batch:>6} {sps:>16.0}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
