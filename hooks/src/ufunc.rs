//! numpy ufuncs on scalars from compiled code: the `PyUFuncObject` fields pyopt reads
//! (checked against the ufunc's own Python attributes when a snapshot binds one), and
//! the runtime helper that runs one element through the ufunc's float64 inner loop
//! with numpy's floating-point checks.
//!
//! numpy computes `np.exp(x)` for a scalar with the same inner loop (the function in
//! `ufunc->functions` with its `ufunc->data`) it runs over arrays, after clearing the
//! floating-point flags, and warns for the flags the loop raised. The helper does the
//! same and leaves any raised flag to the interpreter, which then warns or raises as
//! `np.errstate` says. The values are numpy's own, bit for bit.

use std::ffi::{c_char, c_int, c_void};

use pyo3::prelude::*;

/// `PyUFuncObject` (numpy 1.x and 2.x): nin, nout, nargs, then functions and data,
/// ntypes, and the types table (nargs type numbers per loop).
const NIN: usize = 16;
const NOUT: usize = 20;
const NARGS: usize = 24;
const FUNCTIONS: usize = 32;
const DATA: usize = 40;
const NTYPES: usize = 48;
const TYPES: usize = 64;
/// `NPY_DOUBLE`.
const NPY_DOUBLE: u8 = 12;

/// `PyUFuncGenericFunction`.
type InnerLoop = unsafe extern "C" fn(
    args: *mut *mut c_char,
    dimensions: *const isize,
    steps: *const isize,
    data: *mut c_void,
);

/// The loops (`ufunc.types`) of a ufunc with one output whose C struct agrees with its
/// Python attributes and whose float64 loops are all present; None otherwise (then
/// calls of it are not compiled).
pub(crate) fn float64_loops(ufunc: &Bound<'_, PyAny>) -> Option<Vec<String>> {
    let nin: i32 = ufunc.getattr("nin").ok()?.extract().ok()?;
    let nout: i32 = ufunc.getattr("nout").ok()?.extract().ok()?;
    let ntypes: i32 = ufunc.getattr("ntypes").ok()?.extract().ok()?;
    let loops: Vec<String> = ufunc.getattr("types").ok()?.extract().ok()?;
    if nout != 1 || !(1..=2).contains(&nin) || loops.len() != ntypes as usize {
        return None;
    }
    // SAFETY: an exact numpy.ufunc (the caller checked), read as numpy lays it out;
    // the tables have `ntypes` entries (checked against the attribute first).
    unsafe {
        let base = ufunc.as_ptr().cast::<u8>();
        let field = |offset: usize| base.add(offset).cast::<i32>().read();
        if (field(NIN), field(NOUT), field(NARGS), field(NTYPES)) != (nin, nout, nin + 1, ntypes) {
            return None;
        }
        let functions = base.add(FUNCTIONS).cast::<*const usize>().read();
        let types = base.add(TYPES).cast::<*const u8>().read();
        if functions.is_null() || types.is_null() {
            return None;
        }
        let nargs = (nin + 1) as usize;
        for (index, signature) in loops.iter().enumerate() {
            let double = signature.replace("->", "").chars().all(|c| c == 'd');
            if !double {
                continue;
            }
            let numbers = std::slice::from_raw_parts(types.add(index * nargs), nargs);
            if numbers.iter().any(|n| *n != NPY_DOUBLE) || functions.add(index).read() == 0 {
                return None;
            }
        }
    }
    Some(loops)
}

/// `<fenv.h>`'s exception bits.
#[cfg(target_arch = "x86_64")]
mod fenv {
    pub const INVALID: i32 = 0x01;
    pub const DIVBYZERO: i32 = 0x04;
    pub const OVERFLOW: i32 = 0x08;
}
#[cfg(target_arch = "aarch64")]
mod fenv {
    pub const INVALID: i32 = 0x01;
    pub const DIVBYZERO: i32 = 0x02;
    pub const OVERFLOW: i32 = 0x04;
}

unsafe extern "C" {
    fn feclearexcept(excepts: c_int) -> c_int;
    fn fetestexcept(excepts: c_int) -> c_int;
}

