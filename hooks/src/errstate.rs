//! numpy's floating-point error modes (`np.seterr`, `np.errstate`) as compiled code
//! reads them: whether numpy ignores underflow right now.
//!
//! A speculative loop copy (see the back end's `versioning`) leaves out the underflow
//! tests of its products and quotients, which cost as much as the arithmetic, when
//! numpy ignores underflow (its default): an underflow then changes nothing python3
//! shows. Its entry test asks `pyopt_numpy_underflow_ignored`.
//!
//! numpy 2 keeps the modes in a context variable (`_extobj_contextvar`) holding a
//! capsule of its `npy_extobj` struct, whose first field is the error mask: three bits
//! per condition (divide, overflow, underflow, invalid), 0 meaning ignore. Reading the
//! mask runs no Python code, so the helper can run between compiled steps. The layout
//! is numpy's own, not its API: `prepare` checks it once against capsules numpy makes
//! for known modes and numpy's own reading of the current one; without that check
//! (another numpy, or numpy 1.x) the helper answers no, and those copies are not
//! entered (their loops run with every check).

use std::ffi::c_int;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The capsule's name.
const CAPSULE: &std::ffi::CStr = c"numpy.ufunc.extobj";
/// numpy's `UFUNC_SHIFT_UNDERFLOW` and the three bits of a mode.
const SHIFT_UNDERFLOW: c_int = 6;
const MODE_BITS: c_int = 7;

/// The context variable, once its layout was checked (its address: the reference is
/// kept for the process's life), or None when the check failed. Set once, under the
/// GIL.
static CONTEXT_VAR: OnceLock<Option<usize>> = OnceLock::new();

/// The name string numpy's extobj capsules carry (one static string, checked by
/// `checked_context_var`): a capsule with that very pointer needs no string compare.
static CAPSULE_NAME: AtomicUsize = AtomicUsize::new(0);

/// `PyCapsule.pointer` and `.name` (CPython 3.11's capsule object: the object head,
/// the pointer, the name; compiled code reads numpy's bit generator capsule the same
/// way). Read directly on the helper's usual path: it runs at every loop entry.
const CAPSULE_POINTER: usize = 16;
const CAPSULE_NAME_FIELD: usize = 24;

/// Checks numpy's error-mode layout, once numpy's core module is imported (called
/// by each snapshot while numpy is imported and the check is not made yet). The
/// layout is known not to fit when `checked_context_var` says None; an error leaves
/// the question open.
pub(crate) fn prepare(py: Python<'_>) {
    if CONTEXT_VAR.get().is_some() {
        return;
    }
    // numpy may be importing still (its own functions are compiled too).
    let Some(umath) = crate::snapshot::imported(py, "numpy._core._multiarray_umath") else {
        return;
    };
    // An error (an attribute missing while the module initializes): try again later.
    if let Ok(checked) = checked_context_var(py, &umath) {
        let _ = CONTEXT_VAR.set(checked);
    }
}

/// numpy's context variable, if the masks of capsules numpy makes for known modes
/// are the expected ones and the current one agrees with numpy's own reading of it.
/// Only numpy's C functions are called: this runs inside the eval-frame hook.
fn checked_context_var(py: Python<'_>, umath: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    let var = umath.getattr("_extobj_contextvar")?;
    // SAFETY: the GIL is held; `var` is a live object.
    if unsafe { ffi::PyContextVar_CheckExact(var.as_ptr()) } == 0 {
        return Ok(None);
    }
    // divide raise (2), over print (4), under log (5), invalid warn (1); all ignore (0).
    let cases: [(&[(&str, &str)], c_int); 2] = [
        (
            &[
                ("divide", "raise"),
                ("over", "print"),
                ("under", "log"),
                ("invalid", "warn"),
            ],
            2 | 4 << 3 | 5 << 6 | 1 << 9,
        ),
        (&[("all", "ignore")], 0),
    ];
    let make = umath.getattr("_make_extobj")?;
    let mut names = Vec::new();
    for (modes, expected) in cases {
        let kwargs = PyDict::new(py);
        for (key, value) in modes {
            kwargs.set_item(key, value)?;
        }
        let capsule = make.call((), Some(&kwargs))?;
        if capsule_mask(capsule.as_ptr()) != Some(expected) {
            return Ok(None);
        }
        // SAFETY: the GIL is held; `capsule` is a live capsule (its mask was read).
        names.push(unsafe { ffi::PyCapsule_GetName(capsule.as_ptr()) } as usize);
    }
    if names.iter().all(|&name| name != 0 && name == names[0]) {
        CAPSULE_NAME.store(names[0], Ordering::Relaxed);
    }
    let under: String = umath
        .call_method0("_get_extobj_dict")?
        .get_item("under")?
        .extract()?;
    let mask = error_mask(var.as_ptr());
    if mask.map(underflow_ignored) != Some(under == "ignore") {
        return Ok(None);
    }
    Ok(Some(var.into_ptr() as usize))
}

/// The error mask the context variable `var` holds now (no Python code runs).
fn error_mask(var: *mut ffi::PyObject) -> Option<c_int> {
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: the GIL is held (callers: snapshot code, or compiled code, which holds
    // it); `var` is a live context variable; `value` receives a new reference or NULL.
    unsafe {
        if ffi::PyContextVar_Get(var, std::ptr::null_mut(), &mut value) < 0 {
            ffi::PyErr_Clear();
            return None;
        }
        if value.is_null() {
            return None;
        }
        let mask = capsule_mask(value);
        // Not the last reference: the context holds the value too.
        ffi::Py_DECREF(value);
        mask
    }
}

/// The error mask of an extobj capsule (None for another object).
fn capsule_mask(capsule: *mut ffi::PyObject) -> Option<c_int> {
    let known_name = CAPSULE_NAME.load(Ordering::Relaxed);
    // SAFETY: the GIL is held; `capsule` is a live object; a capsule of that name
    // points at numpy's `npy_extobj`, whose first field is the int mask; a capsule
    // object holds its pointer at `CAPSULE_POINTER`.
    unsafe {
        let field = |offset: usize| *(capsule as *const u8).add(offset).cast::<usize>();
        if known_name != 0
            && ffi::PyCapsule_CheckExact(capsule) != 0
            && field(CAPSULE_NAME_FIELD) == known_name
        {
            let extobj = field(CAPSULE_POINTER) as *const c_int;
            return (!extobj.is_null()).then(|| *extobj);
        }
        if ffi::PyCapsule_IsValid(capsule, CAPSULE.as_ptr()) == 0 {
            return None;
        }
        let extobj = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()) as *const c_int;
        if extobj.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(*extobj)
    }
}

fn underflow_ignored(mask: c_int) -> bool {
    (mask >> SHIFT_UNDERFLOW) & MODE_BITS == 0
}

/// `() -> u32`: 1 when numpy ignores underflow now, 0 otherwise (or when unknown).
pub(crate) extern "C" fn pyopt_numpy_underflow_ignored() -> u32 {
    let Some(Some(var)) = CONTEXT_VAR.get().copied() else {
        return 0;
    };
    error_mask(var as *mut ffi::PyObject).map_or(0, |mask| u32::from(underflow_ignored(mask)))
}
