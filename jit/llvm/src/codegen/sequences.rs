//! Lists and `array.array`s in place: sizes and items read straight from CPython's
//! structs (3.11 layouts). A list's items are objects, whose type is checked at every
//! read and stores go through a helper; an array's are machine numbers, read and
//! written directly (ints range-checked as the array module checks them).

use pyopt_jit::types::{ArrayKind, ListMethod};

use super::*;

/// `PyVarObject.ob_size` (also a list's length).
const OB_SIZE: u64 = 16;
/// `PyObject.ob_type`.
const OB_TYPE: u64 = 8;
/// `PyListObject.ob_item` (objects) and `arrayobject.ob_item` (machine numbers).
const ITEMS: u64 = 24;
/// `PyFloatObject.ob_fval`.
const FLOAT_VALUE: u64 = 16;
/// `PyTupleObject.ob_item`.
const TUPLE_ITEMS: u64 = 24;
/// `PyLongObject.ob_digit` (30-bit digits in `u32`s; `ob_size` is the signed count).
const LONG_DIGITS: u64 = 24;
const DIGIT_BITS: u64 = 30;

impl<'g, 'c> FnGen<'g, 'c> {
    /// The address `offset` bytes into `object`.
    pub(super) fn at(&self, object: PointerValue<'c>, offset: u64) -> Res<PointerValue<'c>> {
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
            .load_field(self.g.i64t, self.at(object, offset)?)?
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

    /// The length of a list or an array (both keep it in `ob_size`).
    pub(super) fn seq_len(&self, sequence: PointerValue<'c>) -> Res<IntValue<'c>> {
        self.load_i64_at(sequence, OB_SIZE)
    }

    /// The length of a sequence of type `ty` (a numpy array's first dimension).
    pub(super) fn len_of(&self, ty: &Ty, sequence: PointerValue<'c>) -> Res<IntValue<'c>> {
        match ty {
            Ty::NdArray(_, ndim) => self.array_dimension(sequence, 0, *ndim),
            _ => self.seq_len(sequence),
        }
    }

    /// The machine type of an array's items.
    fn array_item_type(&self, kind: ArrayKind) -> BasicTypeEnum<'c> {
        self.dtype_item_type(kind.dtype())
    }

    /// The address of item `position` (0 <= position < len) of an array.
    fn array_slot(
        &self,
        array: PointerValue<'c>,
        kind: ArrayKind,
        position: IntValue<'c>,
    ) -> Res<PointerValue<'c>> {
        let items = self.load_field_ptr(self.at(array, ITEMS)?)?;
        // SAFETY: position is within the array's size (checked by the callers).
        unsafe {
            self.b()
                .build_in_bounds_gep(self.array_item_type(kind), items, &[position], "")
                .map_err(err)
        }
    }

    /// Item `position` (0 <= position < len) of an array, as Python reads it.
    fn array_item(
        &self,
        array: PointerValue<'c>,
        kind: ArrayKind,
        position: IntValue<'c>,
    ) -> Res<Cv<'c>> {
        // Laid out as numpy's items of the same kind; read as Python's numbers (the
        // same machine values).
        let slot = self.array_slot(array, kind, position)?;
        self.load_dtype(slot, kind.dtype())
    }

    /// `array[position] = value`; an int the array cannot hold hands over at `deopt`
    /// (the interpreter raises OverflowError).
    fn array_store(
        &mut self,
        array: PointerValue<'c>,
        kind: ArrayKind,
        position: IntValue<'c>,
        value: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let stored: BasicValueEnum<'c> = match kind {
            ArrayKind::F64 => self.as_f64(value)?.into(),
            ArrayKind::F32 => {
                let x = self.as_f64(value)?;
                self.b()
                    .build_float_trunc(x, g.ctx.f32_type(), "")
                    .map_err(err)?
                    .into()
            }
            _ => {
                let i = self.as_i64(value)?;
                if let Some((low, high)) = kind.int_range() {
                    let below = self.icmp(IntPredicate::SLT, i, self.const_i64(low))?;
                    let above = self.icmp(IntPredicate::SGT, i, self.const_i64(high))?;
                    let outside = self.or(below, above)?;
                    self.deopt_if(outside, deopt)?;
                }
                match self.array_item_type(kind) {
                    BasicTypeEnum::IntType(t) if t != g.i64t => {
                        self.b().build_int_truncate(i, t, "").map_err(err)?.into()
                    }
                    _ => i.into(),
                }
            }
        };
        let slot = self.array_slot(array, kind, position)?;
        self.store_item(slot, stored)?;
        Ok(())
    }

