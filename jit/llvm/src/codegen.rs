//! Plans to LLVM IR.
//!
//! Each plan becomes `<prefix>_plan_<i>(ctx, env, frame, args...) -> {i64, i64}` and a
//! wrapper `<prefix>_entry_<i>(ctx, env, frame, *const u64)`. Locals and value-stack
//! entries live in stack slots (one per local or depth and type), which LLVM's mem2reg
//! turns into registers; every instruction of the plan gets a basic block. Anything that
//! cannot go on writes a deoptimization record and returns through `pyopt_deopt`.

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
use pyopt_jit::abi::{self, helper};
use pyopt_jit::plan::{
    BinOp, CmpOp, DeoptId, DeoptKind, FunctionPlan, Local, Op, StackSlot, State, Test, UnaryOp,
    Unit, Value,
};
use pyopt_jit::snapshot::{BuiltinFn, MathFn, RandomFn};
use pyopt_jit::types::Ty;

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
    Empty(Ty),
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
        ];
        for (name, result, params) in decls {
            let f = self.module.add_function(
                name,
                result.fn_type(&params, false),
                Some(Linkage::External),
            );
            self.helpers.insert(name, f);
        }
        // The random helpers only touch the generator (and the result slot): loads of
        // anything else may stay out of the loop around them.
        let argmem_only = [
            ("memory", 3),
            ("nounwind", 0),
            ("willreturn", 0),
            ("nosync", 0),
        ];
        for name in [helper::RANDOM, helper::RANDINT] {
            if let Some(f) = self.helpers.get(name) {
                for (attribute, value) in argmem_only {
                    let kind = Attribute::get_named_enum_kind_id(attribute);
                    f.add_attribute(
                        AttributeLoc::Function,
                        self.ctx.create_enum_attribute(kind, value),
                    );
                }
            }
        }
        // Leaving compiled code is the rare path: keep it out of the hot loops' way.
        for name in [helper::DEOPT, helper::GUARDS, helper::POLL] {
            if let Some(f) = self.helpers.get(name) {
                let cold = Attribute::get_named_enum_kind_id("cold");
                f.add_attribute(
                    AttributeLoc::Function,
                    self.ctx.create_enum_attribute(cold, 0),
                );
            }
        }
        // The C library's functions only compute (CPython ignores the errno they set
        // on the paths compiled code takes), so LLVM may treat them as pure: common
        // subexpressions, and `sin(x)` with `cos(x)` as one `sincos` call (glibc's
        // sincos gives the same bits as its sin and cos).
        let pure = [
            ("memory", 0),
            ("nounwind", 0),
            ("willreturn", 0),
            ("nosync", 0),
        ];
        for name in helper::LIBM {
            let f = self.module.add_function(
                name,
                f64t.fn_type(&[f64t.into()], false),
                Some(Linkage::External),
            );
            for (attribute, value) in pure {
                let kind = Attribute::get_named_enum_kind_id(attribute);
                f.add_attribute(
                    AttributeLoc::Function,
                    self.ctx.create_enum_attribute(kind, value),
                );
            }
            self.helpers.insert(name, f);
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
            Ty::None | Ty::Null | Ty::Object(_) => {}
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
            self.plans.push(f);
        }
        for index in 0..self.unit.plans.len() {
            FnGen::new(self, index).emit()?;
            self.emit_wrapper(index)?;
        }
        self.module.verify().map_err(|e| format!("invalid IR: {e}"))
    }

    /// `<prefix>_entry_<i>(ctx, env, frame, *const u64 args) -> Ret`: what `hooks`
    /// calls. Checks the unit's guards (returns `GUARD_FAILED` if a name it depends
    /// on changed), reads the arguments from slots, and boxes a tuple result.
    fn emit_wrapper(&mut self, index: usize) -> Res<()> {
        let plan = &self.unit.plans[index];
        let p = self.ptrt;
        let (i64t, i32t) = (self.i64t, self.i32t);
        let f = self.module.add_function(
            &symbol(&self.prefix, "entry", index),
            self.ret_t
                .fn_type(&[p.into(), p.into(), p.into(), p.into()], false),
            Some(Linkage::External),
        );
        let b = &self.builder;
        let entry = self.ctx.append_basic_block(f, "entry");
        let header = self.ctx.append_basic_block(f, "guard_loop");
        let body = self.ctx.append_basic_block(f, "guard_body");
        let changed = self.ctx.append_basic_block(f, "guard_changed");
        let failed = self.ctx.append_basic_block(f, "guard_failed");
        let run = self.ctx.append_basic_block(f, "run");
        let env = f.get_nth_param(1).unwrap().into_pointer_value();
        b.position_at_end(entry);
        let result_slots = i64t.array_type(plan.result.slots().max(1) as u32);
        let out = b.build_alloca(result_slots, "result").map_err(err)?;
        let counter = b.build_alloca(i64t, "i").map_err(err)?;
        b.build_store(counter, i64t.const_zero()).map_err(err)?;
        let watches_field = b.build_struct_gep(self.env_t, env, 1, "").map_err(err)?;
        let watches = b
            .build_load(p, watches_field, "")
            .map_err(err)?
            .into_pointer_value();
        let count_field = b.build_struct_gep(self.env_t, env, 2, "").map_err(err)?;
        let count = b
            .build_load(i64t, count_field, "")
            .map_err(err)?
            .into_int_value();
        b.build_unconditional_branch(header).map_err(err)?;
        // for each watched dict: version == expected?
        b.position_at_end(header);
        let i = b
            .build_load(i64t, counter, "")
            .map_err(err)?
            .into_int_value();
        let more = b
            .build_int_compare(IntPredicate::ULT, i, count, "")
            .map_err(err)?;
        b.build_conditional_branch(more, body, run).map_err(err)?;
        b.position_at_end(body);
        // SAFETY: `i < nwatches`, the length of the array hooks allocated.
        let watch = unsafe {
            b.build_in_bounds_gep(self.watch_t, watches, &[i], "")
                .map_err(err)?
        };
        let version_field = b
            .build_struct_gep(self.watch_t, watch, 0, "")
            .map_err(err)?;
        let version_ptr = b
            .build_load(p, version_field, "")
            .map_err(err)?
            .into_pointer_value();
        let version = b
            .build_load(i64t, version_ptr, "")
            .map_err(err)?
            .into_int_value();
        let expected_field = b
            .build_struct_gep(self.watch_t, watch, 1, "")
            .map_err(err)?;
        let expected = b
            .build_load(i64t, expected_field, "")
            .map_err(err)?
            .into_int_value();
        let next = b
            .build_int_add(i, i64t.const_int(1, false), "")
            .map_err(err)?;
        b.build_store(counter, next).map_err(err)?;
        let same = b
            .build_int_compare(IntPredicate::EQ, version, expected, "")
            .map_err(err)?;
        b.build_conditional_branch(same, header, changed)
            .map_err(err)?;
        b.position_at_end(changed);
        let guards = *self
            .helpers
            .get(helper::GUARDS)
            .ok_or("internal: guards helper")?;
        let verdict = b
            .build_call(guards, &[env.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_int_value();
        let invalid = b
            .build_int_compare(IntPredicate::NE, verdict, i32t.const_zero(), "")
            .map_err(err)?;
        b.build_conditional_branch(invalid, failed, run)
            .map_err(err)?;
        b.position_at_end(failed);
        let ret = self.ret_t.const_named_struct(&[
            i64t.const_zero().into(),
            i64t.const_int(pyopt_jit::abi::GUARD_FAILED, false).into(),
        ]);
        b.build_return(Some(&ret)).map_err(err)?;

        b.position_at_end(run);
        let ctx = f.get_nth_param(0).unwrap().into_pointer_value();
        let budget_field = b.build_struct_gep(self.ctx_t, ctx, 0, "").map_err(err)?;
        let budget_ptr = b
            .build_load(p, budget_field, "")
            .map_err(err)?
            .into_pointer_value();
        let budget = b
            .build_load(i32t, budget_ptr, "")
            .map_err(err)?
            .into_int_value();
        let args_ptr = f.get_nth_param(3).unwrap().into_pointer_value();
        // This call's interpreter frame, for a deoptimization of the plan it enters
        // (nested compiled calls have none); the previous pair is put back after, for
        // compiled code further up this thread's stack.
        let frame = f.get_nth_param(2).unwrap().into_pointer_value();
        let frame_field = b.build_struct_gep(self.ctx_t, ctx, 4, "").map_err(err)?;
        let out_field = b.build_struct_gep(self.ctx_t, ctx, 5, "").map_err(err)?;
        let env_field = b.build_struct_gep(self.ctx_t, ctx, 6, "").map_err(err)?;
        let saved_frame = b.build_load(p, frame_field, "").map_err(err)?;
        let saved_out = b.build_load(p, out_field, "").map_err(err)?;
        let saved_env = b.build_load(p, env_field, "").map_err(err)?;
        b.build_store(frame_field, frame).map_err(err)?;
        b.build_store(out_field, out).map_err(err)?;
        b.build_store(env_field, env).map_err(err)?;
        let mut call_args: Vec<BasicMetadataValueEnum<'c>> = vec![ctx.into()];
        call_args.push(out.into());
        call_args.push(budget.into());
        let mut flat = Vec::new();
        for ty in &plan.params {
            self.flat_types(ty, &mut flat);
        }
        for (slot, ty) in flat.iter().enumerate() {
            // SAFETY: the caller passes one slot per flattened parameter.
            let address = unsafe {
                b.build_in_bounds_gep(i64t, args_ptr, &[i64t.const_int(slot as u64, false)], "")
                    .map_err(err)?
            };
            let value: BasicValueEnum<'c> = match ty {
                BasicMetadataTypeEnum::FloatType(t) => {
                    b.build_load(*t, address, "").map_err(err)?
                }
                _ => b.build_load(i64t, address, "").map_err(err)?,
            };
            call_args.push(value.into());
        }
        let status = b
            .build_call(self.plans[index], &call_args, "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_int_value();
        // Frames below may have written their budgets; the caller's is this one.
        b.build_store(budget_ptr, budget).map_err(err)?;
        b.build_store(frame_field, saved_frame).map_err(err)?;
        b.build_store(out_field, saved_out).map_err(err)?;
        b.build_store(env_field, saved_env).map_err(err)?;
        // The value (a number's bits, or the object a deoptimization produced) is in
        // the first slot.
        let first = b.build_load(i64t, out, "").map_err(err)?.into_int_value();
        let passed_on = b
            .build_insert_value(self.ret_t.get_undef(), first, 0, "")
            .map_err(err)?;
        let passed_on = b
            .build_insert_value(passed_on, status, 1, "")
            .map_err(err)?
            .into_struct_value();
        if !matches!(plan.result, Ty::Tuple(_)) {
            b.build_return(Some(&passed_on)).map_err(err)?;
            return Ok(());
        }
        // A tuple result arrives in slots: box it.
        let ok = b
            .build_int_compare(IntPredicate::EQ, status, i64t.const_zero(), "")
            .map_err(err)?;
        let boxing = self.ctx.append_basic_block(f, "box");
        let passthrough = self.ctx.append_basic_block(f, "passthrough");
        b.build_conditional_branch(ok, boxing, passthrough)
            .map_err(err)?;
        b.position_at_end(passthrough);
        b.build_return(Some(&passed_on)).map_err(err)?;
        b.position_at_end(boxing);
        let box_result = *self
            .helpers
            .get(helper::BOX_RESULT)
            .ok_or("internal: box helper")?;
        let object = b
            .build_call(
                box_result,
                &[
                    env.into(),
                    i32t.const_int(index as u64, false).into(),
                    out.into(),
                ],
                "",
            )
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_pointer_value();
        let null = b.build_is_null(object, "").map_err(err)?;
        let status = b
            .build_select(
                null,
                i64t.const_int(pyopt_jit::abi::ERROR, false),
                i64t.const_zero(),
                "",
            )
            .map_err(err)?;
        let value = b.build_ptr_to_int(object, i64t, "").map_err(err)?;
        let ret = b
            .build_insert_value(self.ret_t.get_undef(), value, 0, "")
            .map_err(err)?;
        let ret = b.build_insert_value(ret, status, 1, "").map_err(err)?;
        b.build_return(Some(&ret.into_struct_value()))
            .map_err(err)?;
        Ok(())
    }
}

/// Code generation for one plan.
struct FnGen<'g, 'c> {
    g: &'g Gen<'c>,
    plan: &'c FunctionPlan,
    index: usize,
    f: FunctionValue<'c>,
    alloca_builder: Builder<'c>,
    blocks: Vec<BasicBlock<'c>>,
    locals: HashMap<(u32, Ty), Store<'c>>,
    flags: HashMap<u32, PointerValue<'c>>,
    stack: HashMap<(usize, Ty), Store<'c>>,
    /// The current instruction's stack types (popping updates it).
    types: Vec<Ty>,
    ctx_ptr: PointerValue<'c>,
    /// Where a tuple result's slots go.
    out_ptr: PointerValue<'c>,
    breaker_ptr: PointerValue<'c>,
    /// Objects of the unit's table this plan uses at run time (the `random`
    /// generator), read once in the entry block.
    objects: HashMap<u32, PointerValue<'c>>,
    /// This frame's recursion budget (the caller's minus one).
    depth: PointerValue<'c>,
    out_i64: PointerValue<'c>,
    out_f64: PointerValue<'c>,
    step: usize,
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
        FnGen {
            g,
            plan,
            index,
            f,
            alloca_builder,
            blocks,
            locals: HashMap::new(),
            flags: HashMap::new(),
            stack: HashMap::new(),
            types: Vec::new(),
            ctx_ptr,
            breaker_ptr,
            objects: HashMap::new(),
            out_ptr: f.get_nth_param(1).unwrap().into_pointer_value(),
            depth,
            out_i64,
            out_f64,
            step: 0,
        }
    }

    fn b(&self) -> &Builder<'c> {
        &self.g.builder
    }

    fn new_store(&self, ty: &Ty) -> Store<'c> {
        let ab = &self.alloca_builder;
        match ty {
            Ty::Int => Store::Int(ab.build_alloca(self.g.i64t, "").unwrap()),
            Ty::Float => Store::Float(ab.build_alloca(self.g.f64t, "").unwrap()),
            Ty::Bool => Store::Bool(ab.build_alloca(self.g.i1t, "").unwrap()),
            Ty::Tuple(items) => Store::Tuple(items.iter().map(|t| self.new_store(t)).collect()),
            Ty::Range | Ty::RangeIter => Store::Range([
                ab.build_alloca(self.g.i64t, "").unwrap(),
                ab.build_alloca(self.g.i64t, "").unwrap(),
                ab.build_alloca(self.g.i64t, "").unwrap(),
            ]),
            other => Store::Empty(other.clone()),
        }
    }

    fn local_store(&mut self, local: u32, ty: &Ty) -> Store<'c> {
        let ty = &storage_key(ty);
        if let Some(store) = self.locals.get(&(local, ty.clone())) {
            return store.clone();
        }
        let store = self.new_store(ty);
        self.locals.insert((local, ty.clone()), store.clone());
        store
    }

    fn stack_store(&mut self, depth: usize, ty: &Ty) -> Store<'c> {
        let ty = &storage_key(ty);
        if let Some(store) = self.stack.get(&(depth, ty.clone())) {
            return store.clone();
        }
        let store = self.new_store(ty);
        self.stack.insert((depth, ty.clone()), store.clone());
        store
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
    /// the owned object of a `Boxed` stack entry.
    fn emit_deopt(&mut self, point: DeoptId, boxed: Option<IntValue<'c>>) -> Res<()> {
        let record = self.plan.deopts[point as usize].clone();
        let slots = self.load_ptr(self.field(self.g.ctx_t, self.ctx_ptr, 2)?)?;
        let mut position = 0u64;
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
            Cv::None | Cv::Marker => {}
        }
        Ok(())
    }

    /// Rebuilds a parameter from the function's machine arguments.
    fn unflatten_param(&self, ty: &Ty, next: &mut u32) -> Res<Cv<'c>> {
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
            Ty::Float => Cv::Float(take(next)?.into_float_value()),
            Ty::Bool => {
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
        // Parameters into their locals (the entry record reads them).
        let mut next_param = 3;
        for (i, ty) in plan.params.iter().enumerate() {
            let value = self.unflatten_param(ty, &mut next_param)?;
            let store = self.local_store(i as u32, ty);
            self.store(&store, &value)?;
        }
        for local in 0..plan
            .steps
            .first()
            .and_then(|s| s.before.as_ref())
            .map_or(0, |s| s.locals.len())
        {
            if plan.local_needs_flag(local) {
                let flag = self.flag(local as u32);
                let bound = local < plan.params.len();
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
            .build_unconditional_branch(self.blocks[0])
            .map_err(err)?;

        for index in 0..plan.steps.len() {
            self.step = index;
            let step = &plan.steps[index];
            self.b().position_at_end(self.blocks[index]);
            let Some(state) = &step.before else {
                self.b().build_unreachable().map_err(err)?;
                continue;
            };
            self.types = state.stack.clone();
            self.emit_op(&step.op, state)?;
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

    fn poll(&mut self, point: Option<DeoptId>) -> Res<()> {
        let Some(point) = point else { return Ok(()) };
        let g = self.g;
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
        let carry_on = self.new_block("breaker_done");
        self.b()
            .build_conditional_branch(set, handle, carry_on)
            .map_err(err)?;
        self.b().position_at_end(handle);
        let verdict = self
            .call_value(helper::POLL, &[self.ctx_ptr.into(), self.env_ptr()?.into()])?
            .into_int_value();
        let hand_over = self.icmp(IntPredicate::NE, verdict, g.i32t.const_zero())?;
        self.deopt_if(hand_over, point)?;
        self.b().build_unconditional_branch(carry_on).map_err(err)?;
        self.b().position_at_end(carry_on);
        Ok(())
    }

    fn as_i64(&self, v: &Cv<'c>) -> Res<IntValue<'c>> {
        match v {
            Cv::Int(i) => Ok(*i),
            Cv::Bool(b) => self
                .b()
                .build_int_z_extend(*b, self.g.i64t, "")
                .map_err(err),
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
            other => Err(format!("internal: {other:?} as a float")),
        }
    }

    /// The truth value of a value as an `i1`.
    fn truth(&self, v: &Cv<'c>) -> Res<IntValue<'c>> {
        let g = self.g;
        let b = self.b();
        Ok(match v {
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
        })
    }

    fn fast(&self, instruction: Option<InstructionValue<'c>>) {
        if self.g.unit.fastmath
            && let Some(instruction) = instruction
        {
            // No NaN/Inf assumptions: those would make nan and inf inputs poison.
            let _ = instruction.set_fast_math_flags(
                FastMathFlags::AllowReassoc
                    | FastMathFlags::NoSignedZeros
                    | FastMathFlags::AllowReciprocal
                    | FastMathFlags::AllowContract,
            );
        }
    }

    fn overflow_op(
        &mut self,
        name: &str,
        a: IntValue<'c>,
        b: IntValue<'c>,
        point: DeoptId,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let intrinsic = Intrinsic::find(name).ok_or("internal: overflow intrinsic")?;
        let f = intrinsic
            .get_declaration(&g.module, &[g.i64t.into()])
            .ok_or("internal: overflow intrinsic declaration")?;
        let pair = self
            .b()
            .build_call(f, &[a.into(), b.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_struct_value();
        let value = self
            .b()
            .build_extract_value(pair, 0, "")
            .map_err(err)?
            .into_int_value();
        let overflow = self
            .b()
            .build_extract_value(pair, 1, "")
            .map_err(err)?
            .into_int_value();
        self.deopt_if(overflow, point)?;
        Ok(value)
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

    /// A helper returning a status (non-zero: deoptimize) and a value through `out`.
    fn status_call(
        &mut self,
        name: &str,
        mut args: Vec<BasicMetadataValueEnum<'c>>,
        point: DeoptId,
        out: PointerValue<'c>,
        ty: BasicTypeEnum<'c>,
    ) -> Res<BasicValueEnum<'c>> {
        self.sync_recursion()?;
        args.push(out.into());
        let status = self.call_value(name, &args)?.into_int_value();
        let failed = self.icmp(IntPredicate::NE, status, self.g.i32t.const_zero())?;
        self.deopt_if(failed, point)?;
        self.b().build_load(ty, out, "").map_err(err)
    }

    fn status_call_i64(
        &mut self,
        name: &str,
        args: Vec<BasicMetadataValueEnum<'c>>,
        point: DeoptId,
    ) -> Res<IntValue<'c>> {
        let (out, ty) = (self.out_i64, self.g.i64t.into());
        Ok(self
            .status_call(name, args, point, out, ty)?
            .into_int_value())
    }

    fn status_call_f64(
        &mut self,
        name: &str,
        args: Vec<BasicMetadataValueEnum<'c>>,
        point: DeoptId,
    ) -> Res<FloatValue<'c>> {
        let (out, ty) = (self.out_f64, self.g.f64t.into());
        Ok(self
            .status_call(name, args, point, out, ty)?
            .into_float_value())
    }

    fn binary(
        &mut self,
        op: BinOp,
        l: &Cv<'c>,
        r: &Cv<'c>,
        result: &Ty,
        point: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        if let (Cv::Tuple(a), Cv::Tuple(b)) = (l, r) {
            return Ok(Cv::Tuple(a.iter().chain(b).cloned().collect()));
        }
        match result {
            Ty::Bool => {
                let (Cv::Bool(a), Cv::Bool(b)) = (l, r) else {
                    return Err("internal: bool operation on non-bools".to_owned());
                };
                let v = match op {
                    BinOp::And => self.and(*a, *b)?,
                    BinOp::Or => self.or(*a, *b)?,
                    _ => self.b().build_xor(*a, *b, "").map_err(err)?,
                };
                Ok(Cv::Bool(v))
            }
            Ty::Int => {
                let a = self.as_i64(l)?;
                let b = self.as_i64(r)?;
                let zero = g.i64t.const_zero();
                let min = self.const_i64(i64::MIN);
                let minus_one = self.const_i64(-1);
                let v = match op {
                    BinOp::Add => self.overflow_op("llvm.sadd.with.overflow", a, b, point)?,
                    BinOp::Sub => self.overflow_op("llvm.ssub.with.overflow", a, b, point)?,
                    BinOp::Mul => self.overflow_op("llvm.smul.with.overflow", a, b, point)?,
                    BinOp::FloorDiv | BinOp::Mod => {
                        let by_zero = self.icmp(IntPredicate::EQ, b, zero)?;
                        let overflow = self.and(
                            self.icmp(IntPredicate::EQ, a, min)?,
                            self.icmp(IntPredicate::EQ, b, minus_one)?,
                        )?;
                        if op == BinOp::FloorDiv {
                            self.deopt_if(self.or(by_zero, overflow)?, point)?;
                        } else {
                            self.deopt_if(by_zero, point)?;
                        }
                        // MIN % -1 is 0 in Python but undefined for the machine.
                        let safe_b = self.select_int(overflow, g.i64t.const_int(1, false), b)?;
                        let q = self.b().build_int_signed_div(a, safe_b, "").map_err(err)?;
                        let m = self.b().build_int_signed_rem(a, safe_b, "").map_err(err)?;
                        let nonzero = self.icmp(IntPredicate::NE, m, zero)?;
                        let signs_differ = self.icmp(
                            IntPredicate::SLT,
                            self.b().build_xor(m, b, "").map_err(err)?,
                            zero,
                        )?;
                        let adjust = self.and(nonzero, signs_differ)?;
                        if op == BinOp::FloorDiv {
                            let q1 = self
                                .b()
                                .build_int_sub(q, g.i64t.const_int(1, false), "")
                                .map_err(err)?;
                            self.select_int(adjust, q1, q)?
                        } else {
                            let m1 = self.b().build_int_add(m, b, "").map_err(err)?;
                            self.select_int(adjust, m1, m)?
                        }
                    }
                    BinOp::Pow => {
                        let negative = self.icmp(IntPredicate::SLT, b, zero)?;
                        self.deopt_if(negative, point)?;
                        self.status_call_i64(helper::INT_POW, vec![a.into(), b.into()], point)?
                    }
                    BinOp::LShift => {
                        let negative = self.icmp(IntPredicate::SLT, b, zero)?;
                        let big = self.icmp(IntPredicate::SGE, b, g.i64t.const_int(64, false))?;
                        self.deopt_if(self.or(negative, big)?, point)?;
                        let shifted = self.b().build_left_shift(a, b, "").map_err(err)?;
                        let back = self
                            .b()
                            .build_right_shift(shifted, b, true, "")
                            .map_err(err)?;
                        let lost = self.icmp(IntPredicate::NE, back, a)?;
                        self.deopt_if(lost, point)?;
                        shifted
                    }
                    BinOp::RShift => {
                        let negative = self.icmp(IntPredicate::SLT, b, zero)?;
                        self.deopt_if(negative, point)?;
                        let big = self.icmp(IntPredicate::SGT, b, g.i64t.const_int(63, false))?;
                        let count = self.select_int(big, g.i64t.const_int(63, false), b)?;
                        self.b()
                            .build_right_shift(a, count, true, "")
                            .map_err(err)?
                    }
                    BinOp::And => self.and(a, b)?,
                    BinOp::Or => self.or(a, b)?,
                    BinOp::Xor => self.b().build_xor(a, b, "").map_err(err)?,
                    BinOp::TrueDiv | BinOp::MatMul => {
                        return Err(format!("internal: {op:?} giving an int"));
                    }
                };
                Ok(Cv::Int(v))
            }
            Ty::Float => {
                if op == BinOp::TrueDiv
                    && matches!(l, Cv::Int(_) | Cv::Bool(_))
                    && matches!(r, Cv::Int(_) | Cv::Bool(_))
                {
                    let a = self.as_i64(l)?;
                    let b = self.as_i64(r)?;
                    let v =
                        self.status_call_f64(helper::INT_TRUEDIV, vec![a.into(), b.into()], point)?;
                    return Ok(Cv::Float(v));
                }
                let a = self.as_f64(l)?;
                let b = self.as_f64(r)?;
                let zero = g.f64t.const_zero();
                let v = match op {
                    BinOp::Add => {
                        let v = self.b().build_float_add(a, b, "").map_err(err)?;
                        self.fast(v.as_instruction());
                        v
                    }
                    BinOp::Sub => {
                        let v = self.b().build_float_sub(a, b, "").map_err(err)?;
                        self.fast(v.as_instruction());
                        v
                    }
                    BinOp::Mul => {
                        let v = self.b().build_float_mul(a, b, "").map_err(err)?;
                        self.fast(v.as_instruction());
                        v
                    }
                    BinOp::TrueDiv => {
                        self.deopt_if(self.fcmp(FloatPredicate::OEQ, b, zero)?, point)?;
                        let v = self.b().build_float_div(a, b, "").map_err(err)?;
                        self.fast(v.as_instruction());
                        v
                    }
                    BinOp::FloorDiv | BinOp::Mod => {
                        self.deopt_if(self.fcmp(FloatPredicate::OEQ, b, zero)?, point)?;
                        let name = if op == BinOp::FloorDiv {
                            helper::FLOAT_FLOORDIV
                        } else {
                            helper::FLOAT_MOD
                        };
                        self.call_value(name, &[a.into(), b.into()])?
                            .into_float_value()
                    }
                    BinOp::Pow => {
                        self.status_call_f64(helper::FLOAT_POW, vec![a.into(), b.into()], point)?
                    }
                    _ => return Err(format!("internal: {op:?} giving a float")),
                };
                Ok(Cv::Float(v))
            }
            other => Err(format!("internal: binary result {other}")),
        }
    }

    fn compare(&mut self, op: CmpOp, l: &Cv<'c>, r: &Cv<'c>) -> Res<IntValue<'c>> {
        let g = self.g;
        let ipred = match op {
            CmpOp::Lt => IntPredicate::SLT,
            CmpOp::Le => IntPredicate::SLE,
            CmpOp::Eq => IntPredicate::EQ,
            CmpOp::Ne => IntPredicate::NE,
            CmpOp::Gt => IntPredicate::SGT,
            CmpOp::Ge => IntPredicate::SGE,
        };
        let fpred = match op {
            CmpOp::Lt => FloatPredicate::OLT,
            CmpOp::Le => FloatPredicate::OLE,
            CmpOp::Eq => FloatPredicate::OEQ,
            CmpOp::Ne => FloatPredicate::UNE,
            CmpOp::Gt => FloatPredicate::OGT,
            CmpOp::Ge => FloatPredicate::OGE,
        };
        let is_int = |v: &Cv<'c>| matches!(v, Cv::Int(_) | Cv::Bool(_));
        match (is_int(l), is_int(r)) {
            (true, true) => {
                let a = self.as_i64(l)?;
                let b = self.as_i64(r)?;
                self.icmp(ipred, a, b)
            }
            (false, false) => {
                let (Cv::Float(a), Cv::Float(b)) = (l, r) else {
                    return Err("internal: comparing non-numbers".to_owned());
                };
                self.fcmp(fpred, *a, *b)
            }
            (int_left, _) => {
                // int vs float: exact when the int is within +-2**53; else the helper.
                let (i, x) = if int_left {
                    (self.as_i64(l)?, self.as_f64(r)?)
                } else {
                    (self.as_i64(r)?, self.as_f64(l)?)
                };
                let op = if int_left { op } else { swap(op) };
                let fpred = match op {
                    CmpOp::Lt => FloatPredicate::OLT,
                    CmpOp::Le => FloatPredicate::OLE,
                    CmpOp::Eq => FloatPredicate::OEQ,
                    CmpOp::Ne => FloatPredicate::UNE,
                    CmpOp::Gt => FloatPredicate::OGT,
                    CmpOp::Ge => FloatPredicate::OGE,
                };
                let limit = g.i64t.const_int(1 << 53, false);
                let shifted = self.b().build_int_add(i, limit, "").map_err(err)?;
                let exact =
                    self.icmp(IntPredicate::ULE, shifted, g.i64t.const_int(1 << 54, false))?;
                let fast_block = self.new_block("cmp_exact");
                let slow_block = self.new_block("cmp_helper");
                let join = self.new_block("cmp_done");
                let result = self.alloca_builder.build_alloca(g.i1t, "cmp").unwrap();
                self.b()
                    .build_conditional_branch(exact, fast_block, slow_block)
                    .map_err(err)?;
                self.b().position_at_end(fast_block);
                let fi = self
                    .b()
                    .build_signed_int_to_float(i, g.f64t, "")
                    .map_err(err)?;
                let c = self.fcmp(fpred, fi, x)?;
                self.b().build_store(result, c).map_err(err)?;
                self.b().build_unconditional_branch(join).map_err(err)?;
                self.b().position_at_end(slow_block);
                let code = g.i32t.const_int(op as u64, false);
                let r = self
                    .call_value(
                        helper::COMPARE_INT_FLOAT,
                        &[i.into(), x.into(), code.into()],
                    )?
                    .into_int_value();
                let c = self.icmp(IntPredicate::NE, r, g.i32t.const_zero())?;
                self.b().build_store(result, c).map_err(err)?;
                self.b().build_unconditional_branch(join).map_err(err)?;
                self.b().position_at_end(join);
                Ok(self
                    .b()
                    .build_load(g.i1t, result, "")
                    .map_err(err)?
                    .into_int_value())
            }
        }
    }

    fn emit_op(&mut self, op: &Op, state: &State) -> Res<()> {
        let g = self.g;
        let next = self.step + 1;
        match op {
            Op::Nop => self.goto(next),
            Op::LoadLocal { local, check } => {
                if let Some(point) = check {
                    let flag = self.flag(*local);
                    let bound = self
                        .b()
                        .build_load(g.i1t, flag, "")
                        .map_err(err)?
                        .into_int_value();
                    let unbound = self.b().build_not(bound, "").map_err(err)?;
                    self.deopt_if(unbound, *point)?;
                }
                let ty = state.locals[*local as usize]
                    .ty()
                    .ok_or("internal: load of an unbound local")?
                    .clone();
                let store = self.local_store(*local, &ty);
                let v = self.load(&store)?;
                self.push(ty, v)?;
                self.goto(next)
            }
            Op::StoreLocal { local } => {
                let ty = self
                    .types
                    .last()
                    .cloned()
                    .ok_or("internal: store from an empty stack")?;
                let v = self.pop()?;
                let store = self.local_store(*local, &ty);
                self.store(&store, &v)?;
                if self.plan.local_needs_flag(*local as usize) {
                    let flag = self.flag(*local);
                    self.b()
                        .build_store(flag, g.i1t.const_int(1, false))
                        .map_err(err)?;
                }
                self.goto(next)
            }
            Op::DeleteLocal { local, check } => {
                if let Some(point) = check {
                    let flag = self.flag(*local);
                    let bound = self
                        .b()
                        .build_load(g.i1t, flag, "")
                        .map_err(err)?
                        .into_int_value();
                    let unbound = self.b().build_not(bound, "").map_err(err)?;
                    self.deopt_if(unbound, *point)?;
                }
                if self.plan.local_needs_flag(*local as usize) {
                    let flag = self.flag(*local);
                    self.b()
                        .build_store(flag, g.i1t.const_zero())
                        .map_err(err)?;
                }
                self.goto(next)
            }
            Op::Const(value) => {
                let v = self.const_value(value);
                self.push(value.ty(), v)?;
                self.goto(next)
            }
            Op::PushMarker(ty) => {
                self.push(ty.clone(), Cv::Marker)?;
                self.goto(next)
            }
            Op::LoadGlobal { null, value } => {
                if *null {
                    self.push(Ty::Null, Cv::Marker)?;
                }
                self.emit_push(value)?;
                self.goto(next)
            }
            Op::LoadAttribute { method, value } => {
                self.pop()?;
                if *method {
                    self.push(Ty::Null, Cv::Marker)?;
                }
                self.emit_push(value)?;
                self.goto(next)
            }
            Op::Pop => {
                self.pop()?;
                self.goto(next)
            }
            Op::Copy(n) => {
                let depth = self.types.len() - *n as usize;
                let ty = self.types[depth].clone();
                let store = self.stack_store(depth, &ty);
                let v = self.load(&store)?;
                self.push(ty, v)?;
                self.goto(next)
            }
            Op::Swap(n) => {
                let len = self.types.len();
                let low = len - *n as usize;
                let (low_ty, top_ty) = (self.types[low].clone(), self.types[len - 1].clone());
                let low_store = self.stack_store(low, &low_ty);
                let top_store = self.stack_store(len - 1, &top_ty);
                let low_v = self.load(&low_store)?;
                let top_v = self.load(&top_store)?;
                self.types[low] = top_ty.clone();
                self.types[len - 1] = low_ty.clone();
                let new_low = self.stack_store(low, &top_ty);
                let new_top = self.stack_store(len - 1, &low_ty);
                self.store(&new_low, &top_v)?;
                self.store(&new_top, &low_v)?;
                self.goto(next)
            }
            Op::Binary { op, result, deopt } => {
                let r = self.pop()?;
                let l = self.pop()?;
                let v = self.binary(*op, &l, &r, result, *deopt)?;
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::Compare { op, .. } => {
                let r = self.pop()?;
                let l = self.pop()?;
                let v = self.compare(*op, &l, &r)?;
                self.push(Ty::Bool, Cv::Bool(v))?;
                self.goto(next)
            }
            Op::IsStatic { result } => {
                self.pop()?;
                self.pop()?;
                self.push(
                    Ty::Bool,
                    Cv::Bool(g.i1t.const_int(u64::from(*result), false)),
                )?;
                self.goto(next)
            }
            Op::Unary { op, result, deopt } => {
                let v = self.pop()?;
                let out = match (op, &v) {
                    (UnaryOp::Not, v) => {
                        let t = self.truth(v)?;
                        Cv::Bool(self.b().build_not(t, "").map_err(err)?)
                    }
                    (UnaryOp::Negative, Cv::Float(x)) => {
                        Cv::Float(self.b().build_float_neg(*x, "").map_err(err)?)
                    }
                    (UnaryOp::Positive, Cv::Float(x)) => Cv::Float(*x),
                    (UnaryOp::Negative, v) => {
                        let i = self.as_i64(v)?;
                        let is_min = self.icmp(IntPredicate::EQ, i, self.const_i64(i64::MIN))?;
                        self.deopt_if(is_min, *deopt)?;
                        Cv::Int(self.b().build_int_neg(i, "").map_err(err)?)
                    }
                    (UnaryOp::Positive, v) => Cv::Int(self.as_i64(v)?),
                    (UnaryOp::Invert, v) => {
                        let i = self.as_i64(v)?;
                        Cv::Int(self.b().build_not(i, "").map_err(err)?)
                    }
                };
                self.push(result.clone(), out)?;
                self.goto(next)
            }
            Op::Branch {
                test,
                jump_if,
                target,
                poll,
            } => {
                self.poll(*poll)?;
                let v = self.pop()?;
                let cond = match test {
                    Test::Truth => self.truth(&v)?,
                    Test::IsNone => g.i1t.const_int(u64::from(matches!(v, Cv::None)), false),
                };
                self.branch(cond, *jump_if, *target as usize, next)
            }
            Op::BranchOrPop { jump_if, target } => {
                let v = self.peek()?;
                let cond = self.truth(&v)?;
                // Both successors read the value from the same storage: nothing to move.
                self.branch(cond, *jump_if, *target as usize, next)
            }
            Op::Jump { target, poll } => {
                self.poll(*poll)?;
                self.goto(*target as usize)
            }
            Op::ForRange { exit } => {
                let iterator = self.peek()?;
                let Cv::Range(start, step, len) = iterator else {
                    return Err("internal: FOR_ITER over a non-range".to_owned());
                };
                let more = self.icmp(IntPredicate::SGT, len, g.i64t.const_zero())?;
                let body = self.new_block("for_next");
                self.b()
                    .build_conditional_branch(more, body, self.blocks[*exit as usize])
                    .map_err(err)?;
                self.b().position_at_end(body);
                let advanced = self.b().build_int_add(start, step, "").map_err(err)?;
                let remaining = self
                    .b()
                    .build_int_sub(len, g.i64t.const_int(1, false), "")
                    .map_err(err)?;
                let depth = self.types.len() - 1;
                let store = self.stack_store(depth, &Ty::RangeIter);
                self.store(&store, &Cv::Range(advanced, step, remaining))?;
                self.push(Ty::Int, Cv::Int(start))?;
                self.goto(next)
            }
            Op::CallRange { nargs, deopt } => {
                let mut args = Vec::new();
                for _ in 0..*nargs {
                    args.push(self.pop()?);
                }
                args.reverse();
                self.pop()?;
                self.pop()?;
                let ints: Vec<IntValue<'c>> =
                    args.iter().map(|a| self.as_i64(a)).collect::<Res<_>>()?;
                let (start, stop, step) = match ints.as_slice() {
                    [stop] => (g.i64t.const_zero(), *stop, g.i64t.const_int(1, false)),
                    [start, stop] => (*start, *stop, g.i64t.const_int(1, false)),
                    [start, stop, step] => (*start, *stop, *step),
                    _ => return Err("internal: range arity".to_owned()),
                };
                let zero_step = self.icmp(IntPredicate::EQ, step, g.i64t.const_zero())?;
                self.deopt_if(zero_step, *deopt)?;
                let len = self.range_length(start, stop, step, *deopt)?;
                self.push(Ty::Range, Cv::Range(start, step, len))?;
                self.goto(next)
            }
            Op::CallMath {
                function,
                args,
                result,
                deopt,
            } => {
                let values = self.pop_args(args.len())?;
                let v = self.math(*function, &values, result, *deopt)?;
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::CallRandom {
                function,
                generator,
                args,
                deopt,
            } => {
                let values = self.pop_args(args.len())?;
                let gen_obj = self.object(*generator)?;
                let (ty, v) = match function {
                    RandomFn::Random => (
                        Ty::Float,
                        Cv::Float(
                            self.call_value(helper::RANDOM, &[gen_obj.into()])?
                                .into_float_value(),
                        ),
                    ),
                    RandomFn::Randint => {
                        let a = self.as_i64(&values[0])?;
                        let b = self.as_i64(&values[1])?;
                        (
                            Ty::Int,
                            Cv::Int(self.status_call_i64(
                                helper::RANDINT,
                                vec![gen_obj.into(), a.into(), b.into()],
                                *deopt,
                            )?),
                        )
                    }
                    RandomFn::Uniform => {
                        // a + (b - a) * random(), with Python's types at each step; the
                        // subtraction comes first so an overflow hands over before the
                        // generator advances.
                        let int_args = values.iter().all(|v| matches!(v, Cv::Int(_) | Cv::Bool(_)));
                        let width_ty = if int_args { Ty::Int } else { Ty::Float };
                        let width =
                            self.binary(BinOp::Sub, &values[1], &values[0], &width_ty, *deopt)?;
                        let r = Cv::Float(
                            self.call_value(helper::RANDOM, &[gen_obj.into()])?
                                .into_float_value(),
                        );
                        let scaled = self.binary(BinOp::Mul, &width, &r, &Ty::Float, *deopt)?;
                        (
                            Ty::Float,
                            self.binary(BinOp::Add, &values[0], &scaled, &Ty::Float, *deopt)?,
                        )
                    }
                };
                self.push(ty, v)?;
                self.goto(next)
            }
            Op::CallBuiltin {
                function,
                args,
                result,
                deopt,
            } => {
                let values = self.pop_args(args.len())?;
                let v = self.builtin(*function, &values, result, *deopt)?;
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::CallPlan {
                plan,
                nargs,
                boxed,
                raised,
            } => {
                let values = self.pop_args(*nargs as usize)?;
                let result_ty = g.unit.plans[*plan as usize].result.clone();
                let result_slots = self.scratch(result_ty.slots().max(1))?;
                let depth = self.b().build_load(g.i32t, self.depth, "").map_err(err)?;
                let mut call_args: Vec<BasicMetadataValueEnum<'c>> =
                    vec![self.ctx_ptr.into(), result_slots.into(), depth.into()];
                for v in &values {
                    self.flat_args(v, &mut call_args)?;
                }
                let callee = g.plans[*plan as usize];
                // The callee returns its status; its value is in the first slot.
                let status = self
                    .b()
                    .build_call(callee, &call_args, "")
                    .map_err(err)?
                    .try_as_basic_value()
                    .unwrap_basic()
                    .into_int_value();
                let ok = self.new_block("call_ok");
                let not_ok = self.new_block("call_not_ok");
                let is_boxed = self.new_block("call_boxed");
                let is_error = self.new_block("call_raised");
                let is_ok = self.icmp(IntPredicate::EQ, status, g.i64t.const_zero())?;
                self.b()
                    .build_conditional_branch(is_ok, ok, not_ok)
                    .map_err(err)?;
                self.b().position_at_end(not_ok);
                let boxed_status = self.icmp(
                    IntPredicate::EQ,
                    status,
                    g.i64t.const_int(pyopt_jit::abi::BOXED, false),
                )?;
                self.b()
                    .build_conditional_branch(boxed_status, is_boxed, is_error)
                    .map_err(err)?;
                // The callee's frame is gone: the stack below its arguments is the
                // record's stack, the object on top.
                self.b().position_at_end(is_boxed);
                let object = self
                    .b()
                    .build_load(g.i64t, result_slots, "")
                    .map_err(err)?
                    .into_int_value();
                self.emit_deopt(*boxed, Some(object))?;
                self.b().position_at_end(is_error);
                self.emit_deopt(*raised, None)?;
                self.b().position_at_end(ok);
                let value = self
                    .b()
                    .build_load(g.i64t, result_slots, "")
                    .map_err(err)?
                    .into_int_value();
                let v = self.unbox_result(&result_ty, value, result_slots)?;
                self.push(result_ty, v)?;
                self.goto(next)
            }
            Op::BuildTuple(n) => {
                let mut items = Vec::new();
                let mut types = Vec::new();
                for _ in 0..*n {
                    types.push(self.types.last().cloned().unwrap_or(Ty::None));
                    items.push(self.pop()?);
                }
                items.reverse();
                types.reverse();
                self.push(Ty::Tuple(types), Cv::Tuple(items))?;
                self.goto(next)
            }
            Op::UnpackTuple { .. } => {
                let ty = self.types.last().cloned();
                let v = self.pop()?;
                let (Cv::Tuple(items), Some(Ty::Tuple(types))) = (v, ty) else {
                    return Err("internal: unpacking a non-tuple".to_owned());
                };
                for (item, ty) in items.into_iter().zip(types).rev() {
                    self.push(ty, item)?;
                }
                self.goto(next)
            }
            Op::Subscript {
                constant,
                result,
                deopt,
            } => {
                let index = self.pop()?;
                let tuple = self.pop()?;
                let Cv::Tuple(items) = tuple else {
                    return Err("internal: subscript of a non-tuple".to_owned());
                };
                let len = items.len() as i64;
                let v = match constant {
                    Some(i) => {
                        let position = if *i < 0 { i + len } else { *i };
                        items[position as usize].clone()
                    }
                    None => {
                        let i = self.as_i64(&index)?;
                        let negative = self.icmp(IntPredicate::SLT, i, g.i64t.const_zero())?;
                        let wrapped = self
                            .b()
                            .build_int_add(i, self.const_i64(len), "")
                            .map_err(err)?;
                        let position = self.select_int(negative, wrapped, i)?;
                        let outside =
                            self.icmp(IntPredicate::UGE, position, self.const_i64(len))?;
                        self.deopt_if(outside, *deopt)?;
                        let mut chosen = items[0].clone();
                        for (k, item) in items.iter().enumerate().skip(1) {
                            let here =
                                self.icmp(IntPredicate::EQ, position, self.const_i64(k as i64))?;
                            chosen = self.select(here, item, &chosen)?;
                        }
                        chosen
                    }
                };
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::Return => {
                let v = self.pop()?;
                match &v {
                    Cv::Tuple(_) => {
                        // Tuples go to the caller's slots (the wrapper boxes them).
                        let mut flat = Vec::new();
                        self.flatten(&v, &mut flat)?;
                        for (i, value) in flat.iter().enumerate() {
                            // SAFETY: callers pass room for the result's slots.
                            let address = unsafe {
                                self.b()
                                    .build_in_bounds_gep(
                                        g.i64t,
                                        self.out_ptr,
                                        &[g.i64t.const_int(i as u64, false)],
                                        "",
                                    )
                                    .map_err(err)?
                            };
                            self.b().build_store(address, *value).map_err(err)?;
                        }
                    }
                    other => {
                        let mut flat = Vec::new();
                        self.flatten(other, &mut flat)?;
                        if let Some(value) = flat.first() {
                            self.b().build_store(self.out_ptr, *value).map_err(err)?;
                        }
                    }
                }
                self.b()
                    .build_return(Some(&g.i64t.const_int(abi::OK, false)))
                    .map_err(err)?;
                Ok(())
            }
            Op::Deopt(point) => self.emit_deopt(*point, None),
        }
    }

    /// The push of a `LoadGlobal` or `LoadAttribute`.
    fn emit_push(&mut self, op: &Op) -> Res<()> {
        match op {
            Op::Const(value) => {
                let v = self.const_value(value);
                self.push(value.ty(), v)
            }
            Op::PushMarker(ty) => self.push(ty.clone(), Cv::Marker),
            other => Err(format!("internal: {other:?} as a pushed value")),
        }
    }

    fn select(&self, cond: IntValue<'c>, a: &Cv<'c>, b: &Cv<'c>) -> Res<Cv<'c>> {
        let s = |x: BasicValueEnum<'c>, y: BasicValueEnum<'c>| {
            self.b().build_select(cond, x, y, "").map_err(err)
        };
        Ok(match (a, b) {
            (Cv::Int(x), Cv::Int(y)) => Cv::Int(s((*x).into(), (*y).into())?.into_int_value()),
            (Cv::Bool(x), Cv::Bool(y)) => Cv::Bool(s((*x).into(), (*y).into())?.into_int_value()),
            (Cv::Float(x), Cv::Float(y)) => {
                Cv::Float(s((*x).into(), (*y).into())?.into_float_value())
            }
            (Cv::Tuple(x), Cv::Tuple(y)) => Cv::Tuple(
                x.iter()
                    .zip(y)
                    .map(|(p, q)| self.select(cond, p, q))
                    .collect::<Res<_>>()?,
            ),
            (Cv::None, Cv::None) => Cv::None,
            _ => return Err("internal: select between different shapes".to_owned()),
        })
    }

    fn pop_args(&mut self, n: usize) -> Res<Vec<Cv<'c>>> {
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.pop()?);
        }
        values.reverse();
        self.pop()?; // the callable
        self.pop()?; // NULL
        Ok(values)
    }

    /// CPython's length of range(start, stop, step), in 64 bits; deopts when it does not
    /// fit (CPython then uses its arbitrary-precision range iterator).
    fn range_length(
        &mut self,
        start: IntValue<'c>,
        stop: IntValue<'c>,
        step: IntValue<'c>,
        point: DeoptId,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let i128t = g.ctx.i128_type();
        let b = self.b();
        let s = b.build_int_s_extend(start, i128t, "").map_err(err)?;
        let e = b.build_int_s_extend(stop, i128t, "").map_err(err)?;
        let k = b.build_int_s_extend(step, i128t, "").map_err(err)?;
        let zero = i128t.const_zero();
        let one = i128t.const_int(1, false);
        let positive = b
            .build_int_compare(IntPredicate::SGT, k, zero, "")
            .map_err(err)?;
        // step > 0: lo=start, hi=stop; step < 0: lo=stop, hi=start, step=-step.
        let lo = b
            .build_select(positive, s, e, "")
            .map_err(err)?
            .into_int_value();
        let hi = b
            .build_select(positive, e, s, "")
            .map_err(err)?
            .into_int_value();
        let neg_k = b.build_int_neg(k, "").map_err(err)?;
        let abs_k = b
            .build_select(positive, k, neg_k, "")
            .map_err(err)?
            .into_int_value();
        let nonempty = b
            .build_int_compare(IntPredicate::SLT, lo, hi, "")
            .map_err(err)?;
        let diff = b.build_int_sub(hi, lo, "").map_err(err)?;
        let diff = b.build_int_sub(diff, one, "").map_err(err)?;
        let q = b.build_int_signed_div(diff, abs_k, "").map_err(err)?;
        let q = b.build_int_add(q, one, "").map_err(err)?;
        let len = b
            .build_select(nonempty, q, zero, "")
            .map_err(err)?
            .into_int_value();
        let too_long = b
            .build_int_compare(
                IntPredicate::SGT,
                len,
                i128t.const_int(i64::MAX as u64, false),
                "",
            )
            .map_err(err)?;
        self.deopt_if(too_long, point)?;
        self.b().build_int_truncate(len, g.i64t, "").map_err(err)
    }

    fn math(
        &mut self,
        function: MathFn,
        values: &[Cv<'c>],
        result: &Ty,
        point: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        let id = MathFn::ALL.iter().position(|f| *f == function).unwrap_or(0) as u64;
        match function {
            MathFn::Floor | MathFn::Ceil | MathFn::Trunc => {
                if let Cv::Float(x) = &values[0] {
                    let v = self.status_call_i64(
                        helper::MATH_TO_INT,
                        vec![g.i32t.const_int(id, false).into(), (*x).into()],
                        point,
                    )?;
                    Ok(Cv::Int(v))
                } else {
                    Ok(Cv::Int(self.as_i64(&values[0])?))
                }
            }
            MathFn::Isnan | MathFn::Isinf | MathFn::Isfinite => {
                let x = self.as_f64(&values[0])?;
                let v = match function {
                    MathFn::Isnan => self.fcmp(FloatPredicate::UNO, x, x)?,
                    _ => {
                        let a = self.fabs(x)?;
                        let inf = g.f64t.const_float(f64::INFINITY);
                        if function == MathFn::Isinf {
                            self.fcmp(FloatPredicate::OEQ, a, inf)?
                        } else {
                            self.fcmp(FloatPredicate::OLT, a, inf)?
                        }
                    }
                };
                Ok(Cv::Bool(v))
            }
            MathFn::Gcd => {
                let a = self.as_i64(&values[0])?;
                let b = self.as_i64(&values[1])?;
                let v = self
                    .call_value(helper::GCD, &[a.into(), b.into()])?
                    .into_int_value();
                let failed = self.icmp(IntPredicate::SLT, v, g.i64t.const_zero())?;
                self.deopt_if(failed, point)?;
                Ok(Cv::Int(v))
            }
            MathFn::Sin
            | MathFn::Cos
            | MathFn::Tan
            | MathFn::Asin
            | MathFn::Acos
            | MathFn::Atan
            | MathFn::Sinh
            | MathFn::Cosh
            | MathFn::Tanh
            | MathFn::Exp
            | MathFn::Log
            | MathFn::Log2
            | MathFn::Log10
                if values.len() == 1 =>
            {
                // The C library function CPython calls, with CPython's checks: a NaN
                // from a non-NaN argument or an infinity from a finite one is an error
                // the interpreter raises; a logarithm's domain is checked first.
                let x = self.as_f64(&values[0])?;
                let is_log = matches!(function, MathFn::Log | MathFn::Log2 | MathFn::Log10);
                // sin and cos are bounded: their result is a NaN from a non-NaN
                // argument exactly when the argument is infinite, and never infinite.
                // Checking the argument first keeps `sin(x)` and `cos(x)` side by side.
                let bounded = matches!(function, MathFn::Sin | MathFn::Cos);
                let inf = g.f64t.const_float(f64::INFINITY);
                if is_log {
                    let outside = self.fcmp(FloatPredicate::OLE, x, g.f64t.const_zero())?;
                    self.deopt_if(outside, point)?;
                } else if bounded {
                    let infinite = self.fcmp(FloatPredicate::OEQ, self.fabs(x)?, inf)?;
                    self.deopt_if(infinite, point)?;
                }
                let r = self
                    .call_value(function.name(), &[x.into()])?
                    .into_float_value();
                if !is_log && !bounded {
                    let r_nan = self.fcmp(FloatPredicate::UNO, r, r)?;
                    let x_number = self.fcmp(FloatPredicate::ORD, x, x)?;
                    let domain = self.and(r_nan, x_number)?;
                    let r_inf = self.fcmp(FloatPredicate::OEQ, self.fabs(r)?, inf)?;
                    let x_finite = self.fcmp(FloatPredicate::OLT, self.fabs(x)?, inf)?;
                    let range = self.and(r_inf, x_finite)?;
                    self.deopt_if(self.or(domain, range)?, point)?;
                }
                Ok(Cv::Float(r))
            }
            MathFn::Sqrt | MathFn::Fabs => {
                let x = self.as_f64(&values[0])?;
                if function == MathFn::Sqrt {
                    let negative = self.fcmp(FloatPredicate::OLT, x, g.f64t.const_zero())?;
                    self.deopt_if(negative, point)?;
                }
                let name = if function == MathFn::Sqrt {
                    "llvm.sqrt"
                } else {
                    "llvm.fabs"
                };
                let intrinsic = Intrinsic::find(name).ok_or("internal: intrinsic")?;
                let f = intrinsic
                    .get_declaration(&g.module, &[g.f64t.into()])
                    .ok_or("internal: decl")?;
                let v = self
                    .b()
                    .build_call(f, &[x.into()], "")
                    .map_err(err)?
                    .try_as_basic_value()
                    .unwrap_basic()
                    .into_float_value();
                Ok(Cv::Float(v))
            }
            _ => {
                let _ = result;
                let mut xs = Vec::new();
                for v in values {
                    xs.push(self.as_f64(v)?);
                }
                let nan = g.f64t.const_float(f64::NAN);
                let a = xs.first().copied().unwrap_or(nan);
                let b = xs.get(1).copied().unwrap_or(nan);
                let c = xs.get(2).copied().unwrap_or(nan);
                // The argument count travels in the function id's upper bits.
                let code = id | ((xs.len() as u64) << 8);
                let v = self.status_call_f64(
                    helper::MATH,
                    vec![
                        g.i32t.const_int(code, false).into(),
                        a.into(),
                        b.into(),
                        c.into(),
                    ],
                    point,
                )?;
                Ok(Cv::Float(v))
            }
        }
    }

    fn builtin(
        &mut self,
        function: BuiltinFn,
        values: &[Cv<'c>],
        result: &Ty,
        point: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        match function {
            BuiltinFn::Abs => match &values[0] {
                Cv::Float(x) => {
                    let intrinsic = Intrinsic::find("llvm.fabs").ok_or("internal: fabs")?;
                    let f = intrinsic
                        .get_declaration(&g.module, &[g.f64t.into()])
                        .ok_or("internal: decl")?;
                    Ok(Cv::Float(
                        self.b()
                            .build_call(f, &[(*x).into()], "")
                            .map_err(err)?
                            .try_as_basic_value()
                            .unwrap_basic()
                            .into_float_value(),
                    ))
                }
                v => {
                    let i = self.as_i64(v)?;
                    let is_min = self.icmp(IntPredicate::EQ, i, self.const_i64(i64::MIN))?;
                    self.deopt_if(is_min, point)?;
                    let negative = self.icmp(IntPredicate::SLT, i, g.i64t.const_zero())?;
                    let negated = self.b().build_int_neg(i, "").map_err(err)?;
                    Ok(Cv::Int(self.select_int(negative, negated, i)?))
                }
            },
            BuiltinFn::Min | BuiltinFn::Max => {
                // The first extreme item wins, exactly as CPython's loop keeps it.
                let mut best = values[0].clone();
                for item in &values[1..] {
                    let op = if function == BuiltinFn::Max {
                        CmpOp::Gt
                    } else {
                        CmpOp::Lt
                    };
                    let better = self.compare(op, item, &best)?;
                    best = self.select(better, item, &best)?;
                }
                Ok(best)
            }
            BuiltinFn::Int => match &values[0] {
                Cv::Float(x) => {
                    // Trunc toward zero; NaN, infinities and |x| >= 2**63 go to the interpreter.
                    let in_range = self.and(
                        self.fcmp(FloatPredicate::OGE, *x, g.f64t.const_float(i64::MIN as f64))?,
                        self.fcmp(
                            FloatPredicate::OLT,
                            *x,
                            g.f64t.const_float(-(i64::MIN as f64)),
                        )?,
                    )?;
                    let outside = self.b().build_not(in_range, "").map_err(err)?;
                    self.deopt_if(outside, point)?;
                    Ok(Cv::Int(
                        self.b()
                            .build_float_to_signed_int(*x, g.i64t, "")
                            .map_err(err)?,
                    ))
                }
                v => Ok(Cv::Int(self.as_i64(v)?)),
            },
            BuiltinFn::Float => Ok(Cv::Float(self.as_f64(&values[0])?)),
            BuiltinFn::Bool => Ok(Cv::Bool(self.truth(&values[0])?)),
            BuiltinFn::Round => match values {
                [Cv::Float(x)] => Ok(Cv::Int(self.status_call_i64(
                    helper::ROUND,
                    vec![(*x).into()],
                    point,
                )?)),
                [v] => Ok(Cv::Int(self.as_i64(v)?)),
                [Cv::Float(x), n] => {
                    let n = self.as_i64(n)?;
                    Ok(Cv::Float(self.status_call_f64(
                        helper::ROUND_FLOAT_DIGITS,
                        vec![(*x).into(), n.into()],
                        point,
                    )?))
                }
                [i, n] => {
                    let i = self.as_i64(i)?;
                    let n = self.as_i64(n)?;
                    Ok(Cv::Int(self.status_call_i64(
                        helper::ROUND_INT_DIGITS,
                        vec![i.into(), n.into()],
                        point,
                    )?))
                }
                _ => Err("internal: round arity".to_owned()),
            },
            BuiltinFn::Divmod => {
                let Ty::Tuple(parts) = result else {
                    return Err("internal: divmod result".to_owned());
                };
                let q = self.binary(BinOp::FloorDiv, &values[0], &values[1], &parts[0], point)?;
                let r = self.binary(BinOp::Mod, &values[0], &values[1], &parts[1], point)?;
                Ok(Cv::Tuple(vec![q, r]))
            }
            BuiltinFn::Len => match &values[0] {
                Cv::Tuple(items) => Ok(Cv::Int(self.const_i64(items.len() as i64))),
                _ => Err("internal: len of a non-tuple".to_owned()),
            },
            BuiltinFn::Range => Err("internal: range as a builtin call".to_owned()),
        }
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
        let g = self.g;
        Ok(match ty {
            Ty::Int => Cv::Int(value),
            Ty::Bool => Cv::Bool(self.b().build_int_truncate(value, g.i1t, "").map_err(err)?),
            Ty::Float => Cv::Float(
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
            other => return Err(format!("internal: result of type {other}")),
        })
    }

    fn read_slots(&self, ty: &Ty, slots: PointerValue<'c>, position: &mut u64) -> Res<Cv<'c>> {
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
            Ty::Float => Cv::Float(next(self, g.f64t.into())?.into_float_value()),
            Ty::Bool => {
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
            other => return Err(format!("internal: slot value of type {other}")),
        })
    }
}

/// Values that one instruction turns into another type in place share storage: GET_ITER
/// makes a range iterator of a range without moving it.
fn storage_key(ty: &Ty) -> Ty {
    match ty {
        Ty::RangeIter => Ty::Range,
        other => other.clone(),
    }
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
