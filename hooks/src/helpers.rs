//! Runtime helpers compiled code calls (names and signatures in `pyopt_jit::abi`).
//!
//! Each computes exactly what CPython computes: either the same C library call with the
//! same checks around it, or, for the rare cases where CPython's own algorithm matters,
//! by calling CPython itself on boxed values. A status of 1 means "let the interpreter
//! do this operation": compiled code then deoptimizes before the operation, and the
//! interpreter computes the result or raises the exception python3 raises.

use std::cmp::Ordering;

use pyo3::ffi;
use pyo3::prelude::*;

use pyopt_jit::abi::helper;
use pyopt_jit::snapshot::MathFn;

const STATUS_OK: u32 = 0;
const STATUS_INTERPRETER: u32 = 1;

/// The process's C math library functions, as CPython's `math` module calls them.
fn libm_symbols() -> Vec<(&'static str, u64)> {
    helper::LIBM
        .iter()
        .filter_map(|name| {
            let c_name = std::ffi::CString::new(*name).ok()?;
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name.
            let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c_name.as_ptr()) };
            (!address.is_null()).then_some((*name, address as u64))
        })
        .collect()
}

/// CPython's own objects compiled code refers to (`helper::PYTHON_OBJECTS`).
fn python_objects() -> Vec<(&'static str, u64)> {
    // SAFETY: taking the addresses of CPython's static objects.
    unsafe {
        vec![
            ("PyFloat_Type", &raw mut ffi::PyFloat_Type as u64),
            ("PyLong_Type", &raw mut ffi::PyLong_Type as u64),
            ("PyList_Type", &raw mut ffi::PyList_Type as u64),
            ("PyTuple_Type", &raw mut ffi::PyTuple_Type as u64),
            ("_Py_TrueStruct", ffi::Py_True() as u64),
            ("_Py_FalseStruct", ffi::Py_False() as u64),
        ]
    }
}

/// Every helper with its address, for the back end.
pub fn symbols() -> Vec<(&'static str, u64)> {
    let mut all = runtime_helpers();
    all.extend(libm_symbols());
    all.extend(python_objects());
    all
}

fn runtime_helpers() -> Vec<(&'static str, u64)> {
    vec![
        (
            helper::DEOPT,
            crate::deopt::pyopt_deopt as *const () as usize as u64,
        ),
        (
            helper::GUARDS,
            crate::state::pyopt_guards_changed as *const () as usize as u64,
        ),
        (
            helper::POLL,
            crate::state::pyopt_poll as *const () as usize as u64,
        ),
        (
            helper::FLOAT_FLOORDIV,
            pyopt_float_floordiv as *const () as usize as u64,
        ),
        (
            helper::FLOAT32_DIVMOD,
            pyopt_float32_divmod as *const () as usize as u64,
        ),
        (
            helper::FLOAT_MOD,
            pyopt_float_mod as *const () as usize as u64,
        ),
        (
            helper::FLOAT_POW,
            pyopt_float_pow as *const () as usize as u64,
        ),
        (helper::INT_POW, pyopt_int_pow as *const () as usize as u64),
        (
            helper::COMPARE_INT_FLOAT,
            pyopt_compare_int_float as *const () as usize as u64,
        ),
        (
            helper::INT_TRUEDIV,
            pyopt_int_truediv as *const () as usize as u64,
        ),
        (helper::MATH, pyopt_math as *const () as usize as u64),
        (
            helper::MATH_TO_INT,
            pyopt_math_to_int as *const () as usize as u64,
        ),
        (helper::GCD, pyopt_gcd as *const () as usize as u64),
        (
            helper::NUMPY_UNDERFLOW_IGNORED,
            crate::errstate::pyopt_numpy_underflow_ignored as *const () as usize as u64,
        ),
        (
            helper::RANDOM,
            crate::random::pyopt_random as *const () as usize as u64,
        ),
        (
            helper::RANDINT,
            crate::random::pyopt_randint as *const () as usize as u64,
        ),
        (helper::ROUND, pyopt_round as *const () as usize as u64),
        (
            helper::ROUND_FLOAT_DIGITS,
            pyopt_round_float_digits as *const () as usize as u64,
        ),
        (
            helper::ROUND_INT_DIGITS,
            pyopt_round_int_digits as *const () as usize as u64,
        ),
        (
            helper::BOX_RESULT,
            crate::values::pyopt_box_result as *const () as usize as u64,
        ),
        (
            helper::LIST_SET,
            crate::values::pyopt_list_set as *const () as usize as u64,
        ),
        (
            helper::LIST_APPEND,
            crate::values::pyopt_list_append as *const () as usize as u64,
        ),
        (
            helper::ARRAY_SUM,
            crate::ufunc::pyopt_array_sum as *const () as usize as u64,
        ),
        (helper::RELEASE, pyopt_release as *const () as usize as u64),
        (
            helper::POLL_BORROWING,
            crate::state::pyopt_poll_borrowing as *const () as usize as u64,
        ),
        (
            helper::NUMPY_RANDINT,
            crate::random::pyopt_numpy_randint as *const () as usize as u64,
        ),
        (
            helper::LIST_REDUCE,
            crate::owned::pyopt_list_reduce as *const () as usize as u64,
        ),
        (
            helper::LIST_METHOD,
            crate::owned::pyopt_list_method as *const () as usize as u64,
        ),
        (
            helper::LIST_DELETE,
            crate::owned::pyopt_list_delete as *const () as usize as u64,
        ),
        (
            helper::NEW_LIST,
            crate::owned::pyopt_new_list as *const () as usize as u64,
        ),
        (
            helper::LIST_REPEAT,
            crate::owned::pyopt_list_repeat as *const () as usize as u64,
        ),
        (
            helper::NUMPY_CALL,
            crate::owned::pyopt_numpy_call as *const () as usize as u64,
        ),
        (
            helper::NUMPY_DOT,
            crate::ufunc::pyopt_numpy_dot as *const () as usize as u64,
        ),
        (
            helper::UFUNC,
            crate::ufunc::pyopt_ufunc as *const () as usize as u64,
        ),
    ]
}

