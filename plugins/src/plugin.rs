//! Loading a module (checked against the ABI before anything runs) and calling it.

use std::sync::Arc;
use std::time::Duration;

use ganglion_plugin_abi::exports::{self, FuncExport, ValType as AbiType};
use ganglion_plugin_abi::limits::Limits;
use ganglion_plugin_abi::{ABI_VERSION, imports, payload};
use wasmtime::{
    Engine, Extern, ExternType, FuncType, Instance, InstancePre, Linker, Memory, Module,
    ModuleExport, ResourceLimiter, Store, Trap, TypedFunc, ValType, WasmParams, WasmResults,
};

use crate::engine::{self, TICK};
use crate::error::{AbiProblem, PluginError};

/// A checked, compiled plugin, ready to call from any number of threads.
///
/// Every call runs in a fresh instance (cheap: instances come from a pooling allocator with
/// copy-on-write memory), so no state leaks from one call to the next and the same inputs give
/// the same bytes on every machine, whatever ran before.
pub struct Plugin {
    pre: InstancePre<CallState>,
    exports: Exports,
    limits: Limits,
    hash: [u8; 32],
    info: PluginInfo,
}

/// The ABI's exports, resolved once so calls find them without a name lookup.
struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    alloc: ModuleExport,
    task: ModuleExport,
    score: ModuleExport,
    reward: Option<ModuleExport>,
}

impl Exports {
    fn resolve(module: &Module) -> Result<Self, PluginError> {
        let get = |name: &str| {
            module.get_export_index(name).ok_or_else(|| {
                PluginError::Host(format!("export `{name}` vanished after checking"))
            })
        };
        Ok(Self {
            memory: get(exports::MEMORY)?,
            abi_version: get(exports::ABI_VERSION.name)?,
            alloc: get(exports::ALLOC.name)?,
            task: get(exports::TASK.name)?,
            score: get(exports::SCORE.name)?,
            reward: module.get_export_index(exports::REWARD.name),
        })
    }
}

/// The typed function behind a resolved export.
fn func<P: WasmParams, R: WasmResults>(
    store: &mut Store<CallState>,
    instance: &Instance,
    export: &ModuleExport,
) -> Result<TypedFunc<P, R>, PluginError> {
    instance
        .get_module_export(&mut *store, export)
        .and_then(Extern::into_func)
        .ok_or_else(|| PluginError::Host("a checked export is not a function".to_owned()))?
        .typed::<P, R>(&*store)
        .map_err(|e| PluginError::Host(e.to_string()))
}

fn memory(
    store: &mut Store<CallState>,
    instance: &Instance,
    export: &ModuleExport,
) -> Result<Memory, PluginError> {
    instance
        .get_module_export(&mut *store, export)
        .and_then(Extern::into_memory)
        .ok_or_else(|| PluginError::Host("the plugin has no memory".to_owned()))
}

/// What `check` reports about a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// The ABI version the plugin returned.
    pub abi_version: i32,
    /// Module size in bytes.
    pub module_bytes: usize,
    /// Every export, in module order.
    pub exports: Vec<String>,
    /// Every import (`module::name`), in module order.
    pub imports: Vec<String>,
    /// Whether it exports the optional `reward`.
    pub has_reward: bool,
}

/// A generated task: the public payload (sent to miners) and the private one (kept by the
/// validator), both checked to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The payload sent to miners.
    pub public: Vec<u8>,
    /// The payload the validator keeps to score with.
    pub private: Vec<u8>,
}

/// Per-call store data: the resource limiter.
pub(crate) struct CallState {
    memory_bytes: usize,
    table_elements: usize,
}

/// Marker error: a memory or table growth beyond the limits.
#[derive(Debug)]
struct LimitHit;

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("resource limit")
    }
}

impl std::error::Error for LimitHit {}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(LimitHit));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(LimitHit));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

impl Plugin {
    /// Checks and compiles a module (the binary format), using the process-wide host and its
    /// in-memory cache. See [`crate::Host::load`] to cache compiled modules on disk too.
    ///
    /// The module is refused, with every problem named, if it is larger than
    /// `limits.module_bytes`, is not valid WebAssembly, imports anything but the ABI's host
    /// functions, lacks a required export or has one with the wrong signature, declares more
    /// memory or table than the limits, or reports another ABI version.
    pub fn load(bytes: &[u8], limits: Limits) -> Result<Plugin, PluginError> {
        crate::Host::global().load(bytes, limits)
    }

