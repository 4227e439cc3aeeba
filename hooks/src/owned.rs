//! Objects compiled code makes (lists, numpy arrays) and list methods that move
//! references (`pop`, `insert`, `extend`, ...): compiled code only borrows objects, so
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

/// `pyopt_list_delete` (see `abi::helper::LIST_DELETE`): `del list[position]`; 1
/// (nothing removed) when an item to keep would pass the call's limit.
///
/// # Safety
/// GIL held; `list` is a live exact list and `0 <= position < len(list)`.
pub(crate) unsafe extern "C-unwind" fn pyopt_list_delete(
    list: *mut ffi::PyObject,
    position: i64,
    keep: u32,
) -> u32 {
    // SAFETY: per the contract; removing one item shrinks the list, which allocates
    // nothing, and releases the item, a number (no Python code) unless kept.
    unsafe {
        let position = position as ffi::Py_ssize_t;
        if keep != 0 && !room() {
            return 1;
        }
        if keep != 0 {
            let item = ffi::PyList_GetItem(list, position);
            ffi::Py_IncRef(item);
            let _ = self::keep(item);
        }
        if ffi::PyList_SetSlice(list, position, position + 1, std::ptr::null_mut()) != 0 {
            ffi::PyErr_Clear();
        }
    }
    0
}

/// `pyopt_list_method` (see `abi::helper::LIST_METHOD`).
///
/// # Safety
/// GIL held; `list` is a live exact list; for `extend`, `bits` is a live exact list;
/// for `insert`, `index`, `count` and `__contains__`, `kind` and `bits` code a value as
/// for `LIST_APPEND`; `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_list_method(
    method: u32,
    list: *mut ffi::PyObject,
    index: i64,
    kind: u32,
    bits: i64,
    out: *mut i64,
) -> u32 {
    use pyopt_jit::types::ListMethod;
    let Some(method) = ListMethod::ALL.get(method as usize) else {
        return 1;
    };
    // SAFETY: per the contract. Each call below only moves references between lists
    // (or releases numbers), so no Python code runs; a new list pauses the collector.
    unsafe {
        let len = ffi::PyList_Size(list);
        // Comparing or releasing anything but a number could run Python code.
        let only_numbers = || only_numbers(list);
        let status = match method {
            ListMethod::Insert => {
                let item = crate::values::new_number(kind, bits);
                if item.is_null() {
                    -1
                } else {
                    // list.insert clamps the index as PyList_Insert does.
                    let at = index.clamp(isize::MIN as i64, isize::MAX as i64) as isize;
                    let status = ffi::PyList_Insert(list, at, item);
                    ffi::Py_DecRef(item);
                    status
                }
            }
            ListMethod::Extend => {
                let other = bits as *mut ffi::PyObject;
                ffi::PyList_SetSlice(list, len, len, other)
            }
            ListMethod::Reverse => ffi::PyList_Reverse(list),
            ListMethod::Clear => {
                if !only_numbers() {
                    return 1;
                }
                ffi::PyList_SetSlice(list, 0, len, std::ptr::null_mut())
            }
            ListMethod::Copy => {
                if !room() {
                    return 1;
                }
                let copy = without_collections(|| ffi::PyList_GetSlice(list, 0, len));
                return deliver(copy, out.cast());
            }
            ListMethod::Sort => {
                if !only_numbers() {
                    return 1;
                }
                ffi::PyList_Sort(list)
            }
            ListMethod::Index | ListMethod::Count | ListMethod::Contains => {
                if !only_numbers() {
                    return 1;
                }
                let value = crate::values::new_number(kind, bits);
                if value.is_null() {
                    ffi::PyErr_Clear();
                    return 1;
                }
                let found = match method {
                    ListMethod::Index => ffi::PySequence_Index(list, value),
                    ListMethod::Count => ffi::PySequence_Count(list, value),
                    _ => ffi::PySequence_Contains(list, value) as isize,
                };
                ffi::Py_DecRef(value);
                if found < 0 {
                    // Not found (list.index's ValueError): the interpreter raises it.
                    ffi::PyErr_Clear();
                    return 1;
                }
                out.write(found as i64);
                0
            }
        };
        if status != 0 {
            ffi::PyErr_Clear(); // out of memory: the interpreter tries again and raises
            return 1;
        }
    }
    0
}

/// Whether every item of `list` is an exact int, float or bool
/// (`values::is_number_object`).
///
/// # Safety
/// GIL held; `list` is a live exact list.
unsafe fn only_numbers(list: *mut ffi::PyObject) -> bool {
    // SAFETY: per the contract; every index is below the list's size.
    unsafe {
        (0..ffi::PyList_Size(list))
            .all(|k| crate::values::is_number_object(ffi::PyList_GetItem(list, k)))
    }
}

/// `sum`, `min` and `max` as the builtins module has them.
static LIST_REDUCERS: pyo3::sync::PyOnceLock<Option<[Py<PyAny>; 3]>> =
    pyo3::sync::PyOnceLock::new();

