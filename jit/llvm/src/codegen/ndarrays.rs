//! numpy arrays in place (the `PyArrayObject` layout of numpy 1.x and 2.x): items
//! addressed through the array's data pointer, dimensions and strides (read and
//! written as their dtype in `numpy_scalars.rs`); numpy float64 arithmetic, whose
//! floating-point warnings are left to the interpreter; and draws from numpy's global
//! random stream.

use pyopt_jit::plan::ArrayAttribute;
use pyopt_jit::snapshot::ObjectId;
use pyopt_jit::types::{Dtype, Reduction};

use super::*;

/// `PyArrayObject_fields`: data, nd, dimensions, strides, flags.
const DATA: u64 = 16;
const NDIM: u64 = 24;
const DIMENSIONS: u64 = 32;
const STRIDES: u64 = 40;
const FLAGS: u64 = 64;
/// `NPY_ARRAY_WRITEABLE`, `NPY_ARRAY_ALIGNED`.
const WRITEABLE: u64 = 0x0400;
const ALIGNED: u64 = 0x0100;
/// `PyArrayObject_fields.descr`; `PyArray_Descr.byteorder` and `.type_num`.
const DESCR: u64 = 56;
const BYTEORDER: u64 = 26;
const TYPE_NUM: u64 = 28;
/// `_thread.lock`'s `locked`, `_thread.RLock`'s `rlock_count`.
const LOCK_STATE: u64 = 32;
/// `PyCapsule.pointer`; `bitgen_t.next_double`.
const CAPSULE_POINTER: u64 = 16;
const BITGEN_NEXT_DOUBLE: u64 = 24;

impl<'g, 'c> FnGen<'g, 'c> {
    /// Entry `k` of the `dimensions` (`field` DIMENSIONS) or `strides` of an
    /// `ndim`-dimensional array.
    fn array_field_entry(
        &self,
        array: PointerValue<'c>,
        field: u64,
        k: u64,
        ndim: u8,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        // The table has ndim > k entries (the guard checked ndim). Every read of it says
        // so with the same size: reads LLVM merges keep the smaller size, and an entry
        // beyond it could no longer be read ahead of its checks, out of a loop.
        let table = self.load_table_ptr(self.at(array, field)?, 8 * u64::from(ndim))?;
        // SAFETY: k < ndim, which the guard checked.
        let entry = unsafe {
            self.b()
                .build_in_bounds_gep(g.i64t, table, &[g.i64t.const_int(k, false)], "")
                .map_err(err)?
        };
        let read = self.load_field(g.i64t, entry)?;
        let k = k as usize;
        let value = self.top_read(
            array,
            |top| {
                let table = if field == DIMENSIONS {
                    &top.dimensions
                } else {
                    &top.strides
                };
                // Another ndim: not the same array.
                table
                    .get(k)
                    .filter(|_| table.len() == usize::from(ndim))
                    .map(|v| (*v).into())
            },
            read,
        )?;
        Ok(value.into_int_value())
    }