    pub(crate) fn from_module(
        engine: &Engine,
        module: &Module,
        limits: Limits,
        hash: [u8; 32],
        module_bytes: usize,
    ) -> Result<Plugin, PluginError> {
        let mut problems = Vec::new();
        check_imports(module, &mut problems);
        let has_reward = check_exports(module, &limits, &mut problems);
        if !problems.is_empty() {
            return Err(PluginError::Abi {
                version: ABI_VERSION,
                problems,
            });
        }
        let mut linker: Linker<CallState> = Linker::new(engine);
        engine::add_host_functions(&mut linker)?;
        let pre = linker
            .instantiate_pre(module)
            .map_err(|e| PluginError::Host(format!("linking: {e}")))?;
        let info = PluginInfo {
            abi_version: 0,
            module_bytes,
            exports: module.exports().map(|e| e.name().to_owned()).collect(),
            imports: module
                .imports()
                .map(|i| format!("{}::{}", i.module(), i.name()))
                .collect(),
            has_reward,
        };
        let call_limits = limits.clone();
        let mut plugin = Plugin {
            pre,
            exports: Exports::resolve(module)?,
            limits,
            hash,
            info,
        };
        let version = plugin.call(exports::ABI_VERSION.name, |store, instance| {
            let f = func::<(), i32>(store, instance, &plugin.exports.abi_version)?;
            f.call(&mut *store, ())
                .map_err(|e| map_error(exports::ABI_VERSION.name, e, &call_limits))
        })?;
        if version != ABI_VERSION {
            return Err(PluginError::Abi {
                version: ABI_VERSION,
                problems: vec![AbiProblem::Version {
                    found: version,
                    expected: ABI_VERSION,
                }],
            });
        }
        plugin.info.abi_version = version;
        Ok(plugin)
    }

    /// What the plugin exports and imports.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The blake3 hash of the module bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Generates the task for `(seed, round)`.
    pub fn task(&self, seed: u64, round: u64) -> Result<Task, PluginError> {
        let call = exports::TASK.name;
        let bytes = self.call(call, |store, instance| {
            let f = func::<(i64, i64), i64>(store, instance, &self.exports.task)?;
            let packed = f
                .call(
                    &mut *store,
                    (
                        i64::from_ne_bytes(seed.to_ne_bytes()),
                        i64::from_ne_bytes(round.to_ne_bytes()),
                    ),
                )
                .map_err(|e| map_error(call, e, &self.limits))?;
            read_output(store, instance, &self.exports, call, packed, &self.limits)
        })?;
        let malformed = |reason: String| PluginError::MalformedOutput { call, reason };
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(|| {
            malformed(format!(
                "{} bytes, too short for the public length",
                bytes.len()
            ))
        })?;
        let public_len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
        if public_len > rest.len() {
            return Err(malformed(format!(
                "public length {public_len} is more than the {} bytes that follow",
                rest.len()
            )));
        }
        let (public, private) = rest.split_at(public_len);
        payload::decode(public).map_err(|e| malformed(format!("public payload: {e}")))?;
        payload::decode(private).map_err(|e| malformed(format!("private payload: {e}")))?;
        Ok(Task {
            public: public.to_vec(),
            private: private.to_vec(),
        })
    }

    /// Scores a miner's `response` to a task, in `[0, 1]`.
    pub fn score(
        &self,
        public: &[u8],
        private: &[u8],
        response: &[u8],
    ) -> Result<f64, PluginError> {
        let call = exports::SCORE.name;
        let score = self.call(call, |store, instance| {
            let inputs = [public, private, response];
            let ptrs = write_inputs(store, instance, &self.exports, &inputs, &self.limits)?;
            let f =
                func::<(i32, i32, i32, i32, i32, i32), f64>(store, instance, &self.exports.score)?;
            let [(p, pl), (q, ql), (r, rl)] = ptrs;
            f.call(&mut *store, (p, pl, q, ql, r, rl))
                .map_err(|e| map_error(call, e, &self.limits))
        })?;
        if !(0.0..=1.0).contains(&score) {
            return Err(PluginError::MalformedOutput {
                call,
                reason: format!("score {score} is not in [0, 1]"),
            });
        }
        Ok(score)
    }

