//! Batched inference: one worker thread owns the model and answers many callers, running the
//! requests that arrive close together as one batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::predict::Predictor;

/// Default [`ServiceConfig::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 64;

/// Default [`ServiceConfig::window`]: 2 ms.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(2);

/// Default [`ServiceConfig::queue`]. When this many requests wait, [`BatchService::infer`]
/// answers [`ServiceError::Busy`] at once rather than queue more.
pub const DEFAULT_QUEUE: usize = 1024;

/// How a [`BatchService`] batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// The most requests one batch runs (default [`DEFAULT_MAX_BATCH`]).
    pub max_batch: usize,
    /// How long the worker waits, after the first request of a batch arrives, for more
    /// before it runs the batch (default [`DEFAULT_WINDOW`]).
    pub window: Duration,
    /// Requests that may wait for the worker; more are refused with
    /// [`ServiceError::Busy`] (default [`DEFAULT_QUEUE`]).
    pub queue: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_batch: DEFAULT_MAX_BATCH,
            window: DEFAULT_WINDOW,
            queue: DEFAULT_QUEUE,
        }
    }
}

/// An inference request the service did not answer with an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The queue is full: try again later (the caller's input was not queued).
    #[error("inference queue full")]
    Busy,
    /// The input is not one row of the model's input length.
    #[error("expected {expected} input values, got {got}")]
    BadInput {
        /// The model's input length.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The model failed on the batch that held this request.
    #[error("inference failed: {0}")]
    Model(String),
    /// The worker has stopped (the service is shutting down, or the worker panicked).
    #[error("inference service stopped")]
    Stopped,
}

/// Counters of a [`BatchService`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceStats {
    /// Requests answered with an output.
    pub served: u64,
    /// Batches run.
    pub batches: u64,
    /// Requests refused with [`ServiceError::Busy`].
    pub rejected: u64,
    /// The largest batch run.
    pub max_batch_seen: u64,
    /// Requests waiting in the queue now.
    pub queued: u64,
}

impl ServiceStats {
    /// Requests per batch, on average (0 before the first batch).
    pub fn mean_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.served as f64 / self.batches as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    served: AtomicU64,
    batches: AtomicU64,
    rejected: AtomicU64,
    max_batch_seen: AtomicU64,
    /// Sent minus received: may dip below 0 for a moment, as a request can be received
    /// before its sender counts it.
    queued: AtomicI64,
}

/// Runs a batch: `(inputs, rows) -> rows * output_len` values.
type Runner = Box<dyn FnMut(&[f32], usize) -> Result<Vec<f32>, String> + Send>;

struct Request {
    input: Vec<f32>,
    reply: SyncSender<Result<Vec<f32>, ServiceError>>,
}

/// Batched inference over one [`Predictor`], shared by any number of threads (`&self`
/// suffices: wrap it in an `Arc`).
///
/// A worker thread owns the model. It waits for a request, then gathers more for up to
/// [`ServiceConfig::window`] or until [`ServiceConfig::max_batch`] have come, runs them as one
/// batch and sends each caller its own row. The queue is bounded: when it is full,
/// [`infer`](BatchService::infer) returns [`ServiceError::Busy`] at once. Dropping the service
/// stops the worker after it has answered what was queued, and waits for it.
///
/// ```
/// use ganglion_gpu::{
///     BatchService, ModelConfig, ModelKind, Normalizer, Predictor, ServiceConfig, TaskShape,
/// };
///
/// let device = ganglion_gpu::cpu();
/// let task = TaskShape::regression(vec![4], vec![2]);
/// let config = ModelConfig::for_task(ModelKind::Mlp, &task)?;
/// let model = config.init(&device);
/// let predictor = Predictor::new(model, &config, task, Normalizer::IDENTITY, &device)?;
/// let service = BatchService::start(predictor, ServiceConfig::default())?;
/// let out = service.infer(vec![1.0, 2.0, 3.0, 4.0])?;
/// assert_eq!(out.len(), 2);
/// assert_eq!(service.stats().served, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BatchService {
    sender: Option<SyncSender<Request>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    input_len: usize,
    output_len: usize,
}

