//! The wasmtime engines: one per (stack, memory) limit pair, configured for deterministic,
//! metered, interruptible execution, and the clock that drives their wall-clock deadlines.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ganglion_plugin_abi::imports;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use crate::error::PluginError;
use crate::plugin::CallState;

/// How often the deadline clock ticks: the granularity of wall-clock timeouts.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Instances that may be alive at once per engine (concurrent calls); a call beyond it fails
/// as a host fault.
pub const MAX_CONCURRENT_CALLS: u32 = 256;

/// Bytes of each memory and table kept resident between instances (reset by memset).
const KEEP_RESIDENT_BYTES: usize = 256 << 10;

struct Engines {
    by_limits: Mutex<BTreeMap<(usize, usize), Engine>>,
}

fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| Engines {
        by_limits: Mutex::new(BTreeMap::new()),
    })
}

/// The engine for these limits, created on first use.
pub(crate) fn engine(stack_bytes: usize, memory_bytes: usize) -> Result<Engine, PluginError> {
    let mut map = engines()
        .by_limits
        .lock()
        .map_err(|_| PluginError::Host("engine registry poisoned".to_owned()))?;
    if let Some(engine) = map.get(&(stack_bytes, memory_bytes)) {
        return Ok(engine.clone());
    }
    let engine = new_engine(stack_bytes, memory_bytes)?;
    map.insert((stack_bytes, memory_bytes), engine.clone());
    start_clock();
    Ok(engine)
}

/// The configuration every plugin runs under (wasmtime's deterministic-execution guide):
/// fuel metering, epoch interruption, canonical NaNs, no relaxed SIMD (and no threads: the
/// `threads` feature is not built), a bounded
/// stack, and a pooling allocator with copy-on-write memory so fresh instances are cheap.
fn new_engine(stack_bytes: usize, memory_bytes: usize) -> Result<Engine, PluginError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(MAX_CONCURRENT_CALLS)
        .total_memories(MAX_CONCURRENT_CALLS)
        .total_tables(MAX_CONCURRENT_CALLS)
        .max_memory_size(memory_bytes)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        // Reset small memories with memset rather than page-table calls: cheaper per call.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(true)
        .wasm_relaxed_simd(false)
        .max_wasm_stack(stack_bytes)
        .memory_init_cow(true)
        .memory_reservation(u64::try_from(memory_bytes).unwrap_or(u64::MAX))
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| PluginError::Host(format!("creating the engine: {e:#}")))
}

/// Starts, once per process, the thread that advances every engine's epoch each [`TICK`].
fn start_clock() {
    static CLOCK: OnceLock<()> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("ganglion-plugin-clock".to_owned())
            .spawn(|| {
                loop {
                    std::thread::sleep(TICK);
                    if let Ok(map) = engines().by_limits.lock() {
                        for engine in map.values() {
                            engine.increment_epoch();
                        }
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(target: "ganglion::plugins", %err, "cannot start the deadline clock: timeouts will not fire");
        }
    });
}

/// The host functions of [`imports::FUNCTIONS`], computed by libm (pure software, the same
/// bits on every machine).
pub(crate) fn add_host_functions(linker: &mut Linker<CallState>) -> Result<(), PluginError> {
    let m = imports::MODULE;
    let err = |e: wasmtime::Error| PluginError::Host(format!("defining host functions: {e}"));
    // A NaN comes back canonical, like every NaN the engine itself produces.
    let canonical = |x: f64| if x.is_nan() { f64::NAN } else { x };
    type Unary = fn(f64) -> f64;
    type Binary = fn(f64, f64) -> f64;
    let unary: [(&str, Unary); 8] = [
        ("sin", libm::sin),
        ("cos", libm::cos),
        ("tan", libm::tan),
        ("exp", libm::exp),
        ("ln", libm::log),
        ("log2", libm::log2),
        ("tanh", libm::tanh),
        ("atan", libm::atan),
    ];
    for (name, f) in unary {
        linker
            .func_wrap(m, name, move |x: f64| canonical(f(x)))
            .map_err(err)?;
    }
    let binary: [(&str, Binary); 2] = [("pow", libm::pow), ("atan2", libm::atan2)];
    for (name, f) in binary {
        linker
            .func_wrap(m, name, move |x: f64, y: f64| canonical(f(x, y)))
            .map_err(err)?;
    }
    Ok(())
}