/// Writes `value` through `out` and returns OK, or returns "interpreter".
fn deliver<T>(value: Option<T>, out: *mut T) -> u32 {
    match value {
        Some(v) => {
            // SAFETY: compiled code passes a pointer to a stack slot of this type.
            unsafe { out.write(v) };
            STATUS_OK
        }
        None => STATUS_INTERPRETER,
    }
}

/// `divmod` of floats of one type: CPython's algorithm for Python floats, which numpy's
/// `npy_divmod` follows for each float dtype; `b` is non-zero.
macro_rules! float_divmod {
    ($name:ident, $float:ty) => {
        pub fn $name(a: $float, b: $float) -> ($float, $float) {
            let mut modulo = a % b; // fmod
            let mut div = (a - modulo) / b;
            if modulo != 0.0 {
                if (b < 0.0) != (modulo < 0.0) {
                    modulo += b;
                    div -= 1.0;
                }
            } else {
                modulo = (0.0 as $float).copysign(b);
            }
            let floordiv = if div != 0.0 {
                let mut f = div.floor();
                if div - f > 0.5 {
                    f += 1.0;
                }
                f
            } else {
                (0.0 as $float).copysign(a / b)
            };
            (floordiv, modulo)
        }
    };
}

// Python's float `//` and `%`.
float_divmod!(float_divmod, f64);
// numpy float32's `//` and `%`, in float32 arithmetic.
float_divmod!(float32_divmod, f32);

/// `helper::FLOAT32_DIVMOD`: numpy float32 `a // b` (`floor` set) or `a % b`, of
/// float32 values held as doubles; `b` is non-zero.
extern "C" fn pyopt_float32_divmod(a: f64, b: f64, floor: u32) -> f64 {
    let (floordiv, modulo) = float32_divmod(a as f32, b as f32);
    f64::from(if floor != 0 { floordiv } else { modulo })
}

extern "C" fn pyopt_float_floordiv(a: f64, b: f64) -> f64 {
    float_divmod(a, b).0
}

