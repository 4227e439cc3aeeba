//! Plans to LLVM IR.
//!
//! Each plan becomes `<prefix>_plan_<i>(ctx, out, remaining, args...) -> status` and a
//! wrapper `<prefix>_entry_<i>(ctx, env, frame, *const u64) -> Ret` (the calling
//! convention is `pyopt_jit::abi`'s). Locals and value-stack entries live in stack slots
//! (one per local or depth and type), which LLVM's mem2reg turns into registers; every
//! instruction of the plan gets a basic block. Anything that cannot go on writes a
//! deoptimization record and returns through `pyopt_deopt`.
//!
//! - this module: the generator for a unit (helper declarations, plan signatures) and
//!   for one plan (storage, the value stack, deoptimization, control flow);
//! - [`wrapper`]: the entry wrappers `hooks` calls;
//! - [`ops`]: one plan instruction at a time;
//! - [`numeric`]: arithmetic and comparisons with Python's semantics, `range`, `math`
//!   and the builtins;
//! - [`sequences`]: reading and writing lists and `array.array`s in place;
//! - [`iterators`]: iterators over ranges, sequences and tuples, `enumerate`, `zip` and
//!   `reversed`, run in registers;
//! - [`ndarrays`]: numpy arrays in place (their fields read once per loop iteration);
//! - [`numpy_scalars`]: numpy's scalars of every dtype, read, stored and computed with;
//! - [`float_checks`]: numpy's floating-point warnings (overflow, invalid, underflow),
//!   a chain of float64 operations checked once;
//! - [`memory`]: loads and stores of objects' fields and buffers, tagged for alias
//!   analysis.

mod float_checks;
mod iterators;
mod memory;
mod ndarrays;
mod numeric;
mod numpy_scalars;
mod ops;
mod sequences;
mod versioning;
mod wrapper;

