//! Training: learning on synthetic tasks, reproducibility, checkpoints and resume.

use std::fs;

use ganglion_gpu::{
    Batch, BatchError, CheckpointError, History, MlpConfig, ModelConfig, ModelKind, Observer,
    Predictor, STATE_FILE, TaskShape, TrainConfig, TrainError, Trainer,
};

use crate::common::{
    accuracy, class_source, inputs, mse, regression_source, reverse, smooth, weights,
};

fn cpu() -> ganglion_gpu::Device {
    ganglion_gpu::cpu()
}

#[test]
fn regression_loss_falls_and_score_beats_the_trivial_baseline() {
    // y = reverse(x) on 16 values in [-1, 1): predicting 0 scores -1/3 (minus the MSE).
    let task = TaskShape::regression(vec![16], vec![16]);
    let kind = ModelKind::auto(&task.input, &task.output);
    assert_eq!(kind, ModelKind::Cnn1d);
    let model = ModelConfig::for_task(kind, &task).unwrap();
    let config = TrainConfig {
        steps: 150,
        batch_size: 32,
        learning_rate: 2e-3,
        eval_every: 50,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(task, model, config, &cpu()).unwrap();
    let mut history = History::default();
    let mut eval = |p: &Predictor| -mse(p, reverse, 256);
    let report = trainer
        .run_with_eval(
            &mut regression_source(16, 3, reverse),
            &mut history,
            &mut eval,
        )
        .unwrap();
    assert_eq!(report.end_step, 150);
    assert_eq!(history.losses.len(), 150);
    let scores: Vec<f64> = history.scores.iter().map(|s| s.1).collect();
    assert_eq!(
        history.scores.iter().map(|s| s.0).collect::<Vec<_>>(),
        [50, 100, 150]
    );
    let (first, last) = (history.mean_first(10), history.mean_last(10));
    assert!(last < 0.3 * first, "loss {first} -> {last}");
    let baseline = -1.0 / 3.0;
    assert!(
        scores[2] > 0.3 * baseline,
        "score {scores:?} vs baseline {baseline}"
    );
    assert!(scores[2] > scores[0], "{scores:?}");
    assert_eq!(report.last_score, Some(scores[2]));
}

#[test]
fn the_transformer_learns_a_sequence_map() {
    // y = smooth(x) on 16 values, per-position head.
    let task = TaskShape::regression(vec![16], vec![16]);
    let model = ModelConfig::for_task(ModelKind::Transformer, &task).unwrap();
    let config = TrainConfig {
        steps: 800,
        batch_size: 32,
        learning_rate: 5e-3,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(task, model, config, &cpu()).unwrap();
    let mut history = History::default();
    let mut eval = |p: &Predictor| -mse(p, smooth, 256);
    let report = trainer
        .run_with_eval(
            &mut regression_source(16, 4, smooth),
            &mut history,
            &mut eval,
        )
        .unwrap();
    let (first, last) = (history.mean_first(10), history.mean_last(10));
    let score = report.last_score.unwrap();
    // Predicting 0 scores about -0.07 here.
    assert!(
        last < 0.3 * first && score > -0.02,
        "loss {first} -> {last}, score {score}"
    );
}

#[test]
fn classification_learns_the_largest_segment() {
    // Which of 4 segments of 32 values has the largest sum: chance is 25%.
    let task = TaskShape::classes(vec![32], 4);
    let kind = ModelKind::auto(&task.input, &task.output);
    assert_eq!(kind, ModelKind::Mlp);
    let model = ModelConfig::for_task(kind, &task).unwrap();
    let config = TrainConfig {
        steps: 200,
        batch_size: 32,
        learning_rate: 3e-3,
        eval_every: 100,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(task, model, config, &cpu()).unwrap();
    let mut history = History::default();
    let mut eval = |p: &Predictor| accuracy(p, 4, 512);
    trainer
        .run_with_eval(&mut class_source(32, 4, 5), &mut history, &mut eval)
        .unwrap();
    let (first, last) = (history.mean_first(10), history.mean_last(10));
    assert!(last < 0.6 * first, "loss {first} -> {last}");
    let acc = history.scores.last().unwrap().1;
    assert!(acc > 0.6, "accuracy {acc}, scores {:?}", history.scores);
}

/// Per kind, a small configuration and task for the reproducibility checks.
fn small(kind: ModelKind) -> (TaskShape, ModelConfig) {
    let task = TaskShape::regression(vec![4, 4], vec![16]);
    let config = match kind {
        // Dropout makes every step draw random numbers.
        ModelKind::Mlp => ModelConfig::Mlp(MlpConfig::new(16, 16).with_dropout(0.2)),
        _ => ModelConfig::for_task(kind, &task).unwrap(),
    };
    (task, config)
}

fn train_config(steps: u64) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 8,
        seed: 42,
        ..TrainConfig::default()
    }
}

#[test]
fn same_seed_and_batches_give_identical_weights() {
    for kind in ModelKind::ALL {
        let (task, model) = small(kind);
        let run = |seed: u64| {
            let config = TrainConfig {
                seed,
                ..train_config(6)
            };
            let mut t = Trainer::new(task.clone(), model.clone(), config, &cpu()).unwrap();
            t.run(&mut regression_source(16, 9, smooth), &mut ())
                .unwrap();
            weights(t.model())
        };
        let a = run(42);
        assert_eq!(a, run(42), "{kind} is not reproducible");
        assert_ne!(a, run(43), "{kind} ignores the seed");
    }
}

#[test]
fn resumed_training_matches_uninterrupted_training() {
    for kind in ModelKind::ALL {
        let (task, model) = small(kind);
        let mut whole =
            Trainer::new(task.clone(), model.clone(), train_config(10), &cpu()).unwrap();
        whole
            .run(&mut regression_source(16, 9, smooth), &mut ())
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            checkpoint_every: 2,
            ..train_config(5)
        };
        let mut first = Trainer::new(task.clone(), model.clone(), config, &cpu())
            .unwrap()
            .with_checkpoint_dir(dir.path());
        first
            .run(&mut regression_source(16, 9, smooth), &mut ())
            .unwrap();
        drop(first);
        // Only the last checkpoint's records remain.
        let mut files: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["model-5.bpk", "optim-5.bpk", STATE_FILE]);

        let mut resumed = Trainer::resume(dir.path(), &cpu()).unwrap();
        assert_eq!(resumed.step(), 5);
        resumed.set_steps(10);
        resumed
            .run(&mut regression_source(16, 9, smooth), &mut ())
            .unwrap();
        assert_eq!(resumed.step(), 10);
        assert_eq!(
            weights(whole.model()),
            weights(resumed.model()),
            "{kind}: resume differs"
        );

        // The predictor loaded from the final checkpoint is the trainer's.
        let loaded = Predictor::load(dir.path(), &cpu()).unwrap();
        let x = inputs(1, 2, 3, 16);
        assert_eq!(
            loaded.predict(&x, 3).unwrap(),
            whole.predictor().predict(&x, 3).unwrap()
        );
        assert_eq!(loaded.normalizer(), whole.normalizer().unwrap());
    }
}