    /// Reshapes an incentive vector with the plugin's `reward` (u16 per uid in, and out).
    pub fn reward(&self, incentive: &[u16]) -> Result<Vec<u16>, PluginError> {
        let call = exports::REWARD.name;
        let Some(reward) = self
            .exports
            .reward
            .as_ref()
            .filter(|_| self.info.has_reward)
        else {
            return Err(PluginError::NotExported(call));
        };
        let input: Vec<u8> = incentive.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = self.call(call, |store, instance| {
            let [(ptr, len)] =
                write_inputs(store, instance, &self.exports, &[&input], &self.limits)?;
            let f = func::<(i32, i32), i64>(store, instance, reward)?;
            let packed = f
                .call(&mut *store, (ptr, len))
                .map_err(|e| map_error(call, e, &self.limits))?;
            read_output(store, instance, &self.exports, call, packed, &self.limits)
        })?;
        if bytes.len() != input.len() {
            return Err(PluginError::MalformedOutput {
                call,
                reason: format!(
                    "{} bytes for {} uids; the output must hold one u16 per uid ({} bytes)",
                    bytes.len(),
                    incentive.len(),
                    input.len()
                ),
            });
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// Runs `body` in a fresh instance with this plugin's limits.
    fn call<R>(
        &self,
        call: &'static str,
        body: impl FnOnce(&mut Store<CallState>, &Instance) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        let engine = self.pre.module().engine();
        let mut store = Store::new(
            engine,
            CallState {
                memory_bytes: self.limits.memory_bytes,
                table_elements: self.limits.table_elements,
            },
        );
        store.limiter(|state| state);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        store.set_epoch_deadline(deadline_ticks(self.limits.timeout));
        store.epoch_deadline_trap();
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| map_error_at(call, "start", e, &self.limits))?;
        body(&mut store, &instance)
    }
}

/// Epoch ticks for a wall-clock deadline (at least one).
fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

fn map_error(call: &'static str, err: wasmtime::Error, limits: &Limits) -> PluginError {
    map_error_at(call, call, err, limits)
}

/// Turns a wasmtime error into the typed error that says which limit or what went wrong.
fn map_error_at(
    call: &'static str,
    during: &'static str,
    err: wasmtime::Error,
    limits: &Limits,
) -> PluginError {
    if err.is::<LimitHit>() {
        return PluginError::ResourceLimit {
            call,
            limit: limits.memory_bytes,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
            call,
            limit: limits.fuel,
        },
        Some(Trap::Interrupt) => PluginError::Timeout {
            call,
            limit: limits.timeout,
        },
        Some(Trap::StackOverflow) => PluginError::StackOverflow {
            call,
            limit: limits.stack_bytes,
        },
        Some(trap) => PluginError::Trap {
            call: during,
            message: trap.to_string(),
        },
        // Not a trap: the host's own failure (for example every pooled instance slot in use
        // by concurrent calls), a local fault rather than the plugin's result.
        None => PluginError::Host(format!("calling `{call}` ({during}): {err:#}")),
    }
}

/// Copies `inputs` into memory the plugin allocates with one `alloc` call; returns each
/// input's (pointer, length).
fn write_inputs<const N: usize>(
    store: &mut Store<CallState>,
    instance: &Instance,
    exports: &Exports,
    inputs: &[&[u8]; N],
    limits: &Limits,
) -> Result<[(i32, i32); N], PluginError> {
    let call = exports::ALLOC.name;
    let total: usize = inputs.iter().map(|i| i.len()).sum();
    let too_large = || {
        PluginError::Host(format!(
            "inputs of {total} bytes do not fit a 32-bit memory"
        ))
    };
    let total_i32 = i32::try_from(total).map_err(|_| too_large())?;
    let alloc = func::<i32, i32>(store, instance, &exports.alloc)?;
    let base = alloc
        .call(&mut *store, total_i32)
        .map_err(|e| map_error(call, e, limits))?;
    let memory = memory(store, instance, &exports.memory)?;
    let size = memory.data_size(&*store);
    let start = u64::from(u32::from_ne_bytes(base.to_ne_bytes()));
    let end = start.saturating_add(u64::try_from(total).unwrap_or(u64::MAX));
    if end > u64::try_from(size).unwrap_or(u64::MAX) {
        return Err(PluginError::OutputOutOfBounds {
            call,
            ptr: start,
            end,
            memory: size,
        });
    }
    let mut out = [(0i32, 0i32); N];
    let mut offset = usize::try_from(start).map_err(|_| too_large())?;
    for (slot, input) in out.iter_mut().zip(inputs) {
        memory
            .write(&mut *store, offset, input)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let ptr = i32::from_ne_bytes(
            u32::try_from(offset)
                .map_err(|_| too_large())?
                .to_ne_bytes(),
        );
        let len = i32::try_from(input.len()).map_err(|_| too_large())?;
        *slot = (ptr, len);
        offset = offset.saturating_add(input.len());
    }
    Ok(out)
}

/// Reads the `(pointer, length)` an entry point returned, within the limits.
fn read_output(
    store: &mut Store<CallState>,
    instance: &Instance,
    exports: &Exports,
    call: &'static str,
    packed: i64,
    limits: &Limits,
) -> Result<Vec<u8>, PluginError> {
    let (ptr, len) = exports::unpack(packed);
    if usize::try_from(len).map_or(true, |len| len > limits.output_bytes) {
        return Err(PluginError::OutputTooLarge {
            call,
            len: u64::from(len),
            limit: limits.output_bytes,
        });
    }
    let memory = memory(store, instance, &exports.memory)?;
    let data = memory.data(&*store);
    let (start, end) = (u64::from(ptr), u64::from(ptr) + u64::from(len));
    let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
    match range.and_then(|(s, e)| data.get(s..e)) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(PluginError::OutputOutOfBounds {
            call,
            ptr: start,
            end,
            memory: data.len(),
        }),
    }
}

