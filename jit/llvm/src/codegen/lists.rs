//! `list` objects in place: their size and items read straight from CPython's structs
//! (3.11 layouts), every item's type checked at each read; stores go through a helper.

use super::*;

/// `PyVarObject.ob_size` (also a list's length).
const OB_SIZE: u64 = 16;
/// `PyObject.ob_type`.
const OB_TYPE: u64 = 8;
/// `PyListObject.ob_item`.
const LIST_ITEMS: u64 = 24;
/// `PyFloatObject.ob_fval`.
const FLOAT_VALUE: u64 = 16;
/// `PyLongObject.ob_digit` (30-bit digits in `u32`s; `ob_size` is the signed count).
const LONG_DIGITS: u64 = 24;
const DIGIT_BITS: u64 = 30;

impl<'g, 'c> FnGen<'g, 'c> {
    /// The address `offset` bytes into `object`.
    fn at(&self, object: PointerValue<'c>, offset: u64) -> Res<PointerValue<'c>> {
        let g = self.g;
        // SAFETY: offsets are fields of the CPython struct `object` points to.
        unsafe {
            self.b()
                .build_in_bounds_gep(
                    g.ctx.i8_type(),
                    object,
                    &[g.i64t.const_int(offset, false)],
                    "",
                )
                .map_err(err)
        }
    }

    fn load_i64_at(&self, object: PointerValue<'c>, offset: u64) -> Res<IntValue<'c>> {
        Ok(self
            .b()
            .build_load(self.g.i64t, self.at(object, offset)?, "")
            .map_err(err)?
            .into_int_value())
    }

    /// The address of one of CPython's objects (`helper::PYTHON_OBJECTS`).
    fn python_object(&self, name: &str) -> Res<PointerValue<'c>> {
        Ok(self
            .g
            .module
            .get_global(name)
            .ok_or_else(|| format!("internal: {name} not declared"))?
            .as_pointer_value())
    }

    pub(super) fn list_len(&self, list: PointerValue<'c>) -> Res<IntValue<'c>> {
        self.load_i64_at(list, OB_SIZE)
    }

    /// Item `position` (0 <= position < len) of `list` as a value of type `item`; an
    /// item of another type (or an int beyond 60 bits) hands over at `deopt`.
    fn list_item(
        &mut self,
        list: PointerValue<'c>,
        position: IntValue<'c>,
        item: &Ty,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        let items = self.load_ptr(self.at(list, LIST_ITEMS)?)?;
        // SAFETY: position is within the list's size (checked by the callers).
        let slot = unsafe {
            self.b()
                .build_in_bounds_gep(g.ptrt, items, &[position], "")
                .map_err(err)?
        };
        let object = self.load_ptr(slot)?;
        let kind = self.load_ptr(self.at(object, OB_TYPE)?)?;
        let is = |this: &Self, name: &str, p: PointerValue<'c>| -> Res<IntValue<'c>> {
            let expected = this.python_object(name)?;
            this.b()
                .build_int_compare(IntPredicate::EQ, p, expected, "")
                .map_err(err)
        };
        match item {
            Ty::Float => {
                let float = is(self, "PyFloat_Type", kind)?;
                let other = self.b().build_not(float, "").map_err(err)?;
                self.deopt_if(other, deopt)?;
                let value = self
                    .b()
                    .build_load(g.f64t, self.at(object, FLOAT_VALUE)?, "")
                    .map_err(err)?;
                Ok(Cv::Float(value.into_float_value()))
            }
            Ty::Bool => {
                let yes = is(self, "_Py_TrueStruct", object)?;
                let no = is(self, "_Py_FalseStruct", object)?;
                let either = self.or(yes, no)?;
                let other = self.b().build_not(either, "").map_err(err)?;
                self.deopt_if(other, deopt)?;
                Ok(Cv::Bool(yes))
            }
            Ty::Int => {
                let int = is(self, "PyLong_Type", kind)?;
                let other = self.b().build_not(int, "").map_err(err)?;
                self.deopt_if(other, deopt)?;
                // Up to two digits (60 bits) inline; a longer int hands over.
                let size = self.load_i64_at(object, OB_SIZE)?;
                let shifted = self
                    .b()
                    .build_int_add(size, self.const_i64(2), "")
                    .map_err(err)?;
                let long = self.icmp(IntPredicate::UGT, shifted, self.const_i64(4))?;
                self.deopt_if(long, deopt)?;
                let digit = |this: &Self, k: u64| -> Res<IntValue<'c>> {
                    let d = this
                        .b()
                        .build_load(g.i32t, this.at(object, LONG_DIGITS + 4 * k)?, "")
                        .map_err(err)?
                        .into_int_value();
                    this.b().build_int_z_extend(d, g.i64t, "").map_err(err)
                };
                // Every int has its first digit (zero's is 0); the second only when
                // there are two, so it is read on that path alone.
                let low = digit(self, 0)?;
                let zero = g.i64t.const_zero();
                let magnitude_is_zero = self.icmp(IntPredicate::EQ, size, zero)?;
                let low = self.select_int(magnitude_is_zero, zero, low)?;
                let two = self.new_block("two_digits");
                let join = self.new_block("digits_done");
                let before = self.b().get_insert_block().ok_or("internal: no block")?;
                let negative = self.icmp(IntPredicate::SLT, size, zero)?;
                let magnitude = self.b().build_int_neg(size, "").map_err(err)?;
                let count = self.select_int(negative, magnitude, size)?;
                let has_two = self.icmp(IntPredicate::EQ, count, self.const_i64(2))?;
                self.b()
                    .build_conditional_branch(has_two, two, join)
                    .map_err(err)?;
                self.b().position_at_end(two);
                let high = digit(self, 1)?;
                let high = self
                    .b()
                    .build_left_shift(high, self.const_i64(DIGIT_BITS as i64), "")
                    .map_err(err)?;
                let both = self.b().build_or(low, high, "").map_err(err)?;
                self.b().build_unconditional_branch(join).map_err(err)?;
                self.b().position_at_end(join);
                let phi = self.b().build_phi(g.i64t, "").map_err(err)?;
                phi.add_incoming(&[(&low, before), (&both, two)]);
                let absolute = phi.as_basic_value().into_int_value();
                let negated = self.b().build_int_neg(absolute, "").map_err(err)?;
                Ok(Cv::Int(self.select_int(negative, negated, absolute)?))
            }
            other => Err(format!("internal: list items of type {other}")),
        }
    }

    /// `list[index]`.
    pub(super) fn emit_list_get(&mut self, item: &Ty, deopt: DeoptId) -> Res<()> {
        let index = self.pop()?;
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: indexing a non-list".to_owned());
        };
        let g = self.g;
        let i = self.as_i64(&index)?;
        let len = self.list_len(list)?;
        let negative = self.icmp(IntPredicate::SLT, i, g.i64t.const_zero())?;
        let wrapped = self.b().build_int_add(i, len, "").map_err(err)?;
        let position = self.select_int(negative, wrapped, i)?;
        let outside = self.icmp(IntPredicate::UGE, position, len)?;
        self.deopt_if(outside, deopt)?;
        let v = self.list_item(list, position, item, deopt)?;
        self.push(item.clone(), v)?;
        self.goto(self.step + 1)
    }