#[test]
fn bad_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Trainer::resume(dir.path(), &cpu()),
        Err(CheckpointError::Io { .. })
    ));
    let (task, model) = small(ModelKind::Cnn1d);
    let mut t = Trainer::new(task, model, train_config(2), &cpu()).unwrap();
    t.run(&mut regression_source(16, 9, smooth), &mut ())
        .unwrap();
    t.save(dir.path()).unwrap();
    let state_path = dir.path().join(STATE_FILE);
    let state = fs::read_to_string(&state_path).unwrap();

    fs::write(&state_path, "{not json").unwrap();
    assert!(matches!(
        Trainer::resume(dir.path(), &cpu()),
        Err(CheckpointError::Json { .. })
    ));

    fs::write(&state_path, state.replace("model-2.bpk", "../model-2.bpk")).unwrap();
    assert!(matches!(
        Trainer::resume(dir.path(), &cpu()),
        Err(CheckpointError::Corrupt(_))
    ));

    // Records of a different model: narrower convolution kernels.
    let mut json: serde_json::Value = serde_json::from_str(&state).unwrap();
    json["model"]["config"]["kernel_size"] = 3.into();
    fs::write(&state_path, json.to_string()).unwrap();
    assert!(matches!(
        Predictor::load(dir.path(), &cpu()),
        Err(CheckpointError::Record { .. })
    ));

    fs::write(
        &state_path,
        state.replace("\"format\": 1", "\"format\": 99"),
    )
    .unwrap();
    assert!(matches!(
        Trainer::resume(dir.path(), &cpu()),
        Err(CheckpointError::Format { found: 99 })
    ));

    fs::write(&state_path, &state).unwrap();
    assert_eq!(Trainer::resume(dir.path(), &cpu()).unwrap().step(), 2);
}

