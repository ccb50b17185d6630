//! The module under construction: types, imports, functions, the static memory layout, and
//! the final encoding with `wasm-encoder`.
//!
//! Everything here is ordered by construction (vectors, or maps keyed by ordered values), so
//! the same program always gives the same bytes.

use std::collections::BTreeMap;

use ganglion_plugin_abi::{imports, limits};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, ImportSection, InstructionSink, MemArg,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

use super::CodegenError;
use super::helpers::{self, Helper};

/// The memory limit every plugin runs under by default: the static layout must fit in it.
pub(super) const MEMORY_LIMIT: u64 = limits::DEFAULT_MEMORY_BYTES as u64;

/// Where the frame starts; the bytes below stay unused, so a zero address never names a
/// value.
pub(super) const FRAME_BASE: u32 = 16;

/// Memory pages are 64 KiB.
const PAGE: u64 = 65536;

/// The global holding the random stream's state (`i64`).
pub(super) const GLOBAL_RNG: u32 = 0;
/// The global holding the allocator's next free byte (`i32`).
pub(super) const GLOBAL_HEAP: u32 = 1;

/// An `f64` access to an 8-byte aligned address.
pub(super) const F64: MemArg = MemArg {
    offset: 0,
    align: 3,
    memory_index: 0,
};

/// An access to an address of unknown alignment (payload bytes).
pub(super) fn unaligned(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 0,
        memory_index: 0,
    }
}

/// An aligned access of `1 << align` bytes at `offset`.
pub(super) fn at(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

/// A value type, as the generated code uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ty {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f64`
    F64,
}

impl Ty {
    fn val(self) -> ValType {
        match self {
            Ty::I32 => ValType::I32,
            Ty::I64 => ValType::I64,
            Ty::F64 => ValType::F64,
        }
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Sig {
    /// Parameter types.
    pub(super) params: Vec<Ty>,
    /// Result types.
    pub(super) results: Vec<Ty>,
}

/// A host math function (an import of module `ganglion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Host {
    Sin,
    Cos,
    Tan,
    Exp,
    Ln,
    Tanh,
    Pow,
}

impl Host {
    /// Every host function the generator may use, in import order.
    pub(super) const ALL: [Host; 7] = [
        Host::Sin,
        Host::Cos,
        Host::Tan,
        Host::Exp,
        Host::Ln,
        Host::Tanh,
        Host::Pow,
    ];

    /// The import name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Host::Sin => "sin",
            Host::Cos => "cos",
            Host::Tan => "tan",
            Host::Exp => "exp",
            Host::Ln => "ln",
            Host::Tanh => "tanh",
            Host::Pow => "pow",
        }
    }

    fn arity(self) -> usize {
        match self {
            Host::Pow => 2,
            _ => 1,
        }
    }
}

/// A function body under construction: its signature, its extra locals and its code.
pub(super) struct Func {
    params: Vec<Ty>,
    results: Vec<Ty>,
    locals: Vec<Ty>,
    /// The instructions so far (without the final `end`).
    pub(super) code: Vec<u8>,
}

impl Func {
    /// An empty body with this signature.
    pub(super) fn new(params: &[Ty], results: &[Ty]) -> Self {
        Func {
            params: params.to_vec(),
            results: results.to_vec(),
            locals: Vec::new(),
            code: Vec::new(),
        }
    }

    /// A new local of type `ty`; returns its index.
    pub(super) fn local(&mut self, ty: Ty) -> u32 {
        let index = self.params.len() + self.locals.len();
        self.locals.push(ty);
        u32::try_from(index).expect("a function has fewer than 2^32 locals")
    }

    /// Appends instructions.
    pub(super) fn ins(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(&mut self.code)
    }