    /// `list[index] = value`.
    pub(super) fn emit_list_set(&mut self, deopt: DeoptId) -> Res<()> {
        let g = self.g;
        let index = self.pop()?;
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: storing into a non-list".to_owned());
        };
        let value = self.pop()?;
        let (kind, bits) = match &value {
            Cv::Int(i) => (0, *i),
            Cv::Float(x) => (
                1,
                self.b()
                    .build_bit_cast(*x, g.i64t, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Cv::Bool(b) => (2, self.b().build_int_z_extend(*b, g.i64t, "").map_err(err)?),
            other => return Err(format!("internal: storing {other:?} into a list")),
        };
        let i = self.as_i64(&index)?;
        let status = self
            .call_value(
                helper::LIST_SET,
                &[
                    list.into(),
                    i.into(),
                    g.i32t.const_int(kind, false).into(),
                    bits.into(),
                ],
            )?
            .into_int_value();
        let failed = self.icmp(IntPredicate::NE, status, g.i32t.const_zero())?;
        self.deopt_if(failed, deopt)?;
        self.goto(self.step + 1)
    }

    /// GET_ITER on a list.
    pub(super) fn emit_iter_list(&mut self) -> Res<()> {
        let ty = self.types.last().cloned();
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: iterating a non-list".to_owned());
        };
        let Some(Ty::List(item)) = ty else {
            return Err("internal: list iterator type".to_owned());
        };
        let zero = self.g.i64t.const_zero();
        self.push(Ty::ListIter(item), Cv::ListIter(list, zero))?;
        self.goto(self.step + 1)
    }

    /// FOR_ITER over a list iterator (the list's length is read at every step: the
    /// loop may change it).
    pub(super) fn emit_for_list(&mut self, exit: u32, item: &Ty, deopt: DeoptId) -> Res<()> {
        let Cv::ListIter(list, index) = self.peek()? else {
            return Err("internal: FOR_ITER over a non-list".to_owned());
        };
        let len = self.list_len(list)?;
        let more = self.icmp(IntPredicate::SLT, index, len)?;
        let body = self.new_block("list_next");
        self.b()
            .build_conditional_branch(more, body, self.blocks[exit as usize])
            .map_err(err)?;
        self.b().position_at_end(body);
        let v = self.list_item(list, index, item, deopt)?;
        let advanced = self
            .b()
            .build_int_add(index, self.const_i64(1), "")
            .map_err(err)?;
        let depth = self.types.len() - 1;
        let iterator_ty = self.types[depth].clone();
        let store = self.stack_store(depth, &iterator_ty);
        self.store(&store, &Cv::ListIter(list, advanced))?;
        self.push(item.clone(), v)?;
        self.goto(self.step + 1)
    }
}