/// `pyopt_list_reduce` (see `abi::helper::LIST_REDUCE`): CPython's own `sum`, `min` or
/// `max` of a list of numbers (the snapshot checked that the names are the builtins).
///
/// # Safety
/// GIL held; `list` is a live exact list; `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_list_reduce(
    which: u32,
    list: *mut ffi::PyObject,
    float: u32,
    out: *mut i64,
) -> u32 {
    // SAFETY: per the contract.
    if !unsafe { only_numbers(list) } {
        return 1;
    }
    Python::attach(|py| {
        let reducers = LIST_REDUCERS.get_or_init(py, || {
            let builtins = py.import("builtins").ok()?;
            let get = |name: &str| builtins.getattr(name).ok().map(Bound::unbind);
            Some([get("sum")?, get("min")?, get("max")?])
        });
        let Some(function) = reducers.as_ref().and_then(|r| r.get(which as usize)) else {
            return 1;
        };
        // SAFETY: per the contract, `list` is live.
        let list = unsafe { Bound::from_borrowed_ptr(py, list) };
        let Ok(result) = function.bind(py).call1((list,)) else {
            return 1; // min() of an empty list: the interpreter raises
        };
        let value = if float != 0 {
            result
                .is_exact_instance_of::<PyFloat>()
                .then(|| result.extract::<f64>().ok().map(|x| x.to_bits() as i64))
                .flatten()
        } else {
            result
                .is_exact_instance_of::<pyo3::types::PyInt>()
                .then(|| result.extract::<i64>().ok())
                .flatten()
        };
        match value {
            Some(value) => {
                // SAFETY: per the contract, `out` is writable.
                unsafe { out.write(value) };
                0
            }
            None => 1,
        }
    })
}

/// `numpy.empty`, which `numpy.ones` (Python code) calls before filling.
static NUMPY_EMPTY: pyo3::sync::PyOnceLock<Option<Py<PyAny>>> = pyo3::sync::PyOnceLock::new();

/// `pyopt_numpy_call` (see `abi::helper::NUMPY_CALL`): a new array from `function`, a
/// numpy function that makes one, called with the arguments `record` describes,
/// checked to be the array compiled code was made for. Returns 1 (the interpreter
/// repeats the call, raising what numpy raised) on any error.
///
/// Only numpy's C code runs: `numpy.ones` is Python code (`empty`, then every item
/// set to 1 by an unsafe cast), so it is made the same way from its C parts.
///
/// # Safety
/// GIL held; `function` and `dtype` (or null) are live objects; `record` holds
/// `abi::numpy_call::WORDS` words; `out` is writable.
pub(crate) unsafe extern "C-unwind" fn pyopt_numpy_call(
    function: *mut ffi::PyObject,
    dtype: *mut ffi::PyObject,
    record: *const i64,
    out: *mut *mut ffi::PyObject,
) -> u32 {
    use pyopt_jit::abi::numpy_call as layout;
    if !room() {
        return 1;
    }
    // SAFETY: per the contract.
    let words = unsafe { std::slice::from_raw_parts(record, layout::WORDS) };
    without_collections(|| {
        Python::attach(|py| {
            let made = (|| -> PyResult<Option<Bound<'_, PyAny>>> {
                let argument = |at: usize| -> PyResult<Option<Bound<'_, PyAny>>> {
                    let [tag, a, b, c] = [words[at], words[at + 1], words[at + 2], words[at + 3]];
                    Ok(Some(match tag {
                        layout::TAG_INT => a.into_pyobject(py)?.into_any(),
                        layout::TAG_FLOAT => PyFloat::new(py, f64::from_bits(a as u64)).into_any(),
                        t if (layout::TAG_TUPLE + 1..=layout::TAG_TUPLE + 3).contains(&t) => {
                            let k = (t - layout::TAG_TUPLE) as usize;
                            PyTuple::new(py, &[a, b, c][..k])?.into_any()
                        }
                        _ => return Ok(None),
                    }))
                };
                let count = words[layout::POSITIONAL].clamp(0, 3) as usize;
                let mut args = Vec::with_capacity(count);
                for i in 0..count {
                    match argument(layout::ARGS + 4 * i)? {
                        Some(value) => args.push(value),
                        None => return Ok(None),
                    }
                }
                let args = PyTuple::new(py, args)?;
                let kwargs = PyDict::new(py);
                if let Some(size) = argument(layout::SIZE)? {
                    kwargs.set_item("size", size)?;
                }
                if !dtype.is_null() {
                    // SAFETY: per the contract, `dtype` is live.
                    kwargs.set_item("dtype", unsafe { Bound::from_borrowed_ptr(py, dtype) })?;
                }
                // SAFETY: per the contract, `function` is live.
                let function = unsafe { Bound::from_borrowed_ptr(py, function) };
                let array = if words[layout::KIND] == layout::KIND_ONES {
                    let empty = NUMPY_EMPTY.get_or_init(py, || {
                        py.import("numpy")
                            .and_then(|np| np.getattr("empty"))
                            .ok()
                            .map(Bound::unbind)
                    });
                    let Some(empty) = empty else {
                        return Ok(None);
                    };
                    let array = empty.bind(py).call(args, Some(&kwargs))?;
                    array.call_method1("fill", (1,))?;
                    array
                } else {
                    function.call(args, Some(&kwargs))?
                };
                let expect = words[layout::EXPECT];
                let expected = Dtype::ALL
                    .into_iter()
                    .find(|d| i64::from(d.type_num()) == expect & 0xff)
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
