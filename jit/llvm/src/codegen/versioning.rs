//! Loop versioning: a second copy of an innermost loop over a range, entered when a
//! test made once at the loop's entry shows that none of its numpy item accesses can
//! be out of range and none of its counter arithmetic can overflow.
//!
//! The copy runs the same steps with the same hand-overs, minus the checks the entry
//! test made: each proven access uses its index as the position (no negative-index
//! path, no bounds check) and a proven write does not test the array's WRITEABLE
//! flag again, each proven `k + c` is a plain add. Its back-edge does not
//! poll the eval breaker: its body runs no other code, and the loop makes at most as
//! many iterations as an array dimension its counter indexes (checked at entry), so
//! the breaker is read again when the enclosing code polls. No other thread runs
//! while the copy does, so the arrays it read at entry keep their fields. When the
//! entry test fails (a negative index that counts from the end, an index that raises
//! IndexError partway, a range whose step is not 1) the loop runs as before, with
//! every check.
//!
//! Speculation. A copy whose body does numpy float arithmetic would still test each
//! result (numpy may warn there), and those exits keep LLVM from vectorizing it. When
//! all the body's item accesses are proven ones and either
//!
//! - it carries no value from one iteration to the next (no local but the counter is
//!   assigned) and writes no array it reads (the entry test also checks that the
//!   arrays it writes share no memory with those it reads), or
//! - it writes no array, and each other local it assigns is a float sum: a float
//!   local only ever assigned its own value plus, minus or times something
//!   (`Sym::Carried`), so that once infinite or NaN it stays so,
//!
//! the copy runs in chunks of up to `CHUNK` iterations, each in two passes over the
//! same steps:
//!
//! - the checking pass computes everything, gathers the float checks into a flag
//!   (`bad`) instead of testing them one by one, and logs the items the proven writes
//!   would store instead of storing them; a check whose witness is stored into a
//!   carried sum is not gathered: the sums' finiteness is tested at the pass's end;
//! - with the flag clear, the writing pass goes over the chunk again and stores the
//!   logged items (LLVM drops the arithmetic it no longer needs). A copy that writes
//!   nothing has no writing pass.
//!
//! The writes, held back, cannot change what the checking pass reads. When the flag is
//! set (some operation of the chunk would have warned), and at any hand-over inside
//! either pass, the range and the carried sums go back to their values at the chunk's
//! start and the checked loop runs the chunk instead, warning, raising or handing over
//! where python3 does: nothing the checking pass did is visible, and writes the
//! writing pass made are made again with the same items. Neither pass has an exit but
//! its loop's end, so both vectorize (a sum only with relaxed floats, which allow it
//! to be reassociated).
//!
//! The chunks test no product or quotient for underflow: when the body has one, the
//! entry test also asks numpy whether it ignores underflow (its default;
//! `helper::NUMPY_UNDERFLOW_IGNORED`), and the loop runs with every check otherwise.
//! The answer is kept for later entries until a step that may run Python code, or a
//! poll (`numpy_underflow_ignored`).
//!
//! Only loops whose body is straight-line code of locals, constants, arithmetic,
//! comparisons, tuples and numpy item reads and writes are copied (`versionable`).
//! Which index is which is found by running the body's stack symbolically: an index
//! is the loop's counter, an int local the body never assigns, or a constant, plus a
//! constant offset.

use std::collections::{BTreeSet, HashMap, HashSet};

use inkwell::basic_block::BasicBlock;
use inkwell::types::{BasicType, BasicTypeEnum};
use inkwell::values::{BasicValueEnum, FloatValue, IntValue, PointerValue};
use inkwell::{FloatPredicate, IntPredicate};
use pyopt_jit::plan::{BinOp, FunctionPlan, Local, Op, Value};
use pyopt_jit::types::{Dtype, Ty};

use super::{Cv, FnGen, Res, err};

/// What an index is made of, relative to one iteration of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    /// The loop's counter (the value the range gave this iteration).
    Counter,
    /// An int local the body never assigns: its value when the loop was entered.
    Invariant(u32),
    /// Nothing: the index is the offset alone.
    Constant,
}

/// `base + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Affine {
    base: Base,
    offset: i64,
}

/// A value on the symbolic stack.
#[derive(Clone, Debug, PartialEq)]
enum Sym {
    Int(Affine),
    /// The numpy array a local the body never assigns holds.
    Array(u32),
    Tuple(Vec<Sym>),
    /// A float made from the value a carried local had when this iteration began by
    /// additions, subtractions and multiplications: infinite or NaN whenever that
    /// value was.
    Carried(u32),
    Unknown,
}

/// An item access the entry test covers: every index of `array` (a local) is affine.
#[derive(Clone, Debug)]
struct Access {
    array: u32,
    indices: Vec<Affine>,
    /// A write: the entry test also checks the array is writeable.
    store: bool,
}

/// An innermost loop over a range that gets a fast copy.
#[derive(Clone, Debug)]
pub(super) struct VersionedLoop {
    /// The FOR_ITER step.
    header: usize,
    /// The backward jump ending the body.
    back_edge: usize,
    accesses: Vec<Access>,
    /// `k + c` and `k - c` steps (counter or invariant base) whose results the entry
    /// test bounds.
    sums: Vec<Affine>,
    /// Item steps whose indices the entry test proved within their dimensions.
    proven_items: HashSet<usize>,
    /// Int additions and subtractions the entry test proved cannot overflow.
    proven_sums: HashSet<usize>,
    /// The copy runs in speculative chunks (see the module's doc).
    speculative: bool,
    /// The float locals a speculative copy carries from one iteration to the next
    /// (sums; the copy then writes no array). Saved at each chunk's start.
    carried: Vec<u32>,
    /// The body has numpy float products or quotients, whose underflow tests a
    /// speculative copy leaves out: its entry test asks whether numpy ignores
    /// underflow.
    underflows: bool,
    /// The proven item writes, in program order: one log each.
    store_sites: Vec<usize>,
}

/// Offsets beyond this are not followed (they are rare, and 128-bit sums of two
/// 64-bit values cannot overflow anyway; this keeps the entry test's constants small).
const MAX_OFFSET: u64 = 1 << 40;