fn abi_type(t: &ValType) -> Option<AbiType> {
    match t {
        ValType::I32 => Some(AbiType::I32),
        ValType::I64 => Some(AbiType::I64),
        ValType::F64 => Some(AbiType::F64),
        _ => None,
    }
}

fn signature(f: &FuncType) -> String {
    let list = |ts: &mut dyn Iterator<Item = ValType>| {
        ts.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "func({}) -> ({})",
        list(&mut f.params()),
        list(&mut f.results())
    )
}

fn abi_signature(params: &[AbiType], results: &[AbiType]) -> String {
    let list = |ts: &[AbiType]| {
        ts.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("func({}) -> ({})", list(params), list(results))
}

fn matches(f: &FuncType, params: &[AbiType], results: &[AbiType]) -> bool {
    let same = |ts: &mut dyn ExactSizeIterator<Item = ValType>, want: &[AbiType]| {
        ts.len() == want.len() && ts.zip(want).all(|(t, w)| abi_type(&t) == Some(*w))
    };
    same(&mut f.params(), params) && same(&mut f.results(), results)
}

fn check_imports(module: &Module, problems: &mut Vec<AbiProblem>) {
    for import in module.imports() {
        let host = (import.module() == imports::MODULE)
            .then(|| imports::find(import.name()))
            .flatten();
        match (host, import.ty()) {
            (Some(host), ExternType::Func(f)) => {
                let results = [AbiType::F64];
                if !matches(&f, host.params(), &results) {
                    problems.push(AbiProblem::ImportSignature {
                        name: host.name.to_owned(),
                        found: signature(&f),
                        expected: abi_signature(host.params(), &results),
                    });
                }
            }
            _ => problems.push(AbiProblem::UnknownImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
            }),
        }
    }
}

/// Checks the exports; returns whether `reward` is exported.
fn check_exports(module: &Module, limits: &Limits, problems: &mut Vec<AbiProblem>) -> bool {
    match module.get_export(exports::MEMORY) {
        Some(ExternType::Memory(m)) => {
            let declared = m.minimum().saturating_mul(64 * 1024);
            let limit = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
            if declared > limit {
                problems.push(AbiProblem::DeclaredTooLarge {
                    what: "memory",
                    declared,
                    limit,
                });
            }
            if m.is_64() || m.is_shared() {
                problems.push(AbiProblem::ExportSignature {
                    name: exports::MEMORY,
                    found: format!("{m:?}"),
                    expected: "an unshared 32-bit memory".to_owned(),
                });
            }
        }
        Some(other) => problems.push(AbiProblem::ExportSignature {
            name: exports::MEMORY,
            found: kind(&other).to_owned(),
            expected: "a memory".to_owned(),
        }),
        None => problems.push(AbiProblem::MissingExport {
            name: exports::MEMORY,
            doc: "the linear memory every pointer refers to",
        }),
    }
    for ty in module
        .imports()
        .map(|i| i.ty())
        .chain(module.exports().map(|e| e.ty()))
    {
        if let ExternType::Table(t) = ty {
            let limit = u64::try_from(limits.table_elements).unwrap_or(u64::MAX);
            if t.minimum() > limit {
                problems.push(AbiProblem::DeclaredTooLarge {
                    what: "table",
                    declared: t.minimum(),
                    limit,
                });
            }
        }
    }
    let mut has_reward = false;
    for FuncExport {
        name,
        params,
        results,
        required,
        doc,
    } in exports::FUNCTIONS
    {
        match module.get_export(name) {
            Some(ExternType::Func(f)) => {
                if matches(&f, params, results) {
                    has_reward |= name == exports::REWARD.name;
                } else {
                    problems.push(AbiProblem::ExportSignature {
                        name,
                        found: signature(&f),
                        expected: abi_signature(params, results),
                    });
                }
            }
            Some(other) => problems.push(AbiProblem::ExportSignature {
                name,
                found: kind(&other).to_owned(),
                expected: abi_signature(params, results),
            }),
            None if required => problems.push(AbiProblem::MissingExport { name, doc }),
            None => {}
        }
    }
    has_reward
}

fn kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "a function",
        ExternType::Global(_) => "a global",
        ExternType::Table(_) => "a table",
        ExternType::Memory(_) => "a memory",
        _ => "another kind of export",
    }
}

/// A plugin shared between threads and slots.
pub type SharedPlugin = Arc<Plugin>;