    /// `for i in start..n` over the i32 local `i` and the i32 local `n` (unsigned). `body`
    /// is structured code that does not branch out of itself (it may `return`).
    pub(super) fn for_range(&mut self, i: u32, start: i32, n: u32, body: impl FnOnce(&mut Func)) {
        self.ins()
            .i32_const(start)
            .local_set(i)
            .block(BlockType::Empty)
            .loop_(BlockType::Empty)
            .local_get(i)
            .local_get(n)
            .i32_ge_u()
            .br_if(1);
        body(self);
        self.ins()
            .local_get(i)
            .i32_const(1)
            .i32_add()
            .local_set(i)
            .br(0)
            .end()
            .end();
    }

    /// `while p < end { body; p += step }` over i32 locals (`step` bytes, a constant), with
    /// the same rule for `body` as [`Func::for_range`].
    pub(super) fn for_ptr(&mut self, p: u32, end: u32, step: i32, body: impl FnOnce(&mut Func)) {
        self.ins()
            .block(BlockType::Empty)
            .loop_(BlockType::Empty)
            .local_get(p)
            .local_get(end)
            .i32_ge_u()
            .br_if(1);
        body(self);
        self.ins()
            .local_get(p)
            .i32_const(step)
            .i32_add()
            .local_set(p)
            .br(0)
            .end()
            .end();
    }

    /// The signature.
    pub(super) fn sig(&self) -> Sig {
        Sig {
            params: self.params.clone(),
            results: self.results.clone(),
        }
    }

    /// The finished body.
    fn finish(self) -> Function {
        let mut f = Function::new_with_locals_types(self.locals.iter().map(|t| t.val()));
        f.raw(self.code);
        f.instructions().end();
        f
    }
}

/// Where the constant areas start, in one compilation pass (the frame starts at
/// [`FRAME_BASE`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    /// Where the small constants (values, payload headers, copy descriptors) start.
    pub(super) const_base: u32,
    /// Where the data tables start (page-aligned).
    pub(super) table_base: u32,
}

impl Layout {
    /// The layout that pass 2 uses, from the sizes pass 1 measured: the frame, the small
    /// constants after it, then the tables on a page of their own (read, never written).
    pub(super) fn after(measured: &Builder) -> Result<Layout, CodegenError> {
        let const_base = (u64::from(FRAME_BASE) + measured.frame_max).next_multiple_of(16);
        let table_base = (const_base + measured.consts.len() as u64).next_multiple_of(PAGE);
        let end = table_base + measured.table_data.len() as u64;
        if end > MEMORY_LIMIT {
            return Err(CodegenError::TooMuchMemory {
                needed: end,
                limit: MEMORY_LIMIT,
            });
        }
        Ok(Layout {
            const_base: u32::try_from(const_base).expect("below the memory limit"),
            table_base: u32::try_from(table_base).expect("below the memory limit"),
        })
    }
}

/// The module being built.
pub(super) struct Builder {
    types: Vec<Sig>,
    type_index: BTreeMap<Sig, u32>,
    hosts: Vec<Host>,
    /// Defined functions: type index and body (`None` while it is being generated).
    funcs: Vec<(u32, Option<Function>)>,
    helpers: Vec<(Helper, u32)>,
    exports: Vec<(&'static str, ExportKind, u32)>,
    /// The small constants' bytes, from [`Layout::const_base`].
    consts: Vec<u8>,
    /// The data tables' bytes, from [`Layout::table_base`].
    table_data: Vec<u8>,
    const_dedup: BTreeMap<Vec<u8>, u32>,
    layout: Layout,
    frame_top: u64,
    frame_max: u64,
    /// The initial random state (the stream of seed 0, round 0).
    rng_init: i64,
    /// Where each data table's values are, by [`crate::ir::DataId`].
    pub(super) tables: Vec<u32>,
}

impl Builder {
    /// A builder importing `hosts` (in this order).
    pub(super) fn new(hosts: Vec<Host>, layout: Layout) -> Self {
        let mut b = Builder {
            types: Vec::new(),
            type_index: BTreeMap::new(),
            hosts: Vec::new(),
            funcs: Vec::new(),
            helpers: Vec::new(),
            exports: Vec::new(),
            consts: Vec::new(),
            table_data: Vec::new(),
            const_dedup: BTreeMap::new(),
            layout,
            frame_top: 0,
            frame_max: 0,
            rng_init: 0,
            tables: Vec::new(),
        };
        for h in &hosts {
            let sig = Sig {
                params: vec![Ty::F64; h.arity()],
                results: vec![Ty::F64],
            };
            b.type_of(sig);
        }
        b.hosts = hosts;
        let state = crate::rng::mix(crate::rng::mix(crate::rng::GOLDEN));
        b.rng_init = i64::from_ne_bytes(state.to_ne_bytes());
        b
    }