/// The loops of `plan` that get a fast copy, by header step.
pub(super) fn versionable_loops(
    plan: &FunctionPlan,
    joins: &HashSet<usize>,
) -> HashMap<usize, VersionedLoop> {
    let mut loops = HashMap::new();
    for (back_edge, step) in plan.steps.iter().enumerate() {
        let Op::Jump { target, .. } = step.op else {
            continue;
        };
        let header = target as usize;
        if header >= back_edge || loops.contains_key(&header) {
            continue;
        }
        if let Some(found) = versionable(plan, joins, header, back_edge) {
            loops.insert(header, found);
        }
    }
    loops
}

/// The loop from `header` (FOR_ITER over a range) to `back_edge`, when its body is
/// straight-line code the copy can run and some access indexes by its counter.
fn versionable(
    plan: &FunctionPlan,
    joins: &HashSet<usize>,
    header: usize,
    back_edge: usize,
) -> Option<VersionedLoop> {
    let Op::ForRange { exit } = plan.steps[header].op else {
        return None;
    };
    if (exit as usize) <= back_edge {
        return None;
    }
    let entry = plan.steps[header].before.as_ref()?;
    // Only this jump re-enters the header, and nothing else enters the body.
    let other_back_edges = plan.steps.iter().enumerate().any(|(i, s)| {
        i != back_edge
            && matches!(s.op, Op::Jump { target, .. } | Op::Branch { target, .. } if target as usize == header && i > header)
    });
    if other_back_edges || (header + 1..=back_edge).any(|i| joins.contains(&i)) {
        return None;
    }
    let stored: HashSet<u32> = (header + 1..back_edge)
        .filter_map(|i| match plan.steps[i].op {
            Op::StoreLocal { local } | Op::DeleteLocal { local, .. } => Some(local),
            _ => None,
        })
        .collect();
    let mut stack: Vec<Sym> = vec![Sym::Unknown; entry.stack.len()];
    stack.push(Sym::Int(Affine::COUNTER));
    let mut locals: HashMap<u32, Sym> = HashMap::new();
    let mut found = VersionedLoop {
        header,
        back_edge,
        accesses: Vec::new(),
        sums: Vec::new(),
        proven_items: HashSet::new(),
        proven_sums: HashSet::new(),
        speculative: false,
        carried: Vec::new(),
        underflows: false,
        store_sites: Vec::new(),
    };
    // Locals the body assigns that may be carried float sums (see `Sym::Carried`):
    // float locals at the header.
    let carried_candidates: HashSet<u32> = stored
        .iter()
        .copied()
        .filter(|&local| {
            matches!(
                entry.locals.get(local as usize),
                Some(Local::Bound(
                    Ty::Float | Ty::NpFloat | Ty::AnyFloat | Ty::AnyFloat32
                ))
            )
        })
        .collect();
    // Carried locals every store of which is a `Sym::Carried` of itself.
    let mut sums_only = true;
    let mut numpy_floats = false;
    let mut counter = None;
    let mut item_steps = 0;
    for i in header + 1..back_edge {
        let step = &plan.steps[i];
        let state = step.before.as_ref()?;
        if state.stack.len() != stack.len() {
            return None;
        }
        let pop = |stack: &mut Vec<Sym>| stack.pop();
        match &step.op {
            Op::Nop => {}
            Op::LoadLocal { local, .. } => {
                let sym = match locals.get(local) {
                    Some(sym) => sym.clone(),
                    None if carried_candidates.contains(local) => Sym::Carried(*local),
                    None if stored.contains(local) => Sym::Unknown,
                    None => match entry.locals.get(*local as usize) {
                        Some(Local::Bound(Ty::Int)) => Sym::Int(Affine {
                            base: Base::Invariant(*local),
                            offset: 0,
                        }),
                        Some(Local::Bound(Ty::NdArray(..))) => Sym::Array(*local),
                        _ => Sym::Unknown,
                    },
                };
                stack.push(sym);
            }
            Op::StoreLocal { local } => {
                let sym = pop(&mut stack)?;
                if i == header + 1 && sym == Sym::Int(Affine::COUNTER) {
                    counter = Some(*local);
                } else if sym != Sym::Carried(*local) {
                    sums_only = false;
                }
                locals.insert(*local, sym);
            }
            Op::Const(Value::Int(c)) if c.unsigned_abs() <= MAX_OFFSET => {
                stack.push(Sym::Int(Affine {
                    base: Base::Constant,
                    offset: *c,
                }))
            }
            Op::Const(_) => stack.push(Sym::Unknown),
            Op::Pop => {
                pop(&mut stack)?;
            }
            Op::Copy(n) => {
                let at = stack.len().checked_sub(*n as usize)?;
                stack.push(stack.get(at)?.clone());
            }
            Op::Swap(n) => {
                let top = stack.len().checked_sub(1)?;
                let low = stack
                    .len()
                    .checked_sub(*n as usize)
                    .filter(|&low| low <= top)?;
                stack.swap(low, top);
            }
            Op::Binary { op, result, .. } => {
                let numpy_float = matches!(
                    result,
                    Ty::NpFloat | Ty::AnyFloat | Ty::AnyFloat32 | Ty::NpScalar(Dtype::F32)
                );
                numpy_floats |= numpy_float;
                found.underflows |=
                    numpy_float && !matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mod);
                let r = pop(&mut stack)?;
                let l = pop(&mut stack)?;
                let sum = match (op, result, &l, &r) {
                    (BinOp::Add, Ty::Int, Sym::Int(a), Sym::Int(b)) => add(*a, *b, 1),
                    (BinOp::Sub, Ty::Int, Sym::Int(a), Sym::Int(b)) => add(*a, *b, -1),
                    _ => None,
                };
                let carried = match (op, &l, &r) {
                    (BinOp::Add | BinOp::Sub | BinOp::Mul, Sym::Carried(local), other)
                    | (BinOp::Add | BinOp::Sub | BinOp::Mul, other, Sym::Carried(local))
                        if !matches!(other, Sym::Carried(o) if o != local) =>
                    {
                        Some(*local)
                    }
                    _ => None,
                };
                match (sum, carried) {
                    (Some(affine), _) => {
                        if affine.base != Base::Constant {
                            found.sums.push(affine);
                            found.proven_sums.insert(i);
                        }
                        stack.push(Sym::Int(affine));
                    }
                    (None, Some(local)) if is_float(result) => stack.push(Sym::Carried(local)),
                    _ => stack.push(Sym::Unknown),
                }
            }
            Op::Compare { .. } => {
                pop(&mut stack)?;
                pop(&mut stack)?;
                stack.push(Sym::Unknown);
            }
            Op::Unary { .. } => {
                pop(&mut stack)?;
                stack.push(Sym::Unknown);
            }
            Op::BuildTuple(n) => {
                let at = stack.len().checked_sub(*n as usize)?;
                let items = stack.split_off(at);
                stack.push(Sym::Tuple(items));
            }
            Op::ItemGet { .. } | Op::ItemSet { .. } => {
                item_steps += 1;
                let index = pop(&mut stack)?;
                let array = pop(&mut stack)?;
                if matches!(step.op, Op::ItemSet { .. }) {
                    pop(&mut stack)?;
                } else {
                    stack.push(Sym::Unknown);
                }
                // Only numpy arrays: a list's or array.array's length can change.
                let array_type = state.stack.len().checked_sub(2).map(|i| &state.stack[i]);
                let Some(Ty::NdArray(_, ndim)) = array_type else {
                    return None;
                };
                let store = matches!(step.op, Op::ItemSet { .. });
                if let Some(access) = affine_access(&array, &index, *ndim, store) {
                    found.accesses.push(access);
                    found.proven_items.insert(i);
                    if store {
                        found.store_sites.push(i);
                    }
                }
            }
            _ => return None,
        }
    }
    // The copy does not poll: some access must bound its iterations by a dimension.
    let bounded = found
        .accesses
        .iter()
        .any(|a| a.indices.iter().any(|index| index.base == Base::Counter));
    if !bounded {
        return None;
    }
    // Held-back writes must not be read by the checking pass: every access must be a
    // proven one (an unproven read could be of a written array, an unproven write
    // would not be held back), an array both read and written (through the same local)
    // is not speculated on, and distinct locals are tested for shared memory at entry.
    // Besides the counter, a copy that writes no array may carry float sums (each
    // store of such a local a `Sym::Carried` of itself: an infinite or NaN value stays
    // so, and the chunk's end tests them); one that writes carries nothing.
    let carried: Vec<u32> = stored
        .iter()
        .copied()
        .filter(|&local| Some(local) != counter)
        .collect();
    let all_proven = found.proven_items.len() == item_steps;
    let (read, written) = found.arrays();
    let carries_allowed = carried.is_empty()
        || (written.is_empty()
            && sums_only
            && carried.iter().all(|l| carried_candidates.contains(l)));
    found.speculative = numpy_floats && carries_allowed && all_proven && read.is_disjoint(&written);
    if found.speculative {
        found.carried = carried;
        found.carried.sort_unstable();
    }
    Some(found)
}

