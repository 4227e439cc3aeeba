//! The PEP 523 eval-frame hook: counts calls, compiles hot functions, checks guards,
//! and runs compiled code instead of the interpreter when the arguments match.
//!
//! Frames it leaves alone, always to CPython's own evaluator: generators, coroutines
//! and async generators; frames resumed with `throw()`; frames that already started;
//! and every frame while a trace or profile function is set (debuggers, coverage and
//! profilers see exactly what python3 shows them).

use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::Arc;

use pyo3::ffi;
use pyo3::prelude::*;
use pyopt_jit::abi::{BOXED, Ctx, ERROR, GUARD_FAILED, OK};
use pyopt_jit::snapshot::{
    CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR, CO_ITERABLE_COROUTINE, CO_OPTIMIZED,
};
use pyopt_jit::types::Ty;

use crate::deopt::{run_pending, take_pending};
use crate::ffi::*;
use crate::state::{CodeState, Spec, maybe_compile, registry};
use crate::values::guard_and_flatten;

/// Recursion headroom (frames) below which calls are not compiled.
const MIN_HEADROOM: i32 = 100;

/// The co_extra index holding each code object's `Arc<CodeState>`.
static mut EXTRA_INDEX: isize = -1;

/// Per-thread context compiled code uses, and its deoptimization buffer.
struct ThreadCtx {
    ctx: Ctx,
    buffer: Vec<u64>,
}

thread_local! {
    static CTX: UnsafeCell<ThreadCtx> = const {
        UnsafeCell::new(ThreadCtx {
            ctx: Ctx {
                recursion_remaining: std::ptr::null_mut(),
                eval_breaker: std::ptr::null(),
                slots: std::ptr::null_mut(),
                capacity: 0,
                entry_frame: std::ptr::null_mut(),
                entry_out: std::ptr::null_mut(),
                env: std::ptr::null(),
            },
            buffer: Vec::new(),
        })
    };
}

/// Frees a code object's state when CPython frees the code object.
unsafe extern "C-unwind" fn free_state(pointer: *mut c_void) {
    if pointer.is_null() {
        return;
    }
    // SAFETY: co_extra holds a pointer made by Arc::into_raw in `create_state`.
    let state = unsafe { Arc::from_raw(pointer as *const CodeState) };
    // Dropping a state releases Python objects, which can free other code objects and
    // come back here: never drop one while holding the registry lock.
    let removed: Option<Arc<CodeState>> = match registry().lock() {
        Ok(mut registry) => match registry.get(&state.code) {
            Some(entry) if Arc::ptr_eq(entry, &state) => registry.remove(&state.code),
            _ => None,
        },
        Err(_) => None,
    };
    drop(removed);
    drop(state);
}

/// Installs the hook on the current interpreter (GIL held).
pub fn install() -> Result<(), String> {
    // pyo3 creates its PanicException type lazily, which cannot work at the recursion
    // limit; create it now.
    Python::attach(|py| {
        let _ = <pyo3::panic::PanicException as pyo3::PyTypeInfo>::type_object(py);
    });
    // SAFETY: called once at start-up with the GIL held, before any thread runs.
    unsafe {
        if EXTRA_INDEX < 0 {
            let index = _PyEval_RequestCodeExtraIndex(Some(free_state));
            if index < 0 {
                return Err("CPython has no free co_extra slot".to_owned());
            }
            EXTRA_INDEX = index;
        }
    }
    crate::trampoline::init()?;
    Ok(())
}

/// Installs the hook (`true`) or restores CPython's own evaluator (GIL held; only
/// `discovery` decides which).
pub(crate) fn set_installed(installed: bool) {
    if crate::call_trace::on() {
        // The recording hook stays installed and runs this one while discovery wants
        // it (`discovery::hook_wanted`).
        return;
    }
    // SAFETY: GIL held by the caller.
    unsafe { pyopt_shim_set_eval_frame(installed.then_some(eval_frame as EvalFrame)) }
}

