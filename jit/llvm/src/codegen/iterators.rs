//! Iterators compiled code runs itself, in registers: over ranges, lists, arrays and
//! tuples, `reversed()`, `enumerate()` and `zip()` of them. Layouts (see `Ty`): a range
//! iterator is `Cv::Range`; a sequence's (forward or reversed) `Cv::SeqIter`; a tuple's
//! `Cv::Tuple([tuple, index])`; `enumerate` `Cv::Tuple([count, inner])`; `zip` a
//! `Cv::Tuple` of its iterators.

use pyopt_jit::snapshot::BuiltinFn;

use super::*;

impl<'g, 'c> FnGen<'g, 'c> {
    /// The iterator a call or GET_ITER makes of `value` (of type `ty`), at its start.
    fn fresh_iterator(&self, ty: &Ty, value: Cv<'c>) -> Res<Cv<'c>> {
        let zero = self.g.i64t.const_zero();
        Ok(match (ty, value) {
            (Ty::List(_) | Ty::Array(_) | Ty::NdArray(..), Cv::Obj(object)) => {
                Cv::SeqIter(object, zero)
            }
            (Ty::Tuple(_), tuple @ Cv::Tuple(_)) => Cv::Tuple(vec![tuple, Cv::Int(zero)]),
            // A range is its iterator's layout; iterators are their own.
            (_, value) => value,
        })
    }

    /// GET_ITER on a list, an array or a tuple.
    pub(super) fn emit_iter_seq(&mut self) -> Res<()> {
        let ty = self.stack_type(0)?;
        let value = self.pop()?;
        let iterator_ty = ty.iterator().ok_or("internal: GET_ITER type")?;
        let iterator = self.fresh_iterator(&ty, value)?;
        self.push(iterator_ty, iterator)?;
        self.goto(self.step + 1)
    }

    /// `enumerate(...)`, `zip(...)` or `reversed(...)`.
    pub(super) fn emit_make_iterator(
        &mut self,
        function: BuiltinFn,
        nargs: u32,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let arg_types: Vec<Ty> = self.types[self.types.len() - nargs as usize..].to_vec();
        let result_ty = pyopt_jit::types::iterator_call(function, &arg_types)
            .ok_or("internal: iterator call types")?;
        let values = self.pop_args(nargs as usize)?;
        let iterator = match function {
            BuiltinFn::Enumerate => {
                let start = match values.get(1) {
                    Some(start) => self.as_i64(start)?,
                    None => g.i64t.const_zero(),
                };
                let inner = self.fresh_iterator(&arg_types[0], values[0].clone())?;
                Cv::Tuple(vec![Cv::Int(start), inner])
            }
            BuiltinFn::Zip => Cv::Tuple(
                arg_types
                    .iter()
                    .zip(values)
                    .map(|(ty, v)| self.fresh_iterator(ty, v))
                    .collect::<Res<_>>()?,
            ),
            BuiltinFn::Reversed => match &values[0] {
                Cv::Range(start, step, len) => {
                    // The same values backwards: from the last one, step negated.
                    let is_min = self.icmp(IntPredicate::EQ, *step, self.const_i64(i64::MIN))?;
                    self.deopt_if(is_min, deopt)?;
                    let b = self.b();
                    let before_last = b.build_int_sub(*len, self.const_i64(1), "").map_err(err)?;
                    let offset = b.build_int_mul(before_last, *step, "").map_err(err)?;
                    let last = b.build_int_add(*start, offset, "").map_err(err)?;
                    let empty = self.icmp(IntPredicate::EQ, *len, g.i64t.const_zero())?;
                    let first = self.select_int(empty, *start, last)?;
                    let negated = self.b().build_int_neg(*step, "").map_err(err)?;
                    Cv::Range(first, negated, *len)
                }
                Cv::Obj(object) => {
                    let len = self.seq_len(*object)?;
                    let last = self
                        .b()
                        .build_int_sub(len, self.const_i64(1), "")
                        .map_err(err)?;
                    Cv::SeqIter(*object, last)
                }
                other => return Err(format!("internal: reversed({other:?})")),
            },
            other => return Err(format!("internal: {} as an iterator", other.name())),
        };
        self.push(result_ty, iterator)?;
        self.goto(self.step + 1)
    }

    /// Tells LLVM what the next `value` of the range loop at this step cannot be: with
    /// a positive `step`, below the value the loop was entered at. A `range(n)` counter
    /// is then known never to be negative (so an index made of it needs no from-the-end
    /// path and its address advances by the stride), which LLVM cannot see for itself
    /// once a polled back-edge has re-entered the loop.
    pub(super) fn assume_range_progress(
        &mut self,
        value: IntValue<'c>,
        step: IntValue<'c>,
    ) -> Res<()> {
        let g = self.g;
        let Some(range_loop) = self.range_loops.get(&self.step).copied() else {
            return Ok(());
        };
        let entered_at = self
            .b()
            .build_load(g.i64t, range_loop.entered_at, "")
            .map_err(err)?
            .into_int_value();
        let rising = self.icmp(IntPredicate::SGT, step, g.i64t.const_zero())?;
        let not_below = self.icmp(IntPredicate::SGE, value, entered_at)?;
        let holds = self.select_int(rising, not_below, g.i1t.const_int(1, false))?;
        let assume = Intrinsic::find("llvm.assume").ok_or("internal: assume")?;
        let declaration = assume
            .get_declaration(&g.module, &[])
            .ok_or("internal: assume declaration")?;
        self.b()
            .build_call(declaration, &[holds.into()], "")
            .map_err(err)?;
        Ok(())
    }

    /// FOR_ITER over an iterator other than a range's.
    pub(super) fn emit_for_iter(&mut self, exit: u32, item: &Ty, deopt: DeoptId) -> Res<()> {
        let iterator_ty = self.stack_type(0)?;
        let iterator = self.peek()?;
        let exit_block = self.blocks[exit as usize];
        let (value, advanced) = self.advance(&iterator_ty, &iterator, exit_block, deopt)?;
        // The new state is stored only once every part advanced: a hand-over inside
        // redoes the whole step from the old one.
        let depth = self.types.len() - 1;
        let store = self.stack_store(depth, &iterator_ty);
        self.store(&store, &advanced)?;
        self.push(item.clone(), value)?;
        self.goto(self.step + 1)
    }

    /// Branches to `exit` if the iterator is exhausted; otherwise continues with its
    /// next value and its advanced state.
    fn advance(
        &mut self,
        ty: &Ty,
        iterator: &Cv<'c>,
        exit: BasicBlock<'c>,
        deopt: DeoptId,
    ) -> Res<(Cv<'c>, Cv<'c>)> {
        let g = self.g;
        let one = self.const_i64(1);
        match (ty, iterator) {
            (Ty::RangeIter, Cv::Range(start, step, len)) => {
                let more = self.icmp(IntPredicate::SGT, *len, g.i64t.const_zero())?;
                self.continue_if(more, exit)?;
                let b = self.b();
                // As in FOR_ITER over a range (`Op::ForRange`): only the value after
                // the last may not fit, and it is never read.
                let next = b.build_int_nsw_add(*start, *step, "").map_err(err)?;
                let remaining = b.build_int_sub(*len, one, "").map_err(err)?;
                Ok((Cv::Int(*start), Cv::Range(next, *step, remaining)))
            }
            (Ty::SeqIter(sequence) | Ty::SeqRevIter(sequence), Cv::SeqIter(object, index)) => {
                // Forwards while below the length (read at every step: the loop may
                // change it); backwards, as list_reverseiterator, while 0 <= index <
                // length.
                let forward = matches!(ty, Ty::SeqIter(_));
                let len = self.len_of(sequence, *object)?;
                let below = if forward {
                    IntPredicate::SLT
                } else {
                    IntPredicate::ULT
                };
                let more = self.icmp(below, *index, len)?;
                self.continue_if(more, exit)?;
                let item = sequence.item().ok_or("internal: sequence item")?;
                let value = self.seq_item(sequence, *object, *index, &item, deopt)?;
                let b = self.b();
                let next = if forward {
                    b.build_int_add(*index, one, "")
                } else {
                    b.build_int_sub(*index, one, "")
                }
                .map_err(err)?;
                Ok((value, Cv::SeqIter(*object, next)))
            }
            (Ty::TupleIter(_), Cv::Tuple(parts)) => {
                let [Cv::Tuple(items), Cv::Int(index)] = parts.as_slice() else {
                    return Err("internal: tuple iterator layout".to_owned());
                };
                let n = self.const_i64(items.len() as i64);
                let more = self.icmp(IntPredicate::SLT, *index, n)?;
                self.continue_if(more, exit)?;
                let mut chosen = items[0].clone();
                for (k, item) in items.iter().enumerate().skip(1) {
                    let here = self.icmp(IntPredicate::EQ, *index, self.const_i64(k as i64))?;
                    chosen = self.select(here, item, &chosen)?;
                }
                let next = self.b().build_int_add(*index, one, "").map_err(err)?;
                Ok((
                    chosen,
                    Cv::Tuple(vec![Cv::Tuple(items.clone()), Cv::Int(next)]),
                ))
            }
            (Ty::Enumerate(inner_ty), Cv::Tuple(parts)) => {
                let [Cv::Int(count), inner] = parts.as_slice() else {
                    return Err("internal: enumerate layout".to_owned());
                };
                let (value, advanced) = self.advance(inner_ty, inner, exit, deopt)?;
                // Past 2**63 - 1 the interpreter counts with big ints.
                let at_max = self.icmp(IntPredicate::EQ, *count, self.const_i64(i64::MAX))?;
                self.deopt_if(at_max, deopt)?;
                let next = self.b().build_int_add(*count, one, "").map_err(err)?;
                Ok((
                    Cv::Tuple(vec![Cv::Int(*count), value]),
                    Cv::Tuple(vec![Cv::Int(next), advanced]),
                ))
            }
            (Ty::Zip(inner_tys), Cv::Tuple(parts)) => {
                let mut values = Vec::with_capacity(parts.len());
                let mut states = Vec::with_capacity(parts.len());
                for (inner_ty, inner) in inner_tys.iter().zip(parts) {
                    let (value, advanced) = self.advance(inner_ty, inner, exit, deopt)?;
                    values.push(value);
                    states.push(advanced);
                }
                Ok((Cv::Tuple(values), Cv::Tuple(states)))
            }
            (ty, v) => Err(format!("internal: advancing a {ty} held as {v:?}")),
        }
    }

    /// Continues in a new block when `cond` holds; otherwise jumps to `exit`.
    fn continue_if(&self, cond: IntValue<'c>, exit: BasicBlock<'c>) -> Res<()> {
        let next = self.new_block("iter_next");
        self.b()
            .build_conditional_branch(cond, next, exit)
            .map_err(err)?;
        self.b().position_at_end(next);
        Ok(())
    }
}