impl std::fmt::Debug for BatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchService")
            .field("input_len", &self.input_len)
            .field("output_len", &self.output_len)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BatchService {
    /// Starts the worker thread. Fails only if the OS refuses a thread, or if `max_batch` or
    /// `queue` is 0.
    pub fn start(
        predictor: Predictor,
        config: ServiceConfig,
    ) -> Result<BatchService, std::io::Error> {
        let input_len = predictor.input_len();
        let output_len = predictor.output_len();
        let run = move |inputs: &[f32], rows: usize| {
            predictor.predict(inputs, rows).map_err(|e| e.to_string())
        };
        BatchService::start_with(input_len, output_len, Box::new(run), config)
    }

    /// Starts a worker that answers with `run(inputs, rows)`, which must return
    /// `rows * output_len` values.
    fn start_with(
        input_len: usize,
        output_len: usize,
        run: Runner,
        config: ServiceConfig,
    ) -> Result<BatchService, std::io::Error> {
        if config.max_batch == 0 || config.queue == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "max_batch and queue must be positive",
            ));
        }
        let (sender, receiver) = mpsc::sync_channel(config.queue);
        let counters = Arc::new(Counters::default());
        tracing::debug!(
            target: "ganglion::gpu",
            max_batch = config.max_batch,
            window_us = config.window.as_micros() as u64,
            queue = config.queue,
            "inference service started"
        );
        let worker = {
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("ganglion-gpu-infer".into())
                .spawn(move || worker(run, input_len, output_len, config, receiver, &counters))?
        };
        Ok(BatchService {
            sender: Some(sender),
            worker: Some(worker),
            counters,
            input_len,
            output_len,
        })
    }

    /// Values in one input.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Values in one output.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// Runs one input (blocking until its batch has run) and returns its output: raw
    /// regression values or class logits, as [`Predictor::predict`] gives.
    pub fn infer(&self, input: Vec<f32>) -> Result<Vec<f32>, ServiceError> {
        if input.len() != self.input_len {
            return Err(ServiceError::BadInput {
                expected: self.input_len,
                got: input.len(),
            });
        }
        let sender = self.sender.as_ref().ok_or(ServiceError::Stopped)?;
        let (reply, answer) = mpsc::sync_channel(1);
        match sender.try_send(Request { input, reply }) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(ServiceError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => return Err(ServiceError::Stopped),
        }
        answer.recv().unwrap_or(Err(ServiceError::Stopped))
    }

    /// The counters so far.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.counters;
        ServiceStats {
            served: c.served.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            max_batch_seen: c.max_batch_seen.load(Ordering::Relaxed),
            queued: u64::try_from(c.queued.load(Ordering::Relaxed)).unwrap_or(0),
        }
    }
}

impl Drop for BatchService {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop once the queue is drained.
        drop(self.sender.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        let stats = self.stats();
        tracing::debug!(
            target: "ganglion::gpu",
            served = stats.served,
            batches = stats.batches,
            rejected = stats.rejected,
            "inference service stopped"
        );
    }
}