/// Calls of code objects that are not hot yet, by address. Kept here rather than in
/// co_extra: CPython calls every registered co_extra free function for every code
/// object that has any extra, so pyopt only attaches state to code it compiles (or
/// tries to). An address reused by a new code object inherits a count, which at worst
/// makes it hot a little early.
static COUNTS: std::sync::Mutex<Option<HashMap<usize, u64>>> = std::sync::Mutex::new(None);

/// Most code objects [`COUNTS`] tracks before it starts over.
const MAX_COUNTED: usize = 1 << 16;

/// Function frames on the main thread's stack when the last discovery window opened,
/// as (frame address, code address).
static LAST_SEEN: std::sync::Mutex<Vec<(usize, usize)>> = std::sync::Mutex::new(Vec::new());

/// Innermost frames looked at when a window opens.
const SAMPLED_FRAMES: usize = 8;

/// Called when a discovery window opens (main thread, GIL held): a function whose same
/// frame was running at the previous window too spends long in one call, so it is
/// compiled (for the types its parameters hold now) and its next call runs natively,
/// however rarely it is called; and the innermost such call continues in compiled code
/// at its next loop header (on-stack replacement, `osr`).
pub(crate) fn compile_long_calls() {
    // SAFETY: GIL held by the caller (a pending call); frames are this thread's.
    unsafe {
        let tstate = ffi::PyThreadState_Get();
        // A call armed at the previous window did not reach a loop header since.
        crate::osr::disarm(tstate, true);
        if crate::osr::tracing(tstate) || crate::osr::in_compiled_loop() {
            return;
        }
        let mut frames = [std::ptr::null_mut::<Frame>(); SAMPLED_FRAMES];
        let n = pyopt_shim_running_frames(tstate, frames.as_mut_ptr(), SAMPLED_FRAMES as c_int);
        let frames = &frames[..n.max(0) as usize];
        let seen: Vec<(usize, usize)> = frames
            .iter()
            .map(|&f| (f as usize, pyopt_shim_frame_code(f) as usize))
            .collect();
        let previous = match LAST_SEEN.lock() {
            Ok(mut last) => std::mem::replace(&mut *last, seen.clone()),
            Err(_) => return,
        };
        let mut armed = false;
        for (&frame, key) in frames.iter().zip(&seen) {
            if previous.contains(key) {
                // The innermost long call with loops pyopt may compile continues in
                // compiled code when it reaches a loop header; the others get compiled
                // code for their next call, and so does a function whose long calls
                // keep coming.
                // A module body runs once: only its loops can be compiled.
                let module = pyopt_shim_frame_is_module(frame) != 0;
                if !armed && crate::osr::arm_for(tstate, frame) {
                    armed = true;
                    if crate::osr::entered_before(frame) && !module {
                        compile_long_call(tstate, frame);
                    }
                } else if !module {
                    compile_long_call(tstate, frame);
                }
            }
        }
    }
}

/// # Safety
/// GIL held; `frame` is a started function frame of this thread.
unsafe fn compile_long_call(tstate: *mut ffi::PyThreadState, frame: *mut Frame) {
    // SAFETY: per the contract.
    unsafe {
        let code = pyopt_shim_frame_code(frame);
        let Some(state) = state_for_long_call(code) else {
            return;
        };
        let state = &*state;
        {
            let mut inner = state.lock();
            if inner.disabled || !inner.specs.is_empty() || inner.pending.is_some() {
                return;
            }
            inner.calls = inner.calls.max(crate::discovery::threshold());
        }
        if *pyopt_shim_recursion_remaining(tstate) < MIN_HEADROOM {
            return;
        }
        let args = frame_args(frame, code);
        if args.iter().any(|a| a.is_null()) {
            return;
        }
        // Attached, not assumed: see `select`.
        crate::ffi::with_gil_held(|py| {
            let function = Bound::from_borrowed_ptr(py, pyopt_shim_frame_function(frame));
            let args: Vec<Bound<'_, PyAny>> = args
                .iter()
                .map(|a| Bound::from_borrowed_ptr(py, *a))
                .collect();
            // In the background (the trampoline comes when it is loaded), or now.
            let _compiling = Compiling::start();
            if maybe_compile(py, state, &function, &args).is_some() {
                crate::trampoline::install(function.as_ptr(), code, state);
            }
        })
    }
}

