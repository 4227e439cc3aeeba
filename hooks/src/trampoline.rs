//! Compiled functions entered without the eval-frame hook.
//!
//! While any eval-frame hook is installed, CPython 3.11 stops inlining Python-to-Python
//! calls, which costs call-heavy code 30-40%; so the hook is only installed now and
//! then (`discovery`). A function with compiled code gets a trampoline instead: its
//! `__code__` becomes a small code object (`shim.c`) with the same signature, name,
//! file and first line, that calls a `pyopt_entry` object with the arguments. Every
//! call site reaches it, already-specialized ones included, at about the cost of one
//! small Python call.
//!
//! The trampoline's frame never runs a RESUME instruction, so CPython treats it as not
//! started: tracebacks, `sys._getframe()`, `f_back`, `inspect` and trace functions skip
//! it. The original code object is kept by the entry and runs, as a function of its
//! own with the same globals and name, whenever compiled code cannot: arguments its
//! specializations do not take, a global that changed, and deoptimization. When a
//! trace or profile function is set (debuggers, coverage, profilers), the function
//! gets its original `__code__` back on its next call.

use std::ffi::c_void;
use std::sync::Arc;

use pyo3::ffi;

use crate::ffi::*;
use crate::hook::{run, select};
use crate::state::CodeState;

/// What an entry object refers to: the state of the original code object.
struct Target {
    state: Arc<CodeState>,
}

/// Readies the entry type (GIL held, at start-up).
pub fn init() -> Result<(), String> {
    // SAFETY: GIL held; called once before any entry exists.
    if unsafe { pyopt_shim_entry_init(entry_call, free_target) } != 0 {
        // SAFETY: GIL held; an exception is set.
        unsafe { ffi::PyErr_Clear() };
        return Err("cannot create pyopt's entry type".to_owned());
    }
    Ok(())
}

unsafe extern "C-unwind" fn free_target(target: *mut c_void) {
    // SAFETY: made by Box::into_raw in `install`, released once by the entry.
    drop(unsafe { Box::from_raw(target.cast::<Target>()) });
}

/// Gives `function` a trampoline to its compiled code, if it still runs `code` (the
/// original) and its signature allows one. Failures leave the function as it was.
///
/// # Safety
/// GIL held; `function` is a live function object running `code`, whose state is
/// `state` (from co_extra).
pub unsafe fn install(
    function: *mut ffi::PyObject,
    code: *mut ffi::PyCodeObject,
    state: &CodeState,
) {
    // SAFETY: per the contract.
    unsafe {
        if pyopt_shim_function_code(function) != code.cast()
            || pyopt_shim_trampoline_fits(code) == 0
        {
            return;
        }
        // The entry keeps the state alive: the co_extra reference is the Arc made in
        // `hook::create_state`.
        let raw = state as *const CodeState;
        Arc::increment_strong_count(raw);
        let target = Box::into_raw(Box::new(Target {
            state: Arc::from_raw(raw),
        }));
        let entry = pyopt_shim_entry_new(target.cast(), code.cast());
        if entry.is_null() {
            drop(Box::from_raw(target));
            ffi::PyErr_Clear();
            return;
        }
        let trampoline = pyopt_shim_make_trampoline(code, entry);
        ffi::Py_DECREF(entry);
        if trampoline.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        pyopt_shim_function_set_code(function, trampoline);
        ffi::Py_DECREF(trampoline);
    }
}

/// Gives the function a state's compiled code belongs to its trampoline, once the
/// state has a specialization (GIL held).
pub fn install_for(py: pyo3::Python<'_>, state: &CodeState) {
    let function = {
        let inner = state.lock();
        match inner.specs.first() {
            Some(spec) => spec.unit.functions[0].get(py),
            None => None,
        }
    };
    if let Some(function) = function {
        let code = state.code as *mut ffi::PyCodeObject;
        // SAFETY: GIL held; `install` checks that the function still runs `code`
        // (the state's code object, alive while the state is registered to it).
        unsafe { install(function.as_ptr(), code, state) };
    }
}

