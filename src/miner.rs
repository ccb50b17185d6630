//! Miners: a subnet bundle's tasks as training data for a Burn model, and a model scored as a
//! validator scores it.
//!
//! The bundle's own plugin generates the tasks: the public payload is the model's input and
//! a kept value is its target (a tensor shaped like the response for regression, or an int
//! label when the response is one logit per class). Predictions go back through the same
//! plugin's `score`, so a miner is evaluated exactly as validators will evaluate it.

use anyhow::{Context, bail};
use ganglion_dsl::ir::{Program, TensorSpec};
use ganglion_gpu::{Batch, BoxError, Predictor, Target, TaskShape};
use ganglion_plugin_abi::payload::{self, DType, Tensor};
use ganglion_plugins::Plugin;

/// How a subnet's payloads map to a model's flat `f32` input, output and target.
#[derive(Debug, Clone)]
pub(crate) struct TaskIo {
    /// The shapes and target kind the model learns.
    pub(crate) shape: TaskShape,
    /// The response miners give.
    expect: TensorSpec,
    /// Values in the public payload (all sent tensors, flattened, in order).
    input_len: usize,
    /// Which kept tensor is the target.
    target: usize,
}

/// The model shape of a tensor shape: rank 1 to 3 (a scalar is `[1]`, a higher rank is
/// flattened).
fn model_shape(shape: &[usize]) -> Vec<usize> {
    match shape.len() {
        0 => vec![1],
        1..=3 => shape.to_vec(),
        _ => vec![shape.iter().product()],
    }
}

impl TaskIo {
    /// The mapping for a checked program, or why a model cannot learn it from its tasks.
    pub(crate) fn from_program(program: &Program) -> anyhow::Result<TaskIo> {
        let task = &program.task;
        let expect = task.expect.clone();
        let shapes: Vec<&Vec<usize>> = task.send.iter().map(|o| &o.shape).collect();
        let input_len: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        let input = if shapes.len() == 1 {
            model_shape(shapes[0])
        } else {
            vec![input_len]
        };
        let output = model_shape(&expect.shape);
        let regression = task.keep.iter().position(|o| o.shape == expect.shape);
        let label = task.keep.iter().position(|o| {
            o.shape.is_empty() && matches!(o.dtype, DType::I32 | DType::I64 | DType::U8)
        });
        let (target, kind) = match (regression, label, expect.shape.as_slice()) {
            (Some(i), _, _) => (i, Target::Regression),
            (None, Some(i), [classes]) if *classes >= 2 => (i, Target::Classes(*classes)),
            _ => bail!(
                "the subnet `{}` keeps no value shaped like its response ({}{:?}) and no class \
                 label for a response of one logit per class, so a miner cannot learn it from \
                 its task generator",
                program.meta.name,
                expect.dtype.name(),
                expect.shape
            ),
        };
        let shape = TaskShape::new(input, output, kind);
        shape
            .validate()
            .with_context(|| format!("the subnet `{}`'s shapes", program.meta.name))?;
        Ok(TaskIo {
            shape,
            expect,
            input_len,
            target,
        })
    }

    /// The model input of a task's public payload.
    pub(crate) fn input(&self, public: &[u8]) -> anyhow::Result<Vec<f32>> {
        let tensors = payload::decode(public).context("decoding a task's public payload")?;
        let mut out = Vec::with_capacity(self.input_len);
        for t in &tensors {
            out.extend(t.to_f64s().into_iter().map(|v| v as f32));
        }
        if out.len() != self.input_len {
            bail!(
                "a task's public payload holds {} values, not {}",
                out.len(),
                self.input_len
            );
        }
        Ok(out)
    }

    /// The training target of a task's private payload.
    pub(crate) fn target(&self, private: &[u8]) -> anyhow::Result<Vec<f32>> {
        let tensors = payload::decode(private).context("decoding a task's private payload")?;
        let t = tensors
            .get(self.target)
            .context("a task's private payload lacks its target")?;
        Ok(t.to_f64s().into_iter().map(|v| v as f32).collect())
    }

    /// A miner's response payload for a model's output row.
    pub(crate) fn response(&self, output: &[f32]) -> Vec<u8> {
        let dims: Vec<u32> = self.expect.shape.iter().map(|&d| d as u32).collect();
        let integral = !matches!(self.expect.dtype, DType::F32 | DType::F64);
        let values: Vec<f64> = output
            .iter()
            .map(|&v| {
                if integral {
                    f64::from(v.round())
                } else {
                    f64::from(v)
                }
            })
            .collect();
        payload::encode(&[Tensor::from_f64s(self.expect.dtype, dims, &values)])
    }