use std::collections::HashMap;

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{
    BasicMetadataTypeEnum, BasicType, BasicTypeEnum, FloatType, IntType, PointerType, StructType,
};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValue, BasicValueEnum, FastMathFlags, FloatValue, FunctionValue,
    InstructionValue, IntValue, PointerValue,
};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};
use numpy_scalars::NumpyUnary;
use pyopt_jit::abi::{self, helper};
use pyopt_jit::plan::{
    BinOp, CmpOp, DeoptId, DeoptKind, FunctionPlan, Local, Op, StackSlot, State, Test, UnaryOp,
    Unit, Value,
};
use pyopt_jit::snapshot::{BuiltinFn, MathFn, NumpyDraw, RandomFn};
use pyopt_jit::types::{Dtype, Ty};

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A value in registers, shaped like its type.
#[derive(Clone, Debug)]
enum Cv<'c> {
    Int(IntValue<'c>),
    Float(FloatValue<'c>),
    /// An `i1`.
    Bool(IntValue<'c>),
    None,
    Tuple(Vec<Cv<'c>>),
    /// start, step, length
    Range(IntValue<'c>, IntValue<'c>, IntValue<'c>),
    /// A (borrowed) object: a list or an array.
    Obj(PointerValue<'c>),
    /// A list or an array, and the next index.
    SeqIter(PointerValue<'c>, IntValue<'c>),
    /// A number that may be numpy's: the value, and an `i1` that is set when it
    /// is (`Ty::AnyFloat`, `Ty::AnyBool`, `Ty::AnyInt`).
    Flagged(Box<Cv<'c>>, IntValue<'c>),
    /// NULL or a known object: no machine value.
    Marker,
}

/// Stack-slot storage for a value of one type.
#[derive(Clone, Debug)]
enum Store<'c> {
    Int(PointerValue<'c>),
    Float(PointerValue<'c>),
    Bool(PointerValue<'c>),
    Tuple(Vec<Store<'c>>),
    Range([PointerValue<'c>; 3]),
    Obj(PointerValue<'c>),
    SeqIter(PointerValue<'c>, PointerValue<'c>),
    Empty(Ty),
    /// In a plan with numpy floats or bools: a float's or bool's storage (shared by
    /// Python's, numpy's and the flagged type) with the local's or stack slot's numpy
    /// flag, written as `constant` for a value of a known kind, or read and written
    /// with the value (a `Cv::Flagged`) when `constant` is None.
    WithFlag {
        value: Box<Store<'c>>,
        flag: PointerValue<'c>,
        constant: Option<bool>,
    },
}

pub fn symbol(prefix: &str, kind: &str, plan: usize) -> String {
    format!("{prefix}_{kind}_{plan}")
}

/// Plans of at most this many steps that do not recurse are always inlined.
const ALWAYS_INLINE_STEPS: usize = 96;

pub struct Gen<'c> {
    ctx: &'c Context,
    pub module: Module<'c>,
    builder: Builder<'c>,
    i64t: IntType<'c>,
    i32t: IntType<'c>,
    i1t: IntType<'c>,
    f64t: FloatType<'c>,
    ptrt: PointerType<'c>,
    ret_t: StructType<'c>,
    ctx_t: StructType<'c>,
    env_t: StructType<'c>,
    watch_t: StructType<'c>,
    helpers: HashMap<&'static str, FunctionValue<'c>>,
    plans: Vec<FunctionValue<'c>>,
    unit: &'c Unit,
    prefix: String,
    tags: memory::AliasTags<'c>,
}

impl<'c> Gen<'c> {
    pub fn new(ctx: &'c Context, unit: &'c Unit, prefix: &str) -> Self {
        let module = ctx.create_module(prefix);
        let i64t = ctx.i64_type();
        let ptrt = ctx.ptr_type(AddressSpace::default());
        let ret_t = ctx.struct_type(&[i64t.into(), i64t.into()], false);
        // abi::Ctx: recursion_remaining, eval_breaker, slots, capacity, entry_frame,
        // entry_out, env.
        let ctx_t = ctx.struct_type(
            &[
                ptrt.into(),
                ptrt.into(),
                ptrt.into(),
                i64t.into(),
                ptrt.into(),
                ptrt.into(),
                ptrt.into(),
            ],
            false,
        );
        let env_t = ctx.struct_type(&[ptrt.into(), ptrt.into(), i64t.into(), ptrt.into()], false);
        let watch_t = ctx.struct_type(&[ptrt.into(), i64t.into()], false);
        let mut generator = Gen {
            ctx,
            module,
            builder: ctx.create_builder(),
            i64t,
            i32t: ctx.i32_type(),
            i1t: ctx.bool_type(),
            f64t: ctx.f64_type(),
            ptrt,
            ret_t,
            ctx_t,
            env_t,
            watch_t,
            helpers: HashMap::new(),
            plans: Vec::new(),
            unit,
            prefix: prefix.to_owned(),
            tags: memory::AliasTags::new(ctx),
        };
        generator.declare_helpers();
        generator
    }

    fn declare_helpers(&mut self) {
        let (i64t, i32t, f64t, p) = (self.i64t, self.i32t, self.f64t, self.ptrt);
        let decls: Vec<(
            &'static str,
            BasicTypeEnum<'c>,
            Vec<BasicMetadataTypeEnum<'c>>,
        )> = vec![
            (
                helper::DEOPT,
                i64t.into(),
                vec![
                    p.into(),
                    p.into(),
                    p.into(),
                    i32t.into(),
                    i32t.into(),
                    i64t.into(),
                ],
            ),
            (helper::GUARDS, i32t.into(), vec![p.into()]),
            (helper::POLL, i32t.into(), vec![p.into(), p.into()]),
            (
                helper::POLL_BORROWING,
                i32t.into(),
                vec![p.into(), p.into()],
            ),
            (
                helper::FLOAT_FLOORDIV,
                f64t.into(),
                vec![f64t.into(), f64t.into()],
            ),
            (
                helper::FLOAT_MOD,
                f64t.into(),
                vec![f64t.into(), f64t.into()],
            ),
            (
                helper::FLOAT_POW,
                i32t.into(),
                vec![f64t.into(), f64t.into(), p.into()],
            ),
            (
                helper::INT_POW,
                i32t.into(),
                vec![i64t.into(), i64t.into(), p.into()],
            ),
            (
                helper::COMPARE_INT_FLOAT,
                i32t.into(),
                vec![i64t.into(), f64t.into(), i32t.into()],
            ),
            (
                helper::INT_TRUEDIV,
                i32t.into(),
                vec![i64t.into(), i64t.into(), p.into()],
            ),
            (
                helper::MATH,
                i32t.into(),
                vec![i32t.into(), f64t.into(), f64t.into(), f64t.into(), p.into()],
            ),
            (
                helper::MATH_TO_INT,
                i32t.into(),
                vec![i32t.into(), f64t.into(), p.into()],
            ),
            (helper::GCD, i64t.into(), vec![i64t.into(), i64t.into()]),
            (helper::NUMPY_UNDERFLOW_IGNORED, i32t.into(), vec![]),
            (helper::RANDOM, f64t.into(), vec![p.into()]),
            (
                helper::RANDINT,
                i32t.into(),
                vec![p.into(), i64t.into(), i64t.into(), p.into()],
            ),
            (helper::ROUND, i32t.into(), vec![f64t.into(), p.into()]),
            (
                helper::ROUND_FLOAT_DIGITS,
                i32t.into(),
                vec![f64t.into(), i64t.into(), p.into()],
            ),
            (
                helper::ROUND_INT_DIGITS,
                i32t.into(),
                vec![i64t.into(), i64t.into(), p.into()],
            ),
            (
                helper::BOX_RESULT,
                p.into(),
                vec![p.into(), i32t.into(), p.into()],
            ),
            (
                helper::LIST_SET,
                i32t.into(),
                vec![p.into(), i64t.into(), i32t.into(), i64t.into()],
            ),
            (
                helper::LIST_APPEND,
                i32t.into(),
                vec![p.into(), i32t.into(), i64t.into()],
            ),
            (
                helper::ARRAY_SUM,
                i32t.into(),
                vec![p.into(), i32t.into(), i32t.into(), p.into()],
            ),
            (helper::RELEASE, i32t.into(), vec![p.into()]),
            (
                helper::NUMPY_RANDINT,
                i64t.into(),
                vec![p.into(), i64t.into(), i64t.into()],
            ),
            (
                helper::NUMPY_DOT,
                i32t.into(),
                vec![p.into(), p.into(), p.into()],
            ),
            (helper::NEW_LIST, i32t.into(), vec![p.into()]),
            (
                helper::FLOAT32_DIVMOD,
                f64t.into(),
                vec![f64t.into(), f64t.into(), i32t.into()],
            ),
            (
                helper::LIST_REDUCE,
                i32t.into(),
                vec![i32t.into(), p.into(), i32t.into(), p.into()],
            ),
            (
                helper::LIST_METHOD,
                i32t.into(),
                vec![
                    i32t.into(),
                    p.into(),
                    i64t.into(),
                    i32t.into(),
                    i64t.into(),
                    p.into(),
                ],
            ),
            (
                helper::LIST_DELETE,
                i32t.into(),
                vec![p.into(), i64t.into(), i32t.into()],
            ),
            (
                helper::LIST_REPEAT,
                i32t.into(),
                vec![p.into(), i64t.into(), p.into()],
            ),
            (
                helper::NUMPY_CALL,
                i32t.into(),
                vec![p.into(), p.into(), p.into(), p.into()],
            ),
            (
                helper::UFUNC,
                i32t.into(),
                vec![
                    p.into(),
                    i32t.into(),
                    i32t.into(),
                    f64t.into(),
                    f64t.into(),
                    p.into(),
                ],
            ),
        ];
        // CPython's objects compiled code compares with, resolved like the helpers.
        for name in helper::PYTHON_OBJECTS {
            let global = self.module.add_global(self.ctx.i8_type(), None, name);
            global.set_linkage(Linkage::External);
        }
        for (name, result, params) in decls {
            let f = self.module.add_function(
                name,
                result.fn_type(&params, false),
                Some(Linkage::External),
            );
            self.helpers.insert(name, f);
        }
        // The C library's functions only compute (CPython ignores the errno they set
        // on the paths compiled code takes), so LLVM may treat them as pure: common
        // subexpressions, and `sin(x)` with `cos(x)` as one `sincos` call (glibc's
        // sincos gives the same bits as its sin and cos).
        for name in helper::LIBM {
            let f = self.module.add_function(
                name,
                f64t.fn_type(&[f64t.into()], false),
                Some(Linkage::External),
            );
            self.helpers.insert(name, f);
        }
        // (`memory` values: 0 accesses no memory, 3 reads and writes its arguments only.)
        let computes_only = [
            ("memory", 0),
            ("nounwind", 0),
            ("willreturn", 0),
            ("nosync", 0),
        ];
        self.add_attributes(&helper::LIBM, &computes_only);
        // The random helpers only touch the generator (and the result slot): loads of
        // anything else may stay out of the loop around them.
        let argument_memory = [
            ("memory", 3),
            ("nounwind", 0),
            ("willreturn", 0),
            ("nosync", 0),
        ];
        self.add_attributes(&[helper::RANDOM, helper::RANDINT], &argument_memory);
        // Leaving compiled code is the rare path: keep it out of the hot loops' way.
        self.add_attributes(
            &[helper::DEOPT, helper::GUARDS, helper::POLL],
            &[("cold", 0)],
        );
    }

    /// Adds function attributes (name, value) to the declared helpers `names`.
    fn add_attributes(&self, names: &[&str], attributes: &[(&str, u64)]) {
        for name in names {
            if let Some(f) = self.helpers.get(name) {
                for &(attribute, value) in attributes {
                    let kind = Attribute::get_named_enum_kind_id(attribute);
                    f.add_attribute(
                        AttributeLoc::Function,
                        self.ctx.create_enum_attribute(kind, value),
                    );
                }
            }
        }
    }

    /// Machine parameter types of a value of type `ty`, flattened.
    fn flat_types(&self, ty: &Ty, out: &mut Vec<BasicMetadataTypeEnum<'c>>) {
        match ty {
            Ty::Int | Ty::Bool => out.push(self.i64t.into()),
            Ty::Float => out.push(self.f64t.into()),
            Ty::Tuple(items) => items.iter().for_each(|t| self.flat_types(t, out)),
            Ty::Range | Ty::RangeIter => {
                for _ in 0..3 {
                    out.push(self.i64t.into());
                }
            }
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => out.push(self.ptrt.into()),
            Ty::NpFloat => out.push(self.f64t.into()),
            Ty::NpBool => out.push(self.i64t.into()),
            Ty::NpScalar(dtype) if dtype.is_float() => out.push(self.f64t.into()),
            Ty::NpScalar(_) => out.push(self.i64t.into()),
            Ty::AnyFloat | Ty::AnyFloat32 => {
                out.push(self.f64t.into());
                out.push(self.i64t.into());
            }
            Ty::AnyBool | Ty::AnyInt(_) => {
                out.push(self.i64t.into());
                out.push(self.i64t.into());
            }
            Ty::SeqIter(_) | Ty::SeqRevIter(_) => {
                out.push(self.ptrt.into());
                out.push(self.i64t.into());
            }
            Ty::TupleIter(tuple) => {
                self.flat_types(tuple, out);
                out.push(self.i64t.into());
            }
            Ty::Enumerate(inner) => {
                out.push(self.i64t.into());
                self.flat_types(inner, out);
            }
            Ty::Zip(inners) => inners.iter().for_each(|t| self.flat_types(t, out)),
            Ty::None | Ty::Null | Ty::Object(_) | Ty::Method(_) => {}
        }
    }

    /// Says which of `f`'s parameters, from `next` on, carry the object of a
    /// parameter of type `ty` (see [`memory::object_bytes`]): loads of its fields may
    /// then move out of loops even from under a branch.
    fn mark_object_params(&self, f: FunctionValue<'c>, ty: &Ty, next: &mut u32) {
        match ty {
            Ty::Tuple(items) => {
                for item in items {
                    self.mark_object_params(f, item, next);
                }
            }
            _ => {
                if let Some(bytes) = memory::object_bytes(ty) {
                    for (name, value) in [("dereferenceable", bytes), ("nonnull", 0), ("align", 8)]
                    {
                        let kind = Attribute::get_named_enum_kind_id(name);
                        f.add_attribute(
                            AttributeLoc::Param(*next),
                            self.ctx.create_enum_attribute(kind, value),
                        );
                    }
                }
                let mut flat = Vec::new();
                self.flat_types(ty, &mut flat);
                *next += flat.len() as u32;
            }
        }
    }

    /// Whether plan `index` can reach itself through direct calls.
    fn recursive(&self, index: usize) -> bool {
        let callees = |plan: usize| {
            self.unit.plans[plan]
                .steps
                .iter()
                .filter_map(|step| match step.op {
                    Op::CallPlan { plan, .. } => Some(plan as usize),
                    _ => None,
                })
        };
        let mut seen = vec![false; self.unit.plans.len()];
        let mut work: Vec<usize> = callees(index).collect();
        while let Some(plan) = work.pop() {
            if plan == index {
                return true;
            }
            if !std::mem::replace(&mut seen[plan], true) {
                work.extend(callees(plan));
            }
        }
        false
    }

    pub fn generate(&mut self) -> Res<()> {
        // Declare every plan first: plans call each other.
        for (index, plan) in self.unit.plans.iter().enumerate() {
            // (ctx, out, remaining) -> status: `out` receives the result's slots;
            // `remaining` is the caller's recursion budget (tstate's
            // recursion_remaining, tracked in a register between compiled calls). The
            // unit's env is in ctx: only rare paths need it, and a register less per
            // call matters to recursive code.
            let mut params: Vec<BasicMetadataTypeEnum<'c>> =
                vec![self.ptrt.into(), self.ptrt.into(), self.i32t.into()];
            for ty in &plan.params {
                self.flat_types(ty, &mut params);
            }
            let f = self.module.add_function(
                &symbol(&self.prefix, "plan", index),
                self.i64t.fn_type(&params, false),
                Some(Linkage::Internal),
            );
            // Small functions that do not recurse belong inside their callers' loops;
            // LLVM's size estimate counts the (cold) deoptimization paths, so say so.
            if !self.recursive(index) && plan.steps.len() <= ALWAYS_INLINE_STEPS {
                let kind = Attribute::get_named_enum_kind_id("alwaysinline");
                f.add_attribute(
                    AttributeLoc::Function,
                    self.ctx.create_enum_attribute(kind, 0),
                );
            }
            let mut next = 3;
            for ty in &plan.params {
                self.mark_object_params(f, ty, &mut next);
            }
            self.plans.push(f);
        }
        for index in 0..self.unit.plans.len() {
            FnGen::new(self, index).emit()?;
            self.emit_wrapper(index)?;
        }
        self.module.verify().map_err(|e| format!("invalid IR: {e}"))
    }
}

/// Code generation for one plan.
struct FnGen<'g, 'c> {
    g: &'g Gen<'c>,
    plan: &'c FunctionPlan,
    index: usize,
    f: FunctionValue<'c>,
    alloca_builder: Builder<'c>,
    /// The block of each step: where every edge into the step goes, except the fast
    /// path of a loop's back-edges.
    blocks: Vec<BasicBlock<'c>>,
    /// The code of each loop header (the target of a backward jump), entered from its
    /// step's block and by back-edges that found the eval breaker clear. A back-edge
    /// that polled re-enters through the step's block instead, so the loop proper holds
    /// no call and LLVM can hoist loads (an array's data pointer, a list's items) into
    /// that block (into `RangeLoop::reentry` for a loop over a range).
    loop_bodies: HashMap<usize, BasicBlock<'c>>,
    /// Loops over a range: the block a polled back-edge re-enters through (the step's
    /// block itself is entered from outside the loop only), and where the range's next
    /// value was when the loop was entered (see `assume_range_progress`).
    range_loops: HashMap<usize, RangeLoop<'c>>,
    /// Storage of each local and value-stack depth, per storage type.
    stores: HashMap<(Slot, Ty), Store<'c>>,
    flags: HashMap<u32, PointerValue<'c>>,
    /// The current instruction's stack types (popping updates it).
    types: Vec<Ty>,
    ctx_ptr: PointerValue<'c>,
    /// Where a tuple result's slots go.
    out_ptr: PointerValue<'c>,
    breaker_ptr: PointerValue<'c>,
    /// Whether numpy ignores underflow, as last asked (`helper::NUMPY_UNDERFLOW_IGNORED`:
    /// 0 or 1), or -1 when Python code may have run since (see
    /// `numpy_underflow_ignored`). Only in plans with a loop whose entry test asks.
    underflow_answer: Option<PointerValue<'c>>,
    /// Objects of the unit's table this plan uses at run time (the `random`
    /// generator), read once in the entry block.
    objects: HashMap<u32, PointerValue<'c>>,
    /// This frame's recursion budget (the caller's minus one).
    depth: PointerValue<'c>,
    out_i64: PointerValue<'c>,
    out_f64: PointerValue<'c>,
    step: usize,
    /// The plan has numpy floats or bools: its floats and bools carry numpy flags.
    numpy: bool,
    numpy_flags: HashMap<Slot, PointerValue<'c>>,
    /// Some plan of the unit reads lists out of containers (`reads_lists_from_items`):
    /// a poll hands over instead of letting another thread run (see `back_edge`), and
    /// calls keep the lists the frame holds alive (see `CallPlan`).
    borrows_items: bool,
    /// Objects a call's deoptimization paths release after the interpreter finished
    /// (the references `CallPlan` took on the lists the frame holds).
    release_after_deopt: Vec<PointerValue<'c>>,
    /// Steps entered by an edge other than the fall-through from the step before (jump
    /// targets, loop headers, the on-stack-replacement entry).
    joins: std::collections::HashSet<usize>,
    /// numpy float64 checks waiting for the end of their run (see `float_checks`).
    pending_checks: Vec<float_checks::PendingCheck<'c>>,
    /// The pending checks whose results the current step pops (see `float_checks`).
    popped_checks: Vec<usize>,
    /// The fields of the arrays the locals held at the top of the current loop's body,
    /// while still valid (see `read_array_metadata`).
    top_reads: Vec<ndarrays::TopRead<'c>>,
    /// Some plan of the unit polls the eval breaker (has a backward jump): a call may
    /// have let other threads run (see `recheck_arrays_after_call`).
    unit_polls: bool,
    /// Innermost range loops that get a fast copy, by header step, with the block
    /// each copy starts at (see `versioning`).
    versioned: HashMap<usize, versioning::VersionedLoop>,
    fast_headers: HashMap<usize, BasicBlock<'c>>,
    /// The loop whose fast copy is being generated, and the state of a speculative
    /// one.
    copying: Option<versioning::VersionedLoop>,
    speculation: Option<versioning::Speculation<'c>>,
}

/// A loop whose header is FOR_ITER over a range.
#[derive(Clone, Copy)]
struct RangeLoop<'c> {
    /// Entered by back-edges that polled: on to the loop body.
    reentry: BasicBlock<'c>,
    /// The range's next value when the loop was last entered from outside (`i64::MIN`
    /// before that), in a stack slot of its own.
    entered_at: PointerValue<'c>,
}

/// A local or a value-stack depth: where a plan keeps a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Local(u32),
    Stack(usize),
}

/// Whether step `index`'s `op` may run Python code (which could change numpy's error
/// modes), other than in a poll (a back-edge's poll forgets the answer itself, see
/// `back_edge`): a call of a compiled plan (it may hand over), numpy's and lists'
/// helpers, anything not known to be native.
fn may_run_python(op: &Op, index: usize) -> bool {
    let native = matches!(
        op,
        Op::Jump { .. }
            | Op::Branch { .. }
            | Op::CallRange { .. }
            | Op::CallMath { .. }
            | Op::CallBuiltin { .. }
            | Op::CallUfunc { .. }
            | Op::LoadGlobal { .. }
            | Op::LoadAttribute { .. }
            | Op::LoadMethod(_)
    );
    !native && !ndarrays::runs_no_code(op, index)
}

impl<'g, 'c> FnGen<'g, 'c> {
    fn new(g: &'g Gen<'c>, index: usize) -> Self {
        let f = g.plans[index];
        let plan = &g.unit.plans[index];
        // Stack slots go in a block of their own, created lazily while the rest is
        // emitted; it branches to `start` once everything is generated.
        let allocas = g.ctx.append_basic_block(f, "allocas");
        g.ctx.append_basic_block(f, "start");
        let alloca_builder = g.ctx.create_builder();
        alloca_builder.position_at_end(allocas);
        let out_i64 = alloca_builder.build_alloca(g.i64t, "out_i").unwrap();
        let out_f64 = alloca_builder.build_alloca(g.f64t, "out_f").unwrap();
        let depth = alloca_builder.build_alloca(g.i32t, "depth").unwrap();
        // Where the eval breaker is: fixed for the interpreter, so read once per call
        // rather than at every loop back-edge.
        let ctx_ptr = f.get_nth_param(0).unwrap().into_pointer_value();
        let breaker_field = alloca_builder
            .build_struct_gep(g.ctx_t, ctx_ptr, 1, "")
            .unwrap();
        let breaker_ptr = alloca_builder
            .build_load(g.ptrt, breaker_field, "breaker")
            .unwrap()
            .into_pointer_value();

        let blocks = (0..plan.steps.len())
            .map(|i| g.ctx.append_basic_block(f, &format!("i{i}")))
            .collect();
        let loop_bodies = plan
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, step)| match step.op {
                Op::Jump { target, .. } | Op::Branch { target, .. } if target as usize <= i => {
                    Some(target as usize)
                }
                _ => None,
            })
            // A loop with `continue`s has several back-edges: one body.
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|t| (t, g.ctx.append_basic_block(f, &format!("loop{t}"))))
            .collect::<HashMap<_, _>>();
        let range_loops = loop_bodies
            .keys()
            .filter(|&&t| matches!(plan.steps[t].op, Op::ForRange { .. }))
            .map(|&t| {
                let entered_at = alloca_builder.build_alloca(g.i64t, "entered_at").unwrap();
                alloca_builder
                    .build_store(entered_at, g.i64t.const_int(i64::MIN as u64, true))
                    .unwrap();
                let reentry = g.ctx.append_basic_block(f, &format!("reenter{t}"));
                (
                    t,
                    RangeLoop {
                        reentry,
                        entered_at,
                    },
                )
            })
            .collect();
        let joins = joins(plan);
        let versioned = versioning::versionable_loops(plan, &joins);
        let underflow_answer = versioned
            .values()
            .any(versioning::VersionedLoop::asks_about_underflow)
            .then(|| {
                let slot = alloca_builder
                    .build_alloca(g.i32t, "underflow_answer")
                    .unwrap();
                alloca_builder
                    .build_store(slot, g.i32t.const_all_ones())
                    .unwrap();
                slot
            });
        let fast_headers = versioned
            .keys()
            .map(|&t| (t, g.ctx.append_basic_block(f, &format!("fast{t}"))))
            .collect();
        FnGen {
            g,
            plan,
            index,
            f,
            alloca_builder,
            blocks,
            loop_bodies,
            range_loops,
            stores: HashMap::new(),
            flags: HashMap::new(),
            types: Vec::new(),
            ctx_ptr,
            breaker_ptr,
            underflow_answer,
            objects: HashMap::new(),
            out_ptr: f.get_nth_param(1).unwrap().into_pointer_value(),
            depth,
            out_i64,
            out_f64,
            step: 0,
            numpy: uses_numpy_scalars(plan),
            numpy_flags: HashMap::new(),
            borrows_items: g.unit.plans.iter().any(reads_lists_from_items),
            release_after_deopt: Vec::new(),
            versioned,
            fast_headers,
            copying: None,
            speculation: None,
            joins,
            pending_checks: Vec::new(),
            popped_checks: Vec::new(),
            top_reads: Vec::new(),
            unit_polls: g.unit.plans.iter().any(polls),
        }
    }

    fn b(&self) -> &Builder<'c> {
        &self.g.builder
    }

    fn new_store(&self, ty: &Ty) -> Store<'c> {
        if let Some(held) = held_as(ty) {
            return self.new_store(&held);
        }
        let ab = &self.alloca_builder;
        match ty {
            Ty::Int => Store::Int(ab.build_alloca(self.g.i64t, "").unwrap()),
            Ty::Float | Ty::NpFloat => Store::Float(ab.build_alloca(self.g.f64t, "").unwrap()),
            Ty::Bool | Ty::NpBool => Store::Bool(ab.build_alloca(self.g.i1t, "").unwrap()),
            // In a plan with numpy scalars, a tuple's numbers carry flags of their own
            // (`slot_store` gives them the constant of each element's type).
            Ty::Tuple(items) => Store::Tuple(
                items
                    .iter()
                    .map(|t| {
                        let t = storage_key(t);
                        let store = self.new_store(&t);
                        if self.numpy && matches!(t, Ty::Int | Ty::Float | Ty::Bool) {
                            Store::WithFlag {
                                value: Box::new(store),
                                flag: ab.build_alloca(self.g.i1t, "np").unwrap(),
                                constant: None,
                            }
                        } else {
                            store
                        }
                    })
                    .collect(),
            ),
            Ty::Range | Ty::RangeIter => Store::Range([
                ab.build_alloca(self.g.i64t, "").unwrap(),
                ab.build_alloca(self.g.i64t, "").unwrap(),
                ab.build_alloca(self.g.i64t, "").unwrap(),
            ]),
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
                Store::Obj(ab.build_alloca(self.g.ptrt, "").unwrap())
            }
            Ty::SeqIter(_) | Ty::SeqRevIter(_) => Store::SeqIter(
                ab.build_alloca(self.g.ptrt, "").unwrap(),
                ab.build_alloca(self.g.i64t, "").unwrap(),
            ),
            // Composite iterators are stored as the tuples they are held as.
            Ty::TupleIter(tuple) => {
                Store::Tuple(vec![self.new_store(tuple), self.new_store(&Ty::Int)])
            }
            Ty::Enumerate(inner) => {
                Store::Tuple(vec![self.new_store(&Ty::Int), self.new_store(inner)])
            }
            Ty::Zip(inners) => Store::Tuple(inners.iter().map(|t| self.new_store(t)).collect()),
            other => Store::Empty(other.clone()),
        }
    }

    fn local_store(&mut self, local: u32, ty: &Ty) -> Store<'c> {
        self.slot_store(Slot::Local(local), ty)
    }

    fn stack_store(&mut self, depth: usize, ty: &Ty) -> Store<'c> {
        self.slot_store(Slot::Stack(depth), ty)
    }

    /// The storage of `slot` for a value of type `ty` (made on first use); in a plan
    /// with numpy scalars, a float's or bool's comes with the slot's numpy flag.
    fn slot_store(&mut self, slot: Slot, ty: &Ty) -> Store<'c> {
        let key = storage_key(ty);
        let store = match self.stores.get(&(slot, key.clone())) {
            Some(store) => store.clone(),
            None => {
                let store = self.new_store(&key);
                self.stores.insert((slot, key), store.clone());
                store
            }
        };
        let store = view(&store, ty);
        match numpy_flag(ty) {
            Some(constant) if self.numpy => {
                let (builder, i1) = (&self.alloca_builder, self.g.i1t);
                let flag = *self
                    .numpy_flags
                    .entry(slot)
                    .or_insert_with(|| builder.build_alloca(i1, "np").unwrap());
                Store::WithFlag {
                    value: Box::new(store),
                    flag,
                    constant,
                }
            }
            _ => store,
        }
    }

    fn load(&self, store: &Store<'c>) -> Res<Cv<'c>> {
        let b = self.b();
        Ok(match store {
            Store::Int(p) => Cv::Int(
                b.build_load(self.g.i64t, *p, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Store::Float(p) => Cv::Float(
                b.build_load(self.g.f64t, *p, "")
                    .map_err(err)?
                    .into_float_value(),
            ),
            Store::Bool(p) => Cv::Bool(
                b.build_load(self.g.i1t, *p, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Store::Tuple(items) => {
                Cv::Tuple(items.iter().map(|s| self.load(s)).collect::<Res<_>>()?)
            }
            Store::Range([a, c, d]) => Cv::Range(
                b.build_load(self.g.i64t, *a, "")
                    .map_err(err)?
                    .into_int_value(),
                b.build_load(self.g.i64t, *c, "")
                    .map_err(err)?
                    .into_int_value(),
                b.build_load(self.g.i64t, *d, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Store::Obj(p) => Cv::Obj(self.load_ptr(*p)?),
            Store::SeqIter(list, index) => Cv::SeqIter(
                self.load_ptr(*list)?,
                b.build_load(self.g.i64t, *index, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Store::WithFlag {
                value,
                flag,
                constant,
            } => {
                let v = self.load(value)?;
                match constant {
                    Some(_) => v,
                    None => Cv::Flagged(
                        Box::new(v),
                        b.build_load(self.g.i1t, *flag, "")
                            .map_err(err)?
                            .into_int_value(),
                    ),
                }
            }
            Store::Empty(Ty::None) => Cv::None,
            Store::Empty(_) => Cv::Marker,
        })
    }

    fn store(&self, store: &Store<'c>, value: &Cv<'c>) -> Res<()> {
        let b = self.b();
        match (store, value) {
            (Store::Int(p), Cv::Int(v)) | (Store::Bool(p), Cv::Bool(v)) => {
                b.build_store(*p, *v).map_err(err)?;
            }
            (Store::Float(p), Cv::Float(v)) => {
                b.build_store(*p, *v).map_err(err)?;
            }
            (Store::Tuple(stores), Cv::Tuple(values)) if stores.len() == values.len() => {
                for (s, v) in stores.iter().zip(values) {
                    self.store(s, v)?;
                }
            }
            (Store::Range(ptrs), Cv::Range(a, c, d)) => {
                b.build_store(ptrs[0], *a).map_err(err)?;
                b.build_store(ptrs[1], *c).map_err(err)?;
                b.build_store(ptrs[2], *d).map_err(err)?;
            }
            (Store::Obj(p), Cv::Obj(v)) => {
                b.build_store(*p, *v).map_err(err)?;
            }
            (Store::SeqIter(list, index), Cv::SeqIter(l, i)) => {
                b.build_store(*list, *l).map_err(err)?;
                b.build_store(*index, *i).map_err(err)?;
            }
            (
                Store::WithFlag {
                    value,
                    flag,
                    constant: None,
                },
                Cv::Flagged(inner, is_numpy),
            ) => {
                self.store(value, inner)?;
                b.build_store(*flag, *is_numpy).map_err(err)?;
            }
            (
                Store::WithFlag {
                    value,
                    flag,
                    constant: Some(constant),
                },
                v,
            ) => {
                self.store(value, v)?;
                let constant = self.g.i1t.const_int(u64::from(*constant), false);
                b.build_store(*flag, constant).map_err(err)?;
            }
            (Store::Empty(_), Cv::None | Cv::Marker) => {}
            (s, v) => return Err(format!("internal: storing {v:?} into {s:?}")),
        }
        Ok(())
    }

    fn pop(&mut self) -> Res<Cv<'c>> {
        let ty = self
            .types
            .pop()
            .ok_or("internal: pop from an empty stack")?;
        let store = self.stack_store(self.types.len(), &ty);
        self.load(&store)
    }

    fn peek(&mut self) -> Res<Cv<'c>> {
        let ty = self
            .types
            .last()
            .cloned()
            .ok_or("internal: peek at an empty stack")?;
        let store = self.stack_store(self.types.len() - 1, &ty);
        self.load(&store)
    }

    fn push(&mut self, ty: Ty, value: Cv<'c>) -> Res<()> {
        let store = self.stack_store(self.types.len(), &ty);
        self.store(&store, &value)?;
        self.types.push(ty);
        Ok(())
    }

    fn const_i64(&self, v: i64) -> IntValue<'c> {
        self.g.i64t.const_int(v as u64, true)
    }

    fn const_value(&self, value: &Value) -> Cv<'c> {
        match value {
            Value::Int(i) => Cv::Int(self.const_i64(*i)),
            Value::Float(x) => Cv::Float(self.g.f64t.const_float(*x)),
            Value::Bool(b) => Cv::Bool(self.g.i1t.const_int(u64::from(*b), false)),
            Value::None => Cv::None,
            Value::Tuple(items) => Cv::Tuple(items.iter().map(|v| self.const_value(v)).collect()),
        }
    }

    fn call(
        &self,
        name: &str,
        args: &[BasicMetadataValueEnum<'c>],
    ) -> Res<Option<BasicValueEnum<'c>>> {
        let f = *self
            .g
            .helpers
            .get(name)
            .ok_or_else(|| format!("internal: helper {name}"))?;
        let site = self.b().build_call(f, args, "").map_err(err)?;
        Ok(site.try_as_basic_value().basic())
    }

    fn call_value(
        &self,
        name: &str,
        args: &[BasicMetadataValueEnum<'c>],
    ) -> Res<BasicValueEnum<'c>> {
        self.call(name, args)?
            .ok_or_else(|| format!("internal: helper {name} returns nothing"))
    }

    fn field(
        &self,
        ty: StructType<'c>,
        ptr: PointerValue<'c>,
        index: u32,
    ) -> Res<PointerValue<'c>> {
        self.b().build_struct_gep(ty, ptr, index, "").map_err(err)
    }

    fn load_ptr(&self, ptr: PointerValue<'c>) -> Res<PointerValue<'c>> {
        Ok(self
            .b()
            .build_load(self.g.ptrt, ptr, "")
            .map_err(err)?
            .into_pointer_value())
    }

    fn new_block(&self, name: &str) -> BasicBlock<'c> {
        self.g.ctx.append_basic_block(self.f, name)
    }

    /// Hands over at `point` unless `cond` holds.
    fn deopt_unless(&mut self, cond: IntValue<'c>, point: DeoptId) -> Res<()> {
        let fails = self.b().build_not(cond, "").map_err(err)?;
        self.deopt_if(fails, point)
    }

    /// Branches to a new deoptimization block when `cond` holds; continues after.
    fn deopt_if(&mut self, cond: IntValue<'c>, point: DeoptId) -> Res<()> {
        let fail = self.new_block("deopt");
        let cont = self.new_block("ok");
        self.b()
            .build_conditional_branch(cond, fail, cont)
            .map_err(err)?;
        self.b().position_at_end(fail);
        self.emit_deopt(point, None)?;
        self.b().position_at_end(cont);
        Ok(())
    }

    /// Writes the record of `point` and returns what `pyopt_deopt` returns. `boxed` is
    /// the owned object of a `Boxed` stack entry. Checks still pending before this
    /// point hand over at their own points first (see `float_checks`).
    fn emit_deopt(&mut self, point: DeoptId, boxed: Option<IntValue<'c>>) -> Res<()> {
        if self.speculating() {
            return self.speculative_hand_over();
        }
        self.run_pending_checks_first(point)?;
        let values = self.deopt_values(point, boxed)?;
        self.finish_deopt(point, values)
    }

    /// The frame's values `point`'s record lists (its locals, then its value stack),
    /// flattened to machine words, as they are now.
    fn deopt_values(
        &mut self,
        point: DeoptId,
        boxed: Option<IntValue<'c>>,
    ) -> Res<Vec<IntValue<'c>>> {
        let record = self.plan.deopts[point as usize].clone();
        let mut values: Vec<IntValue<'c>> = Vec::new();
        for (local, state) in record.locals.iter().enumerate() {
            match state {
                Local::Unbound => {}
                Local::Bound(ty) => {
                    let store = self.local_store(local as u32, ty);
                    let v = self.load(&store)?;
                    self.flatten(&v, &mut values)?;
                }
                Local::MaybeBound(ty) => {
                    let flag = self.flag(local as u32);
                    let bound = self
                        .b()
                        .build_load(self.g.i1t, flag, "")
                        .map_err(err)?
                        .into_int_value();
                    values.push(
                        self.b()
                            .build_int_z_extend(bound, self.g.i64t, "")
                            .map_err(err)?,
                    );
                    let store = self.local_store(local as u32, ty);
                    let v = self.load(&store)?;
                    self.flatten(&v, &mut values)?;
                }
            }
        }
        if let DeoptKind::Resume { stack, .. } = &record.kind {
            for (depth, slot) in stack.iter().enumerate() {
                match slot {
                    StackSlot::Typed(ty) => {
                        let store = self.stack_store(depth, ty);
                        let v = self.load(&store)?;
                        self.flatten(&v, &mut values)?;
                    }
                    StackSlot::Boxed => {
                        values.push(boxed.ok_or("internal: boxed deopt without an object")?);
                    }
                }
            }
        }
        Ok(values)
    }

    /// Writes `values` (see `deopt_values`) as the record of `point` and returns what
    /// `pyopt_deopt` returns.
    fn finish_deopt(&mut self, point: DeoptId, values: Vec<IntValue<'c>>) -> Res<()> {
        let slots = self.load_ptr(self.field(self.g.ctx_t, self.ctx_ptr, 2)?)?;
        let mut position = 0u64;
        for v in values {
            // SAFETY: hooks sizes the slot buffer for the largest record of the unit.
            let address = unsafe {
                self.b()
                    .build_in_bounds_gep(
                        self.g.i64t,
                        slots,
                        &[self.g.i64t.const_int(position, false)],
                        "",
                    )
                    .map_err(err)?
            };
            self.b().build_store(address, v).map_err(err)?;
            position += 1;
        }
        self.sync_recursion()?;
        let result = self.call_value(
            helper::DEOPT,
            &[
                self.ctx_ptr.into(),
                self.env_ptr()?.into(),
                self.out_ptr.into(),
                self.g.i32t.const_int(self.index as u64, false).into(),
                self.g.i32t.const_int(u64::from(point), false).into(),
                self.g.i64t.const_int(position, false).into(),
            ],
        )?;
        // The interpreter finished the call: its result (in our slots) is boxed or an
        // exception, never OK. Saying so lets LLVM drop, after inlining, the "continue
        // natively" edge from a callee's deoptimization; and returning the helper's
        // status as is makes the call a tail call (a jump).
        let status = result.into_int_value();
        // References taken around a call, released once the interpreter is done.
        for object in std::mem::take(&mut self.release_after_deopt) {
            self.call(helper::RELEASE, &[object.into()])?;
        }
        if let Some(call) = status.as_instruction() {
            let g = self.g;
            let boxed_or_error = g.ctx.metadata_node(&[
                g.i64t.const_int(abi::BOXED, false).into(),
                g.i64t.const_int(abi::ERROR + 1, false).into(),
            ]);
            call.set_metadata(boxed_or_error, g.ctx.get_kind_id("range"))
                .map_err(|e| format!("internal: {e:?}"))?;
        }
        self.b().build_return(Some(&status)).map_err(err)?;
        Ok(())
    }

    /// The lists the frame holds before the current step (bound locals and the stack,
    /// also inside tuples and iterators).
    fn held_lists(&mut self) -> Res<Vec<PointerValue<'c>>> {
        let Some(state) = self.plan.steps[self.step].before.clone() else {
            return Ok(Vec::new());
        };
        let mut held = Vec::new();
        for (local, slot) in state.locals.iter().enumerate() {
            if let Local::Bound(ty) = slot {
                let store = self.local_store(local as u32, ty);
                collect_lists(ty, &self.load(&store)?, &mut held);
            }
        }
        for (depth, ty) in state.stack.iter().enumerate() {
            let store = self.stack_store(depth, ty);
            collect_lists(ty, &self.load(&store)?, &mut held);
        }
        Ok(held)
    }

    /// `object.ob_refcnt += delta` (the GIL is held; never reaching zero here).
    fn add_to_refcount(&self, object: PointerValue<'c>, delta: i64) -> Res<()> {
        let count = self.load_field(self.g.i64t, object)?.into_int_value();
        let changed = self
            .b()
            .build_int_add(count, self.const_i64(delta), "")
            .map_err(err)?;
        self.store_field(object, changed.into())
    }

    /// Writes this frame's recursion budget to the thread state, before anything that
    /// may run Python code (deoptimization, helpers that call CPython): there it must
    /// be exact. The entry wrapper restores the caller's value when the call returns.
    fn sync_recursion(&self) -> Res<()> {
        let g = self.g;
        let pointer = self.load_ptr(self.field(g.ctx_t, self.ctx_ptr, 0)?)?;
        let depth = self.b().build_load(g.i32t, self.depth, "").map_err(err)?;
        self.b().build_store(pointer, depth).map_err(err)?;
        Ok(())
    }

    /// Flattens a value to 64-bit slots (floats as bits, bools as 0/1).
    fn flatten(&self, v: &Cv<'c>, out: &mut Vec<IntValue<'c>>) -> Res<()> {
        let b = self.b();
        match v {
            Cv::Int(i) => out.push(*i),
            Cv::Float(x) => out.push(
                b.build_bit_cast(*x, self.g.i64t, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Cv::Bool(x) => out.push(b.build_int_z_extend(*x, self.g.i64t, "").map_err(err)?),
            Cv::Tuple(items) => {
                for item in items {
                    self.flatten(item, out)?;
                }
            }
            Cv::Range(a, c, d) => out.extend([*a, *c, *d]),
            Cv::Obj(p) => out.push(b.build_ptr_to_int(*p, self.g.i64t, "").map_err(err)?),
            Cv::Flagged(value, is_numpy) => {
                self.flatten(value, out)?;
                out.push(
                    b.build_int_z_extend(*is_numpy, self.g.i64t, "")
                        .map_err(err)?,
                );
            }
            Cv::SeqIter(p, i) => {
                out.push(b.build_ptr_to_int(*p, self.g.i64t, "").map_err(err)?);
                out.push(*i);
            }
            Cv::None | Cv::Marker => {}
        }
        Ok(())
    }

    /// Machine arguments for a call to a plan (ints and bools as i64, floats as double).
    fn flat_args(&self, v: &Cv<'c>, out: &mut Vec<BasicMetadataValueEnum<'c>>) -> Res<()> {
        match v {
            Cv::Int(i) => out.push((*i).into()),
            Cv::Float(x) => out.push((*x).into()),
            Cv::Bool(x) => out.push(
                self.b()
                    .build_int_z_extend(*x, self.g.i64t, "")
                    .map_err(err)?
                    .into(),
            ),
            Cv::Tuple(items) => {
                for item in items {
                    self.flat_args(item, out)?;
                }
            }
            Cv::Range(a, c, d) => {
                for v in [a, c, d] {
                    out.push((*v).into());
                }
            }
            Cv::Obj(p) => out.push((*p).into()),
            Cv::Flagged(value, is_numpy) => {
                self.flat_args(value, out)?;
                out.push(
                    self.b()
                        .build_int_z_extend(*is_numpy, self.g.i64t, "")
                        .map_err(err)?
                        .into(),
                );
            }
            Cv::SeqIter(p, i) => {
                out.push((*p).into());
                out.push((*i).into());
            }
            Cv::None | Cv::Marker => {}
        }
        Ok(())
    }

    /// Rebuilds a parameter from the function's machine arguments.
    fn unflatten_param(&self, ty: &Ty, next: &mut u32) -> Res<Cv<'c>> {
        if let Some(held) = held_as(ty) {
            return self.unflatten_param(&held, next);
        }
        let take = |next: &mut u32| {
            let v = self
                .f
                .get_nth_param(*next)
                .ok_or("internal: parameter count")?;
            *next += 1;
            Ok::<_, String>(v)
        };
        Ok(match ty {
            Ty::Int => Cv::Int(take(next)?.into_int_value()),
            Ty::Float | Ty::NpFloat => Cv::Float(take(next)?.into_float_value()),
            Ty::Bool | Ty::NpBool => {
                let v = take(next)?.into_int_value();
                Cv::Bool(
                    self.b()
                        .build_int_truncate(v, self.g.i1t, "")
                        .map_err(err)?,
                )
            }
            Ty::None => Cv::None,
            Ty::Tuple(items) => Cv::Tuple(
                items
                    .iter()
                    .map(|t| self.unflatten_param(t, next))
                    .collect::<Res<_>>()?,
            ),
            // A loop's iterator, entering a running frame (on-stack replacement).
            Ty::RangeIter => Cv::Range(
                take(next)?.into_int_value(),
                take(next)?.into_int_value(),
                take(next)?.into_int_value(),
            ),
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
                Cv::Obj(take(next)?.into_pointer_value())
            }
            Ty::SeqIter(_) | Ty::SeqRevIter(_) => Cv::SeqIter(
                take(next)?.into_pointer_value(),
                take(next)?.into_int_value(),
            ),
            Ty::TupleIter(tuple) => Cv::Tuple(vec![
                self.unflatten_param(tuple, next)?,
                Cv::Int(take(next)?.into_int_value()),
            ]),
            Ty::Enumerate(inner) => Cv::Tuple(vec![
                Cv::Int(take(next)?.into_int_value()),
                self.unflatten_param(inner, next)?,
            ]),
            Ty::Zip(inners) => Cv::Tuple(
                inners
                    .iter()
                    .map(|t| self.unflatten_param(t, next))
                    .collect::<Res<_>>()?,
            ),
            Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => {
                let (inner, _) = ty.flagged_parts().ok_or("internal: flagged type")?;
                let value = self.unflatten_param(&inner, next)?;
                let Cv::Bool(is_numpy) = self.unflatten_param(&Ty::Bool, next)? else {
                    return Err("internal: numpy flag".to_owned());
                };
                Cv::Flagged(Box::new(value), is_numpy)
            }
            other => return Err(format!("internal: parameter of type {other}")),
        })
    }

    fn flag(&mut self, local: u32) -> PointerValue<'c> {
        if let Some(flag) = self.flags.get(&local) {
            return *flag;
        }
        let flag = self
            .alloca_builder
            .build_alloca(self.g.i1t, "bound")
            .unwrap();
        self.flags.insert(local, flag);
        flag
    }

    fn emit(mut self) -> Res<()> {
        let g = self.g;
        let plan = self.plan;
        // Entry: recursion accounting exactly like an interpreted call, then guards.
        let allocas = self.f.get_first_basic_block().unwrap();
        let start = allocas.get_next_basic_block().unwrap();
        self.b().position_at_end(start);
        // Recursion accounting exactly like an interpreted call: the budget drops by one
        // for this frame; at zero, the interpreter raises RecursionError.
        let remaining = self.f.get_nth_param(2).unwrap().into_int_value();
        let decremented = self
            .b()
            .build_int_sub(remaining, g.i32t.const_int(1, false), "")
            .map_err(err)?;
        self.b().build_store(self.depth, decremented).map_err(err)?;
        // Parameters into their locals (the entry record reads them); an on-stack-
        // replacement plan's into the locals bound at its loop header and the stack.
        let mut next_param = 3;
        let (first_step, bound): (usize, Vec<bool>) = match &plan.osr {
            None => {
                for (i, ty) in plan.params.iter().enumerate() {
                    let value = self.unflatten_param(ty, &mut next_param)?;
                    let store = self.local_store(i as u32, ty);
                    self.store(&store, &value)?;
                }
                let nlocals = plan
                    .steps
                    .first()
                    .and_then(|s| s.before.as_ref())
                    .map_or(0, |s| s.locals.len());
                (0, (0..nlocals).map(|i| i < plan.params.len()).collect())
            }
            Some(osr) => {
                for (i, ty) in osr.locals.iter().enumerate() {
                    if let Some(ty) = ty {
                        let value = self.unflatten_param(ty, &mut next_param)?;
                        let store = self.local_store(i as u32, ty);
                        self.store(&store, &value)?;
                    }
                }
                for (depth, ty) in osr.stack.iter().enumerate() {
                    let value = self.unflatten_param(ty, &mut next_param)?;
                    let store = self.stack_store(depth, ty);
                    self.store(&store, &value)?;
                }
                let bound = osr.locals.iter().map(Option::is_some).collect();
                (osr.step as usize, bound)
            }
        };
        for (local, bound) in bound.into_iter().enumerate() {
            if plan.local_needs_flag(local) {
                let flag = self.flag(local as u32);
                self.b()
                    .build_store(flag, g.i1t.const_int(u64::from(bound), false))
                    .map_err(err)?;
            }
        }
        let exhausted = self
            .b()
            .build_int_compare(IntPredicate::SLE, remaining, g.i32t.const_zero(), "")
            .map_err(err)?;
        self.deopt_if(exhausted, plan.entry_deopt)?;
        self.b()
            .build_unconditional_branch(self.blocks[first_step])
            .map_err(err)?;

        for index in 0..plan.steps.len() {
            self.step = index;
            let step = &plan.steps[index];
            self.b().position_at_end(self.blocks[index]);
            let Some(state) = &step.before else {
                self.b().build_unreachable().map_err(err)?;
                continue;
            };
            self.end_top_reads(index.checked_sub(1).map(|i| &plan.steps[i].op));
            if index
                .checked_sub(1)
                .is_some_and(|i| may_run_python(&plan.steps[i].op, i))
            {
                self.forget_underflow_answer()?;
            }
            if let Some(&body) = self.loop_bodies.get(&index) {
                if let Some(range_loop) = self.range_loops.get(&index).copied() {
                    let fast = self.fast_headers.get(&index).copied();
                    self.enter_range_loop(range_loop, state.stack.len(), fast)?;
                }
                self.b().build_unconditional_branch(body).map_err(err)?;
                self.b().position_at_end(body);
                self.read_array_metadata(state)?;
            }
            self.types = state.stack.clone();
            self.before_step(&step.op, state)?;
            self.emit_op(&step.op, state)?;
        }
        let mut headers: Vec<usize> = self.versioned.keys().copied().collect();
        headers.sort_unstable();
        for header in headers {
            let versioned = self.versioned[&header].clone();
            self.emit_fast_copy(versioned, self.fast_headers[&header])?;
        }
        self.alloca_builder
            .build_unconditional_branch(start)
            .map_err(err)?;
        Ok(())
    }

    /// Jumps to step `target` when `cond == jump_if`, else to step `next`.
    fn branch(&self, cond: IntValue<'c>, jump_if: bool, target: usize, next: usize) -> Res<()> {
        let (yes, no) = if jump_if {
            (target, next)
        } else {
            (next, target)
        };
        self.b()
            .build_conditional_branch(cond, self.blocks[yes], self.blocks[no])
            .map_err(err)?;
        Ok(())
    }

    fn goto(&self, index: usize) -> Res<()> {
        let target = *self
            .blocks
            .get(index)
            .ok_or("internal: jump past the end")?;
        self.b().build_unconditional_branch(target).map_err(err)?;
        Ok(())
    }

    /// A backward jump to step `target`, taken when `taken` holds (always when it is
    /// None), else on to step `next`. With `poll`, the eval breaker is read first; when
    /// it is set, `pyopt_poll` runs the interpreter's handlers (handing over at `poll`
    /// if they raised or the GIL must go) and the jump re-enters the loop through the
    /// target step's block.
    fn back_edge(
        &mut self,
        poll: Option<DeoptId>,
        taken: Option<IntValue<'c>>,
        target: usize,
        next: usize,
    ) -> Res<()> {
        let g = self.g;
        let body = *self
            .loop_bodies
            .get(&target)
            .ok_or("internal: a backward jump without a loop body")?;
        let jump = |this: &Self, to: BasicBlock<'c>| -> Res<()> {
            match taken {
                Some(cond) => this
                    .b()
                    .build_conditional_branch(cond, to, this.blocks[next])
                    .map_err(err)?,
                None => this.b().build_unconditional_branch(to).map_err(err)?,
            };
            Ok(())
        };
        if let Some(fast) = self.copy_header(target) {
            // A fast copy's back-edge: no poll (see `versioning`).
            if self.speculating() {
                return self.speculative_back_edge(fast);
            }
            return jump(self, fast);
        }
        let Some(point) = poll else {
            return jump(self, body);
        };
        let breaker = self
            .b()
            .build_load(g.i32t, self.breaker_ptr, "")
            .map_err(err)?;
        // Another thread or a signal handler sets it: never hoist the load out of a loop.
        breaker
            .as_instruction_value()
            .ok_or("internal: load is an instruction")?
            .set_volatile(true)
            .map_err(err)?;
        let set = self
            .b()
            .build_int_compare(
                IntPredicate::NE,
                breaker.into_int_value(),
                g.i32t.const_zero(),
                "",
            )
            .map_err(err)?;
        let handle = self.new_block("breaker");
        let fast = self.new_block("breaker_clear");
        self.b()
            .build_conditional_branch(set, handle, fast)
            .map_err(err)?;
        self.b().position_at_end(fast);
        jump(self, body)?;
        self.b().position_at_end(handle);
        // Lists read out of containers are borrowed: another thread could free one, so
        // such a frame hands over instead of letting one run (the interpreter holds
        // references of its own).
        let poll_helper = if self.borrows_items {
            helper::POLL_BORROWING
        } else {
            helper::POLL
        };
        let verdict = self
            .call_value(poll_helper, &[self.ctx_ptr.into(), self.env_ptr()?.into()])?
            .into_int_value();
        let hand_over = self.icmp(IntPredicate::NE, verdict, g.i32t.const_zero())?;
        self.deopt_if(hand_over, point)?;
        // A signal handler or pending call may have changed numpy's error modes.
        self.forget_underflow_answer()?;
        self.recheck_arrays(point)?;
        let reentry = match self.range_loops.get(&target) {
            Some(range_loop) => range_loop.reentry,
            None => self.blocks[target],
        };
        jump(self, reentry)
    }

    /// The loop over a range at this step is entered from outside: notes where its
    /// range is (the iterator on top of a stack of `depth` entries), then goes on
    /// through the block polled back-edges re-enter by, or to the loop's `fast` copy
    /// when its entry test passes (see `versioning`).
    fn enter_range_loop(
        &mut self,
        range_loop: RangeLoop<'c>,
        depth: usize,
        fast: Option<BasicBlock<'c>>,
    ) -> Res<()> {
        let store = self.stack_store(depth - 1, &Ty::RangeIter);
        let Cv::Range(next, _, _) = self.load(&store)? else {
            return Err("internal: a range loop without a range".to_owned());
        };
        self.b()
            .build_store(range_loop.entered_at, next)
            .map_err(err)?;
        match fast {
            Some(fast) => {
                let passes = self.fast_entry_test(depth)?;
                self.b()
                    .build_conditional_branch(passes, fast, range_loop.reentry)
                    .map_err(err)?
            }
            None => self
                .b()
                .build_unconditional_branch(range_loop.reentry)
                .map_err(err)?,
        };
        self.b().position_at_end(range_loop.reentry);
        Ok(())
    }

    fn as_i64(&self, v: &Cv<'c>) -> Res<IntValue<'c>> {
        match v {
            Cv::Int(i) => Ok(*i),
            Cv::Bool(b) => self
                .b()
                .build_int_z_extend(*b, self.g.i64t, "")
                .map_err(err),
            // A bool that may be numpy's: the same value either way.
            Cv::Flagged(value, _) => self.as_i64(value),
            other => Err(format!("internal: {other:?} as an int")),
        }
    }

    fn as_f64(&self, v: &Cv<'c>) -> Res<FloatValue<'c>> {
        match v {
            Cv::Float(x) => Ok(*x),
            Cv::Int(i) => self
                .b()
                .build_signed_int_to_float(*i, self.g.f64t, "")
                .map_err(err),
            Cv::Bool(b) => self
                .b()
                .build_unsigned_int_to_float(*b, self.g.f64t, "")
                .map_err(err),
            Cv::Flagged(value, _) => self.as_f64(value),
            other => Err(format!("internal: {other:?} as a float")),
        }
    }

    /// The truth value of a value as an `i1`.
    fn truth(&self, v: &Cv<'c>) -> Res<IntValue<'c>> {
        let g = self.g;
        let b = self.b();
        Ok(match v {
            Cv::Flagged(value, _) => self.truth(value)?,
            Cv::Int(i) => b
                .build_int_compare(IntPredicate::NE, *i, g.i64t.const_zero(), "")
                .map_err(err)?,
            Cv::Float(x) => b
                .build_float_compare(FloatPredicate::UNE, *x, g.f64t.const_zero(), "")
                .map_err(err)?,
            Cv::Bool(x) => *x,
            Cv::None => g.i1t.const_zero(),
            Cv::Tuple(items) => g.i1t.const_int(u64::from(!items.is_empty()), false),
            Cv::Marker => g.i1t.const_int(1, false),
            Cv::Range(_, _, len) => b
                .build_int_compare(IntPredicate::NE, *len, g.i64t.const_zero(), "")
                .map_err(err)?,
            Cv::Obj(list) => {
                let len = self.seq_len(*list)?;
                self.icmp(IntPredicate::NE, len, g.i64t.const_zero())?
            }
            Cv::SeqIter(..) => g.i1t.const_int(1, false),
        })
    }

    fn icmp(&self, p: IntPredicate, a: IntValue<'c>, b: IntValue<'c>) -> Res<IntValue<'c>> {
        self.b().build_int_compare(p, a, b, "").map_err(err)
    }

    fn fcmp(&self, p: FloatPredicate, a: FloatValue<'c>, b: FloatValue<'c>) -> Res<IntValue<'c>> {
        self.b().build_float_compare(p, a, b, "").map_err(err)
    }

    /// The unit's env (the entry wrapper keeps it in ctx).
    fn env_ptr(&self) -> Res<PointerValue<'c>> {
        self.load_ptr(self.field(self.g.ctx_t, self.ctx_ptr, 6)?)
    }

    /// Object `id` of the unit's table, loaded in the entry block: the table does not
    /// change while the unit lives, and a loop calling a helper with it then keeps the
    /// pointer in a register.
    fn object(&mut self, id: u32) -> Res<PointerValue<'c>> {
        if let Some(object) = self.objects.get(&id) {
            return Ok(*object);
        }
        let g = self.g;
        let ab = &self.alloca_builder;
        let env_field = ab
            .build_struct_gep(g.ctx_t, self.ctx_ptr, 6, "")
            .map_err(err)?;
        let env = ab.build_load(g.ptrt, env_field, "env").map_err(err)?;
        let table_field = ab
            .build_struct_gep(g.env_t, env.into_pointer_value(), 0, "")
            .map_err(err)?;
        let table = ab
            .build_load(g.ptrt, table_field, "objects")
            .map_err(err)?
            .into_pointer_value();
        // SAFETY: object ids index the request's object table.
        let slot = unsafe {
            ab.build_in_bounds_gep(g.ptrt, table, &[g.i64t.const_int(u64::from(id), false)], "")
                .map_err(err)?
        };
        let object = ab
            .build_load(g.ptrt, slot, "object")
            .map_err(err)?
            .into_pointer_value();
        self.objects.insert(id, object);
        Ok(object)
    }

    /// `llvm.fabs(x)`.
    fn fabs(&self, x: FloatValue<'c>) -> Res<FloatValue<'c>> {
        let g = self.g;
        let fabs = Intrinsic::find("llvm.fabs").ok_or("internal: fabs")?;
        let f = fabs
            .get_declaration(&g.module, &[g.f64t.into()])
            .ok_or("internal: fabs decl")?;
        Ok(self
            .b()
            .build_call(f, &[x.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_float_value())
    }

    fn or(&self, a: IntValue<'c>, b: IntValue<'c>) -> Res<IntValue<'c>> {
        self.b().build_or(a, b, "").map_err(err)
    }

    fn and(&self, a: IntValue<'c>, b: IntValue<'c>) -> Res<IntValue<'c>> {
        self.b().build_and(a, b, "").map_err(err)
    }

    fn select_int(&self, c: IntValue<'c>, a: IntValue<'c>, b: IntValue<'c>) -> Res<IntValue<'c>> {
        Ok(self
            .b()
            .build_select(c, a, b, "")
            .map_err(err)?
            .into_int_value())
    }

    /// A scratch array of `n` slots in the function's frame.
    fn scratch(&self, n: usize) -> Res<PointerValue<'c>> {
        let array = self.g.i64t.array_type(n.max(1) as u32);
        self.alloca_builder
            .build_alloca(array, "scratch")
            .map_err(err)
    }

    /// The value a callee returned with status OK (tuples arrive in `slots`).
    fn unbox_result(
        &mut self,
        ty: &Ty,
        value: IntValue<'c>,
        slots: PointerValue<'c>,
    ) -> Res<Cv<'c>> {
        if let Some(held) = held_as(ty) {
            return self.unbox_result(&held, value, slots);
        }
        let g = self.g;
        Ok(match ty {
            Ty::Int => Cv::Int(value),
            Ty::Bool | Ty::NpBool => {
                Cv::Bool(self.b().build_int_truncate(value, g.i1t, "").map_err(err)?)
            }
            Ty::Float | Ty::NpFloat => Cv::Float(
                self.b()
                    .build_bit_cast(value, g.f64t, "")
                    .map_err(err)?
                    .into_float_value(),
            ),
            Ty::None => Cv::None,
            Ty::Tuple(_) => {
                let mut position = 0;
                self.read_slots(ty, slots, &mut position)?
            }
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
                Cv::Obj(self.b().build_int_to_ptr(value, g.ptrt, "").map_err(err)?)
            }
            Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => {
                let mut position = 0;
                self.read_slots(ty, slots, &mut position)?
            }
            other => return Err(format!("internal: result of type {other}")),
        })
    }

    fn read_slots(&self, ty: &Ty, slots: PointerValue<'c>, position: &mut u64) -> Res<Cv<'c>> {
        if let Some(held) = held_as(ty) {
            return self.read_slots(&held, slots, position);
        }
        let g = self.g;
        let mut next = |this: &Self, t: BasicTypeEnum<'c>| -> Res<BasicValueEnum<'c>> {
            // SAFETY: `position` stays below the scratch array's length (the type's slots).
            let address = unsafe {
                this.b()
                    .build_in_bounds_gep(g.i64t, slots, &[g.i64t.const_int(*position, false)], "")
                    .map_err(err)?
            };
            *position += 1;
            this.b().build_load(t, address, "").map_err(err)
        };
        Ok(match ty {
            Ty::Int => Cv::Int(next(self, g.i64t.into())?.into_int_value()),
            Ty::Float | Ty::NpFloat => Cv::Float(next(self, g.f64t.into())?.into_float_value()),
            Ty::Bool | Ty::NpBool => {
                let v = next(self, g.i64t.into())?.into_int_value();
                Cv::Bool(self.b().build_int_truncate(v, g.i1t, "").map_err(err)?)
            }
            Ty::None => Cv::None,
            Ty::Tuple(items) => Cv::Tuple(
                items
                    .iter()
                    .map(|t| self.read_slots(t, slots, position))
                    .collect::<Res<_>>()?,
            ),
            Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => {
                let (inner, _) = ty.flagged_parts().ok_or("internal: flagged type")?;
                let value = self.read_slots(&inner, slots, position)?;
                let Cv::Bool(is_numpy) = self.read_slots(&Ty::Bool, slots, position)? else {
                    return Err("internal: numpy flag".to_owned());
                };
                Cv::Flagged(Box::new(value), is_numpy)
            }
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
                let v = next(self, g.ptrt.into())?;
                Cv::Obj(v.into_pointer_value())
            }
            other => return Err(format!("internal: slot value of type {other}")),
        })
    }
}

