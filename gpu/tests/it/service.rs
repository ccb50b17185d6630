//! The batched inference service under concurrent callers.

use std::sync::Arc;
use std::time::Duration;

use ganglion_gpu::{
    BatchService, ModelConfig, ModelKind, ServiceConfig, TaskShape, TrainConfig, Trainer,
};

use crate::common::{Rng, regression_source, smooth};

#[test]
fn concurrent_callers_get_their_own_rows_in_shared_batches() {
    let task = TaskShape::regression(vec![16], vec![16]);
    let model = ModelConfig::for_task(ModelKind::Mlp, &task).unwrap();
    let config = TrainConfig {
        steps: 5,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(task, model, config, &ganglion_gpu::cpu()).unwrap();
    trainer
        .run(&mut regression_source(16, 1, smooth), &mut ())
        .unwrap();
    let predictor = trainer.predictor();
    let config = ServiceConfig {
        max_batch: 64,
        window: Duration::from_millis(2),
        queue: 4096,
    };
    let service = Arc::new(BatchService::start(predictor.clone(), config).unwrap());

    let (threads, per_thread) = (32, 50);
    std::thread::scope(|s| {
        for t in 0..threads {
            let service = Arc::clone(&service);
            let predictor = &predictor;
            s.spawn(move || {
                let mut rng = Rng::new(t);
                for _ in 0..per_thread {
                    let input: Vec<f32> = (0..16).map(|_| rng.signed()).collect();
                    let got = service.infer(input.clone()).unwrap();
                    let want = predictor.predict(&input, 1).unwrap();
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
                    }
                }
            });
        }
    });
    let stats = service.stats();
    assert_eq!(stats.served, threads * per_thread);
    assert_eq!(stats.rejected, 0);
    assert!(stats.max_batch_seen > 1, "no batch formed: {stats:?}");
    assert!(stats.mean_batch() > 1.0, "{stats:?}");
    assert!(stats.batches < stats.served);
}