    /// Item `position` (0 <= position < len) of a list or an array.
    pub(super) fn seq_item(
        &mut self,
        sequence: &Ty,
        object: PointerValue<'c>,
        position: IntValue<'c>,
        item: &Ty,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        match sequence {
            Ty::Array(kind) => self.array_item(object, *kind, position),
            Ty::NdArray(dtype, _) => self.array_item_1d(object, *dtype, position),
            _ => self.list_item(object, position, item, deopt),
        }
    }

    /// A Python index into a sequence of length `len`, as a position; out of range
    /// hands over at `deopt` (the interpreter raises IndexError).
    pub(super) fn position(
        &mut self,
        index: &Cv<'c>,
        len: IntValue<'c>,
        deopt: DeoptId,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let i = self.as_i64(index)?;
        // A negative index counts from the end. Branch-free, so that a loop-invariant
        // index's check is invariant too (LLVM moves it out of the loop), and an index
        // LLVM knows is not negative (a `range(n)` counter, see `assume_range_progress`)
        // is used as it is, its address advancing by the stride. `i + len` is within
        // `0..len` exactly when `i` is a negative index in range; any other negative `i`
        // gives a negative sum, and an `i` of `len` or more stays as it is: both are
        // `len` or more, unsigned.
        let negative = self.icmp(IntPredicate::SLT, i, g.i64t.const_zero())?;
        let wrapped = self.b().build_int_add(i, len, "").map_err(err)?;
        let position = self
            .b()
            .build_select(negative, wrapped, i, "position")
            .map_err(err)?
            .into_int_value();
        let inside = self.icmp(IntPredicate::ULT, position, len)?;
        let fail = self.new_block("index_error");
        let cont = self.new_block("index_done");
        let branch = self
            .b()
            .build_conditional_branch(inside, cont, fail)
            .map_err(err)?;
        self.g.mark_unlikely_false(branch)?;
        self.b().position_at_end(fail);
        self.emit_deopt(deopt, None)?;
        self.b().position_at_end(cont);
        Ok(position)
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
        let items = self.load_field_ptr(self.at(list, ITEMS)?)?;
        // SAFETY: position is within the list's size (checked by the callers).
        let slot = unsafe {
            self.b()
                .build_in_bounds_gep(g.ptrt, items, &[position], "")
                .map_err(err)?
        };
        let object = self.load_field_ptr(slot)?;
        self.borrowed_item(object, item, deopt)
    }