/// The code a function really runs: the original behind its trampoline, or its
/// `__code__` (borrowed).
///
/// # Safety
/// GIL held; `function` is a live function object.
pub unsafe fn original_code(function: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per the contract.
    unsafe {
        let code = pyopt_shim_function_code(function);
        let entry = pyopt_shim_trampoline_entry(code.cast());
        if entry.is_null() {
            code
        } else {
            pyopt_shim_entry_original(entry)
        }
    }
}

/// A function that runs `function`'s original code (new reference; `function` itself
/// when it has no trampoline), or null with an exception set.
///
/// # Safety
/// GIL held; `function` is a live function object.
pub unsafe fn original_function(function: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: per the contract.
    unsafe {
        let code = original_code(function);
        if code == pyopt_shim_function_code(function) {
            ffi::Py_INCREF(function);
            return function;
        }
        pyopt_shim_original_function(function, code)
    }
}

/// Runs `function`'s original code in the interpreter with these arguments.
///
/// # Safety
/// GIL held; `function` is live; `args` are live references.
unsafe fn call_original(
    function: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
) -> *mut ffi::PyObject {
    // SAFETY: per the contract.
    unsafe {
        let original = original_function(function);
        if original.is_null() {
            return std::ptr::null_mut();
        }
        let result =
            ffi::PyObject_Vectorcall(original, args.as_ptr(), args.len(), std::ptr::null_mut());
        ffi::Py_DECREF(original);
        result
    }
}

/// The entry's vectorcall: a call of a trampolined function.
unsafe extern "C-unwind" fn entry_call(
    entry: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held, for a live entry object, with
    // `nargs` live arguments.
    unsafe {
        let tstate = ffi::PyThreadState_Get();
        let function = pyopt_shim_calling_function(tstate, entry);
        if function.is_null() || !kwnames.is_null() {
            ffi::PyErr_SetString(
                ffi::PyExc_TypeError,
                c"pyopt.entry is called only by the trampoline of a compiled function".as_ptr(),
            );
            return std::ptr::null_mut();
        }
        let nargs = ffi::PyVectorcall_NARGS(nargsf) as usize;
        let args = std::slice::from_raw_parts(args, nargs);
        let target = &*pyopt_shim_entry_target(entry).cast::<Target>();
        // The trampoline's frame counted one level of recursion where python3 counts
        // none (the function's own frame or compiled code counts its level).
        let remaining = pyopt_shim_recursion_remaining(tstate);
        *remaining += 1;
        let result = if crate::osr::tracing(tstate) {
            // A trace or profile function is set: the function gets its original code
            // back (a tracer comparing `frame.f_code` with `f.__code__` sees the same
            // object as under python3) until a discovery window finds it again with
            // no tracer.
            pyopt_shim_function_set_code(function, pyopt_shim_entry_original(entry));
            ffi::PyObject_Vectorcall(function, args.as_ptr(), nargs, std::ptr::null_mut())
        } else {
            match select(tstate, &target.state, function, args) {
                Some((spec, slots)) => run(tstate, std::ptr::null_mut(), &spec, &slots, || {
                    call_original(function, args)
                }),
                None => {
                    // Never to be compiled: calls go straight to the original code.
                    if target.state.lock().disabled {
                        pyopt_shim_function_set_code(function, pyopt_shim_entry_original(entry));
                    }
                    call_original(function, args)
                }
            }
        };
        *remaining -= 1;
        result
    }
}

/// The original code object behind `object` when it is a trampoline's code object
/// (borrowed), else `object` itself: what statistics are keyed by.
pub fn resolve(object: &pyo3::Bound<'_, pyo3::PyAny>) -> *mut ffi::PyObject {
    let pointer = object.as_ptr();
    // SAFETY: GIL held (a Bound exists); the shim reads code objects only.
    unsafe {
        if ffi::Py_TYPE(pointer) != &raw mut ffi::PyCode_Type {
            return pointer;
        }
        let entry = pyopt_shim_trampoline_entry(pointer.cast());
        if entry.is_null() {
            pointer
        } else {
            pyopt_shim_entry_original(entry)
        }
    }
}