/// The type whose machine representation a numpy scalar of another dtype has: an int's
/// for the integer dtypes, a float's (holding the exact value) for float32.
fn held_as(ty: &Ty) -> Option<Ty> {
    match ty {
        Ty::NpScalar(dtype) if dtype.is_float() => Some(Ty::Float),
        Ty::NpScalar(_) => Some(Ty::Int),
        _ => None,
    }
}

/// Values that one instruction turns into another type in place share storage: GET_ITER
/// makes a range iterator of a range without moving it.
fn storage_key(ty: &Ty) -> Ty {
    match ty {
        Ty::RangeIter => Ty::Range,
        Ty::Tuple(items) => Ty::Tuple(items.iter().map(storage_key).collect()),
        // Python's and numpy's floats (and bools) share storage, so a flagged local
        // needs no copy where paths with different kinds meet.
        Ty::NpFloat | Ty::AnyFloat | Ty::AnyFloat32 => Ty::Float,
        Ty::NpScalar(Dtype::F32) => Ty::Float,
        Ty::NpBool | Ty::AnyBool => Ty::Bool,
        // Python's ints and numpy's integer scalars likewise.
        Ty::AnyInt(_) => Ty::Int,
        Ty::NpScalar(dtype) if !dtype.is_float() => Ty::Int,
        other => other.clone(),
    }
}