/// A float type (held as a double, no object).
fn is_float(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Float | Ty::NpFloat | Ty::AnyFloat | Ty::AnyFloat32 | Ty::NpScalar(Dtype::F32)
    )
}

impl Affine {
    const COUNTER: Affine = Affine {
        base: Base::Counter,
        offset: 0,
    };
}

/// `a + sign * b` when one side is a plain offset.
fn add(a: Affine, b: Affine, sign: i64) -> Option<Affine> {
    let (base, offset) = match (a.base, b.base) {
        (base, Base::Constant) => (base, a.offset.checked_add(sign.checked_mul(b.offset)?)?),
        (Base::Constant, base) if sign == 1 => (base, a.offset.checked_add(b.offset)?),
        _ => return None,
    };
    (offset.unsigned_abs() <= MAX_OFFSET).then_some(Affine { base, offset })
}

/// The access of `array` at `index` when both are known: a local's array and one
/// affine index per dimension.
fn affine_access(array: &Sym, index: &Sym, ndim: u8, store: bool) -> Option<Access> {
    let Sym::Array(array) = array else {
        return None;
    };
    let indices = match index {
        Sym::Int(affine) => vec![*affine],
        Sym::Tuple(items) => items
            .iter()
            .map(|item| match item {
                Sym::Int(affine) => Some(*affine),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (indices.len() == usize::from(ndim)).then_some(Access {
        array: *array,
        indices,
        store,
    })
}

/// Iterations per chunk of a speculative copy (see the module's doc): its logs hold
/// this many items per proven write.
const CHUNK: u32 = 256;

/// Which pass of a speculative copy's chunk is being generated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Check,
    Write,
}

/// A speculative copy being generated.
pub(super) struct Speculation<'c> {
    pass: Pass,
    /// Set when a numpy float check of the chunk would warn.
    bad: PointerValue<'c>,
    /// Iterations finished by the pass, and the chunk's length.
    done: PointerValue<'c>,
    length: PointerValue<'c>,
    /// One per proven write, in program order: the items the checking pass computed.
    logs: Vec<(PointerValue<'c>, BasicTypeEnum<'c>)>,
    /// Proven writes generated so far in the iteration being generated.
    stores_done: usize,
    /// The float sums the copy carries (`VersionedLoop::carried`).
    carried: Vec<u32>,
    /// Where the checking pass ends, the writing pass ends, and every hand-over goes.
    checked: BasicBlock<'c>,
    written: BasicBlock<'c>,
    rollback: BasicBlock<'c>,
}

impl<'c> FnGen<'_, 'c> {
    /// Whether a speculative copy is being generated.
    pub(super) fn speculating(&self) -> bool {
        self.speculation.is_some()
    }

    /// The proven write at this step of `value` (the item to store, or None in the
    /// writing pass, which stores the logged item): the item, logged by the checking
    /// pass; what the writing pass stores. None outside a speculative copy.
    pub(super) fn speculative_write(
        &mut self,
        address: PointerValue<'c>,
        item: Option<BasicValueEnum<'c>>,
    ) -> Res<()> {
        let g = self.g;
        let Some(speculation) = &self.speculation else {
            return Err("internal: a speculative write outside a speculative copy".to_owned());
        };
        let (log, item_type) = *speculation
            .logs
            .get(speculation.stores_done)
            .ok_or("internal: more writes than logs")?;
        let pass = speculation.pass;
        let done = self.load_i64(speculation.done)?;
        // SAFETY: `done` < CHUNK, the log's length.
        let slot = unsafe {
            self.b()
                .build_in_bounds_gep(
                    item_type.array_type(CHUNK),
                    log,
                    &[g.i64t.const_zero(), done],
                    "",
                )
                .map_err(err)?
        };
        match (pass, item) {
            (Pass::Check, Some(item)) => {
                self.b().build_store(slot, item).map_err(err)?;
            }
            (Pass::Write, None) => {
                let item = self.b().build_load(item_type, slot, "").map_err(err)?;
                self.store_item(address, item)?;
            }
            _ => return Err("internal: a speculative write in the wrong pass".to_owned()),
        }
        if let Some(speculation) = &mut self.speculation {
            speculation.stores_done += 1;
        }
        Ok(())
    }

    /// Whether the writing pass of a speculative copy is being generated: it stores
    /// logged items and checks nothing.
    pub(super) fn writing_pass(&self) -> bool {
        self.speculation
            .as_ref()
            .is_some_and(|s| s.pass == Pass::Write)
    }

    /// In a speculative copy, instead of testing: `bad |= warns` (checking pass), or
    /// nothing (writing pass).
    pub(super) fn defer_warning(&mut self, warns: IntValue<'c>) -> Res<()> {
        let Some(speculation) = &self.speculation else {
            return Err("internal: deferring a check outside a speculative copy".to_owned());
        };
        if speculation.pass == Pass::Write {
            return Ok(());
        }
        let bad = speculation.bad;
        let was = self
            .b()
            .build_load(self.g.i1t, bad, "")
            .map_err(err)?
            .into_int_value();
        let now = self.or(was, warns)?;
        self.b().build_store(bad, now).map_err(err)?;
        Ok(())
    }

    /// Whether numpy ignores underflow now: the answer kept since Python code last
    /// could have run (a step that calls out, a poll that did; numpy's modes change
    /// only through Python code on this thread), or else numpy's, asked now and kept.
    fn numpy_underflow_ignored(&mut self) -> Res<IntValue<'c>> {
        let g = self.g;
        let slot = self
            .underflow_answer
            .ok_or("internal: no slot for numpy's underflow mode")?;
        let kept = self
            .b()
            .build_load(g.i32t, slot, "")
            .map_err(err)?
            .into_int_value();
        let unknown = self.icmp(IntPredicate::SLT, kept, g.i32t.const_zero())?;
        let ask = self.new_block("ask_underflow");
        let answered = self.new_block("underflow_answered");
        self.b()
            .build_conditional_branch(unknown, ask, answered)
            .map_err(err)?;
        self.b().position_at_end(ask);
        let asked = self
            .call_value(pyopt_jit::abi::helper::NUMPY_UNDERFLOW_IGNORED, &[])?
            .into_int_value();
        self.b().build_store(slot, asked).map_err(err)?;
        self.b().build_unconditional_branch(answered).map_err(err)?;
        self.b().position_at_end(answered);
        let answer = self
            .b()
            .build_load(g.i32t, slot, "")
            .map_err(err)?
            .into_int_value();
        self.icmp(IntPredicate::SGT, answer, g.i32t.const_zero())
    }

    /// Python code may have run: the next loop entry that needs numpy's underflow
    /// mode asks again.
    pub(super) fn forget_underflow_answer(&self) -> Res<()> {
        if let Some(slot) = self.underflow_answer {
            self.b()
                .build_store(slot, self.g.i32t.const_all_ones())
                .map_err(err)?;
        }
        Ok(())
    }

    /// True when `value` is infinite or NaN (`value * 0` is NaN exactly then).
    fn not_finite(&self, value: FloatValue<'c>) -> Res<IntValue<'c>> {
        let zero = self.g.f64t.const_zero();
        let product = self.b().build_float_mul(value, zero, "").map_err(err)?;
        self.fcmp(FloatPredicate::UNO, product, product)
    }

    /// In a speculative copy carrying sums, at a step storing into one of them (or
    /// the operation whose result the next step stores there): the stack depth of the
    /// value stored, whose finiteness the chunk's end tests (it stays infinite or
    /// NaN).
    pub(super) fn carried_store_depth(&self) -> Option<usize> {
        let carried = &self.speculation.as_ref()?.carried;
        let at = match self.plan.steps[self.step].op {
            Op::StoreLocal { .. } => self.step,
            Op::Binary { .. } => self.step + 1,
            _ => return None,
        };
        let step = self.plan.steps.get(at)?;
        let Op::StoreLocal { local } = step.op else {
            return None;
        };
        if !carried.contains(&local) {
            return None;
        }
        step.before.as_ref()?.stack.len().checked_sub(1)
    }

    /// A hand-over inside a speculative copy: the checked loop runs the chunk instead
    /// (see the module's doc). Ends the current block.
    pub(super) fn speculative_hand_over(&mut self) -> Res<()> {
        let Some(speculation) = &self.speculation else {
            return Err("internal: no speculative copy".to_owned());
        };
        self.b()
            .build_unconditional_branch(speculation.rollback)
            .map_err(err)?;
        Ok(())
    }

    /// A speculative copy's back-edge: on to the pass's next iteration (`header`), or
    /// to the pass's end.
    pub(super) fn speculative_back_edge(&mut self, header: BasicBlock<'c>) -> Res<()> {
        let g = self.g;
        let Some(speculation) = &self.speculation else {
            return Err("internal: no speculative copy".to_owned());
        };
        let end = match speculation.pass {
            Pass::Check => speculation.checked,
            Pass::Write => speculation.written,
        };
        let (done, length) = (speculation.done, speculation.length);
        let next = self.load_i64(done)?;
        let next = self
            .b()
            .build_int_add(next, g.i64t.const_int(1, false), "")
            .map_err(err)?;
        self.b().build_store(done, next).map_err(err)?;
        let length = self.load_i64(length)?;
        let more = self.icmp(IntPredicate::ULT, next, length)?;
        self.b()
            .build_conditional_branch(more, header, end)
            .map_err(err)?;
        Ok(())
    }

    fn load_i64(&self, slot: PointerValue<'c>) -> Res<IntValue<'c>> {
        Ok(self
            .b()
            .build_load(self.g.i64t, slot, "")
            .map_err(err)?
            .into_int_value())
    }

    /// Whether the step being generated is an item access the entry test proved in
    /// range (only inside a fast copy).
    pub(super) fn index_proven(&self) -> bool {
        self.copying
            .as_ref()
            .is_some_and(|v| v.proven_items.contains(&self.step))
    }

    /// Whether the step being generated is an int sum the entry test proved cannot
    /// overflow (only inside a fast copy).
    pub(super) fn sum_proven(&self) -> bool {
        self.copying
            .as_ref()
            .is_some_and(|v| v.proven_sums.contains(&self.step))
    }

    /// The back-edge of the fast copy being generated jumps here, unpolled.
    pub(super) fn copy_header(&self, target: usize) -> Option<BasicBlock<'c>> {
        self.copying
            .as_ref()
            .filter(|v| v.header == target)
            .map(|_| self.blocks[target])
    }

    /// The entry test of the versioned loop at this step, whose range iterator is on
    /// top of a stack of `depth` entries: the range steps by 1 and is not empty, every
    /// array a proven access writes is writeable, and over all the range's values
    /// every proven index is within its dimension and every proven sum fits in 64
    /// bits (computed in 128 bits: nothing in it overflows); for a speculative copy,
    /// no array it writes shares memory with one it reads.
    pub(super) fn fast_entry_test(&mut self, depth: usize) -> Res<IntValue<'c>> {
        let g = self.g;
        let versioned = self
            .versioned
            .get(&self.step)
            .cloned()
            .ok_or("internal: no versioned loop here")?;
        let entry = self.plan.steps[self.step]
            .before
            .as_ref()
            .ok_or("internal: unreachable loop header")?;
        let store = self.stack_store(depth - 1, &Ty::RangeIter);
        let Cv::Range(first, step, len) = self.load(&store)? else {
            return Err("internal: a range loop without a range".to_owned());
        };
        let i128t = g.ctx.i128_type();
        let wide =
            |this: &Self, v: IntValue<'c>| this.b().build_int_s_extend(v, i128t, "").map_err(err);
        let constant = |v: i64| i128t.const_int(v as u64, true);
        let mut test = self.icmp(IntPredicate::EQ, step, self.const_i64(1))?;
        test = self.and(test, self.icmp(IntPredicate::SGT, len, self.const_i64(0))?)?;
        let first = wide(self, first)?;
        let last = self
            .b()
            .build_int_add(first, wide(self, len)?, "")
            .map_err(err)?;
        let last = self.b().build_int_sub(last, constant(1), "").map_err(err)?;
        let mut invariants = HashMap::new();
        let mut bounds = |this: &mut Self, index: Affine| -> Res<(IntValue<'c>, IntValue<'c>)> {
            let (low, high) = match index.base {
                Base::Counter => (first, last),
                Base::Constant => (constant(0), constant(0)),
                Base::Invariant(local) => {
                    let value = match invariants.get(&local) {
                        Some(v) => *v,
                        None => {
                            let store = this.local_store(local, &Ty::Int);
                            let v = wide(this, this.as_i64(&this.load(&store)?)?)?;
                            invariants.insert(local, v);
                            v
                        }
                    };
                    (value, value)
                }
            };
            let offset = constant(index.offset);
            let b = this.b();
            Ok((
                b.build_int_add(low, offset, "").map_err(err)?,
                b.build_int_add(high, offset, "").map_err(err)?,
            ))
        };
        for sum in &versioned.sums {
            let (low, high) = bounds(self, *sum)?;
            let fits_low = self.icmp(IntPredicate::SGE, low, constant(i64::MIN))?;
            let fits_high = self.icmp(IntPredicate::SLE, high, constant(i64::MAX))?;
            test = self.and(test, self.and(fits_low, fits_high)?)?;
        }
        for access in &versioned.accesses {
            let (array, ndim, _) = self.array_local(entry, access.array)?;
            if access.store {
                test = self.and(test, self.array_writeable(array)?)?;
            }
            for (k, index) in access.indices.iter().enumerate() {
                let dimension = self.array_dimension(array, k as u64, ndim)?;
                let dimension = wide(self, dimension)?;
                let (low, high) = bounds(self, *index)?;
                let above = self.icmp(IntPredicate::SGE, low, constant(0))?;
                let below = self.icmp(IntPredicate::SLT, high, dimension)?;
                test = self.and(test, self.and(above, below)?)?;
            }
        }
        if versioned.asks_about_underflow() {
            // The chunks leave out underflow tests (`may_warn`).
            let ignored = self.numpy_underflow_ignored()?;
            test = self.and(test, ignored)?;
        }
        if versioned.speculative {
            let (read, written) = versioned.arrays();
            for &w in &written {
                let (array, ndim, dtype) = self.array_local(entry, w)?;
                let (w_low, w_high) = self.array_extent(array, dtype, ndim)?;
                for &r in &read {
                    let (array, ndim, dtype) = self.array_local(entry, r)?;
                    let (r_low, r_high) = self.array_extent(array, dtype, ndim)?;
                    let below = self.icmp(IntPredicate::SLE, w_high, r_low)?;
                    let above = self.icmp(IntPredicate::SLE, r_high, w_low)?;
                    test = self.and(test, self.or(below, above)?)?;
                }
            }
        }
        Ok(test)
    }

    /// The numpy array `local` holds in `entry` (a loop header's state), with its ndim
    /// and dtype.
    fn array_local(
        &mut self,
        entry: &pyopt_jit::plan::State,
        local: u32,
    ) -> Res<(PointerValue<'c>, u8, Dtype)> {
        let Some(Local::Bound(ty @ Ty::NdArray(dtype, ndim))) = entry.locals.get(local as usize)
        else {
            return Err("internal: a versioned access to a non-array".to_owned());
        };
        let store = self.local_store(local, ty);
        let Cv::Obj(array) = self.load(&store)? else {
            return Err("internal: an array local without an object".to_owned());
        };
        Ok((array, *ndim, *dtype))
    }

    /// The addresses `array`'s items span: from its lowest item's first byte to just
    /// past its highest item (every dimension at least 1 long: the entry test indexed
    /// each).
    fn array_extent(
        &mut self,
        array: PointerValue<'c>,
        dtype: Dtype,
        ndim: u8,
    ) -> Res<(IntValue<'c>, IntValue<'c>)> {
        let g = self.g;
        let data = self.array_data(array)?;
        let mut low = self.b().build_ptr_to_int(data, g.i64t, "").map_err(err)?;
        let mut high = self
            .b()
            .build_int_add(low, g.i64t.const_int(dtype.size(), false), "")
            .map_err(err)?;
        for k in 0..u64::from(ndim) {
            let dimension = self.array_dimension(array, k, ndim)?;
            let stride = self.array_stride_bytes(array, k, ndim)?;
            let last = self
                .b()
                .build_int_sub(dimension, g.i64t.const_int(1, false), "")
                .map_err(err)?;
            let span = self.b().build_int_mul(last, stride, "").map_err(err)?;
            let negative = self.icmp(IntPredicate::SLT, span, g.i64t.const_zero())?;
            let down = self.select_int(negative, span, g.i64t.const_zero())?;
            let up = self.select_int(negative, g.i64t.const_zero(), span)?;
            low = self.b().build_int_add(low, down, "").map_err(err)?;
            high = self.b().build_int_add(high, up, "").map_err(err)?;
        }
        Ok((low, high))
    }

    /// Generates the fast copy of `versioned`'s loop: its steps again, in blocks of
    /// their own (the entry test jumps to `entry`), with the proven checks left out and
    /// an unpolled back-edge; a speculative copy in chunks of two passes. Exits and
    /// hand-overs go where the loop's own go.
    pub(super) fn emit_fast_copy(
        &mut self,
        versioned: VersionedLoop,
        entry: BasicBlock<'c>,
    ) -> Res<()> {
        if !versioned.speculative {
            return self.emit_copy_steps(&versioned, entry);
        }
        let g = self.g;
        let header = versioned.header;
        let state = self.plan.steps[header]
            .before
            .as_ref()
            .ok_or("internal: unreachable loop header")?;
        let Op::ForRange { exit } = self.plan.steps[header].op else {
            return Err("internal: a versioned loop without a range".to_owned());
        };
        let reentry = self
            .range_loops
            .get(&header)
            .ok_or("internal: a versioned loop that is not a range loop")?
            .reentry;
        let ab = &self.alloca_builder;
        let slot = |ty: BasicTypeEnum<'c>| ab.build_alloca(ty, "speculation").map_err(err);
        let bad = slot(g.i1t.into())?;
        let done = slot(g.i64t.into())?;
        let length = slot(g.i64t.into())?;
        let mut logs = Vec::new();
        for &site in &versioned.store_sites {
            let Some(Ty::NdArray(dtype, _)) = self.plan.steps[site]
                .before
                .as_ref()
                .and_then(|s| s.stack.get(s.stack.len().checked_sub(2)?))
            else {
                return Err("internal: a proven write to a non-array".to_owned());
            };
            let item = self.dtype_item_type(*dtype);
            logs.push((slot(item.array_type(CHUNK).into())?, item));
        }

        // The chunk's start: its length, and the range as the chunk found it.
        self.b().position_at_end(entry);
        let range = self.stack_store(state.stack.len() - 1, &Ty::RangeIter);
        let start = self.load(&range)?;
        let Cv::Range(_, _, remaining) = start else {
            return Err("internal: a range loop without a range".to_owned());
        };
        let mut saved = Vec::new();
        for &local in &versioned.carried {
            let Some(Local::Bound(ty)) = state.locals.get(local as usize) else {
                return Err("internal: a carried sum that is not a bound local".to_owned());
            };
            let store = self.local_store(local, ty);
            let value = self.load(&store)?;
            saved.push((store, value));
        }
        let chunk = g.i64t.const_int(u64::from(CHUNK), false);
        let fits = self.icmp(IntPredicate::ULT, remaining, chunk)?;
        let chunk_length = self.select_int(fits, remaining, chunk)?;
        let check_header = self.new_block(&format!("check_iteration{header}"));
        // A copy that writes nothing has no writing pass.
        let write_header = (!versioned.store_sites.is_empty())
            .then(|| self.new_block(&format!("write_iteration{header}")));
        let b = self.b();
        b.build_store(length, chunk_length).map_err(err)?;
        b.build_store(done, g.i64t.const_zero()).map_err(err)?;
        b.build_store(bad, g.i1t.const_zero()).map_err(err)?;
        b.build_unconditional_branch(check_header).map_err(err)?;
        self.speculation = Some(Speculation {
            pass: Pass::Check,
            bad,
            done,
            length,
            logs,
            stores_done: 0,
            carried: versioned.carried.clone(),
            checked: self.new_block("checked"),
            written: self.new_block("written"),
            rollback: self.new_block("rollback"),
        });
        let passes = self
            .emit_copy_steps(&versioned, check_header)
            .and_then(|()| {
                if let Some(speculation) = &mut self.speculation {
                    speculation.pass = Pass::Write;
                }
                match write_header {
                    Some(write_header) => self.emit_copy_steps(&versioned, write_header),
                    None => Ok(()),
                }
            });
        let speculation = self
            .speculation
            .take()
            .ok_or("internal: the speculation ended early")?;
        passes?;

        // The checking pass's end: a clear flag, the writing pass from the chunk's
        // start (or, with nothing to write, the next chunk); a set one, the checked
        // loop from there. A carried sum that is infinite or NaN now sets the flag:
        // every numpy check whose witness went into it is tested here.
        self.b().position_at_end(speculation.checked);
        let mut warned = self
            .b()
            .build_load(g.i1t, bad, "")
            .map_err(err)?
            .into_int_value();
        for (store, _) in &saved {
            let value = self.load(store)?;
            let value = self.as_f64(&value)?;
            let not_finite = self.not_finite(value)?;
            warned = self.or(warned, not_finite)?;
        }
        let clear = self.new_block("chunk_clear");
        self.b()
            .build_conditional_branch(warned, speculation.rollback, clear)
            .map_err(err)?;
        self.b().position_at_end(clear);
        match write_header {
            Some(write_header) => {
                self.store(&range, &start)?;
                self.b()
                    .build_store(done, g.i64t.const_zero())
                    .map_err(err)?;
                self.b()
                    .build_unconditional_branch(write_header)
                    .map_err(err)?;
            }
            None => {
                self.b()
                    .build_unconditional_branch(speculation.written)
                    .map_err(err)?;
            }
        }

        // The writing pass's end: the next chunk, or the loop's exit.
        self.b().position_at_end(speculation.written);
        let Cv::Range(_, _, remaining) = self.load(&range)? else {
            return Err("internal: a range loop without a range".to_owned());
        };
        let more = self.icmp(IntPredicate::SGT, remaining, g.i64t.const_zero())?;
        self.b()
            .build_conditional_branch(more, entry, self.blocks[exit as usize])
            .map_err(err)?;

        self.b().position_at_end(speculation.rollback);
        self.store(&range, &start)?;
        for (store, value) in &saved {
            self.store(store, value)?;
        }
        self.b().build_unconditional_branch(reentry).map_err(err)?;
        Ok(())
    }

    /// The steps of `versioned`'s loop once more, in new blocks from `header_block`
    /// (the header's).
    fn emit_copy_steps(
        &mut self,
        versioned: &VersionedLoop,
        header_block: BasicBlock<'c>,
    ) -> Res<()> {
        let (header, back_edge) = (versioned.header, versioned.back_edge);
        let saved = self.blocks.clone();
        self.blocks[header] = header_block;
        for i in header + 1..=back_edge {
            self.blocks[i] = self.new_block(&format!("fast{i}"));
        }
        self.copying = Some(versioned.clone());
        let result = (header..=back_edge).try_for_each(|index| {
            self.step = index;
            let step = &self.plan.steps[index];
            let state = step
                .before
                .as_ref()
                .ok_or("internal: unreachable step in a versioned loop")?;
            self.b().position_at_end(self.blocks[index]);
            self.end_top_reads(index.checked_sub(1).map(|i| &self.plan.steps[i].op));
            if index == header {
                self.read_array_metadata(state)?;
                if let Some(speculation) = &mut self.speculation {
                    speculation.stores_done = 0;
                }
            }
            self.types = state.stack.clone();
            self.before_step(&step.op, state)?;
            self.emit_op(&step.op, state)
        });
        self.copying = None;
        self.blocks = saved;
        result
    }
}