fn worker(
    mut run: Runner,
    input_len: usize,
    output_len: usize,
    config: ServiceConfig,
    receiver: Receiver<Request>,
    counters: &Counters,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(config.max_batch);
    let mut inputs: Vec<f32> = Vec::with_capacity(config.max_batch * input_len);
    // Blocks for the first request of each batch; ends when every sender is gone.
    while let Ok(first) = receiver.recv() {
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        batch.push(first);
        let deadline = Instant::now() + config.window;
        let mut closed = false;
        while batch.len() < config.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(request) => {
                    counters.queued.fetch_sub(1, Ordering::Relaxed);
                    batch.push(request);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        inputs.clear();
        for request in &batch {
            inputs.extend_from_slice(&request.input);
        }
        let rows = batch.len();
        let result = match run(&inputs, rows) {
            Ok(outputs) if outputs.len() == rows * output_len => Ok(outputs),
            Ok(outputs) => Err(format!(
                "{} outputs for {rows} rows of {output_len}",
                outputs.len()
            )),
            Err(e) => Err(e),
        };
        // Counted before anyone hears back, so a caller that got its answer sees it counted.
        if result.is_ok() {
            counters.served.fetch_add(rows as u64, Ordering::Relaxed);
        }
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .max_batch_seen
            .fetch_max(rows as u64, Ordering::Relaxed);
        match result {
            Ok(outputs) => {
                for (request, row) in batch.drain(..).zip(outputs.chunks(output_len.max(1))) {
                    // A caller that gave up waiting is no error of ours.
                    let _ = request.reply.send(Ok(row.to_vec()));
                }
            }
            Err(e) => {
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(ServiceError::Model(e.clone())));
                }
            }
        }
        if closed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// A runner that doubles its inputs (one output per input value).
    fn doubler() -> Runner {
        Box::new(|inputs: &[f32], _rows: usize| Ok(inputs.iter().map(|x| 2.0 * x).collect()))
    }

    #[test]
    fn answers_each_caller_with_its_row() {
        let config = ServiceConfig {
            window: Duration::from_millis(5),
            ..ServiceConfig::default()
        };
        let service = BatchService::start_with(2, 2, doubler(), config).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let service = &service;
                s.spawn(move || {
                    for i in 0..20 {
                        let x = (t * 100 + i) as f32;
                        assert_eq!(service.infer(vec![x, -x]).unwrap(), vec![2.0 * x, -2.0 * x]);
                    }
                });
            }
        });
        let stats = service.stats();
        assert_eq!(stats.served, 160);
        assert!(stats.batches <= 160);
        assert_eq!(
            service.infer(vec![1.0]),
            Err(ServiceError::BadInput {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn full_queue_is_busy_at_once() {
        // The worker blocks inside its first batch until the gate opens.
        let gate = Arc::new(Barrier::new(2));
        let entered = Arc::new(Barrier::new(2));
        let (g, e) = (Arc::clone(&gate), Arc::clone(&entered));
        let mut first = true;
        let run: Runner = Box::new(move |inputs: &[f32], _| {
            if first {
                first = false;
                e.wait();
                g.wait();
            }
            Ok(inputs.to_vec())
        });
        let config = ServiceConfig {
            max_batch: 1,
            window: Duration::ZERO,
            queue: 2,
        };
        let service = BatchService::start_with(1, 1, run, config).unwrap();
        std::thread::scope(|s| {
            let blocked = s.spawn(|| service.infer(vec![1.0]));
            entered.wait(); // the worker holds request 1
            // Two more fill the queue; their callers wait.
            let queued: Vec<_> = (2..4)
                .map(|i| {
                    let service = &service;
                    s.spawn(move || service.infer(vec![i as f32]))
                })
                .collect();
            // Once both wait in the queue, one more is refused at once.
            let start = Instant::now();
            while service.stats().queued < 2 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "requests never queued"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(service.infer(vec![9.0]), Err(ServiceError::Busy));
            gate.wait();
            assert_eq!(blocked.join().unwrap(), Ok(vec![1.0]));
            for (i, q) in queued.into_iter().enumerate() {
                assert_eq!(q.join().unwrap(), Ok(vec![(i + 2) as f32]));
            }
        });
        assert_eq!(service.stats().rejected, 1);
        assert_eq!(service.stats().served, 3);
    }

    #[test]
    fn model_errors_reach_every_caller_and_drop_stops_cleanly() {
        let run: Runner = Box::new(|_: &[f32], _| Err("boom".to_string()));
        let service = BatchService::start_with(1, 1, run, ServiceConfig::default()).unwrap();
        assert_eq!(
            service.infer(vec![0.0]),
            Err(ServiceError::Model("boom".into()))
        );
        drop(service);
    }

    #[test]
    fn zero_sizes_are_refused() {
        let config = ServiceConfig {
            max_batch: 0,
            ..ServiceConfig::default()
        };
        assert!(BatchService::start_with(1, 1, doubler(), config).is_err());
    }
}