/// `store` (a slot's storage, made for the storage key of `ty`) as a value of type `ty`
/// reads and writes it: the numbers inside a tuple with their flags' constants.
fn view<'c>(store: &Store<'c>, ty: &Ty) -> Store<'c> {
    match (store, ty) {
        (Store::Tuple(parts), Ty::Tuple(items)) if parts.len() == items.len() => Store::Tuple(
            parts
                .iter()
                .zip(items)
                .map(|(part, item)| view(part, item))
                .collect(),
        ),
        (Store::WithFlag { value, flag, .. }, ty) => Store::WithFlag {
            value: value.clone(),
            flag: *flag,
            constant: numpy_flag(ty).flatten(),
        },
        (other, _) => other.clone(),
    }
}

/// For floats and bools: the numpy flag a value of this type has (None: read at run
/// time).
fn numpy_flag(ty: &Ty) -> Option<Option<bool>> {
    match ty {
        Ty::Int | Ty::Float | Ty::Bool => Some(Some(false)),
        Ty::NpFloat | Ty::NpBool => Some(Some(true)),
        Ty::NpScalar(_) => Some(Some(true)),
        Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => Some(None),
        _ => None,
    }
}

/// Calls `found` with each object inside a value of type `ty` (held as `value`) and
/// the object's type: the sequence itself, the one an iterator runs over, those in
/// tuples, zips and enumerates.
fn for_each_object<'c>(ty: &Ty, value: &Cv<'c>, found: &mut impl FnMut(&Ty, PointerValue<'c>)) {
    match (ty, value) {
        (Ty::List(_) | Ty::Array(_) | Ty::NdArray(..), Cv::Obj(object)) => found(ty, *object),
        (Ty::SeqIter(seq) | Ty::SeqRevIter(seq), Cv::SeqIter(object, _)) => found(seq, *object),
        (Ty::Tuple(items) | Ty::Zip(items), Cv::Tuple(values)) => {
            for (item, value) in items.iter().zip(values) {
                for_each_object(item, value, found);
            }
        }
        (Ty::TupleIter(tuple), Cv::Tuple(parts)) => {
            if let Some(items) = parts.first() {
                for_each_object(tuple, items, found);
            }
        }
        (Ty::Enumerate(inner), Cv::Tuple(parts)) => {
            if let Some(inner_value) = parts.get(1) {
                for_each_object(inner, inner_value, found);
            }
        }
        _ => {}
    }
}

