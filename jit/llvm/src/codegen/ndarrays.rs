//! numpy `float64` arrays in place (the `PyArrayObject` layout of numpy 1.x and 2.x):
//! items addressed through the array's data pointer, dimensions and strides, read as
//! numpy float64 scalars and written in place; and numpy float64 arithmetic, whose
//! floating-point warnings are left to the interpreter.

use pyopt_jit::plan::ArrayAttribute;

use super::*;

/// `PyArrayObject_fields`: data, nd, dimensions, strides, flags.
const DATA: u64 = 16;
const NDIM: u64 = 24;
const DIMENSIONS: u64 = 32;
const STRIDES: u64 = 40;
const FLAGS: u64 = 64;
/// `NPY_ARRAY_WRITEABLE`.
const WRITEABLE: u64 = 0x0400;

impl<'g, 'c> FnGen<'g, 'c> {
    /// Entry `k` of the array's `dimensions` (`field` DIMENSIONS) or `strides`.
    fn array_field_entry(&self, array: PointerValue<'c>, field: u64, k: u64) -> Res<IntValue<'c>> {
        let g = self.g;
        let table = self.load_ptr(self.at(array, field)?)?;
        // SAFETY: k < ndim, which the guard checked.
        let entry = unsafe {
            self.b()
                .build_in_bounds_gep(g.i64t, table, &[g.i64t.const_int(k, false)], "")
                .map_err(err)?
        };
        Ok(self
            .b()
            .build_load(g.i64t, entry, "")
            .map_err(err)?
            .into_int_value())
    }

    pub(super) fn array_dimension(&self, array: PointerValue<'c>, k: u64) -> Res<IntValue<'c>> {
        self.array_field_entry(array, DIMENSIONS, k)
    }

    /// `shape`, `size` or `ndim`.
    pub(super) fn array_attribute(
        &self,
        array: PointerValue<'c>,
        ndim: u8,
        attribute: ArrayAttribute,
    ) -> Res<(Ty, Cv<'c>)> {
        let dimensions = (0..u64::from(ndim))
            .map(|k| self.array_dimension(array, k))
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
                    .b()
                    .build_load(self.g.i32t, self.at(array, NDIM)?, "")
                    .map_err(err)?
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
    /// of an `ndim`-dimensional array; an index out of range hands over at `deopt`.
    pub(super) fn array_element(
        &mut self,
        array: PointerValue<'c>,
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
            let dimension = self.array_dimension(array, k as u64)?;
            let position = self.position(index, dimension, deopt)?;
            let stride = self.array_field_entry(array, STRIDES, k as u64)?;
            let step = self.b().build_int_mul(position, stride, "").map_err(err)?;
            offset = self.b().build_int_add(offset, step, "").map_err(err)?;
        }
        let data = self.load_ptr(self.at(array, DATA)?)?;
        // SAFETY: every index is within its dimension (checked above).
        unsafe {
            self.b()
                .build_in_bounds_gep(g.ctx.i8_type(), data, &[offset], "")
                .map_err(err)
        }
    }

    /// Item `position` (0 <= position < len) of a 1-d array, as a numpy float64.
    pub(super) fn array_item_1d(
        &mut self,
        array: PointerValue<'c>,
        position: IntValue<'c>,
    ) -> Res<Cv<'c>> {
        let stride = self.array_field_entry(array, STRIDES, 0)?;
        let offset = self.b().build_int_mul(position, stride, "").map_err(err)?;
        let data = self.load_ptr(self.at(array, DATA)?)?;
        // SAFETY: position is within the array's length (checked by the callers).
        let address = unsafe {
            self.b()
                .build_in_bounds_gep(self.g.ctx.i8_type(), data, &[offset], "")
                .map_err(err)?
        };
        self.load_f64(address)
    }

    pub(super) fn load_f64(&self, address: PointerValue<'c>) -> Res<Cv<'c>> {
        Ok(Cv::Float(
            self.b()
                .build_load(self.g.f64t, address, "")
                .map_err(err)?
                .into_float_value(),
        ))
    }

    /// `array[index] = value`; a read-only array hands over at `deopt` (the
    /// interpreter raises numpy's ValueError).
    pub(super) fn array_store_item(
        &mut self,
        array: PointerValue<'c>,
        ndim: u8,
        index: &Cv<'c>,
        value: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let flags = self
            .b()
            .build_load(g.i32t, self.at(array, FLAGS)?, "")
            .map_err(err)?
            .into_int_value();
        let writeable = self
            .b()
            .build_and(flags, g.i32t.const_int(WRITEABLE, false), "")
            .map_err(err)?;
        let read_only = self.icmp(IntPredicate::EQ, writeable, g.i32t.const_zero())?;
        self.deopt_if(read_only, deopt)?;
        let address = self.array_element(array, ndim, index, deopt)?;
        let x = self.as_f64(value)?;
        self.b().build_store(address, x).map_err(err)?;
        Ok(())
    }

    /// A number and whether it is numpy's (`Cv::Flagged`'s flag; false for others, true
    /// for a numpy float64, which is held as a plain float).
    pub(super) fn numpy_parts(&self, v: Cv<'c>) -> (Cv<'c>, IntValue<'c>) {
        match v {
            Cv::Flagged(value, is_numpy) => (*value, is_numpy),
            other => (other, self.g.i1t.const_zero()),
        }
    }

    /// numpy float64 arithmetic sets the floating-point flags numpy turns into
    /// warnings: hand over (before the operation) when `result` overflowed from
    /// finite operands or is a NaN made from non-NaN ones.
    pub(super) fn numpy_float_check(
        &mut self,
        operands: &[&Cv<'c>],
        result: &Cv<'c>,
        deopt: DeoptId,
    ) -> Res<()> {
        let g = self.g;
        let Cv::Float(r) = result else {
            return Err("internal: numpy result".to_owned());
        };
        let infinity = g.f64t.const_float(f64::INFINITY);
        let mut any_nan = g.i1t.const_zero();
        let mut all_finite = g.i1t.const_int(1, false);
        for operand in operands {
            let x = self.as_f64(operand)?;
            let nan = self.fcmp(FloatPredicate::UNO, x, x)?;
            any_nan = self.or(any_nan, nan)?;
            let magnitude = self.fabs(x)?;
            let finite = self.fcmp(FloatPredicate::OLT, magnitude, infinity)?;
            all_finite = self.and(all_finite, finite)?;
        }
        let made_nan = self.fcmp(FloatPredicate::UNO, *r, *r)?;
        let no_nan_in = self.b().build_not(any_nan, "").map_err(err)?;
        let invalid = self.and(made_nan, no_nan_in)?;
        let magnitude = self.fabs(*r)?;
        let infinite = self.fcmp(FloatPredicate::OEQ, magnitude, infinity)?;
        let overflow = self.and(infinite, all_finite)?;
        let warns = self.or(invalid, overflow)?;
        self.deopt_if(warns, deopt)
    }
}