    fn type_of(&mut self, sig: Sig) -> u32 {
        if let Some(&i) = self.type_index.get(&sig) {
            return i;
        }
        let i = u32::try_from(self.types.len()).expect("fewer than 2^32 types");
        self.types.push(sig.clone());
        self.type_index.insert(sig, i);
        i
    }

    fn imported(&self) -> u32 {
        u32::try_from(self.hosts.len()).expect("at most a few imports")
    }

    /// The function index of a host import.
    pub(super) fn host(&self, h: Host) -> u32 {
        let i = self
            .hosts
            .iter()
            .position(|&x| x == h)
            .expect("the pre-pass imports every host function the code calls");
        u32::try_from(i).expect("at most a few imports")
    }

    /// Reserves a defined function's index.
    pub(super) fn reserve(&mut self, sig: Sig) -> u32 {
        let ty = self.type_of(sig);
        let index =
            self.imported() + u32::try_from(self.funcs.len()).expect("fewer than 2^32 functions");
        self.funcs.push((ty, None));
        index
    }

    /// Supplies the body of a reserved function.
    pub(super) fn define(&mut self, index: u32, f: Func) {
        let slot = (index - self.imported()) as usize;
        let ty = self.type_of(f.sig());
        let entry = &mut self.funcs[slot];
        debug_assert_eq!(entry.0, ty, "a body matches its reserved signature");
        entry.1 = Some(f.finish());
    }

    /// The function index of a helper, generating it on first use.
    pub(super) fn helper(&mut self, h: Helper) -> u32 {
        if let Some(&(_, i)) = self.helpers.iter().find(|(x, _)| *x == h) {
            return i;
        }
        let index = self.reserve(helpers::sig(h));
        self.helpers.push((h, index));
        let body = helpers::generate(self, h);
        self.define(index, body);
        index
    }

    /// Exports a function.
    pub(super) fn export(&mut self, name: &'static str, index: u32) {
        self.exports.push((name, ExportKind::Func, index));
    }

    /// Places `bytes` among the small constants (8-byte aligned); identical constants share
    /// one place when `shared` (copy descriptors are written while in use: never shared).
    pub(super) fn constant(&mut self, bytes: &[u8], shared: bool) -> Result<u32, CodegenError> {
        if shared && let Some(&at) = self.const_dedup.get(bytes) {
            return Ok(at);
        }
        let at = Self::place(&mut self.consts, self.layout.const_base, bytes)?;
        if shared {
            self.const_dedup.insert(bytes.to_vec(), at);
        }
        Ok(at)
    }

    /// Places a data table's values.
    pub(super) fn table(&mut self, bytes: &[u8]) -> Result<u32, CodegenError> {
        let at = Self::place(&mut self.table_data, self.layout.table_base, bytes)?;
        self.tables.push(at);
        Ok(at)
    }