/// The lists inside a value of type `ty` (held as `value`).
fn collect_lists<'c>(ty: &Ty, value: &Cv<'c>, out: &mut Vec<PointerValue<'c>>) {
    for_each_object(ty, value, &mut |ty, object| {
        if let Ty::List(_) = ty {
            out.push(object);
        }
    });
}

/// The steps of `plan` entered by an edge other than the fall-through from the step
/// before.
fn joins(plan: &FunctionPlan) -> std::collections::HashSet<usize> {
    let mut joins: std::collections::HashSet<usize> = plan
        .steps
        .iter()
        .filter_map(|step| match step.op {
            Op::Branch { target, .. }
            | Op::BranchOrPop { target, .. }
            | Op::Jump { target, .. } => Some(target as usize),
            Op::ForRange { exit } | Op::ForIter { exit, .. } => Some(exit as usize),
            _ => None,
        })
        .collect();
    joins.insert(0);
    if let Some(osr) = &plan.osr {
        joins.insert(osr.step as usize);
    }
    joins
}

/// Whether `plan` has a backward jump, whose back-edge polls the eval breaker.
fn polls(plan: &FunctionPlan) -> bool {
    plan.steps
        .iter()
        .enumerate()
        .any(|(i, step)| match step.op {
            Op::Jump { target, poll, .. } | Op::Branch { target, poll, .. } => {
                poll.is_some() && target as usize <= i
            }
            _ => false,
        })
}