impl VersionedLoop {
    /// The array locals the loop's proven accesses read, and those they write.
    /// Whether the loop's entry test asks whether numpy ignores underflow: its
    /// speculative chunks leave out underflow tests.
    pub(super) fn asks_about_underflow(&self) -> bool {
        self.speculative && self.underflows
    }

    fn arrays(&self) -> (BTreeSet<u32>, BTreeSet<u32>) {
        let (mut read, mut written) = (BTreeSet::new(), BTreeSet::new());
        for access in &self.accesses {
            if access.store {
                written.insert(access.array);
            } else {
                read.insert(access.array);
            }
        }
        (read, written)
    }
}

#[cfg(test)]
mod tests {
    use pyopt_jit::plan::{State, Step};

    use super::*;

    const ARRAY: Ty = Ty::NdArray(Dtype::F64, 1);

    /// `for j in range(...): a[j - 1]` as a plan (locals: a, n, j, out, s), with
    /// `body` replacing the steps between the counter's store and the back-edge.
    fn plan(body: Vec<(Op, Vec<Ty>)>) -> FunctionPlan {
        let locals = vec![
            Local::Bound(ARRAY),
            Local::Bound(Ty::Int),
            Local::MaybeBound(Ty::Int),
            Local::Bound(ARRAY),
            Local::Bound(Ty::NpFloat),
        ];
        let step = |op: Op, stack: Vec<Ty>| Step {
            start: 0,
            offset: 0,
            before: Some(State {
                locals: locals.clone(),
                stack,
            }),
            op,
        };
        let exit = body.len() as u32 + 3;
        let mut steps = vec![
            step(Op::ForRange { exit }, vec![Ty::RangeIter]),
            step(Op::StoreLocal { local: 2 }, vec![Ty::RangeIter, Ty::Int]),
        ];
        steps.extend(body.into_iter().map(|(op, stack)| step(op, stack)));
        steps.push(step(
            Op::Jump {
                target: 0,
                poll: None,
            },
            vec![Ty::RangeIter],
        ));
        steps.push(step(Op::Nop, vec![]));
        FunctionPlan {
            function: 0,
            params: vec![ARRAY, Ty::Int],
            result: Ty::None,
            steps,
            deopts: Vec::new(),
            entry_deopt: 0,
            osr: None,
        }
    }

