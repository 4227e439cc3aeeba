//! Declarations of `shim.c` and of the few CPython functions pyo3 does not declare.
//!
//! Every function here is unsafe to call: each requires the GIL, and the frame ones a
//! frame the interpreter passed to the eval-frame hook on this thread.

use std::ffi::{c_int, c_void};

use pyo3::ffi::{PyCodeObject, PyObject, PyThreadState};

/// CPython's `_PyInterpreterFrame` (opaque here; `shim.c` reads it).
#[repr(C)]
pub struct Frame {
    _private: [u8; 0],
}

// Everything on a path that can re-enter the interpreter is "C-unwind": at exit CPython
// ends daemon threads with pthread_exit(), a forced unwind through every frame on their
// stack, and a plain "C" Rust frame there aborts the process.
pub type EvalFrame =
    unsafe extern "C-unwind" fn(*mut PyThreadState, *mut Frame, c_int) -> *mut PyObject;

unsafe extern "C-unwind" {
    /// Installs `hook` as the interpreter's eval-frame function (null: the default).
    pub fn pyopt_shim_set_eval_frame(hook: Option<EvalFrame>);
    pub fn pyopt_shim_eval_default(
        tstate: *mut PyThreadState,
        frame: *mut Frame,
        throwflag: c_int,
    ) -> *mut PyObject;
    pub fn pyopt_shim_frame_code(frame: *mut Frame) -> *mut PyCodeObject;
    pub fn pyopt_shim_frame_function(frame: *mut Frame) -> *mut PyObject;
    pub fn pyopt_shim_frame_localsplus(frame: *mut Frame) -> *mut *mut PyObject;
    pub fn pyopt_shim_frame_is_fresh(frame: *mut Frame) -> c_int;
    pub fn pyopt_shim_frame_globals(frame: *mut Frame) -> *mut PyObject;
    pub fn pyopt_shim_frame_builtins(frame: *mut Frame) -> *mut PyObject;
    pub fn pyopt_shim_code_flags(code: *mut PyCodeObject) -> c_int;
    pub fn pyopt_shim_code_argcount(code: *mut PyCodeObject) -> c_int;
    pub fn pyopt_shim_code_nlocalsplus(code: *mut PyCodeObject) -> c_int;
    /// Borrowed references (a code object's names live as long as it does).
    pub fn pyopt_shim_code_qualname(code: *mut PyCodeObject) -> *mut PyObject;
    pub fn pyopt_shim_code_filename(code: *mut PyCodeObject) -> *mut PyObject;
    pub fn pyopt_shim_code_firstlineno(code: *mut PyCodeObject) -> c_int;
    pub fn pyopt_shim_code_extra(code: *mut PyCodeObject, index: isize) -> *mut c_void;
    pub fn pyopt_shim_use_tracing(tstate: *mut PyThreadState) -> c_int;
    pub fn pyopt_shim_recursion_remaining(tstate: *mut PyThreadState) -> *mut c_int;
    pub fn pyopt_shim_eval_breaker(tstate: *mut PyThreadState) -> *mut c_int;
    pub fn pyopt_shim_dict_version(dict: *mut PyObject) -> *mut u64;
    /// Why the eval breaker is set: bit 1 signal or async exception, 2 pending calls
    /// this thread runs, 4 a GIL request.
    pub fn pyopt_shim_breaker_reasons(tstate: *mut PyThreadState) -> c_int;
    /// Sets the main interpreter's eval breaker (any thread, no GIL needed).
    pub fn pyopt_shim_wake_main_interpreter();
    /// Queues a pending call for the main interpreter (any thread, no GIL needed);
    /// 0 when queued.
    pub fn pyopt_shim_add_pending_call_main(func: extern "C" fn(*mut c_void) -> c_int) -> c_int;
    /// Whether the running interpreter is the main one (GIL held).
    pub fn pyopt_shim_in_main_interpreter() -> c_int;
    /// Whether this thread's thread state is PyGILState's for it (GIL held).
    pub fn pyopt_shim_gilstate_consistent() -> c_int;
    /// Up to `max` innermost started function and module-body frames of this thread
    /// (innermost first).
    /// Whether the frame runs a module body (its variables are its globals, a dict).
    pub fn pyopt_shim_frame_is_module(frame: *mut Frame) -> c_int;
    pub fn pyopt_shim_running_frames(
        tstate: *mut PyThreadState,
        out: *mut *mut Frame,
        max: c_int,
    ) -> c_int;
    /// Continues a fresh frame at `offset` with the given locals and stack (references
    /// stolen); with `throwflag`, raises the pending exception there.
    pub fn pyopt_shim_resume(
        tstate: *mut PyThreadState,
        frame: *mut Frame,
        offset: c_int,
        locals: *mut *mut PyObject,
        nlocals: c_int,
        stack: *mut *mut PyObject,
        nstack: c_int,
        throwflag: c_int,
    ) -> *mut PyObject;

    pub fn _PyEval_RequestCodeExtraIndex(
        free: Option<unsafe extern "C-unwind" fn(*mut c_void)>,
    ) -> isize;
    pub fn _PyCode_SetExtra(code: *mut PyObject, index: isize, extra: *mut c_void) -> c_int;
}

