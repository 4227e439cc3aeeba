//! numpy items and scalars of every dtype compiled code has: reading an array item as
//! its scalar, storing a number into an item with numpy's casts, and the arithmetic
//! and comparisons of the dtypes other than float64 (`Ty::NpScalar`), computed in the
//! dtype `pyopt_jit::numpy` says numpy computes in.
//!
//! Integer scalars are held as `i64`s and float32 ones as the `f64` of their exact
//! value; every result is brought back into its dtype (an integer outside its range,
//! a float32 that overflowed) or handed to the interpreter, which gives numpy's
//! warning or error. Nothing here wraps silently: numpy warns on scalar overflow.

use inkwell::types::BasicType;
use pyopt_jit::numpy::{self, Operand};
use pyopt_jit::types::Dtype;

use super::float_checks::NumpyOp;
use super::*;

impl<'g, 'c> FnGen<'g, 'c> {
    /// The machine type of an item of `dtype` in a buffer.
    pub(super) fn dtype_item_type(&self, dtype: Dtype) -> BasicTypeEnum<'c> {
        let ctx = self.g.ctx;
        match dtype {
            Dtype::F64 => self.g.f64t.as_basic_type_enum(),
            Dtype::F32 => ctx.f32_type().as_basic_type_enum(),
            Dtype::I64 => self.g.i64t.as_basic_type_enum(),
            Dtype::I32 => self.g.i32t.as_basic_type_enum(),
            Dtype::I8 | Dtype::U8 | Dtype::Bool => ctx.i8_type().as_basic_type_enum(),
        }
    }

    /// The item of `dtype` at `address`, as its numpy scalar (`dtype.scalar()`).
    pub(super) fn load_dtype(&self, address: PointerValue<'c>, dtype: Dtype) -> Res<Cv<'c>> {
        let g = self.g;
        let raw = self.load_item(self.dtype_item_type(dtype), address)?;
        let b = self.b();
        Ok(match dtype {
            Dtype::F64 => Cv::Float(raw.into_float_value()),
            Dtype::F32 => Cv::Float(
                b.build_float_ext(raw.into_float_value(), g.f64t, "")
                    .map_err(err)?,
            ),
            Dtype::I64 => Cv::Int(raw.into_int_value()),
            Dtype::I32 | Dtype::I8 => Cv::Int(
                b.build_int_s_extend(raw.into_int_value(), g.i64t, "")
                    .map_err(err)?,
            ),
            Dtype::U8 => Cv::Int(
                b.build_int_z_extend(raw.into_int_value(), g.i64t, "")
                    .map_err(err)?,
            ),
            // numpy reads any non-zero byte as True.
            Dtype::Bool => {
                let byte = raw.into_int_value();
                Cv::Bool(self.icmp(IntPredicate::NE, byte, byte.get_type().const_zero())?)
            }
        })
    }

    /// `value` cast to `dtype` as numpy casts a number into an item (and its scalar
    /// types do: `np.int8(x)`), held as `dtype.scalar()` is. What numpy casts with an
    /// error, a warning or a wrap-around (an int outside the dtype's range, a float
    /// that does not truncate into it, a float overflowing float32, an int float32 may
    /// not round as numpy does) hands over at `deopt`.
    pub(super) fn numpy_cast(
        &mut self,
        value: &Cv<'c>,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let value = match value {
            Cv::Flagged(inner, _) => &**inner,
            other => other,
        };
        Ok(match dtype {
            Dtype::F64 => Cv::Float(self.as_f64(value)?),
            Dtype::F32 => {
                let x = self.exact_f64(value, deopt)?;
                Cv::Float(self.round_f32(x, deopt)?)
            }
            Dtype::Bool => Cv::Bool(self.truth(value)?),
            _ => Cv::Int(match value {
                Cv::Float(x) => self.truncate_into(*x, dtype, deopt)?,
                other => {
                    let i = self.as_i64(other)?;
                    self.check_dtype_range(i, dtype, deopt)?;
                    i
                }
            }),
        })
    }

    /// `value` as an item of `dtype` (numpy's cast: `numpy_cast`), ready to store.
    pub(super) fn dtype_item(
        &mut self,
        dtype: Dtype,
        value: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<BasicValueEnum<'c>> {
        let g = self.g;
        let stored: BasicValueEnum<'c> = match (dtype, self.numpy_cast(value, dtype, deopt)?) {
            (Dtype::F64, Cv::Float(x)) => x.into(),
            (Dtype::F32, Cv::Float(x)) => self
                .b()
                .build_float_trunc(x, g.ctx.f32_type(), "")
                .map_err(err)?
                .into(),
            (Dtype::Bool, Cv::Bool(t)) => self
                .b()
                .build_int_z_extend(t, g.ctx.i8_type(), "")
                .map_err(err)?
                .into(),
            (_, Cv::Int(i)) => match self.dtype_item_type(dtype) {
                BasicTypeEnum::IntType(t) if t != g.i64t => {
                    self.b().build_int_truncate(i, t, "").map_err(err)?.into()
                }
                _ => i.into(),
            },
            _ => return Err("internal: numpy cast".to_owned()),
        };
        Ok(stored)
    }

    /// `np.float32()` and the like with no argument: the dtype's zero.
    pub(super) fn numpy_zero(&self, dtype: Dtype) -> Cv<'c> {
        let g = self.g;
        match dtype {
            Dtype::F64 | Dtype::F32 => Cv::Float(g.f64t.const_zero()),
            Dtype::Bool => Cv::Bool(g.i1t.const_zero()),
            _ => Cv::Int(g.i64t.const_zero()),
        }
    }

    /// A number as an `f64` that holds it exactly: an int beyond +-2**53 (which numpy
    /// and a double conversion may round differently into float32) hands over.
    fn exact_f64(&mut self, value: &Cv<'c>, deopt: DeoptId) -> Res<FloatValue<'c>> {
        if let Cv::Int(i) = value {
            let g = self.g;
            let limit = g.i64t.const_int(1 << 53, false);
            let shifted = self.b().build_int_add(*i, limit, "").map_err(err)?;
            let exact = self.icmp(IntPredicate::ULE, shifted, g.i64t.const_int(1 << 54, false))?;
            self.deopt_unless(exact, deopt)?;
        }
        self.as_f64(value)
    }

    /// `x` rounded to float32 (held as an `f64`); a finite `x` that overflows hands over
    /// (numpy warns "overflow encountered in cast").
    fn round_f32(&mut self, x: FloatValue<'c>, deopt: DeoptId) -> Res<FloatValue<'c>> {
        let always = self.g.i1t.const_int(1, false);
        self.round_f32_when(x, always, deopt)
    }

    /// `x` rounded to float32, handing over for an overflow only when `when` (an `i1`:
    /// the value is numpy's) is set.
    fn round_f32_when(
        &mut self,
        x: FloatValue<'c>,
        when: IntValue<'c>,
        deopt: DeoptId,
    ) -> Res<FloatValue<'c>> {
        let g = self.g;
        let single = self
            .b()
            .build_float_trunc(x, g.ctx.f32_type(), "")
            .map_err(err)?;
        let rounded = self.b().build_float_ext(single, g.f64t, "").map_err(err)?;
        let infinity = g.f64t.const_float(f64::INFINITY);
        let was_finite = self.fcmp(FloatPredicate::OLT, self.fabs(x)?, infinity)?;
        let now_infinite = self.fcmp(FloatPredicate::OEQ, self.fabs(rounded)?, infinity)?;
        let overflow = self.and(was_finite, now_infinite)?;
        self.deopt_if(self.and(overflow, when)?, deopt)?;
        Ok(rounded)
    }

    /// A float truncated toward zero into an integer dtype; NaN, infinities and values
    /// outside the dtype hand over.
    fn truncate_into(
        &mut self,
        x: FloatValue<'c>,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let (low, high) = dtype.int_range().ok_or("internal: not an integer dtype")?;
        // Both bounds are exact doubles (-2**63, 2**63, and smaller powers of two);
        // a value in (low - 1, low) that would truncate to low hands over too.
        let low = g.f64t.const_float(low as f64);
        let above_high = g.f64t.const_float(high as f64 + 1.0);
        let inside = self.and(
            self.fcmp(FloatPredicate::OGE, x, low)?,
            self.fcmp(FloatPredicate::OLT, x, above_high)?,
        )?;
        self.deopt_unless(inside, deopt)?;
        self.b()
            .build_float_to_signed_int(x, g.i64t, "")
            .map_err(err)
    }

    /// Hands over unless `i` is a value of the integer dtype `dtype`.
    fn check_dtype_range(&mut self, i: IntValue<'c>, dtype: Dtype, deopt: DeoptId) -> Res<()> {
        let outside = self.outside_dtype(i, dtype)?;
        self.deopt_if(outside, deopt)
    }

    /// Whether `i` is not a value of the integer dtype `dtype` (an `i1`).
    fn outside_dtype(&self, i: IntValue<'c>, dtype: Dtype) -> Res<IntValue<'c>> {
        let Some((low, high)) = dtype.int_range() else {
            return Err("internal: not an integer dtype".to_owned());
        };
        if dtype == Dtype::I64 {
            return Ok(self.g.i1t.const_zero());
        }
        let below = self.icmp(IntPredicate::SLT, i, self.const_i64(low))?;
        let above = self.icmp(IntPredicate::SGT, i, self.const_i64(high))?;
        self.or(below, above)
    }

    /// Both operands' numbers, and whether either is numpy's (an `i1`).
    fn numbers_and_flag(
        &self,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
    ) -> Res<(Cv<'c>, Cv<'c>, IntValue<'c>)> {
        let (a, a_numpy) = self.number_and_flag(l, lt);
        let (b, b_numpy) = self.number_and_flag(r, rt);
        let is_numpy = self.or(a_numpy, b_numpy)?;
        Ok((a, b, is_numpy))
    }

    /// Two numbers as numpy makes them float32 (Python's are weak; an int beyond
    /// 2**53 hands over), an overflow handing over only when `is_numpy`.
    fn as_float32_pair(
        &mut self,
        numbers: [&Cv<'c>; 2],
        is_numpy: IntValue<'c>,
        deopt: DeoptId,
    ) -> Res<[Cv<'c>; 2]> {
        let mut single = [Cv::None, Cv::None];
        for (out, x) in single.iter_mut().zip(numbers) {
            let exact = self.exact_f64(x, deopt)?;
            *out = Cv::Float(self.round_f32_when(exact, is_numpy, deopt)?);
        }
        Ok(single)
    }

    /// A value's number and whether it is numpy's (an `i1`), by its type.
    fn number_and_flag(&self, v: &Cv<'c>, ty: &Ty) -> (Cv<'c>, IntValue<'c>) {
        let (value, flag) = self.numpy_parts(v.clone());
        let numpy = matches!(ty, Ty::NpScalar(_) | Ty::NpFloat | Ty::NpBool);
        (
            value,
            if numpy {
                self.g.i1t.const_int(1, false)
            } else {
                flag
            },
        )
    }

    /// `l op r` where an operand is a `Ty::AnyInt(dtype)` (a Python int, or numpy's
    /// scalar of `dtype` when its flag is set), giving
    /// `pyopt_jit::numpy::flagged_int_result`'s type `result`. Python's int arithmetic
    /// computes both; on numpy's paths the Python ints must fit the dtype (numpy raises
    /// OverflowError) and so must the result (numpy warns).
    pub(super) fn flagged_int_binary(
        &mut self,
        op: BinOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
        result: &Ty,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let (a, b, is_numpy) = self.numbers_and_flag((l, lt), (r, rt))?;
        match result {
            Ty::NpScalar(dtype) => {
                // numpy's either way: the Python int is weak and must fit.
                for x in [&a, &b] {
                    let i = self.as_i64(x)?;
                    self.check_dtype_range(i, *dtype, deopt)?;
                }
                let ty = Ty::NpScalar(*dtype);
                self.numpy_scalar_binary(op, (&a, &ty), (&b, &ty), deopt)
            }
            Ty::AnyInt(dtype) => {
                let v = self.binary(op, &a, &b, &Ty::Int, deopt)?;
                let mut outside = self.outside_dtype(self.as_i64(&v)?, *dtype)?;
                for x in [&a, &b] {
                    let x_outside = self.outside_dtype(self.as_i64(x)?, *dtype)?;
                    outside = self.or(outside, x_outside)?;
                }
                self.deopt_if(self.and(is_numpy, outside)?, deopt)?;
                Ok(Cv::Flagged(Box::new(v), is_numpy))
            }
            Ty::AnyFloat | Ty::NpFloat => {
                let v = if matches!(b, Cv::Float(_)) || matches!(a, Cv::Float(_)) {
                    self.binary(op, &a, &b, &Ty::Float, deopt)?
                } else {
                    // int / int: Python's exact quotient is float64's when both are
                    // within +-2**53; numpy divides the float64s. By zero: handed over.
                    for x in [&a, &b] {
                        self.exact_f64(x, deopt)?;
                    }
                    let (x, y) = (self.as_f64(&a)?, self.as_f64(&b)?);
                    let zero = self.fcmp(FloatPredicate::OEQ, y, self.g.f64t.const_zero())?;
                    self.deopt_if(zero, deopt)?;
                    Cv::Float(self.b().build_float_div(x, y, "").map_err(err)?)
                };
                self.numpy_float_check((&a, &b), &v, NumpyOp::float64(op), deopt)?;
                Ok(if *result == Ty::AnyFloat {
                    Cv::Flagged(Box::new(v), is_numpy)
                } else {
                    v
                })
            }
            other => Err(format!("internal: flagged int result {other}")),
        }
    }

    /// A comparison where an operand is a `Ty::AnyInt`: ints compare exactly (numpy's
    /// too); with a float, Python's int compares exactly and numpy's as a float64.
    /// Gives a numpy bool when an operand is surely numpy's, else a flagged bool.
    pub(super) fn flagged_int_compare(
        &mut self,
        op: CmpOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
    ) -> Res<(Ty, Cv<'c>)> {
        let (a, b, is_numpy) = self.numbers_and_flag((l, lt), (r, rt))?;
        let exact = self.compare(op, &a, &b)?;
        let answer = if matches!(a, Cv::Float(_)) || matches!(b, Cv::Float(_)) {
            let x = Cv::Float(self.as_f64(&a)?);
            let y = Cv::Float(self.as_f64(&b)?);
            let approximate = self.compare(op, &x, &y)?;
            self.select_int(is_numpy, approximate, exact)?
        } else {
            exact
        };
        Ok(flagged_answer(answer, is_numpy, lt, rt))
    }

    /// `l op r` (`+ - * /`) where an operand is a `Ty::AnyFloat32` (a Python float, or
    /// numpy's float32 when its flag is set), giving
    /// `pyopt_jit::numpy::flagged_float32_result`'s type `result`. Both results are
    /// computed: Python's in double, numpy's on the operands rounded to float32 and
    /// rounded again; the flag picks one. numpy's overflow warnings hand over only on
    /// numpy's paths.
    pub(super) fn flagged_float32_binary(
        &mut self,
        op: BinOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
        result: &Ty,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let (a, b, is_numpy) = self.numbers_and_flag((l, lt), (r, rt))?;
        if *result == Ty::NpFloat {
            // float64 either way, on the exact values.
            let v = self.binary(op, &a, &b, &Ty::Float, deopt)?;
            self.numpy_float_check((&a, &b), &v, NumpyOp::float64(op), deopt)?;
            return Ok(v);
        }
        // numpy's operands: Python numbers become float32 (an int beyond 2**53, which
        // numpy may round otherwise, hands over).
        let single = self.as_float32_pair([&a, &b], is_numpy, deopt)?;
        let numpy_value = self.binary(op, &single[0], &single[1], &Ty::Float, deopt)?;
        let Cv::Float(numpy_value) = numpy_value else {
            return Err("internal: float32 result".to_owned());
        };
        let numpy_value = self.round_f32_when(numpy_value, is_numpy, deopt)?;
        let numpy_value = Cv::Float(numpy_value);
        let float32 = NumpyOp::float32(op);
        self.numpy_float_check((&single[0], &single[1]), &numpy_value, float32, deopt)?;
        if *result == Ty::NpScalar(Dtype::F32) {
            return Ok(numpy_value);
        }
        let python_value = self.binary(op, &a, &b, &Ty::Float, deopt)?;
        let (Cv::Float(p), Cv::Float(n)) = (&python_value, &numpy_value) else {
            return Err("internal: float32 results".to_owned());
        };
        let chosen = self
            .b()
            .build_select(is_numpy, *n, *p, "")
            .map_err(err)?
            .into_float_value();
        Ok(Cv::Flagged(Box::new(Cv::Float(chosen)), is_numpy))
    }

    /// A comparison where an operand is a `Ty::AnyFloat32`: Python's exact comparison,
    /// or numpy's in float32 (Python numbers rounded to float32 first).
    pub(super) fn flagged_float32_compare(
        &mut self,
        op: CmpOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
        deopt: DeoptId,
    ) -> Res<(Ty, Cv<'c>)> {
        let (a, b, is_numpy) = self.numbers_and_flag((l, lt), (r, rt))?;
        let python_answer = self.compare(op, &a, &b)?;
        let answer = if matches!(lt, Ty::NpFloat) || matches!(rt, Ty::NpFloat) {
            // Against a float64, numpy compares in float64: exactly these values.
            let x = Cv::Float(self.as_f64(&a)?);
            let y = Cv::Float(self.as_f64(&b)?);
            self.compare(op, &x, &y)?
        } else {
            let single = self.as_float32_pair([&a, &b], is_numpy, deopt)?;
            let numpy_answer = self.compare(op, &single[0], &single[1])?;
            self.select_int(is_numpy, numpy_answer, python_answer)?
        };
        Ok(flagged_answer(answer, is_numpy, lt, rt))
    }

    /// `-x`, `+x` or `abs(x)` of a `Ty::AnyInt(dtype)`.
    pub(super) fn flagged_int_unary(
        &mut self,
        op: NumpyUnary,
        x: &Cv<'c>,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let (value, is_numpy) = self.numpy_parts(x.clone());
        // As int64 (Python's -MIN is a big int, numpy's overflows: both hand over),
        // then within the dtype on numpy's paths.
        let v = self.numpy_scalar_unary(op, &value, Dtype::I64, deopt)?;
        let outside = self.outside_dtype(self.as_i64(&v)?, dtype)?;
        self.deopt_if(self.and(is_numpy, outside)?, deopt)?;
        Ok(Cv::Flagged(Box::new(v), is_numpy))
    }

    /// An operand of type `ty` converted to `dtype` as numpy converts it: a Python int
    /// must fit an integer dtype (numpy raises OverflowError), a Python float or int
    /// becomes float32 by rounding (overflow warns).
    fn cast_to_dtype(
        &mut self,
        value: &Cv<'c>,
        ty: &Ty,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let weak = matches!(ty, Ty::Int | Ty::Bool | Ty::Float);
        if dtype.is_float() {
            let x = if dtype == Dtype::F32 && weak {
                let x = self.exact_f64(value, deopt)?;
                self.round_f32(x, deopt)?
            } else {
                // numpy scalars of a smaller dtype: exact in this one.
                self.as_f64(value)?
            };
            return Ok(Cv::Float(x));
        }
        let i = self.as_i64(value)?;
        if weak {
            self.check_dtype_range(i, dtype, deopt)?;
        }
        Ok(Cv::Int(i))
    }

    /// `l op r` where one operand is a `Ty::NpScalar` (typed `lt`, `rt`), giving
    /// `pyopt_jit::numpy::binary_result`'s type.
    pub(super) fn numpy_scalar_binary(
        &mut self,
        op: BinOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let dtype = promoted(lt, rt)?;
        let a = self.cast_to_dtype(l, lt, dtype, deopt)?;
        let b = self.cast_to_dtype(r, rt, dtype, deopt)?;
        if !dtype.is_float() {
            if op == BinOp::TrueDiv {
                // Both as float64, then divided; by zero numpy warns.
                let (x, y) = (self.as_f64(&a)?, self.as_f64(&b)?);
                let zero = self.fcmp(FloatPredicate::OEQ, y, self.g.f64t.const_zero())?;
                self.deopt_if(zero, deopt)?;
                return Ok(Cv::Float(self.b().build_float_div(x, y, "").map_err(err)?));
            }
            // Python's int arithmetic is numpy's within the dtype (floor division and
            // remainder included); overflow, and division by zero, hand over.
            let v = self.binary(op, &a, &b, &Ty::Int, deopt)?;
            self.check_dtype_range(self.as_i64(&v)?, dtype, deopt)?;
            return Ok(v);
        }
        let v = match (dtype, op) {
            // In float32 arithmetic (a double would round the quotient differently).
            (Dtype::F32, BinOp::FloorDiv | BinOp::Mod) => {
                let (x, y) = (self.as_f64(&a)?, self.as_f64(&b)?);
                let zero = self.fcmp(FloatPredicate::OEQ, y, self.g.f64t.const_zero())?;
                self.deopt_if(zero, deopt)?;
                let floor = u64::from(op == BinOp::FloorDiv);
                let floor = self.g.i32t.const_int(floor, false);
                let v =
                    self.call_value(helper::FLOAT32_DIVMOD, &[x.into(), y.into(), floor.into()])?;
                let v = Cv::Float(v.into_float_value());
                self.numpy_float_check((&a, &b), &v, NumpyOp::float32(op), deopt)?;
                return Ok(v);
            }
            _ => self.binary(op, &a, &b, &Ty::Float, deopt)?,
        };
        let v = match (dtype, v) {
            // +, -, *, / of float32 values computed in double and rounded once more
            // give float32's correctly rounded result (53 >= 2 * 24 + 2).
            (Dtype::F32, Cv::Float(x)) => Cv::Float(self.round_f32(x, deopt)?),
            (_, v) => v,
        };
        let numpy_op = match dtype {
            Dtype::F32 => NumpyOp::float32(op),
            _ => NumpyOp::float64(op),
        };
        self.numpy_float_check((&a, &b), &v, numpy_op, deopt)?;
        Ok(v)
    }

    /// A comparison where one operand is a `Ty::NpScalar`, in the dtype numpy compares
    /// in.
    pub(super) fn numpy_scalar_compare(
        &mut self,
        op: CmpOp,
        (l, lt): (&Cv<'c>, &Ty),
        (r, rt): (&Cv<'c>, &Ty),
        deopt: DeoptId,
    ) -> Res<IntValue<'c>> {
        let dtype = numpy::compare_dtype(lt, rt).ok_or("internal: numpy comparison")?;
        let a = self.cast_to_dtype(l, lt, dtype, deopt)?;
        let b = self.cast_to_dtype(r, rt, dtype, deopt)?;
        self.compare(op, &a, &b)
    }

    /// `-x`, `+x` or `abs(x)` of a `Ty::NpScalar` of `dtype`.
    pub(super) fn numpy_scalar_unary(
        &mut self,
        op: NumpyUnary,
        x: &Cv<'c>,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        if dtype.is_float() {
            let x = self.as_f64(x)?;
            return Ok(Cv::Float(match op {
                NumpyUnary::Negative => self.b().build_float_neg(x, "").map_err(err)?,
                NumpyUnary::Positive => x,
                NumpyUnary::Absolute => self.fabs(x)?,
            }));
        }
        let i = self.as_i64(x)?;
        let zero = self.g.i64t.const_zero();
        // Values of the dtypes below 64 bits cannot overflow an i64; int64's minimum is
        // caught by the dtype's range for the others and here for int64.
        let negated = self.b().build_int_sub(zero, i, "").map_err(err)?;
        let result = match op {
            NumpyUnary::Positive => i,
            NumpyUnary::Negative => negated,
            NumpyUnary::Absolute => {
                let negative = self.icmp(IntPredicate::SLT, i, zero)?;
                self.select_int(negative, negated, i)?
            }
        };
        if op != NumpyUnary::Positive {
            if dtype == Dtype::I64 {
                let is_min = self.icmp(IntPredicate::EQ, i, self.const_i64(i64::MIN))?;
                self.deopt_if(is_min, deopt)?;
            }
            self.check_dtype_range(result, dtype, deopt)?;
        }
        Ok(Cv::Int(result))
    }
}

/// The unary operations of numpy scalars compiled code computes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NumpyUnary {
    Negative,
    Positive,
    Absolute,
}

/// A comparison's answer: a numpy bool when an operand is surely numpy's, else a bool
/// flagged as numpy's by `is_numpy`.
fn flagged_answer<'c>(
    answer: IntValue<'c>,
    is_numpy: IntValue<'c>,
    lt: &Ty,
    rt: &Ty,
) -> (Ty, Cv<'c>) {
    let surely_numpy = |t: &Ty| matches!(t, Ty::NpScalar(_) | Ty::NpFloat);
    if surely_numpy(lt) || surely_numpy(rt) {
        (Ty::NpBool, Cv::Bool(answer))
    } else {
        (
            Ty::AnyBool,
            Cv::Flagged(Box::new(Cv::Bool(answer)), is_numpy),
        )
    }
}

fn promoted(lt: &Ty, rt: &Ty) -> Res<Dtype> {
    let operand = |t: &Ty| Operand::of(t).ok_or_else(|| format!("internal: numpy operand {t}"));
    numpy::promote(operand(lt)?, operand(rt)?).ok_or_else(|| "internal: numpy promotion".into())
}