/// The state of a long call's code, created if need be.
///
/// # Safety
/// GIL held; `code` is a live code object.
pub(crate) unsafe fn state_for_long_call(code: *mut ffi::PyCodeObject) -> Option<*const CodeState> {
    // SAFETY: per the contract.
    unsafe { existing_state(code).or_else(|| create_state(code, crate::discovery::threshold())) }
}

/// A frame's parameters: its first `co_argcount` locals (null where unbound).
///
/// # Safety
/// GIL held; `frame` is a live frame of this thread running `code`.
unsafe fn frame_args<'f>(
    frame: *mut Frame,
    code: *mut ffi::PyCodeObject,
) -> &'f [*mut ffi::PyObject] {
    // SAFETY: per the contract, the frame has at least `co_argcount` locals.
    unsafe {
        let argcount = pyopt_shim_code_argcount(code) as usize;
        std::slice::from_raw_parts(pyopt_shim_frame_localsplus(frame), argcount)
    }
}

/// Counts a call of `code` (no state yet); returns the calls so far once it is hot. A
/// function an earlier process compiled (`spec_cache`) is hot at its first call seen.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn count_call(code: *mut ffi::PyCodeObject) -> Option<u64> {
    let threshold = crate::discovery::threshold().max(1);
    if threshold <= 1 {
        return Some(1);
    }
    let first = {
        let mut counts = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
        let counts = counts.get_or_insert_with(HashMap::new);
        if counts.len() >= MAX_COUNTED {
            counts.clear();
        }
        let count = counts.entry(code as usize).or_insert(0);
        *count += 1;
        if *count >= threshold {
            let calls = *count;
            counts.remove(&(code as usize));
            return Some(calls);
        }
        *count == 1
    };
    // SAFETY: per the contract; looked up without the lock (it reads files).
    if first && unsafe { crate::spec_cache::recorded(code) } {
        let mut counts = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(counts) = counts.as_mut() {
            counts.remove(&(code as usize));
        }
        return Some(threshold);
    }
    None
}

/// The state of `code`, if it has one.
///
/// # Safety
/// GIL held; `code` is a live code object.
pub(crate) unsafe fn existing_state(code: *mut ffi::PyCodeObject) -> Option<*const CodeState> {
    // SAFETY: per the contract; EXTRA_INDEX was set by `install`.
    let existing = unsafe { pyopt_shim_code_extra(code, EXTRA_INDEX) };
    (!existing.is_null()).then_some(existing as *const CodeState)
}

/// Creates the state of `code`, which was called `calls` times so far.
///
/// # Safety
/// GIL held; `code` is a live code object without state.
pub(crate) unsafe fn create_state(
    code: *mut ffi::PyCodeObject,
    calls: u64,
) -> Option<*const CodeState> {
    // SAFETY: per the contract; EXTRA_INDEX was set by `install`.
    unsafe {
        let index = EXTRA_INDEX;
        let state = Arc::new(CodeState {
            code: code as usize,
            inner: Default::default(),
        });
        // `select` counts the call being made.
        state.lock().calls = calls.saturating_sub(1);
        let raw = Arc::into_raw(state.clone());
        if _PyCode_SetExtra(code.cast(), index, raw as *mut c_void) != 0 {
            drop(Arc::from_raw(raw));
            ffi::PyErr_Clear();
            return None;
        }
        // Another co_extra user's free function must not run for this code object
        // because of pyopt: a long-lived one is freed during finalization, where a
        // Python-level free function (CPython's test_code registers one) crashes.
        pyopt_shim_trim_code_extra(code);
        let replaced = registry()
            .lock()
            .ok()
            .and_then(|mut r| r.insert(code as usize, state));
        drop(replaced); // outside the lock (see free_state)
        Some(raw)
    }
}