extern "C" fn pyopt_float_mod(a: f64, b: f64) -> f64 {
    // CPython's float % computes the remainder alone; it equals divmod's.
    let mut modulo = a % b;
    if modulo != 0.0 {
        if (b < 0.0) != (modulo < 0.0) {
            modulo += b;
        }
    } else {
        modulo = 0.0f64.copysign(b);
    }
    modulo
}

fn is_odd_integer(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0 && (x / 2.0).fract() != 0.0
}

/// Python's float `**` (CPython's special cases, then the C library's pow). `None`
/// where Python raises or returns a complex number.
pub fn float_pow(v: f64, w: f64) -> Option<f64> {
    if w == 0.0 {
        return Some(1.0);
    }
    if v.is_nan() {
        return Some(v);
    }
    if w.is_nan() {
        return Some(if v == 1.0 { 1.0 } else { w });
    }
    if w.is_infinite() {
        let a = v.abs();
        return Some(if a == 1.0 {
            1.0
        } else if (w > 0.0) == (a > 1.0) {
            w.abs()
        } else {
            0.0
        });
    }
    if v.is_infinite() {
        let odd = is_odd_integer(w);
        return Some(if w > 0.0 {
            if odd { v } else { v.abs() }
        } else if odd {
            0.0f64.copysign(v)
        } else {
            0.0
        });
    }
    if v == 0.0 {
        if w < 0.0 {
            return None; // ZeroDivisionError
        }
        return Some(if is_odd_integer(w) { v } else { 0.0 });
    }
    let mut base = v;
    let mut negate = false;
    if base < 0.0 {
        if w != w.floor() {
            return None; // a complex result
        }
        base = -base;
        negate = is_odd_integer(w);
    }
    if base == 1.0 {
        return Some(if negate { -1.0 } else { 1.0 });
    }
    let r = base.powf(w);
    if r.is_infinite() {
        return None; // OverflowError
    }
    Some(if negate { -r } else { r })
}

/// `pyopt_release`: `Py_DecRef(object)`.
///
/// # Safety
/// Called by compiled code with the GIL held, on an object it holds a reference to.
unsafe extern "C-unwind" fn pyopt_release(object: *mut ffi::PyObject) -> u32 {
    // SAFETY: per the contract.
    unsafe { ffi::Py_DecRef(object) };
    0
}

extern "C-unwind" fn pyopt_float_pow(v: f64, w: f64, out: *mut f64) -> u32 {
    deliver(float_pow(v, w), out)
}

/// Python's int `**` for a non-negative exponent, when the result fits in 64 bits.
pub fn int_pow(base: i64, exponent: i64) -> Option<i64> {
    let mut result: i64 = 1;
    let mut b = base;
    let mut e = exponent;
    while e > 0 {
        if e & 1 == 1 {
            result = result.checked_mul(b)?;
        }
        e >>= 1;
        if e > 0 {
            b = b.checked_mul(b)?;
        }
    }
    Some(result)
}

extern "C-unwind" fn pyopt_int_pow(base: i64, exponent: i64, out: *mut i64) -> u32 {
    deliver(int_pow(base, exponent), out)
}

