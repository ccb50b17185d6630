//! The exported entry points: `abi_version`, `alloc`, `task`, `score` and `reward`.
//!
//! Payload shapes are static, so every header byte and length is known here: `task` copies
//! the headers from the constants area and encodes the values after them, and `score`
//! compares the inputs' lengths and headers against the same bytes before decoding.

use ganglion_plugin_abi::exports;
use ganglion_plugin_abi::payload::{DType, MAX_RANK};
use wasm_encoder::BlockType;

use super::CodegenError;
use super::expr::{Addr, Arg, Gen, Sz, Val, invalid};
use super::helpers::Helper;
use super::wasm::{Builder, Func, GLOBAL_RNG, Sig, Ty, at};
use crate::ir::{Output, Program, Reward, TensorSpec};
use crate::rng::GOLDEN;

/// One tensor of a payload with a static layout.
struct Slot {
    dtype: DType,
    shape: Vec<usize>,
    /// Elements.
    count: u64,
    /// Where its header starts, from the payload's start.
    header_at: u64,
    /// Its header: dtype, rank and dims (the payload's first also starts with the count).
    header: Vec<u8>,
    /// Where its data starts.
    data_at: u64,
}

/// A payload's static layout.
struct PayloadLayout {
    slots: Vec<Slot>,
    len: u64,
}

fn layout(tensors: &[(DType, &[usize])]) -> Result<PayloadLayout, CodegenError> {
    let count = u32::try_from(tensors.len()).map_err(|_| invalid("too many tensors"))?;
    let mut slots = Vec::with_capacity(tensors.len());
    let mut offset = 4u64;
    for (i, &(dtype, shape)) in tensors.iter().enumerate() {
        let rank = u8::try_from(shape.len())
            .ok()
            .filter(|&r| r <= MAX_RANK)
            .ok_or_else(|| invalid(format!("a payload tensor of rank {}", shape.len())))?;
        let mut header = Vec::with_capacity(6 + 4 * shape.len());
        let header_at = if i == 0 {
            header.extend_from_slice(&count.to_le_bytes());
            0
        } else {
            offset
        };
        header.push(dtype.code());
        header.push(rank);
        let mut elems = 1u64;
        for &d in shape {
            let d32 = u32::try_from(d).map_err(|_| invalid("a payload dimension beyond u32"))?;
            header.extend_from_slice(&d32.to_le_bytes());
            elems = elems.saturating_mul(u64::from(d32));
        }
        offset += 2 + 4 * shape.len() as u64;
        let data_at = offset;
        offset = offset.saturating_add(elems.saturating_mul(dtype.size() as u64));
        slots.push(Slot {
            dtype,
            shape: shape.to_vec(),
            count: elems,
            header_at,
            header,
            data_at,
        });
    }
    if offset > u64::from(u32::MAX) {
        return Err(CodegenError::TooMuchMemory {
            needed: offset,
            limit: super::wasm::MEMORY_LIMIT,
        });
    }
    Ok(PayloadLayout { slots, len: offset })
}

fn outputs(outs: &[Output]) -> Vec<(DType, &[usize])> {
    outs.iter().map(|o| (o.dtype, &o.shape[..])).collect()
}

fn i32_of(x: u64) -> Result<i32, CodegenError> {
    i32::try_from(x).map_err(|_| CodegenError::TooMuchMemory {
        needed: x,
        limit: super::wasm::MEMORY_LIMIT,
    })
}

fn c64(x: u64) -> i64 {
    i64::from_ne_bytes(x.to_ne_bytes())
}

/// `abi_version() -> 1`.
pub(super) fn abi_version(b: &mut Builder) {
    let mut f = Func::new(&[], &[Ty::I32]);
    f.ins().i32_const(ganglion_plugin_abi::ABI_VERSION);
    let index = b.reserve(f.sig());
    b.define(index, f);
    b.export(exports::ABI_VERSION.name, index);
}

/// `alloc(len) -> ptr`.
pub(super) fn alloc(b: &mut Builder) {
    let index = b.helper(Helper::Alloc);
    b.export(exports::ALLOC.name, index);
}

