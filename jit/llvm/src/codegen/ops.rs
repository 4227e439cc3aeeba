//! One plan instruction at a time.

use super::*;

impl<'g, 'c> FnGen<'g, 'c> {
    pub(super) fn emit_op(&mut self, op: &Op, state: &State) -> Res<()> {
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
            Op::LoadMethod(kind) => {
                let ty = self.stack_type(0)?;
                let list = self.pop()?;
                self.push(Ty::Method(*kind), Cv::Marker)?;
                self.push(ty, list)?;
                self.goto(next)
            }
            Op::ListAppend { deopt } => self.emit_list_append(*deopt),
            Op::ListMethod {
                method,
                nargs,
                deopt,
            } => self.emit_list_method(*method, *nargs as usize, *deopt),
            Op::ListContains { negate, deopt } => self.emit_list_contains(*negate, *deopt),
            Op::ListPop {
                has_index,
                item,
                deopt,
            } => self.emit_list_pop(*has_index, item, *deopt),
            Op::NumpyCast {
                dtype,
                nargs,
                deopt,
            } => {
                let args = self.pop_args(*nargs as usize)?;
                let v = match args.first() {
                    Some(x) => self.numpy_cast(x, *dtype, *deopt)?,
                    None => self.numpy_zero(*dtype),
                };
                self.push(dtype.scalar(), v)?;
                self.goto(next)
            }
            Op::CallNumpyDot { deopt } => {
                let values = self.pop_args(2)?;
                let (Cv::Obj(a), Cv::Obj(b)) = (&values[0], &values[1]) else {
                    return Err("internal: numpy.dot of non-arrays".to_owned());
                };
                let x = self.status_call_f64(
                    helper::NUMPY_DOT,
                    vec![(*a).into(), (*b).into()],
                    *deopt,
                )?;
                self.push(Ty::NpFloat, Cv::Float(x))?;
                self.goto(next)
            }
            Op::NumpyCall {
                function,
                ones,
                args,
                size_at,
                dtype,
                nargs,
                result,
                deopt,
            } => {
                let values = self.pop_args(*nargs as usize)?;
                let Ty::NdArray(result_dtype, ndim) = result else {
                    return Err("internal: numpy array maker without an array".to_owned());
                };
                let size = size_at.and_then(|at| values.get(at as usize));
                let array = self.numpy_call(
                    (*function, *ones, *dtype),
                    (&values[..args.len()], size),
                    (*result_dtype, *ndim),
                    *deopt,
                )?;
                self.push(result.clone(), Cv::Obj(array))?;
                self.goto(next)
            }
            Op::ArrayReduce {
                reduction,
                dtype,
                call,
                deopt,
            } => {
                let Cv::Obj(array) = self.pop()? else {
                    return Err("internal: reduction of a non-array".to_owned());
                };
                self.pop()?; // the method, or numpy.sum
                if *call {
                    self.pop()?; // the NULL
                }
                let (ty, v) = self.array_reduce(array, *reduction, *dtype, *deopt)?;
                self.push(ty, v)?;
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
                let operand_types = self.types[self.types.len() - 2..].to_vec();
                let flagged_int = |t: &Ty| matches!(t, Ty::AnyInt(_));
                if operand_types.iter().any(flagged_int) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let v = self.flagged_int_binary(*op, (&l, lt), (&r, rt), result, *deopt)?;
                    self.push(result.clone(), v)?;
                    return self.goto(next);
                }
                if operand_types.contains(&Ty::AnyFloat32) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let v = self.flagged_float32_binary(*op, (&l, lt), (&r, rt), result, *deopt)?;
                    self.push(result.clone(), v)?;
                    return self.goto(next);
                }
                if operand_types.iter().any(pyopt_jit::numpy::is_scalar) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let v = self.numpy_scalar_binary(*op, (&l, lt), (&r, rt), *deopt)?;
                    self.push(result.clone(), v)?;
                    return self.goto(next);
                }
                let popped = self.pop()?;
                let (r, r_numpy) = self.numpy_parts(popped);
                let popped = self.pop()?;
                let (l, l_numpy) = self.numpy_parts(popped);
                let v = if matches!(result, Ty::NpFloat | Ty::AnyFloat) {
                    // numpy's float64 arithmetic is IEEE's; its warnings are the
                    // interpreter's to give (a Python float hands over there too).
                    let v = self.binary(*op, &l, &r, &Ty::Float, *deopt)?;
                    self.numpy_float_check_deferred(*op, (&l, &r), &v, *deopt)?;
                    if *result == Ty::AnyFloat {
                        let is_numpy = self.or(l_numpy, r_numpy)?;
                        Cv::Flagged(Box::new(v), is_numpy)
                    } else {
                        v
                    }
                } else {
                    self.binary(*op, &l, &r, result, *deopt)?
                };
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::Compare { op, deopt } => {
                let operand_types = self.types[self.types.len() - 2..].to_vec();
                if operand_types.iter().any(|t| matches!(t, Ty::AnyInt(_))) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let (ty, v) = self.flagged_int_compare(*op, (&l, lt), (&r, rt))?;
                    self.push(ty, v)?;
                    return self.goto(next);
                }
                if operand_types.contains(&Ty::AnyFloat32) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let (ty, v) = self.flagged_float32_compare(*op, (&l, lt), (&r, rt), *deopt)?;
                    self.push(ty, v)?;
                    return self.goto(next);
                }
                if operand_types.iter().any(pyopt_jit::numpy::is_scalar) {
                    let r = self.pop()?;
                    let l = self.pop()?;
                    let (lt, rt) = (&operand_types[0], &operand_types[1]);
                    let v = self.numpy_scalar_compare(*op, (&l, lt), (&r, rt), *deopt)?;
                    self.push(Ty::NpBool, Cv::Bool(v))?;
                    return self.goto(next);
                }
                let popped = self.pop()?;
                let (r, r_numpy) = self.numpy_parts(popped);
                let popped = self.pop()?;
                let (l, l_numpy) = self.numpy_parts(popped);
                let v = self.compare(*op, &l, &r)?;
                // numpy compares a float64 with an int converted to float64 (not
                // exactly, as Python's float does).
                let approximate = |this: &mut Self| -> Res<IntValue<'c>> {
                    let a = Cv::Float(this.as_f64(&l)?);
                    let b = Cv::Float(this.as_f64(&r)?);
                    this.compare(*op, &a, &b)
                };
                let (ty, value) = if operand_types.contains(&Ty::NpFloat) {
                    (Ty::NpBool, Cv::Bool(approximate(self)?))
                } else if operand_types.contains(&Ty::AnyFloat) {
                    let is_numpy = self.or(l_numpy, r_numpy)?;
                    let numpy_answer = approximate(self)?;
                    let answer = self.select_int(is_numpy, numpy_answer, v)?;
                    (
                        Ty::AnyBool,
                        Cv::Flagged(Box::new(Cv::Bool(answer)), is_numpy),
                    )
                } else {
                    (Ty::Bool, Cv::Bool(v))
                };
                self.push(ty, value)?;
                self.goto(next)
            }
            Op::ArrayAttribute(attribute) => {
                let ty = self.types.last().cloned();
                let Cv::Obj(array) = self.pop()? else {
                    return Err("internal: attribute of a non-array".to_owned());
                };
                let Some(Ty::NdArray(_, ndim)) = ty else {
                    return Err("internal: attribute of a non-array".to_owned());
                };
                let (ty, v) = self.array_attribute(array, ndim, *attribute)?;
                self.push(ty, v)?;
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
                if let (
                    UnaryOp::Negative | UnaryOp::Positive,
                    Ty::NpScalar(dtype) | Ty::AnyInt(dtype),
                ) = (op, result)
                {
                    let op = if *op == UnaryOp::Negative {
                        NumpyUnary::Negative
                    } else {
                        NumpyUnary::Positive
                    };
                    let out = if matches!(result, Ty::AnyInt(_)) {
                        self.flagged_int_unary(op, &v, *dtype, *deopt)?
                    } else {
                        self.numpy_scalar_unary(op, &v, *dtype, *deopt)?
                    };
                    self.push(result.clone(), out)?;
                    return self.goto(next);
                }
                if let (UnaryOp::Negative | UnaryOp::Positive, Cv::Flagged(x, is_numpy)) = (op, &v)
                {
                    // -x and +x of a float that may be numpy's: the same kind.
                    let x = self.as_f64(x)?;
                    let x = match op {
                        UnaryOp::Negative => self.b().build_float_neg(x, "").map_err(err)?,
                        _ => x,
                    };
                    self.push(
                        result.clone(),
                        Cv::Flagged(Box::new(Cv::Float(x)), *is_numpy),
                    )?;
                    return self.goto(next);
                }
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
                let v = self.pop()?;
                let cond = match test {
                    Test::Truth => self.truth(&v)?,
                    Test::IsNone => g.i1t.const_int(u64::from(matches!(v, Cv::None)), false),
                };
                let target = *target as usize;
                if target > self.step {
                    return self.branch(cond, *jump_if, target, next);
                }
                // The popped value stays in its storage for the poll's hand-over.
                let taken = if *jump_if {
                    cond
                } else {
                    self.b().build_not(cond, "").map_err(err)?
                };
                self.back_edge(*poll, Some(taken), target, next)
            }
            Op::BranchOrPop { jump_if, target } => {
                let v = self.peek()?;
                let cond = self.truth(&v)?;
                // Both successors read the value from the same storage: nothing to move.
                self.branch(cond, *jump_if, *target as usize, next)
            }
            Op::Jump { target, poll } => {
                let target = *target as usize;
                if target > self.step {
                    return self.goto(target);
                }
                self.back_edge(*poll, None, target, next)
            }
            Op::ForRange { exit } => {
                let iterator = self.peek()?;
                let Cv::Range(start, step, len) = iterator else {
                    return Err("internal: FOR_ITER over a non-range".to_owned());
                };
                let body = self.new_block("for_next");
                if self.speculating() {
                    // A speculative chunk never runs past the range's end (its length is
                    // at most what is left): the test is at the chunk's end instead.
                    self.b().build_unconditional_branch(body).map_err(err)?;
                } else {
                    let more = self.icmp(IntPredicate::SGT, len, g.i64t.const_zero())?;
                    self.b()
                        .build_conditional_branch(more, body, self.blocks[*exit as usize])
                        .map_err(err)?;
                }
                self.b().position_at_end(body);
                self.assume_range_progress(start, step)?;
                // Every value a range yields fits in 64 bits (its bounds do); only the
                // one after its last may not, and that one is never read (the loop
                // ends, and the iterator with it): no signed wrap.
                let advanced = self.b().build_int_nsw_add(start, step, "").map_err(err)?;
                let remaining = self
                    .b()
                    .build_int_nsw_sub(len, g.i64t.const_int(1, false), "")
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
            Op::CallNumpyRandom {
                kind,
                nargs,
                capsule,
                lock,
                reentrant,
                deopt,
            } => {
                let args = self.pop_args(*nargs as usize)?;
                let bitgen = self.numpy_bit_generator(*capsule, *lock, *reentrant, *deopt)?;
                match kind {
                    NumpyDraw::Double => {
                        let x = self.numpy_random(bitgen)?;
                        self.push(Ty::Float, Cv::Float(x))?;
                    }
                    NumpyDraw::Randint => {
                        let i = self.numpy_randint(bitgen, &args, *deopt)?;
                        self.push(Ty::Int, Cv::Int(i))?;
                    }
                }
                self.goto(next)
            }
            Op::CallUfunc {
                ufunc,
                name,
                loop_index,
                nargs,
                deopt,
            } => {
                let values = self.pop_args(*nargs as usize)?;
                let x = match (name.as_str(), values.as_slice()) {
                    ("sqrt", [x]) => self.numpy_sqrt(x, *deopt)?,
                    _ => self.numpy_ufunc(*ufunc, *loop_index, &values, *deopt)?,
                };
                self.push(Ty::NpFloat, Cv::Float(x))?;
                self.goto(next)
            }
            Op::CallBuiltin {
                function,
                args,
                result,
                deopt,
            } => {
                let values = self.pop_args(args.len())?;
                let v = match (function, args.first(), values.first()) {
                    // A numpy array's length is its first dimension.
                    (BuiltinFn::Len, Some(Ty::NdArray(_, ndim)), Some(Cv::Obj(array))) => {
                        Cv::Int(self.array_dimension(*array, 0, *ndim)?)
                    }
                    _ => self.builtin(*function, &values, result, *deopt)?,
                };
                self.push(result.clone(), v)?;
                self.goto(next)
            }
            Op::CallPlan {
                plan,
                nargs,
                boxed,
                raised,
            } => {
                // In a unit that borrows lists out of containers, the lists this frame
                // holds get a reference of their own for the call: if the callee hands
                // over, the interpreter runs code that could otherwise free one before
                // this frame hands over too.
                let held = if self.borrows_items {
                    self.held_lists()?
                } else {
                    Vec::new()
                };
                for object in &held {
                    self.add_to_refcount(*object, 1)?;
                }
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
                self.release_after_deopt = held.clone();
                self.emit_deopt(*boxed, Some(object))?;
                self.b().position_at_end(is_error);
                self.release_after_deopt = held.clone();
                self.emit_deopt(*raised, None)?;
                self.b().position_at_end(ok);
                if self.unit_polls {
                    self.recheck_arrays_after_call(*plan, result_slots, (*boxed, *raised), &held)?;
                }
                // A callee that finished natively let no other thread run (its polls
                // hand over in such a unit) and never drops a reference to a list
                // (its stores replace numbers only): these counts stay above one.
                for object in &held {
                    self.add_to_refcount(*object, -1)?;
                }
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
            Op::BuildList {
                count,
                list: list_ty,
                deopt,
            } => {
                let items = self.pop_n(*count as usize)?;
                let list = self.build_list(&items, *deopt)?;
                self.push(list_ty.clone(), Cv::Obj(list))?;
                self.goto(next)
            }
            Op::ListExtendConst {
                list: list_ty,
                deopt,
            } => {
                let Cv::Tuple(items) = self.pop()? else {
                    return Err("internal: list extended by a non-tuple".to_owned());
                };
                let Cv::Obj(list) = self.pop()? else {
                    return Err("internal: extending a non-list".to_owned());
                };
                self.append_numbers(list, &items, *deopt)?;
                self.push(list_ty.clone(), Cv::Obj(list))?;
                self.goto(next)
            }
            Op::ListRepeat { list_right, deopt } => {
                let at = self.types.len() - if *list_right { 1 } else { 2 };
                let list_ty = self.types[at].clone();
                let r = self.pop()?;
                let l = self.pop()?;
                let ((Cv::Obj(list), Cv::Int(n)) | (Cv::Int(n), Cv::Obj(list))) = (l, r) else {
                    return Err("internal: list repeat operands".to_owned());
                };
                let g = self.g;
                let bits =
                    self.status_call_i64(helper::LIST_REPEAT, vec![list.into(), n.into()], *deopt)?;
                let new = self.b().build_int_to_ptr(bits, g.ptrt, "").map_err(err)?;
                self.push(list_ty, Cv::Obj(new))?;
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
                    Cv::Tuple(_) | Cv::Flagged(..) => {
                        // Tuples (and numbers that may be numpy's) go to the caller's
                        // slots (the wrapper boxes them).
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
            Op::ItemGet { item, deopt } => self.emit_item_get(item, *deopt),
            Op::ItemSet { deopt } => self.emit_item_set(*deopt),
            Op::IterSeq => self.emit_iter_seq(),
            Op::UnpackSeq { count, item, deopt } => self.emit_unpack_seq(*count, item, *deopt),
            Op::ForIter { exit, item, deopt } => self.emit_for_iter(*exit, item, *deopt),
            Op::MakeIterator {
                function,
                nargs,
                deopt,
            } => self.emit_make_iterator(*function, *nargs, *deopt),
        }
    }

    /// After a call that finished natively: a poll in the callee may have let another
    /// thread set the `shape` or `dtype` of an array this frame holds, in place. If one
    /// changed, the callee's result is boxed and the frame hands over after the call
    /// (`boxed`; `raised` if boxing failed), as when the callee itself hands over.
    fn recheck_arrays_after_call(
        &mut self,
        plan: u32,
        result_slots: PointerValue<'c>,
        (boxed, raised): (DeoptId, DeoptId),
        held_lists: &[PointerValue<'c>],
    ) -> Res<()> {
        let g = self.g;
        let Some(unchanged) = self.held_arrays_unchanged(boxed)? else {
            return Ok(());
        };
        let changed = self.new_block("call_arrays_changed");
        let cont = self.new_block("call_arrays_same");
        let branch = self
            .b()
            .build_conditional_branch(unchanged, cont, changed)
            .map_err(err)?;
        self.g.mark_unlikely_false(branch)?;
        self.b().position_at_end(changed);
        let object = self
            .call_value(
                helper::BOX_RESULT,
                &[
                    self.env_ptr()?.into(),
                    g.i32t.const_int(u64::from(plan), false).into(),
                    result_slots.into(),
                ],
            )?
            .into_pointer_value();
        let failed = self.b().build_is_null(object, "").map_err(err)?;
        let boxed_block = self.new_block("call_result_boxed");
        let failed_block = self.new_block("call_box_failed");
        self.b()
            .build_conditional_branch(failed, failed_block, boxed_block)
            .map_err(err)?;
        self.b().position_at_end(failed_block);
        self.release_after_deopt = held_lists.to_vec();
        self.emit_deopt(raised, None)?;
        self.b().position_at_end(boxed_block);
        let object = self.b().build_ptr_to_int(object, g.i64t, "").map_err(err)?;
        self.release_after_deopt = held_lists.to_vec();
        self.emit_deopt(boxed, Some(object))?;
        self.b().position_at_end(cont);
        Ok(())
    }

    /// The push of a `LoadGlobal` or `LoadAttribute`.
    pub(super) fn emit_push(&mut self, op: &Op) -> Res<()> {
        match op {
            Op::Const(value) => {
                let v = self.const_value(value);
                self.push(value.ty(), v)
            }
            Op::PushMarker(ty) => self.push(ty.clone(), Cv::Marker),
            other => Err(format!("internal: {other:?} as a pushed value")),
        }
    }

    pub(super) fn select(&self, cond: IntValue<'c>, a: &Cv<'c>, b: &Cv<'c>) -> Res<Cv<'c>> {
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

    /// The top `n` values, deepest first.
    pub(super) fn pop_n(&mut self, n: usize) -> Res<Vec<Cv<'c>>> {
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.pop()?);
        }
        values.reverse();
        Ok(values)
    }

    pub(super) fn pop_args(&mut self, n: usize) -> Res<Vec<Cv<'c>>> {
        let values = self.pop_n(n)?;
        self.pop()?; // the callable
        self.pop()?; // NULL
        Ok(values)
    }
}
