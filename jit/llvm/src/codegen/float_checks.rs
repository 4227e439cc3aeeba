//! numpy's floating-point warnings in compiled code. numpy float64 and float32
//! arithmetic sets the processor's flags, which numpy turns into warnings (or errors,
//! after `np.seterr`): overflow, NaN made from numbers ("invalid value"), and
//! underflow (a product or quotient too small to be a normal number). Compiled code
//! computes without looking at the flags and hands over to the interpreter, before the
//! operation, whenever one of them would be set; the interpreter then gives numpy's
//! warning or error, or silently goes on when numpy ignores it (underflow, by default).
//!
//! The usual path tests little: whether a result is finite, and, for a product or a
//! quotient, not below the smallest normal number. The operands are looked at only
//! when that fails (`numpy_warns`).
//!
//! Deferred checks. Adding, subtracting or multiplying keeps an infinite or NaN operand
//! infinite or NaN, so in a chain such as `(a[i - 1] + a[i + 1] + a[i]) * 0.25` the
//! usual path tests the finiteness of the chain's last result only: when that is
//! finite, so was every step before it. The checks of the earlier steps wait
//! (pending) while the steps that follow cannot do anything the interpreter would see
//! twice (a run: loads, constants, index tuples, arithmetic on numbers, reads of array
//! items; `extends_run`). They run, in program order, on the cold path of the run's
//! test, and first on the path of any other hand-over inside the run (an index out of
//! range, an int leaving 64 bits, a division by zero). Each hands over before its own
//! operation with the values the frame had there (its snapshot), so the interpreter
//! warns, or raises, exactly where python3 does.
//!
//! Invariant: a run never crosses a join (a step entered other than from the step
//! before), so every pending check's operands and snapshot dominate the run's end.

use super::*;

/// How an operation can underflow. The result is tiny when it is at most the smallest
/// normal number in magnitude (at most: a result just below it may round up to it, and
/// whether that underflowed depends on when the processor looks); a tiny result that is
/// not exactly zero is handed over all the same (it may be exact: the interpreter knows).
#[derive(Clone, Copy, PartialEq)]
enum Underflow {
    /// A tiny sum, difference or remainder of floats is exact: no flag.
    Never,
    /// A tiny product underflowed unless it is exactly zero (a zero operand).
    Product,
    /// A tiny quotient underflowed unless it is exactly zero (a zero dividend or an
    /// infinite divisor); anything else (a power) is treated as a quotient.
    Quotient,
    /// A floor division's result is an integer, but numpy computes the quotient too:
    /// that quotient underflowed unless exactly zero.
    FloorQuotient,
}

/// The numpy operation a result comes from, as far as its flags go.
#[derive(Clone, Copy)]
pub(super) struct NumpyOp {
    underflow: Underflow,
    /// The dtype's smallest normal number.
    smallest_normal: f64,
}

impl NumpyOp {
    /// `op` on numpy float64 values.
    pub(super) fn float64(op: BinOp) -> Self {
        Self::new(op, f64::MIN_POSITIVE)
    }

    /// `op` on numpy float32 values (computed in double, then rounded to float32).
    pub(super) fn float32(op: BinOp) -> Self {
        Self::new(op, f64::from(f32::MIN_POSITIVE))
    }

    fn new(op: BinOp, smallest_normal: f64) -> Self {
        let underflow = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mod => Underflow::Never,
            BinOp::Mul => Underflow::Product,
            BinOp::FloorDiv => Underflow::FloorQuotient,
            _ => Underflow::Quotient,
        };
        NumpyOp {
            underflow,
            smallest_normal,
        }
    }
}

/// One numpy operation whose check waits for the end of its run.
pub(super) struct PendingCheck<'c> {
    op: NumpyOp,
    operands: [FloatValue<'c>; 2],
    result: FloatValue<'c>,
    /// A value that is infinite or NaN whenever `result` is: the result itself, or the
    /// result of a later addition, subtraction or multiplication that used it.
    witness: FloatValue<'c>,
    /// The value-stack depth `result` is at, while it is there.
    depth: Option<usize>,
    /// Where to hand over: before the operation.
    point: DeoptId,
    /// `deopt_values(point)` taken before the operation.
    snapshot: Vec<IntValue<'c>>,
}

/// A number held in registers (no object whose references a hand-over would have to
/// account for).
fn is_number(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Int
            | Ty::Float
            | Ty::Bool
            | Ty::NpFloat
            | Ty::NpBool
            | Ty::AnyFloat
            | Ty::AnyBool
            | Ty::AnyInt(_)
            | Ty::AnyFloat32
            | Ty::NpScalar(_)
    )
}

