//! Arithmetic, comparisons, `range` lengths, `math` and the builtins, with Python's
//! semantics (everything compiled code cannot finish deoptimizes).

use super::*;

impl<'g, 'c> FnGen<'g, 'c> {
    pub(super) fn fast(&self, instruction: Option<InstructionValue<'c>>) {
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

    pub(super) fn overflow_op(
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

    /// A helper returning a status (non-zero: deoptimize) and a value through `out`.
    pub(super) fn status_call(
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

    pub(super) fn status_call_i64(
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

    pub(super) fn status_call_f64(
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

    pub(super) fn binary(
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
                let proven = self.sum_proven();
                let v = match op {
                    // The loop's entry test bounded this sum (see `versioning`).
                    BinOp::Add if proven => self.b().build_int_nsw_add(a, b, "").map_err(err)?,
                    BinOp::Sub if proven => self.b().build_int_nsw_sub(a, b, "").map_err(err)?,
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

    pub(super) fn compare(&mut self, op: CmpOp, l: &Cv<'c>, r: &Cv<'c>) -> Res<IntValue<'c>> {
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

    /// CPython's length of range(start, stop, step), in 64 bits; deopts when it does not
    /// fit (CPython then uses its arbitrary-precision range iterator).
    pub(super) fn range_length(
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

    pub(super) fn math(
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

    pub(super) fn builtin(
        &mut self,
        function: BuiltinFn,
        values: &[Cv<'c>],
        result: &Ty,
        point: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        match (function, result) {
            (BuiltinFn::Abs, Ty::NpScalar(dtype)) => {
                return self.numpy_scalar_unary(NumpyUnary::Absolute, &values[0], *dtype, point);
            }
            (BuiltinFn::Abs, Ty::AnyInt(dtype)) => {
                return self.flagged_int_unary(NumpyUnary::Absolute, &values[0], *dtype, point);
            }
            _ => {}
        }
        if let (BuiltinFn::Sum | BuiltinFn::Min | BuiltinFn::Max, [Cv::Obj(list)]) =
            (function, values)
        {
            let which = match function {
                BuiltinFn::Sum => 0,
                BuiltinFn::Min => 1,
                _ => 2,
            };
            let float = u64::from(*result == Ty::Float);
            let bits = self.status_call_i64(
                helper::LIST_REDUCE,
                vec![
                    g.i32t.const_int(which, false).into(),
                    (*list).into(),
                    g.i32t.const_int(float, false).into(),
                ],
                point,
            )?;
            return Ok(if float == 1 {
                let x = self.b().build_bit_cast(bits, g.f64t, "").map_err(err)?;
                Cv::Float(x.into_float_value())
            } else {
                Cv::Int(bits)
            });
        }
        match function {
            BuiltinFn::Abs => match &values[0] {
                // abs() of a float that may be numpy's: the same kind.
                Cv::Flagged(x, is_numpy) => {
                    let value = self.builtin(function, &[(**x).clone()], &Ty::Float, point)?;
                    Ok(Cv::Flagged(Box::new(value), *is_numpy))
                }
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
                Cv::Obj(sequence) => Ok(Cv::Int(self.seq_len(*sequence)?)),
                _ => Err("internal: len of a non-tuple".to_owned()),
            },
            BuiltinFn::Range
            | BuiltinFn::Enumerate
            | BuiltinFn::Zip
            | BuiltinFn::Reversed
            | BuiltinFn::Sum => Err(format!("internal: {} as a builtin call", function.name())),
        }
    }
}
