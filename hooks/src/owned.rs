//! Objects compiled code makes (numpy arrays): compiled code only borrows objects, so
//! each new one belongs to the call of compiled code that made it, in a per-thread
//! stack, until that call has ended and its result is boxed (a caller or a frame that
//! keeps the object has taken its own reference by then).
//!
//! Calls nest (compiled code hands over to the interpreter, which enters compiled code
//! again), and each releases only what it made: [`enter`] returns the stack's height,
//! [`leave`] releases everything above it.

use std::cell::{Cell, RefCell};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyTuple};
use pyopt_jit::types::{Dtype, Ty};

/// Most objects one call keeps. They live until the call ends, so a loop making one
/// per iteration would hold them all: past this, the call hands over to the
/// interpreter, which frees them as python3 does.
const MAX_PER_CALL: usize = 256;

thread_local! {
    static OWNED: RefCell<Vec<*mut ffi::PyObject>> = const { RefCell::new(Vec::new()) };
    /// The height of [`OWNED`] when the innermost running call began.
    static CALL_START: Cell<usize> = const { Cell::new(0) };
}

/// Where the objects of a call of compiled code begin; give it back to [`leave`].
#[must_use]
pub(crate) struct Mark {
    height: usize,
    outer_start: usize,
}

/// A call of compiled code begins (GIL held).
pub(crate) fn enter() -> Mark {
    let height = OWNED.with(|owned| owned.borrow().len());
    Mark {
        height,
        outer_start: CALL_START.with(|start| start.replace(height)),
    }
}

/// The call that `mark` began has ended and its result is boxed: releases what it made
/// (GIL held). Not called when a thread is unwound at exit (without the GIL): its
/// objects then stay, as the thread's own frames' do.
pub(crate) fn leave(mark: Mark) {
    let made = OWNED.with(|owned| {
        let mut owned = owned.borrow_mut();
        let height = mark.height.min(owned.len());
        owned.split_off(height)
    });
    CALL_START.with(|start| start.set(mark.outer_start));
    // Outside the borrow: freeing an object can run code that makes more.
    for object in made.into_iter().rev() {
        // SAFETY: GIL held; `object` is a reference `keep` took over.
        unsafe { ffi::Py_DecRef(object) };
    }
}

/// Whether the running call may make another object.
fn room() -> bool {
    let start = CALL_START.with(Cell::get);
    OWNED.with(|owned| owned.borrow().len() - start.min(owned.borrow().len()) < MAX_PER_CALL)
}

/// Gives `object` (a new reference) to the running call; returns it borrowed.
fn keep(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    OWNED.with(|owned| owned.borrow_mut().push(object));
    object
}

/// Runs `make` with CPython's cyclic garbage collector paused. Making a container can
/// start a collection in 3.11, and finalizers would run Python code in the middle of
/// compiled code, which assumes that only its calls and polls run any. A collection
/// due now happens at the interpreter's next allocation instead.
fn without_collections<T>(make: impl FnOnce() -> T) -> T {
    // SAFETY: GIL held by every caller (compiled code's helpers).
    let was_enabled = unsafe { ffi::PyGC_Disable() } != 0;
    let made = make();
    if was_enabled {
        // SAFETY: as above.
        unsafe { ffi::PyGC_Enable() };
    }
    made
}

/// Writes a new object (or null) through `out`: 0, or 1 after clearing any error.
///
/// # Safety
/// GIL held; `out` is writable; `object` is a new reference or null.
unsafe fn deliver(object: *mut ffi::PyObject, out: *mut *mut ffi::PyObject) -> u32 {
    if object.is_null() {
        // SAFETY: GIL held per the contract.
        unsafe { ffi::PyErr_Clear() };
        return 1;
    }
    // SAFETY: per the contract.
    unsafe { out.write(keep(object)) };
    0
}

/// `pyopt_new_list` (see `abi::helper::NEW_LIST`).
///
/// # Safety
/// GIL held; `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_new_list(out: *mut *mut ffi::PyObject) -> u32 {
    if !room() {
        return 1;
    }
    // SAFETY: GIL held per the contract; PyList_New runs no Python code.
    unsafe { deliver(without_collections(|| ffi::PyList_New(0)), out) }
}