/// Whether a run of pending checks may go on through `op` (its operand types in
/// `stack`), and how many stack entries it pops: steps without effects, whose hand-overs
/// (if any) go through `emit_deopt`.
fn extends_run(op: &Op, stack: &[Ty]) -> Option<usize> {
    let top = |n: usize| stack.get(stack.len().checked_sub(n)?..);
    match op {
        Op::Nop | Op::Const(_) | Op::LoadLocal { .. } => Some(0),
        Op::BuildTuple(n) => {
            let n = *n as usize;
            top(n).filter(|items| items.iter().all(is_number))?;
            Some(n)
        }
        Op::Binary { .. } => {
            top(2).filter(|operands| operands.iter().all(is_number))?;
            Some(2)
        }
        Op::ItemGet { .. } => {
            let sequence = top(2)?.first()?;
            matches!(sequence, Ty::NdArray(..) | Ty::Array(_)).then_some(2)
        }
        _ => None,
    }
}

impl<'g, 'c> FnGen<'g, 'c> {
    /// Before step `self.step` (`op`, in `state`): ends the run of pending checks
    /// unless the step and the one after can continue it, and notes which pending
    /// results the step pops.
    pub(super) fn before_step(&mut self, op: &Op, state: &State) -> Res<()> {
        self.popped_checks.clear();
        if self.pending_checks.is_empty() {
            return Ok(());
        }
        let pops = match extends_run(op, &state.stack) {
            Some(pops) if !self.joins.contains(&(self.step + 1)) => pops,
            _ => return self.flush_checks(),
        };
        let first_popped = state.stack.len() - pops;
        for (k, check) in self.pending_checks.iter_mut().enumerate() {
            if check.depth.is_some_and(|depth| depth >= first_popped) {
                check.depth = None;
                self.popped_checks.push(k);
            }
        }
        Ok(())
    }