    fn place(area: &mut Vec<u8>, base: u32, bytes: &[u8]) -> Result<u32, CodegenError> {
        let offset = area.len().next_multiple_of(8);
        let needed = u64::from(base) + offset as u64 + bytes.len() as u64;
        if needed > MEMORY_LIMIT {
            return Err(CodegenError::TooMuchMemory {
                needed,
                limit: MEMORY_LIMIT,
            });
        }
        area.resize(offset, 0);
        area.extend_from_slice(bytes);
        Ok(base + u32::try_from(offset).expect("checked against the memory limit"))
    }

    /// Starts the frame of an entry point: its variables and temporaries start over at the
    /// frame base (every call runs in a fresh instance, so entry points share the area).
    pub(super) fn start_frame(&mut self) {
        self.frame_top = 0;
    }

    /// Reserves `bytes` (8-byte aligned) in the current entry point's frame.
    pub(super) fn frame(&mut self, bytes: u64) -> Result<u32, CodegenError> {
        let offset = self.frame_top.next_multiple_of(8);
        let end = offset.saturating_add(bytes);
        let needed = u64::from(FRAME_BASE).saturating_add(end);
        if needed > MEMORY_LIMIT {
            return Err(CodegenError::TooMuchMemory {
                needed,
                limit: MEMORY_LIMIT,
            });
        }
        self.frame_top = end;
        self.frame_max = self.frame_max.max(end);
        Ok(FRAME_BASE + u32::try_from(offset).expect("checked against the limit"))
    }

    /// Where the allocator's heap starts: after everything static, 16-byte aligned.
    fn heap_base(&self) -> u64 {
        let frame = u64::from(FRAME_BASE) + self.frame_max;
        let consts = u64::from(self.layout.const_base) + self.consts.len() as u64;
        let tables = match self.table_data.len() {
            0 => 0,
            len => u64::from(self.layout.table_base) + len as u64,
        };
        frame.max(consts).max(tables).next_multiple_of(16)
    }

    /// Encodes the module.
    pub(super) fn finish(self) -> Result<Vec<u8>, CodegenError> {
        let heap = self.heap_base();
        if heap > MEMORY_LIMIT {
            return Err(CodegenError::TooMuchMemory {
                needed: heap,
                limit: MEMORY_LIMIT,
            });
        }
        let heap = i32::try_from(heap).expect("below the memory limit");
        let mut module = Module::new();

        let mut types = TypeSection::new();
        for sig in &self.types {
            types.ty().function(
                sig.params.iter().map(|t| t.val()),
                sig.results.iter().map(|t| t.val()),
            );
        }
        module.section(&types);

        let mut imports_section = ImportSection::new();
        for &h in &self.hosts {
            let sig = Sig {
                params: vec![Ty::F64; h.arity()],
                results: vec![Ty::F64],
            };
            let ty = self.type_index[&sig];
            imports_section.import(imports::MODULE, h.name(), EntityType::Function(ty));
        }
        module.section(&imports_section);

        let mut functions = FunctionSection::new();
        for (ty, _) in &self.funcs {
            functions.function(*ty);
        }
        module.section(&functions);

        let pages = (heap as u64).div_ceil(PAGE).max(1);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);

        let mut globals = GlobalSection::new();
        globals.global(
            GlobalType {
                val_type: ValType::I64,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i64_const(self.rng_init),
        );
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(heap),
        );
        module.section(&globals);

        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        for (name, kind, index) in &self.exports {
            exports.export(name, *kind, *index);
        }
        module.section(&exports);

        let mut code = CodeSection::new();
        for (_, body) in &self.funcs {
            code.function(body.as_ref().expect("every reserved function is defined"));
        }
        module.section(&code);

        let mut data = DataSection::new();
        for (base, mut bytes) in [
            (self.layout.const_base, self.consts),
            (self.layout.table_base, self.table_data),
        ] {
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
            if !bytes.is_empty() {
                let at = i32::try_from(base).expect("below the memory limit");
                data.active(0, &ConstExpr::i32_const(at), bytes);
            }
        }
        if !data.is_empty() {
            module.section(&data);
        }
        Ok(module.finish())
    }
}