    /// The trivial response: zeros of the response's dtype and shape.
    pub(crate) fn zeros(&self) -> Vec<u8> {
        self.response(&vec![0.0; self.shape.output_len()])
    }
}

/// A training batch of `rows` tasks generated with seeds drawn from `(seed, step)`.
pub(crate) fn batch(
    plugin: &Plugin,
    io: &TaskIo,
    seed: u64,
    step: u64,
    rows: usize,
) -> Result<Batch, BoxError> {
    let mut batch = Batch::default();
    for row in 0..rows as u64 {
        let task_seed =
            ganglion_dsl::rng::mix(seed ^ ganglion_dsl::rng::mix(step.wrapping_mul(1 << 20) ^ row));
        let task = plugin.task(task_seed, 0)?;
        batch.inputs.extend(io.input(&task.public)?);
        batch.targets.extend(io.target(&task.private)?);
    }
    Ok(batch)
}

/// Scores of a model and of the trivial answer on `rounds` fresh tasks, as a validator scores
/// them (the tasks' seeds are drawn from `seed`, apart from any training seed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Evaluation {
    /// The model's mean score.
    pub(crate) score: f64,
    /// The mean score of answering zeros.
    pub(crate) baseline: f64,
    /// Tasks scored.
    pub(crate) rounds: usize,
}

/// Evaluates `predictor` on `rounds` tasks (round 1 of the plugin's stream, which training
/// never uses).
pub(crate) fn evaluate(
    plugin: &Plugin,
    io: &TaskIo,
    predictor: &Predictor,
    seed: u64,
    rounds: usize,
) -> anyhow::Result<Evaluation> {
    let mut tasks = Vec::with_capacity(rounds);
    let mut inputs = Vec::with_capacity(rounds * io.input_len);
    for i in 0..rounds as u64 {
        let task = plugin.task(ganglion_dsl::rng::mix(seed.wrapping_add(i)), 1)?;
        inputs.extend(io.input(&task.public)?);
        tasks.push(task);
    }
    let outputs = predictor.predict(&inputs, rounds.max(1))?;
    let zeros = io.zeros();
    let (mut score, mut baseline) = (0.0, 0.0);
    let out_len = io.shape.output_len();
    for (task, row) in tasks.iter().zip(outputs.chunks(out_len)) {
        score += plugin.score(&task.public, &task.private, &io.response(row))?;
        baseline += plugin.score(&task.public, &task.private, &zeros)?;
    }
    let n = rounds.max(1) as f64;
    Ok(Evaluation {
        score: score / n,
        baseline: baseline / n,
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(name: &str) -> Program {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("subnets")
            .join(name)
            .join(format!("{name}.subnet"));
        ganglion_dsl::load(&path).unwrap().program
    }

    #[test]
    fn every_example_maps_to_a_model_task() {
        let denoise = TaskIo::from_program(&program("denoise")).unwrap();
        assert_eq!(denoise.shape, TaskShape::regression(vec![64], vec![64]));
        let digits = TaskIo::from_program(&program("digits")).unwrap();
        assert_eq!(digits.shape, TaskShape::classes(vec![8, 8], 10));
        let forecast = TaskIo::from_program(&program("forecast")).unwrap();
        assert_eq!(forecast.shape, TaskShape::regression(vec![64], vec![16]));
        let sort = TaskIo::from_program(&program("sort")).unwrap();
        assert_eq!(sort.shape, TaskShape::regression(vec![12], vec![12]));
    }

    #[test]
    fn batches_come_from_the_plugin_and_differ_by_step() {
        let p = program("denoise");
        let io = TaskIo::from_program(&p).unwrap();
        let module = ganglion_dsl::codegen::compile(&p).unwrap();
        let plugin = Plugin::load(&module, Default::default()).unwrap();
        let a = batch(&plugin, &io, 7, 0, 3).unwrap();
        assert_eq!(a.inputs.len(), 3 * 64);
        assert_eq!(a.targets.len(), 3 * 64);
        assert_eq!(
            batch(&plugin, &io, 7, 0, 3).unwrap(),
            a,
            "a step's batch is reproducible"
        );
        assert_ne!(batch(&plugin, &io, 7, 1, 3).unwrap(), a);
        // The target is the kept clean signal: the noisy input is close to it, not equal.
        let err: f32 = a
            .inputs
            .iter()
            .zip(&a.targets)
            .map(|(x, y)| (x - y).abs())
            .sum();
        assert!(err > 0.0 && err / (3.0 * 64.0) < 1.0);
    }
}