    fn read(array_local: u32) -> Vec<(Op, Vec<Ty>)> {
        let r = Ty::RangeIter;
        vec![
            load(array_local, vec![r.clone()]),
            load(2, vec![r.clone(), ARRAY]),
            (Op::Const(Value::Int(1)), vec![r.clone(), ARRAY, Ty::Int]),
            (
                Op::Binary {
                    op: BinOp::Sub,
                    result: Ty::Int,
                    deopt: 0,
                },
                vec![r.clone(), ARRAY, Ty::Int, Ty::Int],
            ),
            (
                Op::ItemGet {
                    item: Ty::NpFloat,
                    deopt: 0,
                },
                vec![r.clone(), ARRAY, Ty::Int],
            ),
            (Op::Pop, vec![r, Ty::NpFloat]),
        ]
    }

    /// LOAD_FAST of a bound local, with the stack before it.
    fn load(local: u32, stack: Vec<Ty>) -> (Op, Vec<Ty>) {
        (Op::LoadLocal { local, check: None }, stack)
    }

    fn loops(plan: &FunctionPlan) -> HashMap<usize, VersionedLoop> {
        versionable_loops(plan, &super::super::joins(plan))
    }

    #[test]
    fn a_counter_index_minus_one_is_proven() {
        let found = loops(&plan(read(0)));
        let v = &found[&0];
        assert_eq!(v.back_edge, 8);
        assert_eq!(v.proven_items, HashSet::from([6]));
        assert_eq!(v.proven_sums, HashSet::from([5]));
        let index = Affine {
            base: Base::Counter,
            offset: -1,
        };
        assert_eq!(v.accesses[0].indices, vec![index]);
        assert_eq!(v.sums, vec![index]);
    }