/// `pyopt_ufunc`: `ufunc`'s loop `index` (a float64 loop, `float64_loops` checked it)
/// on one element `x` (and `y` for two inputs), written to `out`. Returns 1, with
/// nothing written, when the loop raised a flag numpy acts on: overflow, invalid or
/// divide by zero (numpy ignores underflow and inexact by default).
///
/// # Safety
/// `ufunc` is a live ufunc that `float64_loops` accepted, `index` one of its float64
/// loops with `nin` inputs, `out` writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_ufunc(
    ufunc: *const u8,
    index: u32,
    nin: u32,
    x: f64,
    y: f64,
    out: *mut f64,
) -> u32 {
    let mut values = [x, y];
    let mut result = 0.0f64;
    let mut args: [*mut c_char; 3] = [
        (&raw mut values[0]).cast(),
        (&raw mut values[1]).cast(),
        std::ptr::null_mut(),
    ];
    args[(nin as usize).min(2)] = (&raw mut result).cast();
    let dimensions = [1isize];
    let steps = [8isize; 3];
    // SAFETY: per the contract: the loop of this index exists and takes nin float64
    // inputs and one float64 output; every pointer is to a live local.
    unsafe {
        let functions = ufunc.add(FUNCTIONS).cast::<*const InnerLoop>().read();
        let inner = functions.add(index as usize).read();
        let data_table = ufunc.add(DATA).cast::<*const *mut c_void>().read();
        let data = if data_table.is_null() {
            std::ptr::null_mut()
        } else {
            data_table.add(index as usize).read()
        };
        // Flags are sticky: clear them only when one is set (clearing costs about
        // four times as much as testing), so after the loop a set flag is the loop's.
        let watched = fenv::INVALID | fenv::DIVBYZERO | fenv::OVERFLOW;
        if fetestexcept(watched) != 0 {
            feclearexcept(watched);
        }
        inner(args.as_mut_ptr(), dimensions.as_ptr(), steps.as_ptr(), data);
        if fetestexcept(watched) != 0 {
            return 1;
        }
        *out = result;
    }
    0
}

/// The float64 and float32 inner loops, with their data, of the ufunc that reduces for
/// `ndarray.sum`, `.max` or `.min` (`numpy.add`, `.maximum`, `.minimum`), as those
/// methods run them (they hold the original ufuncs, whatever the module's attributes
/// are later): found once each, when numpy has been imported.
struct ReduceLoops {
    float64: (usize, usize),
    float32: (usize, usize),
}

static REDUCE_LOOPS: [std::sync::OnceLock<Option<ReduceLoops>>; 3] =
    [const { std::sync::OnceLock::new() }; 3];

fn reduce_loops(reduction: pyopt_jit::types::Reduction) -> Option<&'static ReduceLoops> {
    use pyopt_jit::types::Reduction;
    // A mean sums with numpy.add's loops.
    let slot = match reduction {
        Reduction::Mean => Reduction::Sum,
        other => other,
    };
    REDUCE_LOOPS
        .get(slot.code() as usize)?
        .get_or_init(|| {
            Python::attach(|py| {
                let ufunc = py.import("numpy").ok()?.getattr(reduction.ufunc()).ok()?;
                let ufunc_type = py.import("numpy").ok()?.getattr("ufunc").ok()?;
                if !ufunc.get_type().is(&ufunc_type) {
                    return None;
                }
                let loops = float64_loops(&ufunc)?;
                let index_of = |signature: &str| loops.iter().position(|s| s == signature);
                let (double, single) = (index_of("dd->d")?, index_of("ff->f")?);
                // SAFETY: an exact ufunc `float64_loops` checked; both indices are
                // below its `ntypes`. The pointers stay valid while numpy is loaded
                // (extension modules are never unloaded).
                unsafe {
                    let base = ufunc.as_ptr().cast::<u8>();
                    let types = base.add(TYPES).cast::<*const u8>().read();
                    const NPY_FLOAT: u8 = 11;
                    if std::slice::from_raw_parts(types.add(single * 3), 3) != [NPY_FLOAT; 3] {
                        return None;
                    }
                    let functions = base.add(FUNCTIONS).cast::<*const usize>().read();
                    let data = base.add(DATA).cast::<*const usize>().read();
                    let entry = |index: usize| {
                        let data = if data.is_null() {
                            0
                        } else {
                            data.add(index).read()
                        };
                        (functions.add(index).read(), data)
                    };
                    let (float64, float32) = (entry(double), entry(single));
                    (float64.0 != 0 && float32.0 != 0).then_some(ReduceLoops { float64, float32 })
                }
            })
        })
        .as_ref()
}