/// `vectorcallfunc`, as the entry type calls it ("C-unwind": it runs Python code).
pub type EntryCall = unsafe extern "C-unwind" fn(
    *mut PyObject,
    *const *mut PyObject,
    usize,
    *mut PyObject,
) -> *mut PyObject;

// Trampolines (see shim.c).
unsafe extern "C-unwind" {
    pub fn pyopt_shim_entry_init(
        call: EntryCall,
        free: unsafe extern "C-unwind" fn(*mut c_void),
    ) -> c_int;
    /// A new entry object owning `target`, holding a reference to `original`.
    pub fn pyopt_shim_entry_new(target: *mut c_void, original: *mut PyObject) -> *mut PyObject;
    pub fn pyopt_shim_entry_target(entry: *mut PyObject) -> *mut c_void;
    pub fn pyopt_shim_entry_original(entry: *mut PyObject) -> *mut PyObject;
    /// The entry of a trampoline code object (borrowed), or null for other code.
    pub fn pyopt_shim_trampoline_entry(code: *mut PyCodeObject) -> *mut PyObject;
    /// The function whose trampoline is calling `entry` on this thread, or null.
    pub fn pyopt_shim_calling_function(
        tstate: *mut PyThreadState,
        entry: *mut PyObject,
    ) -> *mut PyObject;
    pub fn pyopt_shim_make_trampoline(
        original: *mut PyCodeObject,
        entry: *mut PyObject,
    ) -> *mut PyObject;
    pub fn pyopt_shim_trampoline_fits(code: *mut PyCodeObject) -> c_int;
    pub fn pyopt_shim_function_code(function: *mut PyObject) -> *mut PyObject;
    pub fn pyopt_shim_function_set_code(function: *mut PyObject, code: *mut PyObject);
    pub fn pyopt_shim_original_function(
        function: *mut PyObject,
        code: *mut PyObject,
    ) -> *mut PyObject;
}

/// CPython's `PyFrameObject` (opaque here).
#[repr(C)]
pub struct FrameObject {
    _private: [u8; 0],
}

/// `Py_tracefunc`, as pyopt's on-stack-replacement trace function is declared
/// ("C-unwind": compiled code and the interpreter run inside it).
pub type TraceFunc =
    unsafe extern "C-unwind" fn(*mut PyObject, *mut FrameObject, c_int, *mut PyObject) -> c_int;

// On-stack replacement (see shim.c).
unsafe extern "C-unwind" {
    /// Sets `func` as the thread's C trace function, unless a trace or profile function
    /// is set or one is running; 1 if set.
    pub fn pyopt_shim_osr_arm(tstate: *mut PyThreadState, func: TraceFunc) -> c_int;
    /// Removes `func` if it is the thread's trace function.
    pub fn pyopt_shim_osr_disarm(tstate: *mut PyThreadState, func: TraceFunc);
    /// Whether a trace or profile function other than `ours` is set.
    pub fn pyopt_shim_foreign_tracing(tstate: *mut PyThreadState, ours: TraceFunc) -> c_int;
    pub fn pyopt_shim_frame_of(frame: *mut FrameObject) -> *mut Frame;
    /// Byte offset of the instruction a trace function is called at.
    pub fn pyopt_shim_frame_offset(frame: *mut Frame) -> c_int;
    pub fn pyopt_shim_code_nlocals(code: *mut PyCodeObject) -> c_int;
    /// Drops the trailing empty slots of `code`'s co_extra, so freeing it calls no other
    /// co_extra user's free function unless that user set a value (GIL held).
    pub fn pyopt_shim_trim_code_extra(code: *mut PyCodeObject);
    /// The value stack of a frame in a trace function: base, and depth as the result.
    pub fn pyopt_shim_frame_stack(frame: *mut Frame, base: *mut *mut *mut PyObject) -> c_int;
    /// A range iterator only the stack refers to, as (next value, step, remaining).
    pub fn pyopt_shim_range_iter(object: *mut PyObject, out: *mut i64) -> c_int;
    /// Writes compiled code's state into a frame in a trace function (references
    /// stolen; `nstack < 0` leaves the stack) and continues it at `offset`.
    pub fn pyopt_shim_osr_leave(
        frame: *mut Frame,
        offset: c_int,
        locals: *mut *mut PyObject,
        keep: *const u8,
        nlocals: c_int,
        stack: *mut *mut PyObject,
        nstack: c_int,
    );
}

/// Runs `f` with a Python token, attached through pyo3 (so objects dropped in `f` are
/// released at once) where that is safe. pyo3 attaches with `PyGILState_Ensure`, which
/// deadlocks a thread that holds the GIL under a thread state PyGILState does not know
/// for it (a subinterpreter's, or one made without PyGILState); there the token is
/// assumed instead.
///
/// # Safety
/// This thread holds the GIL.
pub unsafe fn with_gil_held<R>(f: impl for<'py> FnOnce(pyo3::Python<'py>) -> R) -> R {
    // SAFETY: GIL held per the contract.
    if unsafe { pyopt_shim_gilstate_consistent() } != 0 {
        pyo3::Python::attach(f)
    } else {
        // SAFETY: GIL held per the contract.
        f(unsafe { pyo3::Python::assume_attached() })
    }
}