    #[test]
    fn an_array_assigned_in_the_body_is_not_versioned() {
        let mut body = read(0);
        let r = Ty::RangeIter;
        body.push(load(0, vec![r.clone()]));
        body.push((Op::StoreLocal { local: 0 }, vec![r, ARRAY]));
        // The read's array may be another one each time round: no access is proven,
        // and nothing bounds the loop's iterations.
        assert!(loops(&plan(body)).is_empty());
    }

    #[test]
    fn an_index_from_an_int_local_the_body_assigns_is_unknown() {
        let mut body = read(1);
        body[0].0 = Op::LoadLocal {
            local: 0,
            check: None,
        };
        body[1].0 = Op::LoadLocal {
            local: 1,
            check: None,
        };
        let r = Ty::RangeIter;
        body.push(load(2, vec![r.clone()]));
        body.push((Op::StoreLocal { local: 1 }, vec![r, Ty::Int]));
        assert!(loops(&plan(body)).is_empty());
    }

    /// `out_local[j] = a_local[j] * 2.0`.
    fn scaled(a_local: u32, out_local: u32) -> Vec<(Op, Vec<Ty>)> {
        let r = || Ty::RangeIter;
        let f = Ty::NpFloat;
        vec![
            load(a_local, vec![r()]),
            load(2, vec![r(), ARRAY]),
            (
                Op::ItemGet {
                    item: f.clone(),
                    deopt: 0,
                },
                vec![r(), ARRAY, Ty::Int],
            ),
            (Op::Const(Value::Float(2.0)), vec![r(), f.clone()]),
            (
                Op::Binary {
                    op: BinOp::Mul,
                    result: f.clone(),
                    deopt: 0,
                },
                vec![r(), f.clone(), Ty::Float],
            ),
            load(out_local, vec![r(), f.clone()]),
            load(2, vec![r(), f.clone(), ARRAY]),
            (Op::ItemSet { deopt: 0 }, vec![r(), f, ARRAY, Ty::Int]),
        ]
    }