/// Exact comparison of an int with a float, as Python does it (never by rounding the
/// int to a float).
pub fn compare_int_float(i: i64, x: f64) -> Option<Ordering> {
    if x.is_nan() {
        return None;
    }
    if x.is_infinite() {
        return Some(if x > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let t = x.trunc();
    let whole = if t >= 9.3e18 {
        return Some(Ordering::Less);
    } else if t <= -9.3e18 {
        return Some(Ordering::Greater);
    } else {
        t as i128
    };
    match (i as i128).cmp(&whole) {
        Ordering::Equal => {
            let fraction = x - t;
            Some(if fraction > 0.0 {
                Ordering::Less
            } else if fraction < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        other => Some(other),
    }
}

/// `op` is the comparison's index (`<`, `<=`, `==`, `!=`, `>`, `>=`), applied as `i op x`.
extern "C" fn pyopt_compare_int_float(i: i64, x: f64, op: u32) -> u32 {
    let order = compare_int_float(i, x);
    let result = match (op, order) {
        (3, None) => true,
        (_, None) => false,
        (0, Some(o)) => o == Ordering::Less,
        (1, Some(o)) => o != Ordering::Greater,
        (2, Some(o)) => o == Ordering::Equal,
        (3, Some(o)) => o != Ordering::Equal,
        (4, Some(o)) => o == Ordering::Greater,
        (_, Some(o)) => o != Ordering::Less,
    };
    u32::from(result)
}

/// Calls CPython on boxed values, for the cases where its own algorithm matters.
fn with_python<T>(f: impl FnOnce(Python<'_>) -> PyResult<T>) -> Option<T> {
    // Compiled code runs with the GIL held.
    // An error is dropped: the interpreter raises it again when it redoes the operation.
    Python::attach(|py| f(py).ok())
}

extern "C-unwind" fn pyopt_int_truediv(a: i64, b: i64, out: *mut f64) -> u32 {
    const EXACT: u64 = 1 << 53;
    if b == 0 {
        return STATUS_INTERPRETER;
    }
    let value = if a.unsigned_abs() <= EXACT && b.unsigned_abs() <= EXACT {
        Some(a as f64 / b as f64)
    } else {
        with_python(|py| {
            let a = a.into_pyobject(py)?;
            a.div(b)?.extract::<f64>()
        })
    };
    deliver(value, out)
}

/// CPython's checks around a one-argument C library function (`math_1`).
fn checked(x: f64, r: f64) -> Option<f64> {
    if (r.is_nan() && !x.is_nan()) || (r.is_infinite() && x.is_finite()) {
        None
    } else {
        Some(r)
    }
}

/// math.atan2's special cases (CPython handles them before calling the C library).
fn atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if y.is_infinite() {
        if x.is_infinite() {
            return if x.is_sign_positive() {
                (0.25 * PI).copysign(y)
            } else {
                (0.75 * PI).copysign(y)
            };
        }
        return (0.5 * PI).copysign(y);
    }
    if x.is_infinite() || y == 0.0 {
        return if x.is_sign_positive() {
            0.0f64.copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    y.atan2(x)
}

/// A logarithm of a positive finite number, or the special values CPython returns for
/// NaN and +inf; `None` where Python raises.
fn log_with(x: f64, f: fn(f64) -> f64) -> Option<f64> {
    if x.is_finite() {
        (x > 0.0).then(|| f(x))
    } else if x.is_nan() || x > 0.0 {
        Some(x)
    } else {
        None
    }
}

pub fn math(function: MathFn, args: &[f64]) -> Option<f64> {
    let x = args.first().copied().unwrap_or(f64::NAN);
    let y = args.get(1).copied().unwrap_or(f64::NAN);
    match (function, args.len()) {
        (MathFn::Sqrt, 1) => checked(x, x.sqrt()),
        (MathFn::Fabs, 1) => Some(x.abs()),
        (MathFn::Exp, 1) => checked(x, x.exp()),
        (MathFn::Sin, 1) => checked(x, x.sin()),
        (MathFn::Cos, 1) => checked(x, x.cos()),
        (MathFn::Tan, 1) => checked(x, x.tan()),
        (MathFn::Asin, 1) => checked(x, x.asin()),
        (MathFn::Acos, 1) => checked(x, x.acos()),
        (MathFn::Atan, 1) => checked(x, x.atan()),
        (MathFn::Sinh, 1) => checked(x, x.sinh()),
        (MathFn::Cosh, 1) => checked(x, x.cosh()),
        (MathFn::Tanh, 1) => checked(x, x.tanh()),
        (MathFn::Log, 1) => log_with(x, f64::ln),
        (MathFn::Log2, 1) => log_with(x, f64::log2),
        (MathFn::Log10, 1) => log_with(x, f64::log10),
        (MathFn::Log, 2) if x.is_finite() && x > 0.0 && y.is_finite() && y > 0.0 && y != 1.0 => {
            Some(x.ln() / y.ln())
        }
        (MathFn::Atan2, 2) => Some(atan2(x, y)),
        (MathFn::Copysign, 2) => Some(x.copysign(y)),
        (MathFn::Pow, 2) if x.is_finite() && y.is_finite() => {
            let r = x.powf(y);
            r.is_finite().then_some(r)
        }
        (MathFn::Fmod, 2) => {
            if y.is_infinite() && x.is_finite() {
                return Some(x);
            }
            let r = x % y;
            (!(r.is_nan() && !x.is_nan() && !y.is_nan())).then_some(r)
        }
        _ => math_by_cpython(function, args),
    }
}

/// The `math` module's own function on boxed floats (hypot and special cases).
fn math_by_cpython(function: MathFn, args: &[f64]) -> Option<f64> {
    with_python(|py| {
        let f = py.import("math")?.getattr(function.name())?;
        let args = pyo3::types::PyTuple::new(py, args)?;
        f.call1(args)?.extract::<f64>()
    })
}

extern "C-unwind" fn pyopt_math(code: u32, a: f64, b: f64, c: f64, out: *mut f64) -> u32 {
    let Some(function) = MathFn::ALL.get((code & 0xff) as usize).copied() else {
        return STATUS_INTERPRETER;
    };
    let nargs = ((code >> 8) as usize).min(3);
    let all = [a, b, c];
    deliver(math(function, &all[..nargs]), out)
}

/// math.floor/ceil/trunc of a float, when the result fits in 64 bits.
pub fn math_to_int(function: MathFn, x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let r = match function {
        MathFn::Floor => x.floor(),
        MathFn::Ceil => x.ceil(),
        _ => x.trunc(),
    };
    fits_i64(r)
}

fn fits_i64(r: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2**63
    (-LIMIT..LIMIT).contains(&r).then_some(r as i64)
}

extern "C-unwind" fn pyopt_math_to_int(code: u32, x: f64, out: *mut i64) -> u32 {
    let function = MathFn::ALL
        .get(code as usize)
        .copied()
        .unwrap_or(MathFn::Trunc);
    deliver(math_to_int(function, x), out)
}

/// math.gcd of two ints; -1 when the result (2**63) does not fit.
pub extern "C" fn pyopt_gcd(a: i64, b: i64) -> i64 {
    let (mut x, mut y) = (a.unsigned_abs(), b.unsigned_abs());
    while y != 0 {
        (x, y) = (y, x % y);
    }
    i64::try_from(x).unwrap_or(-1)
}

/// round(x) for a float: ties to even, as CPython.
pub fn round_float(x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let mut rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        rounded = 2.0 * (x / 2.0).round();
    }
    fits_i64(rounded)
}

extern "C-unwind" fn pyopt_round(x: f64, out: *mut i64) -> u32 {
    deliver(round_float(x), out)
}

extern "C-unwind" fn pyopt_round_float_digits(x: f64, digits: i64, out: *mut f64) -> u32 {
    let value = with_python(|py| {
        let round = py.import("builtins")?.getattr("round")?;
        round.call1((x, digits))?.extract::<f64>()
    });
    deliver(value, out)
}

extern "C-unwind" fn pyopt_round_int_digits(i: i64, digits: i64, out: *mut i64) -> u32 {
    let value = if digits >= 0 {
        Some(i)
    } else {
        with_python(|py| {
            let round = py.import("builtins")?.getattr("round")?;
            round.call1((i, digits))?.extract::<i64>()
        })
    };
    deliver(value, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_helper_the_back_end_declares_is_provided_once() {
        let mut provided: Vec<&str> = symbols().into_iter().map(|(name, _)| name).collect();
        provided.sort();
        let mut declared = helper::ALL.to_vec();
        declared.extend(helper::LIBM);
        declared.extend(helper::PYTHON_OBJECTS);
        declared.sort();
        assert_eq!(provided, declared);
    }

    #[test]
    fn float_divmod_signs() {
        assert_eq!(float_divmod(7.0, 2.0), (3.0, 1.0));
        assert_eq!(float_divmod(-7.0, 2.0), (-4.0, 1.0));
        assert_eq!(float_divmod(7.0, -2.0), (-4.0, -1.0));
        let (q, m) = float_divmod(-0.0, 5.0);
        assert!(q == 0.0 && q.is_sign_negative() && m == 0.0 && m.is_sign_positive());
        let (_, m) = float_divmod(4.0, -2.0);
        assert!(m == 0.0 && m.is_sign_negative());
    }

    #[test]
    fn float32_divmod_is_numpys() {
        // numpy 2.4's np.float32 values (as f32 bits: their shortest decimals are
        // float32's); the 1e10 case differs from float64's quotient.
        let bits = |(q, m): (f32, f32)| (q.to_bits(), m.to_bits());
        assert_eq!(bits(float32_divmod(-7.5, 0.1)), (0xc296_0000, 0x33f0_0000));
        assert_eq!(bits(float32_divmod(1e10, 3.3)), (0x4f34_9ec1, 0x3e97_9bd0));
        assert_eq!(bits(float32_divmod(0.7, -0.1)), (0xc0e0_0000, 0xb2c0_0000));
    }

    #[test]
    fn float_pow_special_cases() {
        assert_eq!(float_pow(0.0, 0.0), Some(1.0));
        assert_eq!(float_pow(-8.0, 1.0 / 3.0), None);
        assert_eq!(float_pow(0.0, -1.0), None);
        assert_eq!(float_pow(-2.0, 3.0), Some(-8.0));
        assert_eq!(float_pow(10.0, 400.0), None);
        assert_eq!(float_pow(1.0, f64::NAN), Some(1.0));
        assert_eq!(float_pow(f64::NEG_INFINITY, 3.0), Some(f64::NEG_INFINITY));
        assert_eq!(float_pow(0.5, f64::INFINITY), Some(0.0));
        let z = float_pow(-0.0, 3.0).unwrap();
        assert!(z == 0.0 && z.is_sign_negative());
    }

    #[test]
    fn int_pow_overflow() {
        assert_eq!(int_pow(2, 62), Some(1 << 62));
        assert_eq!(int_pow(2, 63), None);
        assert_eq!(int_pow(-2, 63), Some(i64::MIN));
        assert_eq!(int_pow(0, 0), Some(1));
        assert_eq!(int_pow(-1, 1_000_000_001), Some(-1));
    }

    #[test]
    fn int_float_comparison_is_exact() {
        let big = (1i64 << 53) + 1;
        assert_eq!(
            compare_int_float(big, (1u64 << 53) as f64),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_int_float(i64::MAX, 2f64.powi(63)),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_int_float(i64::MIN, -(2f64.powi(63))),
            Some(Ordering::Equal)
        );
        assert_eq!(compare_int_float(3, 3.5), Some(Ordering::Less));
        assert_eq!(compare_int_float(-3, -3.5), Some(Ordering::Greater));
        assert_eq!(compare_int_float(1, f64::NAN), None);
        assert_eq!(pyopt_compare_int_float(1, f64::NAN, 3), 1);
    }

    #[test]
    fn rounding_ties_to_even() {
        assert_eq!(round_float(2.5), Some(2));
        assert_eq!(round_float(3.5), Some(4));
        assert_eq!(round_float(-2.5), Some(-2));
        assert_eq!(round_float(f64::NAN), None);
        assert_eq!(round_float(1e300), None);
    }

    #[test]
    fn gcd_edges() {
        assert_eq!(pyopt_gcd(12, -18), 6);
        assert_eq!(pyopt_gcd(0, 0), 0);
        assert_eq!(pyopt_gcd(i64::MIN, 0), -1);
    }

    #[test]
    fn math_errors_are_left_to_the_interpreter() {
        assert_eq!(math(MathFn::Log, &[0.0]), None);
        assert_eq!(math(MathFn::Sqrt, &[-1.0]), None);
        assert_eq!(math(MathFn::Exp, &[1000.0]), None);
        assert_eq!(math(MathFn::Sin, &[f64::INFINITY]), None);
        assert!(math(MathFn::Exp, &[f64::INFINITY]).unwrap().is_infinite());
        assert!(math(MathFn::Log, &[f64::NAN]).unwrap().is_nan());
        assert_eq!(
            math(MathFn::Atan2, &[0.0, -1.0]),
            Some(std::f64::consts::PI)
        );
        assert_eq!(math(MathFn::Fmod, &[5.0, f64::INFINITY]), Some(5.0));
        assert_eq!(math_to_int(MathFn::Floor, -0.5), Some(-1));
        assert_eq!(math_to_int(MathFn::Ceil, f64::INFINITY), None);
    }
}