/// "C-unwind": see `ffi::EvalFrame`.
pub(crate) unsafe extern "C-unwind" fn eval_frame(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    throwflag: c_int,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls the hook with the GIL held and a frame of this thread.
    unsafe {
        if throwflag != 0 {
            return pyopt_shim_eval_default(tstate, frame, throwflag);
        }
        let code = pyopt_shim_frame_code(frame);
        if let Some(pending) = take_pending(code) {
            // The hook may have been switched on just for this frame.
            crate::discovery::restore_hook();
            return run_pending(tstate, frame, pending);
        }
        if !pyopt_shim_trampoline_entry(code).is_null() {
            return pyopt_shim_eval_default(tstate, frame, 0);
        }
        let kind = CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR;
        let flags = pyopt_shim_code_flags(code) as u32;
        // Module and class bodies (not CO_OPTIMIZED) keep their locals in a dict.
        if flags & kind != 0
            || flags & CO_OPTIMIZED == 0
            || pyopt_shim_frame_is_fresh(frame) == 0
            || crate::osr::tracing(tstate)
        {
            return pyopt_shim_eval_default(tstate, frame, 0);
        }
        let state = match existing_state(code) {
            Some(state) => Some(state),
            None => count_call(code).and_then(|calls| create_state(code, calls)),
        };
        match state {
            Some(state) => match dispatch(tstate, frame, code, &*state) {
                Some(result) => result,
                None => pyopt_shim_eval_default(tstate, frame, 0),
            },
            None => pyopt_shim_eval_default(tstate, frame, 0),
        }
    }
}

/// Runs compiled code for this call if a specialization matches (compiling one if the
/// function just became hot); `None` to let the interpreter run the frame. A function
/// that has compiled code gets a trampoline, so its later calls reach the code without
/// the hook.
///
/// # Safety
/// As for the hook.
unsafe fn dispatch(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    code: *mut ffi::PyCodeObject,
    state: &CodeState,
) -> Option<*mut ffi::PyObject> {
    // SAFETY: per the contract; its function is live while the frame runs.
    let (args, function) = unsafe { (frame_args(frame, code), pyopt_shim_frame_function(frame)) };
    // SAFETY: per the contract.
    let (spec, slots) = unsafe { select(tstate, state, function, args) }?;
    // SAFETY: GIL held; `function` runs `code`, whose state is `state`.
    unsafe { crate::trampoline::install(function, code, state) };
    // SAFETY: per the contract.
    Some(unsafe {
        run(tstate, frame, &spec, &slots, || {
            pyopt_shim_eval_default(tstate, frame, 0)
        })
    })
}

/// Counts a call of `function` (whose code's state is `state`) and returns the
/// specialization that takes these arguments, with the arguments flattened into slots;
/// compiles one if the function just became hot. `None`: the interpreter runs the call.
///
/// # Safety
/// GIL held; `function` is a live function object; `args` are live (null allowed).
pub(crate) unsafe fn select(
    tstate: *mut ffi::PyThreadState,
    state: &CodeState,
    function: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
) -> Option<(Arc<Spec>, Vec<u64>)> {
    // Python code the compiler runs on this thread (an import while it snapshots a
    // function) is left to the interpreter: compiling it too could wait for the very
    // lock this thread's compile holds.
    if COMPILING.try_with(Cell::get).unwrap_or(true) {
        return None;
    }
    // The common case, a function that is not hot yet: count the call and go.
    {
        let mut inner = state.lock();
        inner.calls += 1;
        if inner.pending.is_some() {
            drop(inner);
            // Loading it runs Python code (dropping objects), so without the lock.
            crate::state::finish_pending(state);
            inner = state.lock();
        }
        if inner.disabled
            || (inner.specs.is_empty()
                && !inner.requested.eager
                && inner.calls < crate::discovery::threshold())
        {
            return None;
        }
    }
    if args.iter().any(|a| a.is_null()) {
        return None;
    }
    // Attached through pyo3, not assumed: objects dropped while choosing are released
    // at once rather than queued until pyo3 next attaches (an exception swallowed here
    // is chained to the one the caller is handling, and would keep it, its frames and
    // their locals alive).
    // SAFETY: GIL held per the contract; `choose` has `select`'s contract.
    unsafe { crate::ffi::with_gil_held(|py| choose(py, tstate, state, function, args)) }
}