    /// `s = s op a[j]` (`carried_left`) or `s = a[j] op s`.
    fn summed(op: BinOp, carried_left: bool) -> Vec<(Op, Vec<Ty>)> {
        let r = || Ty::RangeIter;
        let f = || Ty::NpFloat;
        let item = (
            Op::ItemGet {
                item: f(),
                deopt: 0,
            },
            Ty::Int,
        );
        let mut body = match carried_left {
            true => vec![
                load(4, vec![r()]),
                load(0, vec![r(), f()]),
                load(2, vec![r(), f(), ARRAY]),
                (item.0, vec![r(), f(), ARRAY, item.1]),
            ],
            false => vec![
                load(0, vec![r()]),
                load(2, vec![r(), ARRAY]),
                (item.0, vec![r(), ARRAY, item.1]),
                load(4, vec![r(), f()]),
            ],
        };
        let result = f();
        body.push((
            Op::Binary {
                op,
                result,
                deopt: 0,
            },
            vec![r(), f(), f()],
        ));
        body.push((Op::StoreLocal { local: 4 }, vec![r(), f()]));
        body
    }

    #[test]
    fn float_sums_carried_without_writes_are_speculated_on() {
        for (op, left, underflows) in [
            (BinOp::Add, true, false),
            (BinOp::Sub, false, false),
            (BinOp::Mul, true, true),
        ] {
            let found = loops(&plan(summed(op, left)));
            assert!(found[&0].speculative, "{op:?}");
            assert_eq!(found[&0].carried, vec![4]);
            assert_eq!(found[&0].underflows, underflows);
        }
        // A quotient of the sum can be finite when the sum is not (x / inf).
        assert!(!loops(&plan(summed(BinOp::TrueDiv, false)))[&0].speculative);
        // A sum carried by a loop that also writes.
        let mut body = scaled(0, 3);
        body.extend(summed(BinOp::Add, true));
        let found = loops(&plan(body));
        assert!(!found[&0].speculative);
        assert!(found[&0].carried.is_empty());
    }