/// `task(seed, round) -> (ptr << 32) | len`.
pub(super) fn task(b: &mut Builder, p: &Program) -> Result<(), CodegenError> {
    b.start_frame();
    let sig = Sig {
        params: vec![Ty::I64, Ty::I64],
        results: vec![Ty::I64],
    };
    let index = b.reserve(sig.clone());
    let mix = b.helper(Helper::Mix);
    let mut f = Func::new(&sig.params, &sig.results);
    // state = mix(seed ^ mix(round + GOLDEN))
    f.ins()
        .local_get(0)
        .local_get(1)
        .i64_const(c64(GOLDEN))
        .i64_add()
        .call(mix)
        .i64_xor()
        .call(mix)
        .global_set(GLOBAL_RNG);
    let mut g = Gen::new(b, p, f, None);
    for l in &p.task.lets {
        let v = g.expr(&l.value)?;
        g.bind(l.var, v)?;
    }
    let public = layout(&outputs(&p.task.send))?;
    let private = layout(&outputs(&p.task.keep))?;
    let total = 4 + public.len + private.len;
    let out = g.b.frame(total)?;
    g.f.ins()
        .i32_const(out as i32)
        .i32_const(i32_of(public.len)?)
        .i32_store(at(0, 0));
    for (payload, outs, base) in [
        (&public, &p.task.send, u64::from(out) + 4),
        (&private, &p.task.keep, u64::from(out) + 4 + public.len),
    ] {
        for (slot, o) in payload.slots.iter().zip(outs) {
            let v = g.var(o.var)?;
            if v.shape != o.shape || Sz::of(&v.shape) != Sz::lit(slot.count) {
                return Err(invalid(format!(
                    "output `{}` does not have its shape",
                    o.name
                )));
            }
            let header = g.b.constant(&slot.header, true)?;
            g.f.ins()
                .i32_const(i32_of(base + slot.header_at)?)
                .i32_const(header as i32)
                .i32_const(i32_of(slot.header.len() as u64)?)
                .memory_copy(0, 0);
            g.call(
                Helper::Encode(slot.dtype),
                &[
                    Arg::I32(i32_of(base + slot.data_at)?),
                    Arg::Addr(v.addr),
                    Arg::Sz(Sz::lit(slot.count)),
                ],
            )?;
        }
    }
    g.f.ins()
        .i64_const((i64::from(out) << 32) | i64::from(i32_of(total)?));
    let f = g.finish();
    b.define(index, f);
    b.export(exports::TASK.name, index);
    Ok(())
}