/// [`select`] once `function` is hot: a specialization taking `args`, compiled now if
/// none does.
///
/// # Safety
/// As for [`select`].
unsafe fn choose(
    py: Python<'_>,
    tstate: *mut ffi::PyThreadState,
    state: &CodeState,
    function: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
) -> Option<(Arc<Spec>, Vec<u64>)> {
    // SAFETY: live objects per the contract.
    let function = unsafe { Bound::from_borrowed_ptr(py, function) };
    let (globals, builtins) = match crate::snapshot::function_parts(&function) {
        Ok((_, globals, builtins)) => (globals.as_ptr(), builtins.as_ptr()),
        Err(_) => return None,
    };
    // SAFETY: the arguments are live references held by the caller.
    let args: Vec<Bound<'_, PyAny>> = args
        .iter()
        .map(|a| unsafe { Bound::from_borrowed_ptr(py, *a) })
        .collect();
    let mut slots = Vec::new();
    let retired;
    let chosen = {
        let mut inner = state.lock();
        // Dead specializations are released after the lock: dropping them releases
        // Python objects, which can run code that calls this very function.
        retired = inner.prune();
        let mut chosen = None;
        for spec in &inner.specs {
            if spec.unit.globals != globals || spec.unit.builtins != builtins {
                continue;
            }
            slots.clear();
            if args
                .iter()
                .zip(&spec.params)
                .all(|(arg, ty)| guard_and_flatten(arg, ty, &mut slots))
            {
                chosen = Some(spec.clone());
                break;
            }
        }
        chosen
    };
    drop(retired);
    if let Some(spec) = chosen {
        return Some((spec, slots));
    }
    // Compiling runs Python code; near the recursion limit that would fail in
    // confusing ways, so wait for a shallower call.
    // SAFETY: tstate is the running thread's state.
    if unsafe { *pyopt_shim_recursion_remaining(tstate) } < MIN_HEADROOM {
        return None;
    }
    let spec = {
        let _compiling = Compiling::start();
        maybe_compile(py, state, &function, &args)?
    };
    if spec.unit.globals != globals || spec.unit.builtins != builtins {
        return None;
    }
    slots.clear();
    args.iter()
        .zip(&spec.params)
        .all(|(arg, ty)| guard_and_flatten(arg, ty, &mut slots))
        .then_some((spec, slots))
}