/// `pyopt_array_sum`: `array.sum()`, `.max()` or `.min()` (`reduction`, an index in
/// `Reduction::ALL`) of an array of the dtype numbered `type_num` (numpy's), written to
/// `out` (a double's or a float32's value as a double's bits, or an int64).
///
/// Floats go through numpy's own loop (`numpy.add`, `.maximum`, `.minimum`) in its
/// reduce form, called as numpy's reduction calls it: a sum over all the items from
/// 0.0 (numpy's pairwise summation), a maximum or minimum from the first item over the
/// others (which item of two equal ones, `0.0` and `-0.0`, and which NaN wins is the
/// loop's). Bit for bit; 1 when the loop raised a flag numpy warns about. Integers and
/// bools: their int64 sum (wrapping as numpy's does), or their maximum or minimum.
/// The maximum or minimum of no items is numpy's ValueError: 1.
///
/// An array of 2 or 3 dimensions is reduced when it is C- or Fortran-contiguous: numpy
/// then reduces its items in memory order in one run of the loop, as a 1-d array of
/// all of them. Other layouts return 1 (numpy's iterator splits them into runs).
///
/// # Safety
/// `array` is a live aligned array of that dtype in native byte order (compiled
/// code's guard); `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_array_sum(
    array: *const u8,
    type_num: u32,
    reduction: u32,
    out: *mut i64,
) -> u32 {
    use pyopt_jit::types::{Dtype, Reduction};
    let (Some(dtype), Some(&reduction)) = (
        Dtype::from_type_num(type_num as i32),
        Reduction::ALL.get(reduction as usize),
    ) else {
        return 1;
    };
    // SAFETY: per the contract (`PyArrayObject_fields`: data at 16, nd at 24,
    // dimensions at 32, strides at 40, flags at 64).
    unsafe {
        let data = array.add(16).cast::<*mut u8>().read();
        let ndim = array.add(24).cast::<i32>().read();
        let dimensions = array.add(32).cast::<*const isize>().read();
        let (n, stride) = if ndim == 1 {
            (
                dimensions.read(),
                array.add(40).cast::<*const isize>().read().read(),
            )
        } else {
            const CONTIGUOUS: i32 = 0x1 | 0x2; // NPY_ARRAY_C_CONTIGUOUS | F_CONTIGUOUS
            if array.add(64).cast::<i32>().read() & CONTIGUOUS == 0 {
                return 1;
            }
            let total = (0..ndim.max(0) as usize)
                .map(|k| dimensions.add(k).read())
                .product();
            (total, dtype.size() as isize)
        };
        // The maximum or minimum of no items raises, their mean warns.
        if n == 0 && reduction != Reduction::Sum {
            return 1;
        }
        let item = |k: isize| data.offset(k * stride);
        if dtype.is_float() {
            let Some(loops) = reduce_loops(reduction) else {
                return 1;
            };
            let (function, loop_data) = if dtype == Dtype::F64 {
                loops.float64
            } else {
                loops.float32
            };
            let inner: InnerLoop = std::mem::transmute::<usize, InnerLoop>(function);
            // The accumulator starts at the identity (a sum) or the first item.
            let first = matches!(reduction, Reduction::Max | Reduction::Min);
            let mut wide = if first {
                item(0).cast::<f64>().read()
            } else {
                0.0
            };
            let mut single = if first {
                item(0).cast::<f32>().read()
            } else {
                0.0
            };
            let accumulator: *mut c_char = if dtype == Dtype::F64 {
                (&raw mut wide).cast()
            } else {
                (&raw mut single).cast()
            };
            let (start, count) = if first { (1, n - 1) } else { (0, n) };
            if count > 0 {
                let mut args: [*mut c_char; 3] = [accumulator, item(start).cast(), accumulator];
                let dimensions = [count];
                let steps = [0, stride, 0];
                let watched = fenv::INVALID | fenv::DIVBYZERO | fenv::OVERFLOW;
                if fetestexcept(watched) != 0 {
                    feclearexcept(watched);
                }
                inner(
                    args.as_mut_ptr(),
                    dimensions.as_ptr(),
                    steps.as_ptr(),
                    loop_data as *mut c_void,
                );
                if fetestexcept(watched) != 0 {
                    return 1;
                }
            }
            let mut value = if dtype == Dtype::F64 {
                wide
            } else {
                f64::from(single)
            };
            if reduction == Reduction::Mean {
                // `sum / count` in float64 (numpy divides its scalar by an intp), then
                // the array's dtype again.
                value /= n as f64;
                if dtype == Dtype::F32 {
                    value = f64::from(value as f32);
                }
            }
            *out = value.to_bits() as i64;
            return 0;
        }
        let value = |k: isize| {
            let p = item(k);
            match dtype {
                Dtype::I64 => p.cast::<i64>().read(),
                Dtype::I32 => i64::from(p.cast::<i32>().read()),
                Dtype::I8 => i64::from(p.cast::<i8>().read()),
                Dtype::U8 => i64::from(p.read()),
                Dtype::Bool => i64::from(p.read() != 0),
                Dtype::F64 | Dtype::F32 => 0,
            }
        };
        let values = (0..n).map(value);
        *out = match reduction {
            Reduction::Sum => values.fold(0i64, i64::wrapping_add),
            Reduction::Max => values.max().unwrap_or(0),
            Reduction::Min => values.min().unwrap_or(0),
            // (Not compiled: numpy means ints through buffered float64 casts.)
            Reduction::Mean => return 1,
        };
    }
    0
}