/// `pyopt_list_repeat` (see `abi::helper::LIST_REPEAT`): `list * n`, which for a list
/// of numbers runs no Python code (a negative `n` gives an empty list, as in Python).
///
/// # Safety
/// GIL held; `list` is a live exact list; `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_list_repeat(
    list: *mut ffi::PyObject,
    n: i64,
    out: *mut *mut ffi::PyObject,
) -> u32 {
    if !room() {
        return 1;
    }
    let Ok(n) = isize::try_from(n) else {
        return 1;
    };
    // SAFETY: per the contract.
    unsafe { deliver(without_collections(|| ffi::PySequence_Repeat(list, n)), out) }
}

/// `pyopt_numpy_make`'s kinds besides zeros and empty (see `abi::helper::NUMPY_MAKE`).
const ARANGE: u32 = 1;
const ONES: u32 = 2;

/// `numpy.empty`, which `numpy.ones` (Python code) calls before filling.
static NUMPY_EMPTY: pyo3::sync::PyOnceLock<Option<Py<PyAny>>> = pyo3::sync::PyOnceLock::new();

/// `pyopt_numpy_make` (see `abi::helper::NUMPY_MAKE`): a new array from `function`
/// (numpy.zeros, .ones, .empty or .arange), checked to be the `expect` array
/// (`type_num | ndim << 8`) compiled code was made for. Returns 1 (the interpreter
/// repeats the call, raising what numpy raised) on any error.
///
/// Only numpy's C code runs: `numpy.ones` is Python code (`empty`, then every item
/// set to 1 by an unsafe cast), so it is made the same way from its C parts.
///
/// # Safety
/// GIL held; `function` and `dtype` (or null) are live objects; `out` is writable.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C-unwind" fn pyopt_numpy_make(
    function: *mut ffi::PyObject,
    dtype: *mut ffi::PyObject,
    kind: u32,
    count: u32,
    float_mask: u32,
    expect: u32,
    a0: i64,
    a1: i64,
    a2: i64,
    out: *mut *mut ffi::PyObject,
) -> u32 {
    if !room() {
        return 1;
    }
    without_collections(|| {
        Python::attach(|py| {
            let numbers = [a0, a1, a2]
                .into_iter()
                .take(count.min(3) as usize)
                .enumerate()
                .map(|(i, v)| {
                    if float_mask >> i & 1 != 0 {
                        PyFloat::new(py, f64::from_bits(v as u64)).into_any()
                    } else {
                        v.into_pyobject(py)
                            .map(Bound::into_any)
                            .unwrap_or_else(|e| match e {})
                    }
                });
            let made = (|| -> PyResult<Option<Bound<'_, PyAny>>> {
                let numbers = PyTuple::new(py, numbers)?;
                let args = if kind == ARANGE {
                    numbers
                } else {
                    PyTuple::new(py, [numbers])?
                };
                let kwargs = if dtype.is_null() {
                    None
                } else {
                    let kwargs = PyDict::new(py);
                    // SAFETY: per the contract, `dtype` is live.
                    kwargs.set_item("dtype", unsafe { Bound::from_borrowed_ptr(py, dtype) })?;
                    Some(kwargs)
                };
                // SAFETY: per the contract, `function` is live.
                let function = unsafe { Bound::from_borrowed_ptr(py, function) };
                let array = if kind == ONES {
                    let empty = NUMPY_EMPTY.get_or_init(py, || {
                        py.import("numpy")
                            .and_then(|np| np.getattr("empty"))
                            .ok()
                            .map(Bound::unbind)
                    });
                    let Some(empty) = empty else {
                        return Ok(None);
                    };
                    let array = empty.bind(py).call(args, kwargs.as_ref())?;
                    array.call_method1("fill", (1,))?;
                    array
                } else {
                    function.call(args, kwargs.as_ref())?
                };
                let expected = Dtype::ALL
                    .into_iter()
                    .find(|d| d.type_num() == (expect & 0xff) as i32)
                    .map(|d| Ty::NdArray(d, (expect >> 8) as u8));
                Ok((crate::snapshot::type_of(&array) == expected).then_some(array))
            })();
            match made {
                Ok(Some(array)) => {
                    // SAFETY: per the contract, `out` is writable.
                    unsafe { out.write(keep(array.into_ptr())) };
                    0
                }
                // The error (dropped here, so cleared) is the interpreter's to raise.
                Ok(None) | Err(_) => 1,
            }
        })
    })
}