thread_local! {
    /// This thread is compiling (see [`select`]).
    static COMPILING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as compiling until dropped.
struct Compiling {
    was: bool,
}

impl Compiling {
    fn start() -> Compiling {
        Compiling {
            was: COMPILING.try_with(|c| c.replace(true)).unwrap_or(true),
        }
    }
}

impl Drop for Compiling {
    fn drop(&mut self) {
        let _ = COMPILING.try_with(|c| c.set(self.was));
    }
}

/// Calls a specialization's native code and boxes its result.
///
/// `frame` is the call's interpreter frame (deoptimization continues in it), or null
/// when the call has none (a trampoline's call); `guard_failed` runs the call in the
/// interpreter when a global the code depends on changed before anything ran.
///
/// # Safety
/// As for the hook; `slots` are the flattened arguments for `spec.params`.
pub(crate) unsafe fn run(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    spec: &Arc<Spec>,
    slots: &[u64],
    guard_failed: impl FnOnce() -> *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let mark = crate::owned::enter();
    // SAFETY: per the contract.
    let ret = unsafe { call_entry(tstate, &spec.unit, spec.entry, frame, slots) };
    let result = match ret.status {
        OK => box_result(&spec.unit.unit.plans[0].result, ret.value),
        // A global the code depends on changed; nothing ran. The interpreter runs this
        // call; the next call drops the specialization and may recompile.
        GUARD_FAILED => {
            crate::owned::leave(mark);
            return guard_failed();
        }
        BOXED => ret.value as *mut ffi::PyObject,
        ERROR => std::ptr::null_mut(),
        _ => {
            bad_status();
            std::ptr::null_mut()
        }
    };
    // After boxing: a returned object has its reference by now.
    crate::owned::leave(mark);
    result
}

/// Raises the SystemError for a status compiled code never returns.
pub(crate) fn bad_status() {
    // SAFETY: GIL held by every caller (they run compiled code).
    unsafe {
        ffi::PyErr_SetString(
            ffi::PyExc_SystemError,
            c"pyopt: bad status from compiled code".as_ptr(),
        )
    };
}

/// Calls the entry wrapper `entry` of `unit` with this thread's context.
///
/// # Safety
/// GIL held, `tstate` the running thread's; `slots` are the flattened parameters of the
/// plan `entry` enters; `frame` is its interpreter frame or null.
pub(crate) unsafe fn call_entry(
    tstate: *mut ffi::PyThreadState,
    unit: &Arc<crate::state::LoadedUnit>,
    entry: crate::state::EntryFn,
    frame: *mut Frame,
    slots: &[u64],
) -> pyopt_jit::abi::Ret {
    let ctx = CTX.with(|cell| {
        // SAFETY: only this thread touches its context, and no reference to it is held
        // across calls into compiled code (which re-enter here through deopts).
        let thread = unsafe { &mut *cell.get() };
        if thread.buffer.len() < unit.max_slots {
            thread.buffer.resize(unit.max_slots.next_power_of_two(), 0);
        }
        thread.ctx.slots = thread.buffer.as_mut_ptr();
        thread.ctx.capacity = thread.buffer.len() as u64;
        // SAFETY: tstate is the running thread's state.
        unsafe {
            thread.ctx.recursion_remaining = pyopt_shim_recursion_remaining(tstate);
            thread.ctx.eval_breaker = pyopt_shim_eval_breaker(tstate);
        }
        &mut thread.ctx as *mut Ctx
    });
    // SAFETY: the entry has the EntryFn ABI; the caller keeps its unit alive.
    unsafe { entry(ctx, unit.env(), frame, slots.as_ptr()) }
}

fn box_result(ty: &Ty, value: u64) -> *mut ffi::PyObject {
    // SAFETY: GIL held (called from the hook); these constructors have no other
    // preconditions.
    unsafe {
        match ty {
            Ty::Int => ffi::PyLong_FromLongLong(value as i64),
            Ty::Float => ffi::PyFloat_FromDouble(f64::from_bits(value)),
            Ty::Bool => {
                let object = if value != 0 {
                    ffi::Py_True()
                } else {
                    ffi::Py_False()
                };
                ffi::Py_IncRef(object);
                object
            }
            Ty::None => {
                let object = ffi::Py_None();
                ffi::Py_IncRef(object);
                object
            }
            // numpy scalars are made by numpy.
            Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => {
                Python::attach(
                    |py| match crate::values::materialize(py, ty, &[value], &mut 0) {
                        Ok(object) => object.into_ptr(),
                        Err(e) => {
                            e.restore(py);
                            std::ptr::null_mut()
                        }
                    },
                )
            }
            // A sequence the caller or the frame holds: a new reference to it.
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
                let object = value as *mut ffi::PyObject;
                ffi::Py_IncRef(object);
                object
            }
            // Tuples arrive boxed.
            _ => value as *mut ffi::PyObject,
        }
    }
}