    /// An object a container holds, read as a value of type `item` (a number, a list,
    /// or a tuple of these, element by element); another type (or an int beyond 60
    /// bits) hands over at `deopt`.
    fn borrowed_item(
        &mut self,
        object: PointerValue<'c>,
        item: &Ty,
        deopt: DeoptId,
    ) -> Res<Cv<'c>> {
        let g = self.g;
        let kind = self.load_field_ptr(self.at(object, OB_TYPE)?)?;
        let is = |this: &Self, name: &str, p: PointerValue<'c>| -> Res<IntValue<'c>> {
            let expected = this.python_object(name)?;
            this.b()
                .build_int_compare(IntPredicate::EQ, p, expected, "")
                .map_err(err)
        };
        match item {
            // A list inside a list: borrowed too (the outer list holds it, and compiled
            // code only ever replaces number items).
            Ty::List(_) => {
                let list = is(self, "PyList_Type", kind)?;
                self.deopt_unless(list, deopt)?;
                Ok(Cv::Obj(object))
            }
            // A tuple of its length, its items read in turn (the tuple holds them).
            Ty::Tuple(types) => {
                let tuple = is(self, "PyTuple_Type", kind)?;
                self.deopt_unless(tuple, deopt)?;
                let size = self.load_i64_at(object, OB_SIZE)?;
                let other_length =
                    self.icmp(IntPredicate::NE, size, self.const_i64(types.len() as i64))?;
                self.deopt_if(other_length, deopt)?;
                let mut values = Vec::with_capacity(types.len());
                for (k, ty) in types.iter().enumerate() {
                    let slot = self.at(object, TUPLE_ITEMS + 8 * k as u64)?;
                    let element = self.load_field_ptr(slot)?;
                    values.push(self.borrowed_item(element, ty, deopt)?);
                }
                Ok(Cv::Tuple(values))
            }
            Ty::Float => {
                let float = is(self, "PyFloat_Type", kind)?;
                self.deopt_unless(float, deopt)?;
                let value = self.load_field(g.f64t, self.at(object, FLOAT_VALUE)?)?;
                Ok(Cv::Float(value.into_float_value()))
            }
            Ty::Bool => {
                let yes = is(self, "_Py_TrueStruct", object)?;
                let no = is(self, "_Py_FalseStruct", object)?;
                let either = self.or(yes, no)?;
                self.deopt_unless(either, deopt)?;
                Ok(Cv::Bool(yes))
            }
            Ty::Int => {
                let int = is(self, "PyLong_Type", kind)?;
                self.deopt_unless(int, deopt)?;
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
                        .load_field(g.i32t, this.at(object, LONG_DIGITS + 4 * k)?)?
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

    /// The type of the stack entry `depth` below the top (0: the top).
    pub(super) fn stack_type(&self, depth: usize) -> Res<Ty> {
        self.types
            .len()
            .checked_sub(depth + 1)
            .and_then(|i| self.types.get(i).cloned())
            .ok_or_else(|| "internal: stack underflow".to_owned())
    }

    /// `sequence[index]`.
    pub(super) fn emit_item_get(&mut self, item: &Ty, deopt: DeoptId) -> Res<()> {
        let sequence = self.stack_type(1)?;
        let index = self.pop()?;
        let Cv::Obj(object) = self.pop()? else {
            return Err("internal: indexing a non-sequence".to_owned());
        };
        if let Ty::NdArray(dtype, ndim) = sequence {
            let address = self.array_element(object, dtype, ndim, &index, deopt)?;
            let v = self.load_dtype(address, dtype)?;
            self.push(item.clone(), v)?;
            return self.goto(self.step + 1);
        }
        let len = self.seq_len(object)?;
        let position = self.position(&index, len, deopt)?;
        let v = self.seq_item(&sequence, object, position, item, deopt)?;
        self.push(item.clone(), v)?;
        self.goto(self.step + 1)
    }

    /// UNPACK_SEQUENCE of a list or an array: its items, the last one pushed first.
    pub(super) fn emit_unpack_seq(&mut self, count: u32, item: &Ty, deopt: DeoptId) -> Res<()> {
        let sequence = self.stack_type(0)?;
        let Cv::Obj(object) = self.pop()? else {
            return Err("internal: unpacking a non-sequence".to_owned());
        };
        let len = self.seq_len(object)?;
        let other_length = self.icmp(IntPredicate::NE, len, self.const_i64(i64::from(count)))?;
        self.deopt_if(other_length, deopt)?;
        for k in (0..count).rev() {
            let position = self.const_i64(i64::from(k));
            let v = self.seq_item(&sequence, object, position, item, deopt)?;
            self.push(item.clone(), v)?;
        }
        self.goto(self.step + 1)
    }

    /// `sequence[index] = value`.
    pub(super) fn emit_item_set(&mut self, deopt: DeoptId) -> Res<()> {
        let sequence = self.stack_type(1)?;
        let index = self.pop()?;
        let Cv::Obj(object) = self.pop()? else {
            return Err("internal: storing into a non-sequence".to_owned());
        };
        let value = self.pop()?;
        if let Ty::NdArray(dtype, ndim) = sequence {
            self.array_store_item(object, dtype, ndim, &index, &value, deopt)?;
            return self.goto(self.step + 1);
        }
        if let Ty::Array(kind) = sequence {
            let len = self.seq_len(object)?;
            let position = self.position(&index, len, deopt)?;
            self.array_store(object, kind, position, &value, deopt)?;
            return self.goto(self.step + 1);
        }
        if let Cv::Float(x) = value {
            return self.list_set_float(object, &index, x, deopt);
        }
        let (kind, bits) = self.number_code(&value)?;
        let i = self.as_i64(&index)?;
        self.list_set_through_helper(object, i, kind, bits, deopt)?;
        self.goto(self.step + 1)
    }

    fn list_set_through_helper(
        &mut self,
        list: PointerValue<'c>,
        index: IntValue<'c>,
        kind: u64,
        bits: IntValue<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let status = self
            .call_value(
                helper::LIST_SET,
                &[
                    list.into(),
                    index.into(),
                    g.i32t.const_int(kind, false).into(),
                    bits.into(),
                ],
            )?
            .into_int_value();
        let failed = self.icmp(IntPredicate::NE, status, g.i32t.const_zero())?;
        self.deopt_if(failed, deopt)
    }

    /// `list[index] = x` for a float. When the old item is a float only the list
    /// holds (reference count 1), its value is overwritten in place: no other code
    /// holds that object, so nothing can tell it from a new float (and compiled code
    /// never holds number objects). Otherwise the helper stores a new float.
    fn list_set_float(
        &mut self,
        list: PointerValue<'c>,
        index: &Cv<'c>,
        x: FloatValue<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let len = self.seq_len(list)?;
        let position = self.position(index, len, deopt)?;
        let items = self.load_field_ptr(self.at(list, ITEMS)?)?;
        // SAFETY: position is within the list's size (checked above).
        let slot = unsafe {
            self.b()
                .build_in_bounds_gep(g.ptrt, items, &[position], "")
                .map_err(err)?
        };
        let old = self.load_field_ptr(slot)?;
        let kind = self.load_field_ptr(self.at(old, OB_TYPE)?)?;
        let float_type = self.python_object("PyFloat_Type")?;
        let is_float = self
            .b()
            .build_int_compare(IntPredicate::EQ, kind, float_type, "")
            .map_err(err)?;
        let refcount = self.load_field(g.i64t, old)?.into_int_value();
        let sole = self.icmp(IntPredicate::EQ, refcount, self.const_i64(1))?;
        let in_place = self.and(is_float, sole)?;
        let overwrite = self.new_block("float_in_place");
        let replace = self.new_block("float_replace");
        let done = self.new_block("float_stored");
        self.b()
            .build_conditional_branch(in_place, overwrite, replace)
            .map_err(err)?;
        self.b().position_at_end(overwrite);
        // (A float's value is a field of an object: the field tag, not the buffer's.)
        let field = self.at(old, FLOAT_VALUE)?;
        self.store_field(field, x.into())?;
        self.b().build_unconditional_branch(done).map_err(err)?;
        self.b().position_at_end(replace);
        let bits = self
            .b()
            .build_bit_cast(x, g.i64t, "")
            .map_err(err)?
            .into_int_value();
        self.list_set_through_helper(list, position, 1, bits, deopt)?;
        self.b().build_unconditional_branch(done).map_err(err)?;
        self.b().position_at_end(done);
        self.goto(self.step + 1)
    }

    /// A number as the helpers take it: (0, an int), (1, a float's bits), (2, a bool).
    fn number_code(&self, value: &Cv<'c>) -> Res<(u64, IntValue<'c>)> {
        let g = self.g;
        Ok(match value {
            Cv::Int(i) => (0, *i),
            Cv::Float(x) => (
                1,
                self.b()
                    .build_bit_cast(*x, g.i64t, "")
                    .map_err(err)?
                    .into_int_value(),
            ),
            Cv::Bool(b) => (2, self.b().build_int_z_extend(*b, g.i64t, "").map_err(err)?),
            Cv::Obj(object) => (
                3,
                self.b()
                    .build_ptr_to_int(*object, g.i64t, "")
                    .map_err(err)?,
            ),
            other => return Err(format!("internal: {other:?} as a list item")),
        })
    }

    /// A new list of `items` (numbers), the running call's.
    pub(super) fn build_list(&mut self, items: &[Cv<'c>], deopt: DeoptId) -> Res<PointerValue<'c>> {
        let g = self.g;
        let bits = self.status_call_i64(helper::NEW_LIST, vec![], deopt)?;
        let list = self.b().build_int_to_ptr(bits, g.ptrt, "").map_err(err)?;
        self.append_numbers(list, items, deopt)?;
        Ok(list)
    }

    /// Appends numbers to a list the running code holds.
    pub(super) fn append_numbers(
        &mut self,
        list: PointerValue<'c>,
        items: &[Cv<'c>],
        deopt: DeoptId,
    ) -> Res<()> {
        for item in items {
            self.append_number(list, item, deopt)?;
        }
        Ok(())
    }

    /// Appends a number to a list the running code holds.
    fn append_number(&mut self, list: PointerValue<'c>, value: &Cv<'c>, deopt: DeoptId) -> Res<()> {
        let g = self.g;
        let (kind, bits) = self.number_code(value)?;
        let status = self
            .call_value(
                helper::LIST_APPEND,
                &[
                    list.into(),
                    g.i32t.const_int(kind, false).into(),
                    bits.into(),
                ],
            )?
            .into_int_value();
        let failed = self.icmp(IntPredicate::NE, status, g.i32t.const_zero())?;
        self.deopt_if(failed, deopt)
    }

    /// `list.insert`, `.extend`, `.reverse`, `.clear`, `.copy`, `.sort`, `.index`,
    /// `.count` or `.__contains__`: the method, the list and the arguments on the stack.
    pub(super) fn emit_list_method(
        &mut self,
        method: ListMethod,
        nargs: usize,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let list_ty = self.types[self.types.len() - nargs - 1].clone();
        let args = self.pop_n(nargs)?;
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: a list method of a non-list".to_owned());
        };
        self.pop()?; // the method
        let (index, value) = match (method, args.as_slice()) {
            (ListMethod::Insert, [index, value]) => (self.as_i64(index)?, Some(value)),
            (_, [value]) => (g.i64t.const_zero(), Some(value)),
            _ => (g.i64t.const_zero(), None),
        };
        let result = self.call_list_method(method, list, index, value, deopt)?;
        let ty = method.result(&list_ty);
        let v = match ty {
            Ty::List(_) => Cv::Obj(self.b().build_int_to_ptr(result, g.ptrt, "").map_err(err)?),
            Ty::Int => Cv::Int(result),
            Ty::Bool => Cv::Bool(
                self.b()
                    .build_int_truncate(result, g.i1t, "")
                    .map_err(err)?,
            ),
            _ => Cv::None,
        };
        self.push(ty, v)?;
        self.goto(self.step + 1)
    }

    /// `value in list` (`not in` when `negate`): the value and the list on the stack.
    pub(super) fn emit_list_contains(&mut self, negate: bool, deopt: DeoptId) -> Res<()> {
        let g = self.g;
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: `in` of a non-list".to_owned());
        };
        let value = self.pop()?;
        let zero = g.i64t.const_zero();
        let found = self.call_list_method(ListMethod::Contains, list, zero, Some(&value), deopt)?;
        let predicate = if negate {
            IntPredicate::EQ
        } else {
            IntPredicate::NE
        };
        let v = self.icmp(predicate, found, zero)?;
        self.push(Ty::Bool, Cv::Bool(v))?;
        self.goto(self.step + 1)
    }

    /// Runs `helper::LIST_METHOD`; its result word (a pointer, an int or nothing).
    fn call_list_method(
        &mut self,
        method: ListMethod,
        list: PointerValue<'c>,
        index: IntValue<'c>,
        value: Option<&Cv<'c>>,
        deopt: DeoptId,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let (kind, bits) = match value {
            Some(value) => self.number_code(value)?,
            None => (0, g.i64t.const_zero()),
        };
        self.status_call_i64(
            helper::LIST_METHOD,
            vec![
                g.i32t.const_int(u64::from(method.code()), false).into(),
                list.into(),
                index.into(),
                g.i32t.const_int(kind, false).into(),
                bits.into(),
            ],
            deopt,
        )
    }

    /// `list.pop()` or `list.pop(i)`: the method, the list (and the index) on the stack.
    /// The item is read (and checked) as any list read, then removed.
    pub(super) fn emit_list_pop(&mut self, has_index: bool, item: &Ty, deopt: DeoptId) -> Res<()> {
        let g = self.g;
        let index = if has_index { Some(self.pop()?) } else { None };
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: popping from a non-list".to_owned());
        };
        self.pop()?; // the method
        let list_ty = Ty::List(Box::new(item.clone()));
        let len = self.len_of(&list_ty, list)?;
        let position = match index {
            Some(index) => self.position(&index, len, deopt)?,
            None => {
                // pop() of an empty list raises IndexError (the interpreter's).
                let empty = self.icmp(IntPredicate::EQ, len, g.i64t.const_zero())?;
                self.deopt_if(empty, deopt)?;
                self.b()
                    .build_int_sub(len, g.i64t.const_int(1, false), "")
                    .map_err(err)?
            }
        };
        let value = self.list_item(list, position, item, deopt)?;
        let keep = u64::from(matches!(item, Ty::List(_)));
        let status = self
            .call_value(
                helper::LIST_DELETE,
                &[
                    list.into(),
                    position.into(),
                    g.i32t.const_int(keep, false).into(),
                ],
            )?
            .into_int_value();
        let failed = self.icmp(IntPredicate::NE, status, g.i32t.const_zero())?;
        self.deopt_if(failed, deopt)?;
        self.push(item.clone(), value)?;
        self.goto(self.step + 1)
    }

    /// `list.append(value)`: the method, the list and the value on the stack.
    pub(super) fn emit_list_append(&mut self, deopt: DeoptId) -> Res<()> {
        let value = self.pop()?;
        let Cv::Obj(list) = self.pop()? else {
            return Err("internal: appending to a non-list".to_owned());
        };
        self.pop()?; // the method
        self.append_number(list, &value, deopt)?;
        self.push(Ty::None, Cv::None)?;
        self.goto(self.step + 1)
    }
}