/// numpy's float64 `dotfunc` (`PyArray_ArrFuncs.dotfunc` of the float64 dtype, which
/// `numpy.dot` of two 1-d arrays runs: BLAS's ddot for positive strides), found once
/// through numpy 2's C API table and checked on a known product.
static DOT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// `PyArray_DotFunc`.
type DotFunc = unsafe extern "C" fn(
    ip1: *mut c_char,
    is1: isize,
    ip2: *mut c_char,
    is2: isize,
    op: *mut c_char,
    n: isize,
    ignored: *mut c_void,
);

/// `_PyDataType_GetArrFuncs` is entry 365 of numpy 2's `_ARRAY_API` table; in
/// `PyArray_ArrFuncs`, `dotfunc` follows 21 casts and six functions.
const GET_ARRFUNCS: usize = 365;
const DOTFUNC: usize = 8 * (21 + 6);

fn dot_function() -> Option<DotFunc> {
    let address = DOT.get_or_init(|| {
        Python::attach(|py| {
            let numpy = py.import("numpy").ok()?;
            let version: String = numpy.getattr("__version__").ok()?.extract().ok()?;
            if !version.starts_with("2.") {
                return None;
            }
            let core = py.import("numpy._core._multiarray_umath").ok()?;
            let capsule = core.getattr("_ARRAY_API").ok()?;
            let descr = numpy.getattr("dtype").ok()?.call1(("float64",)).ok()?;
            // SAFETY: numpy 2's API capsule holds its function table; entry 365 is
            // `_PyDataType_GetArrFuncs(descr)`, which returns the dtype's functions.
            let dot = unsafe {
                let table = pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), std::ptr::null())
                    .cast::<*const c_void>();
                if table.is_null() {
                    pyo3::ffi::PyErr_Clear();
                    return None;
                }
                type GetArrFuncs = unsafe extern "C" fn(*mut pyo3::ffi::PyObject) -> *const u8;
                let get = table.add(GET_ARRFUNCS).read();
                if get.is_null() {
                    return None;
                }
                let get: GetArrFuncs = std::mem::transmute::<*const c_void, GetArrFuncs>(get);
                let functions = get(descr.as_ptr());
                if functions.is_null() {
                    return None;
                }
                functions.add(DOTFUNC).cast::<usize>().read()
            };
            if dot == 0 {
                return None;
            }
            // SAFETY: checked on a product of known value before use.
            let dot_fn = unsafe { std::mem::transmute::<usize, DotFunc>(dot) };
            let mut a = [1.0f64, 2.0, 3.0];
            let mut b = [4.0f64, 5.0, 6.0];
            let mut out = 0.0f64;
            // SAFETY: three doubles each, contiguous.
            unsafe {
                dot_fn(
                    a.as_mut_ptr().cast(),
                    8,
                    b.as_mut_ptr().cast(),
                    8,
                    (&raw mut out).cast(),
                    3,
                    std::ptr::null_mut(),
                );
            }
            (out == 32.0).then_some(dot)
        })
    });
    // SAFETY: an address checked above to be a working dot function.
    address.map(|a| unsafe { std::mem::transmute::<usize, DotFunc>(a) })
}

/// `pyopt_numpy_dot`: `numpy.dot(a, b)` of two 1-d float64 arrays into `out`. Returns
/// 1 (nothing written) when the lengths differ (numpy raises ValueError), a stride is
/// not positive (numpy copies such arrays first, summing in another order), or the
/// product raised a flag numpy warns about.
///
/// # Safety
/// `a` and `b` are live aligned 1-d float64 arrays in native byte order; `out` is
/// writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_numpy_dot(
    a: *const u8,
    b: *const u8,
    out: *mut f64,
) -> u32 {
    let Some(dot) = dot_function() else {
        return 1;
    };
    // SAFETY: per the contract (`PyArrayObject_fields`: data at 16, dimensions at 32,
    // strides at 40).
    unsafe {
        let field = |array: *const u8| {
            (
                array.add(16).cast::<*mut c_char>().read(),
                array.add(32).cast::<*const isize>().read().read(),
                array.add(40).cast::<*const isize>().read().read(),
            )
        };
        let (data_a, n, stride_a) = field(a);
        let (data_b, m, stride_b) = field(b);
        if n != m || stride_a <= 0 || stride_b <= 0 {
            return 1;
        }
        let mut result = 0.0f64;
        let watched = fenv::INVALID | fenv::DIVBYZERO | fenv::OVERFLOW;
        if fetestexcept(watched) != 0 {
            feclearexcept(watched);
        }
        dot(
            data_a,
            stride_a,
            data_b,
            stride_b,
            (&raw mut result).cast(),
            n,
            std::ptr::null_mut(),
        );
        if fetestexcept(watched) != 0 {
            return 1;
        }
        *out = result;
    }
    0
}