    /// numpy's check of `result = l op r` (float64, `l` and `r` popped): pending when
    /// the run can go on past this step; otherwise the run ends here.
    pub(super) fn numpy_float_check_deferred(
        &mut self,
        op: BinOp,
        operands: (&Cv<'c>, &Cv<'c>),
        result: &Cv<'c>,
        point: DeoptId,
    ) -> Res<()> {
        let mut check = self.new_check(operands, result, NumpyOp::float64(op), point)?;
        // An infinite or NaN operand gives an infinite or NaN sum, difference or
        // product: this result now stands for the checks of the operands it popped.
        if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul) {
            let covered: Vec<FloatValue<'c>> = self
                .popped_checks
                .iter()
                .map(|&k| self.pending_checks[k].witness)
                .collect();
            for pending in &mut self.pending_checks {
                if covered.contains(&pending.witness) {
                    pending.witness = check.result;
                }
            }
        }
        check.depth = Some(self.types.len());
        self.pending_checks.push(check);
        let next = self.step + 1;
        let next_continues = self.plan.steps.get(next).is_some_and(|step| {
            step.before
                .as_ref()
                .is_some_and(|state| extends_run(&step.op, &state.stack).is_some())
        });
        if self.joins.contains(&next) || !next_continues {
            return self.flush_checks();
        }
        Ok(())
    }

    /// numpy's flags for `result` of an operation `op` on `operands`: hands over at
    /// `point` (before the operation) when one would be set. Ends the run.
    pub(super) fn numpy_float_check(
        &mut self,
        operands: (&Cv<'c>, &Cv<'c>),
        result: &Cv<'c>,
        op: NumpyOp,
        point: DeoptId,
    ) -> Res<()> {
        let check = self.new_check(operands, result, op, point)?;
        self.pending_checks.push(check);
        self.flush_checks()
    }

    /// The check of `result = l op r`, with the frame's values before it (the stack
    /// stores still hold the popped operands).
    fn new_check(
        &mut self,
        (l, r): (&Cv<'c>, &Cv<'c>),
        result: &Cv<'c>,
        op: NumpyOp,
        point: DeoptId,
    ) -> Res<PendingCheck<'c>> {
        let Cv::Float(value) = result else {
            return Err("internal: numpy result".to_owned());
        };
        Ok(PendingCheck {
            op,
            operands: [self.as_f64(l)?, self.as_f64(r)?],
            result: *value,
            witness: *value,
            depth: None,
            point,
            snapshot: self.deopt_values(point, None)?,
        })
    }

    /// Ends the run: one test of the pending checks' witnesses on the usual path; when
    /// one is infinite or NaN, each check in program order.
    fn flush_checks(&mut self) -> Res<()> {
        if self.speculating() {
            // Gathered into the chunk's flag (see `versioning`); a witness stored into
            // a carried sum is tested at the chunk's end instead.
            let mut pending = std::mem::take(&mut self.pending_checks);
            let stored = self.carried_store_depth().and_then(|depth| {
                let check = pending.iter().find(|check| check.depth == Some(depth))?;
                Some(check.result)
            });
            if let Some(stored) = stored {
                pending.retain(|check| check.witness != stored);
            }
            let warns = self.may_warn(&pending)?;
            return self.defer_warning(warns);
        }
        let pending = std::mem::take(&mut self.pending_checks);
        let mut witnesses: Vec<FloatValue<'c>> = Vec::new();
        for check in &pending {
            if !witnesses.contains(&check.witness) {
                witnesses.push(check.witness);
            }
        }
        // Underflow is no witness's: each product and quotient tests its own result.
        let normal: Vec<(FloatValue<'c>, NumpyOp)> = pending
            .iter()
            .filter(|check| check.op.underflow != Underflow::Never)
            .map(|check| (check.result, check.op))
            .collect();
        let all_quiet = self.quiet(&witnesses, &normal)?;
        let inspect = self.new_block("numpy_nonfinite");
        let done = self.new_block("numpy_finite");
        let branch = self
            .b()
            .build_conditional_branch(all_quiet, done, inspect)
            .map_err(err)?;
        self.g.mark_unlikely_false(branch)?;
        self.b().position_at_end(inspect);
        self.hand_over_at_first_warning(&pending)?;
        self.b().build_unconditional_branch(done).map_err(err)?;
        self.b().position_at_end(done);
        Ok(())
    }

    /// In a speculative copy, true whenever one of `pending` warns (`numpy_warns`),
    /// without looking at the operands or branching: a witness that is not finite.
    /// (Also for an infinite or NaN result of infinite or NaN operands, which does not
    /// warn: the copy then runs the checked loop, which knows.) Underflow is not
    /// tested: a copy whose body can underflow is entered only while numpy ignores it.
    fn may_warn(&mut self, pending: &[PendingCheck<'c>]) -> Res<IntValue<'c>> {
        let zero = self.g.f64t.const_zero();
        let mut nan_unless_finite: Option<FloatValue<'c>> = None;
        let mut seen: Vec<FloatValue<'c>> = Vec::new();
        for check in pending {
            if seen.contains(&check.witness) {
                continue;
            }
            seen.push(check.witness);
            let product = self
                .b()
                .build_float_mul(check.witness, zero, "")
                .map_err(err)?;
            nan_unless_finite = Some(match nan_unless_finite {
                Some(sum) => self.b().build_float_add(sum, product, "").map_err(err)?,
                None => product,
            });
        }
        match nan_unless_finite {
            Some(sum) => self.fcmp(FloatPredicate::UNO, sum, sum),
            None => Ok(self.g.i1t.const_zero()),
        }
    }

    /// Called where compiled code hands over at `point`: a pending check that warns
    /// hands over at its own, earlier, point instead.
    pub(super) fn run_pending_checks_first(&mut self, point: DeoptId) -> Res<()> {
        if self.pending_checks.is_empty() {
            return Ok(());
        }
        if matches!(
            self.plan.deopts[point as usize].kind,
            DeoptKind::Throw { .. }
        ) {
            return Err("internal: an exception raised with numpy checks pending".to_owned());
        }
        let pending = std::mem::take(&mut self.pending_checks);
        self.hand_over_at_first_warning(&pending)?;
        self.pending_checks = pending;
        Ok(())
    }

    /// For each of `pending` in order: hands over at its point when numpy warns there.
    fn hand_over_at_first_warning(&mut self, pending: &[PendingCheck<'c>]) -> Res<()> {
        for check in pending {
            let warns = self.numpy_warns(&check.operands, check.result, check.op)?;
            let fail = self.new_block("numpy_warns");
            let cont = self.new_block("numpy_quiet");
            self.b()
                .build_conditional_branch(warns, fail, cont)
                .map_err(err)?;
            self.b().position_at_end(fail);
            self.finish_deopt(check.point, check.snapshot.clone())?;
            self.b().position_at_end(cont);
        }
        Ok(())
    }

    /// The usual path's test: true when each of `finite` is finite and each of
    /// `normal` (a product's or a quotient's result) is more than its dtype's smallest
    /// normal number in magnitude, so that no flag can be set. One comparison covers the
    /// first of `normal` and every one of `finite`: `x * 0` is zero for a finite `x` and
    /// NaN otherwise, and a NaN added to the magnitude fails the comparison. (Float
    /// instructions only: comparing `|x|` with infinity would become integer bit tests
    /// with constants held in registers. No fast-math flags, which would fold `x * 0`.)
    fn quiet(
        &self,
        finite: &[FloatValue<'c>],
        normal: &[(FloatValue<'c>, NumpyOp)],
    ) -> Res<IntValue<'c>> {
        let zero = self.g.f64t.const_zero();
        let mut nan_unless_finite: Option<FloatValue<'c>> = None;
        for &x in finite {
            let product = self.b().build_float_mul(x, zero, "").map_err(err)?;
            nan_unless_finite = Some(match nan_unless_finite {
                Some(sum) => self.b().build_float_add(sum, product, "").map_err(err)?,
                None => product,
            });
        }
        let Some(((first, op), rest)) = normal.split_first() else {
            return match nan_unless_finite {
                Some(sum) => self.fcmp(FloatPredicate::ORD, sum, sum),
                None => Ok(self.g.i1t.const_int(1, false)),
            };
        };
        let mut magnitude = self.fabs(*first)?;
        if let Some(sum) = nan_unless_finite {
            magnitude = self.b().build_float_add(magnitude, sum, "").map_err(err)?;
        }
        let mut quiet = self.versus_smallest_normal(magnitude, *op, FloatPredicate::OGT)?;
        for (x, op) in rest {
            let magnitude = self.fabs(*x)?;
            let normal = self.versus_smallest_normal(magnitude, *op, FloatPredicate::OGT)?;
            quiet = self.and(quiet, normal)?;
        }
        Ok(quiet)
    }

    /// `magnitude predicate smallest_normal`.
    fn versus_smallest_normal(
        &self,
        magnitude: FloatValue<'c>,
        op: NumpyOp,
        predicate: FloatPredicate,
    ) -> Res<IntValue<'c>> {
        let normal = self.g.f64t.const_float(op.smallest_normal);
        self.fcmp(predicate, magnitude, normal)
    }

    /// Whether numpy's flags are set by an operation `op` on `operands` (two) that gave
    /// `result`: it overflowed from finite operands, made a NaN from non-NaN ones, or
    /// underflowed.
    fn numpy_warns(
        &mut self,
        operands: &[FloatValue<'c>],
        result: FloatValue<'c>,
        op: NumpyOp,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let infinity = g.f64t.const_float(f64::INFINITY);
        let mut any_nan = g.i1t.const_zero();
        let mut all_finite = g.i1t.const_int(1, false);
        for &x in operands {
            let nan = self.fcmp(FloatPredicate::UNO, x, x)?;
            any_nan = self.or(any_nan, nan)?;
            let magnitude = self.fabs(x)?;
            let finite = self.fcmp(FloatPredicate::OLT, magnitude, infinity)?;
            all_finite = self.and(all_finite, finite)?;
        }
        let made_nan = self.fcmp(FloatPredicate::UNO, result, result)?;
        let no_nan_in = self.b().build_not(any_nan, "").map_err(err)?;
        let invalid = self.and(made_nan, no_nan_in)?;
        let magnitude = self.fabs(result)?;
        let infinite = self.fcmp(FloatPredicate::OEQ, magnitude, infinity)?;
        let overflow = self.and(infinite, all_finite)?;
        let warns = self.or(invalid, overflow)?;
        match self.underflowed(operands, result, op)? {
            Some(underflow) => self.or(warns, underflow),
            None => Ok(warns),
        }
    }

    /// Whether an operation `op` (a product or a quotient; None for others, which
    /// never underflow) on `operands` that gave `result` set numpy's underflow flag.
    fn underflowed(
        &mut self,
        operands: &[FloatValue<'c>],
        result: FloatValue<'c>,
        op: NumpyOp,
    ) -> Res<Option<IntValue<'c>>> {
        let g = self.g;
        let infinity = g.f64t.const_float(f64::INFINITY);
        let zero = g.f64t.const_zero();
        let [first, second] = operands else {
            return Err("internal: numpy operation arity".to_owned());
        };
        // The quotient or product whose underflow numpy would see, and whether it is
        // exactly zero.
        let (value, exact_zero) = match op.underflow {
            Underflow::Never => return Ok(None),
            Underflow::Product => {
                let first_zero = self.fcmp(FloatPredicate::OEQ, *first, zero)?;
                let second_zero = self.fcmp(FloatPredicate::OEQ, *second, zero)?;
                (result, self.or(first_zero, second_zero)?)
            }
            Underflow::Quotient | Underflow::FloorQuotient => {
                let dividend_zero = self.fcmp(FloatPredicate::OEQ, *first, zero)?;
                let divisor = self.fabs(*second)?;
                let divisor_infinite = self.fcmp(FloatPredicate::OEQ, divisor, infinity)?;
                let value = if op.underflow == Underflow::FloorQuotient {
                    self.b().build_float_div(*first, *second, "").map_err(err)?
                } else {
                    result
                };
                (value, self.or(dividend_zero, divisor_infinite)?)
            }
        };
        let magnitude = self.fabs(value)?;
        let tiny = self.versus_smallest_normal(magnitude, op, FloatPredicate::OLE)?;
        let not_exact = self.b().build_not(exact_zero, "").map_err(err)?;
        self.and(tiny, not_exact).map(Some)
    }
}