#[test]
fn bad_batches_and_configs_are_refused() {
    let task = TaskShape::classes(vec![4], 3);
    let model = ModelConfig::for_task(ModelKind::Mlp, &task).unwrap();
    let bad_config = TrainConfig {
        learning_rate: f64::NAN,
        ..TrainConfig::default()
    };
    assert!(matches!(
        Trainer::new(task.clone(), model.clone(), bad_config, &cpu()),
        Err(TrainError::Config(_))
    ));
    let mut t = Trainer::new(task, model, TrainConfig::default(), &cpu()).unwrap();
    let batch = |inputs: Vec<f32>, targets: Vec<f32>| Batch { inputs, targets };
    let cases = [
        (batch(vec![0.0; 7], vec![0.0]), "inputs"),
        (batch(vec![0.0; 8], vec![0.0]), "targets"),
        (batch(vec![f32::NAN; 4], vec![0.0]), "nan"),
        (batch(vec![0.0; 4], vec![3.0]), "class"),
        (batch(vec![0.0; 4], vec![0.5]), "class"),
    ];
    for (b, what) in cases {
        let err = t.train_batch(b).unwrap_err();
        let got = match &err {
            TrainError::Batch { source, .. } => match source {
                BatchError::Inputs { .. } => "inputs",
                BatchError::Targets { .. } => "targets",
                BatchError::NonFinite(_) => "nan",
                BatchError::Class { .. } => "class",
                BatchError::Rows { .. } => "rows",
            },
            _ => "other",
        };
        assert_eq!(got, what, "{err}");
    }
    assert_eq!(t.step(), 0);
    assert!(t.train_batch(batch(vec![0.0; 8], vec![0.0, 2.0])).is_ok());
    assert_eq!(t.step(), 1);

    // A source that returns the wrong number of rows.
    let mut short = |_: u64, _: usize| Ok(batch(vec![0.0; 4], vec![1.0]));
    assert!(matches!(
        t.run(&mut short, &mut ()),
        Err(TrainError::Batch {
            step: 1,
            source: BatchError::Rows { asked: 32, got: 1 }
        })
    ));
    let mut failing = |_: u64, _: usize| Err("generator trapped".into());
    assert!(matches!(
        t.run(&mut failing, &mut ()),
        Err(TrainError::Source { step: 1, .. })
    ));
}

#[test]
fn the_observer_can_stop_a_run() {
    struct StopAt(u64, u64);
    impl Observer for StopAt {
        fn on_step(&mut self, step: u64, _loss: f32) {
            self.1 = step;
        }
        fn should_stop(&mut self) -> bool {
            self.1 >= self.0
        }
    }
    let (task, model) = small(ModelKind::Mlp);
    let mut t = Trainer::new(task, model, train_config(100), &cpu()).unwrap();
    let report = t
        .run(&mut regression_source(16, 9, smooth), &mut StopAt(3, 0))
        .unwrap();
    assert!(report.stopped);
    assert_eq!((report.start_step, report.end_step), (0, 3));
}