    #[test]
    fn a_float_local_assigned_afresh_is_not_a_carried_sum() {
        // `s = a[j] * 2.0`: an infinite `s` would not stay infinite.
        let mut body = scaled(0, 3);
        body.truncate(5);
        body.push((
            Op::StoreLocal { local: 4 },
            vec![Ty::RangeIter, Ty::NpFloat],
        ));
        let found = loops(&plan(body));
        assert!(!found[&0].speculative);
    }

    #[test]
    fn numpy_float_writes_to_another_array_are_speculated_on() {
        let found = loops(&plan(scaled(0, 3)));
        assert!(found[&0].speculative);
        assert_eq!(found[&0].store_sites, vec![9]);
        // The same array read and written: its held-back writes would be read.
        assert!(!loops(&plan(scaled(0, 0)))[&0].speculative);
        // A local carried from one iteration to the next.
        let mut body = scaled(0, 3);
        let r = Ty::RangeIter;
        body.push(load(2, vec![r.clone()]));
        body.push((Op::StoreLocal { local: 1 }, vec![r, Ty::Int]));
        let found = loops(&plan(body));
        assert!(!found[&0].speculative);
        assert_eq!(found[&0].proven_items.len(), 2);
        // No float arithmetic: nothing to speculate on.
        assert!(!loops(&plan(read(0)))[&0].speculative);
        // A read whose index is not proven (here the written array's, at `j * 2`)
        // could see a held-back write.
        let mut body = scaled(0, 3);
        let r = || Ty::RangeIter;
        let f = Ty::NpFloat;
        body.splice(
            5..5,
            [
                load(3, vec![r(), f.clone()]),
                load(2, vec![r(), f.clone(), ARRAY]),
                (
                    Op::Const(Value::Int(2)),
                    vec![r(), f.clone(), ARRAY, Ty::Int],
                ),
                (
                    Op::Binary {
                        op: BinOp::Mul,
                        result: Ty::Int,
                        deopt: 0,
                    },
                    vec![r(), f.clone(), ARRAY, Ty::Int, Ty::Int],
                ),
                (
                    Op::ItemGet {
                        item: f.clone(),
                        deopt: 0,
                    },
                    vec![r(), f.clone(), ARRAY, Ty::Int],
                ),
                (
                    Op::Binary {
                        op: BinOp::Add,
                        result: f.clone(),
                        deopt: 0,
                    },
                    vec![r(), f.clone(), f.clone()],
                ),
            ],
        );
        let found = loops(&plan(body));
        assert_eq!(found[&0].proven_items.len(), 2);
        assert!(!found[&0].speculative);
    }

    #[test]
    fn the_most_negative_offset_is_not_followed() {
        let mut body = read(0);
        body[2].0 = Op::Const(Value::Int(i64::MIN));
        // `j - i64::MIN` is not an affine index: no access proven, nothing bounds
        // the loop.
        assert!(loops(&plan(body)).is_empty());
    }

    #[test]
    fn a_call_in_the_body_is_not_versioned() {
        let mut body = read(0);
        body.insert(0, (Op::PushMarker(Ty::None), vec![Ty::RangeIter]));
        body.insert(1, (Op::Pop, vec![Ty::RangeIter, Ty::None]));
        assert!(loops(&plan(body)).is_empty());
    }
}