/// Whether a plan reads lists out of containers (a list's or a tuple's items, also
/// inside tuples): those lists are borrowed from containers other code could change.
fn reads_lists_from_items(plan: &FunctionPlan) -> bool {
    plan.steps.iter().any(|step| match &step.op {
        Op::ItemGet { item, .. } | Op::ForIter { item, .. } | Op::UnpackSeq { item, .. } => {
            holds_list(item)
        }
        _ => false,
    })
}

fn holds_list(ty: &Ty) -> bool {
    match ty {
        Ty::List(_) => true,
        Ty::Tuple(items) => items.iter().any(holds_list),
        _ => false,
    }
}

/// Whether a plan has numpy scalars (its ints, floats and bools then carry flags).
fn uses_numpy_scalars(plan: &FunctionPlan) -> bool {
    let numpy = |ty: &Ty| {
        matches!(ty, Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_)) || ty.flagged_parts().is_some()
    };
    plan.params.iter().any(numpy)
        || numpy(&plan.result)
        || plan
            .steps
            .iter()
            .filter_map(|s| s.before.as_ref())
            .any(|state| {
                state.stack.iter().any(numpy)
                    || state
                        .locals
                        .iter()
                        .any(|local| local.ty().is_some_and(numpy))
            })
}

fn swap(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}