    /// Dimension `k` of an `ndim`-dimensional array.
    pub(super) fn array_dimension(
        &self,
        array: PointerValue<'c>,
        k: u64,
        ndim: u8,
    ) -> Res<IntValue<'c>> {
        self.array_field_entry(array, DIMENSIONS, k, ndim)
    }

    /// The arrays the frame holds at `point` (in locals, on the stack, inside tuples and
    /// iterators) must still be what the guard saw: code that ran during a poll (a
    /// pending call, another thread) may have set an array's `shape` or `dtype` in
    /// place. One that changed hands over at `point`.
    pub(super) fn recheck_arrays(&mut self, point: DeoptId) -> Res<()> {
        for (array, dtype, ndim) in self.held_arrays(point)? {
            let still = self.still_same_array(array, dtype, ndim)?;
            self.deopt_unless(still, point)?;
        }
        Ok(())
    }

    /// Whether every array the frame holds at `point` is still what the guard saw (see
    /// `recheck_arrays`); None when it holds none.
    pub(super) fn held_arrays_unchanged(&mut self, point: DeoptId) -> Res<Option<IntValue<'c>>> {
        let mut all = None;
        for (array, dtype, ndim) in self.held_arrays(point)? {
            let still = self.still_same_array(array, dtype, ndim)?;
            all = Some(match all {
                Some(before) => self.and(before, still)?,
                None => still,
            });
        }
        Ok(all)
    }

    /// The numpy arrays the frame holds at `point`: in its bound locals and its typed
    /// stack entries, also inside tuples and iterators.
    fn held_arrays(&mut self, point: DeoptId) -> Res<Vec<(PointerValue<'c>, Dtype, u8)>> {
        let record = self.plan.deopts[point as usize].clone();
        let mut held = Vec::new();
        for (local, state) in record.locals.iter().enumerate() {
            // A maybe-bound local's storage may hold nothing yet: only bound ones.
            if let Local::Bound(ty) = state
                && ty.holds_ndarray()
            {
                let store = self.local_store(local as u32, ty);
                held.push((ty.clone(), self.load(&store)?));
            }
        }
        if let DeoptKind::Resume { stack, .. } = &record.kind {
            for (depth, slot) in stack.iter().enumerate() {
                if let StackSlot::Typed(ty) = slot
                    && ty.holds_ndarray()
                {
                    let store = self.stack_store(depth, ty);
                    held.push((ty.clone(), self.load(&store)?));
                }
            }
        }
        let mut arrays = Vec::new();
        for (ty, value) in &held {
            collect_arrays(ty, value, &mut arrays);
        }
        Ok(arrays)
    }

    /// Reads the data pointer, flags, dimensions and strides of the numpy arrays the
    /// frame's locals hold in `state` (a loop header's), at the top of the loop: there
    /// every iteration reads them, so LLVM may move the reads out of the loop. The
    /// loop's accesses to these arrays use these values (`top_read`) until code that
    /// could change an array's fields may have run (`end_top_reads`). Read only under a
    /// check, they would stay in the loop: LLVM cannot tell they are safe to read early.
    pub(super) fn read_array_metadata(&mut self, state: &State) -> Res<()> {
        let g = self.g;
        self.top_reads.clear();
        for (local, held) in state.locals.iter().enumerate() {
            let Local::Bound(ty @ Ty::NdArray(_, ndim)) = held else {
                continue;
            };
            let store = self.local_store(local as u32, ty);
            let Cv::Obj(array) = self.load(&store)? else {
                continue;
            };
            let data = self.load_field_ptr(self.at(array, DATA)?)?;
            let flags = self
                .load_field(g.i32t, self.at(array, FLAGS)?)?
                .into_int_value();
            let mut dimensions = Vec::new();
            let mut strides = Vec::new();
            for k in 0..u64::from(*ndim) {
                dimensions.push(self.array_dimension(array, k, *ndim)?);
                strides.push(self.array_field_entry(array, STRIDES, k, *ndim)?);
            }
            self.top_reads.push(TopRead {
                array,
                data,
                flags,
                dimensions,
                strides,
            });
        }
        Ok(())
    }

    /// Before step `self.step` (`op`): the arrays' fields read at the loop's top stay
    /// usable while only steps that run no other code (no call, no poll) and that no
    /// other edge enters follow them.
    pub(super) fn end_top_reads(&mut self, previous: Option<&Op>) {
        let joined = self.joins.contains(&self.step);
        let ran_code = previous.is_none_or(|op| !runs_no_code(op, self.step - 1));
        if joined || ran_code {
            self.top_reads.clear();
        }
    }

    /// `read()` of `array`, unless the loop's top read that field of an array: then the
    /// value read there when `array` is that array (compared at run time: LLVM folds the
    /// comparison where `array` is the local's value, and drops the read).
    fn top_read(
        &self,
        array: PointerValue<'c>,
        field: impl Fn(&TopRead<'c>) -> Option<BasicValueEnum<'c>>,
        read: BasicValueEnum<'c>,
    ) -> Res<BasicValueEnum<'c>> {
        let mut value = read;
        for top in &self.top_reads {
            let Some(known) = field(top) else {
                continue;
            };
            let same = self
                .b()
                .build_int_compare(IntPredicate::EQ, array, top.array, "")
                .map_err(err)?;
            value = self.b().build_select(same, known, value, "").map_err(err)?;
        }
        Ok(value)
    }

    /// The data pointer of `array`.
    pub(super) fn array_data(&self, array: PointerValue<'c>) -> Res<PointerValue<'c>> {
        let read = self.load_field_ptr(self.at(array, DATA)?)?;
        let value = self.top_read(array, |top| Some(top.data.into()), read.into())?;
        Ok(value.into_pointer_value())
    }

    /// The flags of `array`.
    fn array_flags(&self, array: PointerValue<'c>) -> Res<IntValue<'c>> {
        let read = self.load_field(self.g.i32t, self.at(array, FLAGS)?)?;
        let value = self.top_read(array, |top| Some(top.flags.into()), read)?;
        Ok(value.into_int_value())
    }

    /// Whether `array` may be written to (numpy's WRITEABLE flag).
    pub(super) fn array_writeable(&self, array: PointerValue<'c>) -> Res<IntValue<'c>> {
        let g = self.g;
        let flags = self.array_flags(array)?;
        let writeable = self
            .b()
            .build_and(flags, g.i32t.const_int(WRITEABLE, false), "")
            .map_err(err)?;
        self.icmp(IntPredicate::NE, writeable, g.i32t.const_zero())
    }

    /// The conditions of the guard (`hooks`' `ndarray_type`) that can change while an
    /// array lives: its ndim, its dtype in native byte order, aligned.
    fn still_same_array(
        &self,
        array: PointerValue<'c>,
        dtype: Dtype,
        ndim: u8,
    ) -> Res<IntValue<'c>> {
        let g = self.g;
        let nd = self
            .load_field(g.i32t, self.at(array, NDIM)?)?
            .into_int_value();
        let same_ndim = self.icmp(
            IntPredicate::EQ,
            nd,
            g.i32t.const_int(u64::from(ndim), false),
        )?;
        let descr = self.load_field_ptr(self.at(array, DESCR)?)?;
        let type_num = self
            .load_field(g.i32t, self.at(descr, TYPE_NUM)?)?
            .into_int_value();
        let same_dtype = self.icmp(
            IntPredicate::EQ,
            type_num,
            g.i32t.const_int(dtype.type_num() as u64, false),
        )?;
        let i8t = g.ctx.i8_type();
        let order = self
            .load_field(i8t, self.at(descr, BYTEORDER)?)?
            .into_int_value();
        let native_mark = self.icmp(
            IntPredicate::EQ,
            order,
            i8t.const_int(u64::from(b'='), false),
        )?;
        // '|': one-byte items have no byte order.
        let no_order = self.icmp(
            IntPredicate::EQ,
            order,
            i8t.const_int(u64::from(b'|'), false),
        )?;
        let native_mark = self.or(native_mark, no_order)?;
        let native = if cfg!(target_endian = "little") {
            let little = self.icmp(
                IntPredicate::EQ,
                order,
                i8t.const_int(u64::from(b'<'), false),
            )?;
            self.or(native_mark, little)?
        } else {
            native_mark
        };
        let flags = self
            .load_field(g.i32t, self.at(array, FLAGS)?)?
            .into_int_value();
        let aligned_bit = self
            .b()
            .build_and(flags, g.i32t.const_int(ALIGNED, false), "")
            .map_err(err)?;
        let aligned = self.icmp(IntPredicate::NE, aligned_bit, g.i32t.const_zero())?;
        let mut all = self.and(same_ndim, same_dtype)?;
        all = self.and(all, native)?;
        self.and(all, aligned)
    }

    /// `shape`, `size` or `ndim`.
    pub(super) fn array_attribute(
        &self,
        array: PointerValue<'c>,
        ndim: u8,
        attribute: ArrayAttribute,
    ) -> Res<(Ty, Cv<'c>)> {
        let dimensions = (0..u64::from(ndim))
            .map(|k| self.array_dimension(array, k, ndim))
            .collect::<Res<Vec<_>>>()?;
        Ok(match attribute {
            ArrayAttribute::Shape => (
                Ty::Tuple(vec![Ty::Int; dimensions.len()]),
                Cv::Tuple(dimensions.into_iter().map(Cv::Int).collect()),
            ),
            ArrayAttribute::Size => {
                let mut size = self.const_i64(1);
                for d in dimensions {
                    size = self.b().build_int_mul(size, d, "").map_err(err)?;
                }
                (Ty::Int, Cv::Int(size))
            }
            ArrayAttribute::Ndim => {
                // Read, though the guard fixed it: the same value either way.
                let nd = self
                    .load_field(self.g.i32t, self.at(array, NDIM)?)?
                    .into_int_value();
                let nd = self
                    .b()
                    .build_int_s_extend(nd, self.g.i64t, "")
                    .map_err(err)?;
                (Ty::Int, Cv::Int(nd))
            }
        })
    }

    /// The address of the item `index` (an int, or a tuple of one int per dimension)
    /// of an `ndim`-dimensional array of `dtype`; an index out of range hands over at
    /// `deopt`.
    pub(super) fn array_element(
        &mut self,
        array: PointerValue<'c>,
        dtype: Dtype,
        ndim: u8,
        index: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<PointerValue<'c>> {
        let g = self.g;
        let indices: Vec<Cv<'c>> = match index {
            Cv::Tuple(items) => items.clone(),
            single => vec![single.clone()],
        };
        if indices.len() != usize::from(ndim) {
            return Err("internal: array index arity".to_owned());
        }
        let mut offset = g.i64t.const_zero();
        for (k, index) in indices.iter().enumerate() {
            let position = if self.index_proven() {
                // The loop's entry test bounded this index (see `versioning`).
                self.as_i64(index)?
            } else {
                let dimension = self.array_dimension(array, k as u64, ndim)?;
                self.position(index, dimension, deopt)?
            };
            let stride = self.item_stride(array, dtype, k as u64, ndim)?;
            let step = self.b().build_int_mul(position, stride, "").map_err(err)?;
            offset = self.b().build_int_add(offset, step, "").map_err(err)?;
        }
        self.item_address(array, dtype, offset)
    }

    /// Item `position` (0 <= position < len) of a 1-d array, as its numpy scalar.
    pub(super) fn array_item_1d(
        &mut self,
        array: PointerValue<'c>,
        dtype: Dtype,
        position: IntValue<'c>,
    ) -> Res<Cv<'c>> {
        let stride = self.item_stride(array, dtype, 0, 1)?;
        let offset = self.b().build_int_mul(position, stride, "").map_err(err)?;
        let address = self.item_address(array, dtype, offset)?;
        self.load_dtype(address, dtype)
    }

    /// Dimension `k`'s stride in bytes.
    pub(super) fn array_stride_bytes(
        &self,
        array: PointerValue<'c>,
        k: u64,
        ndim: u8,
    ) -> Res<IntValue<'c>> {
        self.array_field_entry(array, STRIDES, k, ndim)
    }

    /// Dimension `k`'s stride counted in items of `dtype`. The guard's ALIGNED flag
    /// means every dimension longer than 1 has a stride that is a multiple of the item
    /// size (numpy's alignment of these dtypes); a dimension of length 1 is only
    /// indexed by 0, whatever its stride. In items, LLVM can tell a loop whose stride
    /// is 1 from others and version it into vector code.
    fn item_stride(
        &self,
        array: PointerValue<'c>,
        dtype: Dtype,
        k: u64,
        ndim: u8,
    ) -> Res<IntValue<'c>> {
        let bytes = self.array_field_entry(array, STRIDES, k, ndim)?;
        let shift = u64::from(dtype.size().trailing_zeros());
        self.b()
            .build_right_shift(bytes, self.g.i64t.const_int(shift, false), true, "")
            .map_err(err)
    }

    /// The address of the item `offset` items past `array`'s data pointer.
    fn item_address(
        &self,
        array: PointerValue<'c>,
        dtype: Dtype,
        offset: IntValue<'c>,
    ) -> Res<PointerValue<'c>> {
        let data = self.array_data(array)?;
        // SAFETY: the callers' positions are within their dimensions.
        unsafe {
            self.b()
                .build_in_bounds_gep(self.dtype_item_type(dtype), data, &[offset], "")
                .map_err(err)
        }
    }

    /// `array[index] = value`; a read-only array hands over at `deopt` (the
    /// interpreter raises numpy's ValueError), and so does a value numpy would not
    /// cast silently (`dtype_item`).
    pub(super) fn array_store_item(
        &mut self,
        array: PointerValue<'c>,
        dtype: Dtype,
        ndim: u8,
        index: &Cv<'c>,
        value: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        // A fast copy's loop tested this at its entry (see `versioning`).
        if !self.index_proven() {
            let writeable = self.array_writeable(array)?;
            let read_only = self.b().build_not(writeable, "").map_err(err)?;
            self.deopt_if(read_only, deopt)?;
        }
        let address = self.array_element(array, dtype, ndim, index, deopt)?;
        if self.speculating() && self.index_proven() {
            // Held back until the chunk is known not to warn (see `versioning`).
            let item = match self.writing_pass() {
                true => None,
                false => Some(self.dtype_item(dtype, value, deopt)?),
            };
            return self.speculative_write(address, item);
        }
        let item = self.dtype_item(dtype, value, deopt)?;
        self.store_item(address, item)
    }

    /// The `bitgen_t` of numpy's global `RandomState`, whose draws numpy makes under
    /// the generator's lock; compiled code calls its very functions. While another
    /// thread holds the lock (filling an array with the GIL released, say), hands over
    /// at `deopt`: the interpreter waits for the lock as numpy does.
    pub(super) fn numpy_bit_generator(
        &mut self,
        capsule: ObjectId,
        lock: ObjectId,
        reentrant: bool,
        deopt: DeoptId,
    ) -> Res<PointerValue<'c>> {
        let g = self.g;
        let capsule = self.object(capsule)?;
        let lock = self.object(lock)?;
        // The count of a `_thread.RLock`, the `locked` byte of a `_thread.lock`: both at
        // offset 32 in CPython 3.11 (after the header, the native lock and the owner or
        // the weakref list). Only a thread holding the GIL changes them.
        let count_type = if reentrant { g.i64t } else { g.ctx.i8_type() };
        let count = self
            .load_field(count_type, self.at(lock, LOCK_STATE)?)?
            .into_int_value();
        let held = self.icmp(IntPredicate::NE, count, count_type.const_zero())?;
        self.deopt_if(held, deopt)?;
        // The capsule's pointer (`PyCapsule.pointer`; snapshot.rs checked its name) is
        // numpy's `bitgen_t`: the state, then next_uint64, next_uint32, next_double.
        self.load_field_ptr(self.at(capsule, CAPSULE_POINTER)?)
    }

    /// `numpy.random.random()` from the bit generator `bitgen`: numpy's legacy
    /// `random_sample()` with no size is one `next_double`.
    pub(super) fn numpy_random(&mut self, bitgen: PointerValue<'c>) -> Res<FloatValue<'c>> {
        let g = self.g;
        let state = self.load_field_ptr(bitgen)?;
        let next_double = self.load_field_ptr(self.at(bitgen, BITGEN_NEXT_DOUBLE)?)?;
        let signature = g.f64t.fn_type(&[g.ptrt.into()], false);
        let x = self
            .b()
            .build_indirect_call(signature, next_double, &[state.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic();
        Ok(x.into_float_value())
    }

    /// `ufunc(*args)` for one or two numbers, through the ufunc's float64 inner loop
    /// `loop_index` (the helper clears and checks the floating-point flags; a flag
    /// numpy warns about hands over at `deopt`).
    pub(super) fn numpy_ufunc(
        &mut self,
        ufunc: ObjectId,
        loop_index: u32,
        args: &[Cv<'c>],
        deopt: DeoptId,
    ) -> Res<FloatValue<'c>> {
        let g = self.g;
        let ufunc = self.object(ufunc)?;
        let mut operands = Vec::with_capacity(2);
        for arg in args {
            operands.push(self.as_f64(arg)?);
        }
        let nin = operands.len() as u64;
        operands.resize(2, g.f64t.const_zero());
        self.status_call_f64(
            helper::UFUNC,
            vec![
                ufunc.into(),
                g.i32t.const_int(u64::from(loop_index), false).into(),
                g.i32t.const_int(nin, false).into(),
                operands[0].into(),
                operands[1].into(),
            ],
            deopt,
        )
    }

    /// A new array from a numpy function (see `Op::NumpyCall`): `args` and `size` are
    /// written to the record `helper::NUMPY_CALL` reads, the result is expected to be
    /// an `ndim`-dimensional array of `result`. The array is the running call's (the
    /// helper keeps it); `deopt` when numpy raised.
    pub(super) fn numpy_call(
        &mut self,
        (function, ones, dtype): (ObjectId, bool, Option<ObjectId>),
        (args, size): (&[Cv<'c>], Option<&Cv<'c>>),
        (result, ndim): (Dtype, u8),
        deopt: DeoptId,
    ) -> Res<PointerValue<'c>> {
        use pyopt_jit::abi::numpy_call as record;
        let g = self.g;
        if args.len() > 3 {
            return Err("internal: more than three numpy arguments".to_owned());
        }
        let words = self
            .alloca_builder
            .build_alloca(g.i64t.array_type(record::WORDS as u32), "numpy_call")
            .map_err(err)?;
        let kind = if ones {
            record::KIND_ONES
        } else {
            record::KIND_PLAIN
        };
        let expect = i64::from(result.type_num()) | i64::from(ndim) << 8;
        self.store_word(words, record::KIND, g.i64t.const_int(kind as u64, true))?;
        self.store_word(words, record::EXPECT, g.i64t.const_int(expect as u64, true))?;
        let count = g.i64t.const_int(args.len() as u64, false);
        self.store_word(words, record::POSITIONAL, count)?;
        for (i, arg) in args.iter().enumerate() {
            self.store_argument(words, record::ARGS + 4 * i, arg)?;
        }
        match size {
            Some(size) => self.store_argument(words, record::SIZE, size)?,
            None => {
                let absent = g.i64t.const_int(record::TAG_ABSENT as u64, true);
                self.store_word(words, record::SIZE, absent)?;
            }
        }
        let function = self.object(function)?;
        let dtype = match dtype {
            Some(id) => self.object(id)?,
            None => g.ptrt.const_null(),
        };
        let bits = self.status_call_i64(
            helper::NUMPY_CALL,
            vec![function.into(), dtype.into(), words.into()],
            deopt,
        )?;
        self.b().build_int_to_ptr(bits, g.ptrt, "").map_err(err)
    }

    /// One argument of a numpy call into the record at `at`: its tag and values.
    fn store_argument(&mut self, words: PointerValue<'c>, at: usize, arg: &Cv<'c>) -> Res<()> {
        use pyopt_jit::abi::numpy_call as record;
        let g = self.g;
        let tag = |t: i64| g.i64t.const_int(t as u64, true);
        match arg {
            Cv::Int(v) => {
                self.store_word(words, at, tag(record::TAG_INT))?;
                self.store_word(words, at + 1, *v)
            }
            Cv::Float(x) => {
                let bits = self
                    .b()
                    .build_bit_cast(*x, g.i64t, "")
                    .map_err(err)?
                    .into_int_value();
                self.store_word(words, at, tag(record::TAG_FLOAT))?;
                self.store_word(words, at + 1, bits)
            }
            Cv::Tuple(items) if (1..=3).contains(&items.len()) => {
                self.store_word(words, at, tag(record::TAG_TUPLE + items.len() as i64))?;
                for (k, item) in items.iter().enumerate() {
                    let Cv::Int(v) = item else {
                        return Err("internal: numpy shape of non-ints".to_owned());
                    };
                    self.store_word(words, at + 1 + k, *v)?;
                }
                Ok(())
            }
            _ => Err("internal: numpy call argument".to_owned()),
        }
    }

    fn store_word(&mut self, words: PointerValue<'c>, at: usize, value: IntValue<'c>) -> Res<()> {
        let g = self.g;
        // SAFETY: `at` is below the record's length (`abi::numpy_call::WORDS`).
        let address = unsafe {
            self.b()
                .build_in_bounds_gep(g.i64t, words, &[g.i64t.const_int(at as u64, false)], "")
                .map_err(err)?
        };
        self.b().build_store(address, value).map_err(err)?;
        Ok(())
    }

    /// `array.sum()` of a 1-d array of `dtype`, as numpy's scalar (the helper runs
    /// numpy's own add loop for floats); a warning numpy would give hands over.
    pub(super) fn array_reduce(
        &mut self,
        array: PointerValue<'c>,
        reduction: Reduction,
        dtype: Dtype,
        deopt: DeoptId,
    ) -> Res<(Ty, Cv<'c>)> {
        let g = self.g;
        let type_num = g.i32t.const_int(dtype.type_num() as u64, false);
        let code = g.i32t.const_int(u64::from(reduction.code()), false);
        let bits = self.status_call_i64(
            helper::ARRAY_SUM,
            vec![array.into(), type_num.into(), code.into()],
            deopt,
        )?;
        let ty = reduction.result(dtype);
        let value = match &ty {
            Ty::NpFloat | Ty::NpScalar(Dtype::F32) => {
                let x = self.b().build_bit_cast(bits, g.f64t, "").map_err(err)?;
                Cv::Float(x.into_float_value())
            }
            Ty::NpBool => Cv::Bool(self.b().build_int_truncate(bits, g.i1t, "").map_err(err)?),
            _ => Cv::Int(bits),
        };
        Ok((ty, value))
    }

    /// `numpy.sqrt(x)`: numpy's float64 loop computes IEEE's correctly rounded square
    /// root, as the machine instruction does; its only flag numpy acts on is invalid,
    /// for an `x` below zero (hands over at `deopt`).
    pub(super) fn numpy_sqrt(&mut self, x: &Cv<'c>, deopt: DeoptId) -> Res<FloatValue<'c>> {
        let g = self.g;
        let x = self.as_f64(x)?;
        let negative = self.fcmp(FloatPredicate::OLT, x, g.f64t.const_zero())?;
        self.deopt_if(negative, deopt)?;
        let intrinsic = Intrinsic::find("llvm.sqrt").ok_or("internal: sqrt")?;
        let sqrt = intrinsic
            .get_declaration(&g.module, &[g.f64t.into()])
            .ok_or("internal: sqrt declaration")?;
        Ok(self
            .b()
            .build_call(sqrt, &[x.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_float_value())
    }

    /// `numpy.random.randint(high)` or `randint(low, high)` from the bit generator
    /// `bitgen`: numpy's masked rejection sampling (the helper); empty bounds hand over
    /// at `deopt` (numpy raises ValueError).
    pub(super) fn numpy_randint(
        &mut self,
        bitgen: PointerValue<'c>,
        args: &[Cv<'c>],
        deopt: DeoptId,
    ) -> Res<IntValue<'c>> {
        let (low, high) = match args {
            [high] => (self.const_i64(0), self.as_i64(high)?),
            [low, high] => (self.as_i64(low)?, self.as_i64(high)?),
            _ => return Err("internal: randint arity".to_owned()),
        };
        let empty = self.icmp(IntPredicate::SGE, low, high)?;
        self.deopt_if(empty, deopt)?;
        Ok(self
            .call_value(
                helper::NUMPY_RANDINT,
                &[bitgen.into(), low.into(), high.into()],
            )?
            .into_int_value())
    }

    /// A number and whether it is numpy's (`Cv::Flagged`'s flag; false for others, true
    /// for a numpy float64, which is held as a plain float).
    pub(super) fn numpy_parts(&self, v: Cv<'c>) -> (Cv<'c>, IntValue<'c>) {
        match v {
            Cv::Flagged(value, is_numpy) => (*value, is_numpy),
            other => (other, self.g.i1t.const_zero()),
        }
    }
}

/// A numpy array a local held at the top of a loop's body, and its fields read there.
pub(super) struct TopRead<'c> {
    array: PointerValue<'c>,
    data: PointerValue<'c>,
    flags: IntValue<'c>,
    dimensions: Vec<IntValue<'c>>,
    strides: Vec<IntValue<'c>>,
}

/// Whether step `index`'s `op` runs no code that could change an array's fields in
/// place (no call into other code, no poll: a backward jump polls).
pub(super) fn runs_no_code(op: &Op, index: usize) -> bool {
    match op {
        Op::Jump { target, .. } | Op::Branch { target, .. } => *target as usize > index,
        Op::Nop
        | Op::LoadLocal { .. }
        | Op::StoreLocal { .. }
        | Op::DeleteLocal { .. }
        | Op::Const(_)
        | Op::PushMarker(_)
        | Op::Pop
        | Op::Copy(_)
        | Op::Swap(_)
        | Op::Binary { .. }
        | Op::Compare { .. }
        | Op::IsStatic { .. }
        | Op::Unary { .. }
        | Op::BranchOrPop { .. }
        | Op::ForRange { .. }
        | Op::BuildTuple(_)
        | Op::UnpackTuple { .. }
        | Op::Subscript { .. }
        | Op::ItemGet { .. }
        | Op::ItemSet { .. }
        | Op::UnpackSeq { .. }
        | Op::IterSeq
        | Op::ForIter { .. }
        | Op::ArrayAttribute(_) => true,
        _ => false,
    }
}

/// The numpy arrays inside a value of type `ty` (held as `value`), with their dtype
/// and ndim.
fn collect_arrays<'c>(ty: &Ty, value: &Cv<'c>, out: &mut Vec<(PointerValue<'c>, Dtype, u8)>) {
    for_each_object(ty, value, &mut |ty, object| {
        if let Ty::NdArray(dtype, ndim) = ty {
            out.push((object, *dtype, *ndim));
        }
    });
}