/// `score(pub, pub_len, priv, priv_len, resp, resp_len) -> f64`.
pub(super) fn score(b: &mut Builder, p: &Program) -> Result<(), CodegenError> {
    b.start_frame();
    let sig = Sig {
        params: vec![Ty::I32; 6],
        results: vec![Ty::F64],
    };
    let index = b.reserve(sig.clone());
    let f = Func::new(&sig.params, &sig.results);
    let s = &p.score;
    if s.public.len() != p.task.send.len() || s.private.len() != p.task.keep.len() {
        return Err(invalid(
            "score inputs that do not match the task's payloads",
        ));
    }
    let TensorSpec { dtype, shape } = &p.task.expect;
    let response = layout(&[(*dtype, &shape[..])])?;
    let public = layout(&outputs(&p.task.send))?;
    let private = layout(&outputs(&p.task.keep))?;
    let mut g = Gen::new(b, p, f, None);
    let inputs = [(4u32, &response), (0, &public), (2, &private)];
    // Every length, then every header: anything else scores 0.
    for &(ptr, l) in &inputs {
        g.f.ins()
            .local_get(ptr + 1)
            .i32_const(i32_of(l.len)?)
            .i32_ne()
            .if_(BlockType::Empty)
            .f64_const(0.0.into())
            .return_()
            .end();
    }
    for &(ptr, l) in &inputs {
        for slot in &l.slots {
            let header = g.b.constant(&slot.header, true)?;
            g.f.ins()
                .local_get(ptr)
                .i32_const(i32_of(slot.header_at)?)
                .i32_add();
            g.call(
                Helper::MemEq,
                &[
                    Arg::Addr(Addr::Const(header)),
                    Arg::I32(i32_of(slot.header.len() as u64)?),
                ],
            )?;
            g.f.ins()
                .i32_eqz()
                .if_(BlockType::Empty)
                .f64_const(0.0.into())
                .return_()
                .end();
        }
    }
    let vars = std::iter::once(s.response)
        .chain(s.public.iter().copied())
        .chain(s.private.iter().copied());
    let slots = inputs
        .iter()
        .flat_map(|&(ptr, l)| l.slots.iter().map(move |slot| (ptr, slot)));
    for (var, (ptr, slot)) in vars.zip(slots) {
        let buf = g.buffer(&slot.shape)?;
        g.push(Arg::Addr(buf))?;
        g.f.ins()
            .local_get(ptr)
            .i32_const(i32_of(slot.data_at)?)
            .i32_add();
        g.call(Helper::Decode(slot.dtype), &[Arg::Sz(Sz::lit(slot.count))])?;
        if var == s.response && matches!(slot.dtype, DType::F32 | DType::F64) {
            g.call(
                Helper::AllFinite,
                &[Arg::Addr(buf), Arg::Sz(Sz::lit(slot.count))],
            )?;
            g.f.ins()
                .i32_eqz()
                .if_(BlockType::Empty)
                .f64_const(0.0.into())
                .return_()
                .end();
        }
        g.bind(
            var,
            Val {
                addr: buf,
                shape: slot.shape.clone(),
            },
        )?;
    }
    for l in &s.lets {
        let v = g.expr(&l.value)?;
        g.bind(l.var, v)?;
    }
    let item = g.expr(&s.item)?;
    if Sz::of(&item.shape) != Sz::ONE {
        return Err(invalid("a score item that is not a scalar"));
    }
    // r = item; (if r > 1 { 1 } else { r }) when r >= 0, else 0 (NaN too).
    let r = g.f.local(Ty::F64);
    g.push(Arg::F64At(item.addr))?;
    g.f.ins()
        .local_set(r)
        .f64_const(1.0.into())
        .local_get(r)
        .local_get(r)
        .f64_const(1.0.into())
        .f64_gt()
        .select()
        .f64_const(0.0.into())
        .local_get(r)
        .f64_const(0.0.into())
        .f64_ge()
        .select();
    let f = g.finish();
    b.define(index, f);
    b.export(exports::SCORE.name, index);
    Ok(())
}

/// `reward(ptr, len) -> (ptr << 32) | len`: the output overwrites the input.
pub(super) fn reward(b: &mut Builder, p: &Program, rule: &Reward) -> Result<(), CodegenError> {
    b.start_frame();
    let sig = Sig {
        params: vec![Ty::I32, Ty::I32],
        results: vec![Ty::I64],
    };
    let index = b.reserve(sig.clone());
    let mut f = Func::new(&sig.params, &sig.results);
    let (ptr, len) = (0, 1);
    let n = f.local(Ty::I32);
    f.ins().local_get(len).i32_const(1).i32_shr_u().local_set(n);
    let mut g = Gen::new(b, p, f, Some(n));
    let vector = [crate::ir::N];
    let incentive = g.buffer(&vector)?;
    g.call(
        Helper::RewardIn,
        &[Arg::Addr(incentive), Arg::Local(ptr), Arg::Local(n)],
    )?;
    g.bind(
        rule.incentive,
        Val {
            addr: incentive,
            shape: vector.to_vec(),
        },
    )?;
    let y = g.expr(&rule.expr)?;
    let step = match Sz::of(&y.shape) {
        s if s == Sz::ONE => 0,
        s if s == Sz::dim(crate::ir::N) => 8,
        _ => {
            return Err(invalid(
                "a reward that is neither a scalar nor a vector of N",
            ));
        }
    };
    g.call(
        Helper::RewardOut,
        &[
            Arg::Local(ptr),
            Arg::Addr(y.addr),
            Arg::I32(step),
            Arg::Local(n),
        ],
    )?;
    g.f.ins()
        .local_get(ptr)
        .i64_extend_i32_u()
        .i64_const(32)
        .i64_shl()
        .local_get(n)
        .i64_extend_i32_u()
        .i64_const(1)
        .i64_shl()
        .i64_or();
    let f = g.finish();
    b.define(index, f);
    b.export(exports::REWARD.name, index);
    Ok(())
}
