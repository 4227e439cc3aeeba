//! On-stack replacement: a call that spends long in a loop continues in compiled code
//! while it runs (a script's `main()`, a kernel called once).
//!
//! When a discovery window finds the same frame running as at the previous window
//! (`hook::compile_long_calls`), the innermost such frame's code is *armed*: a C trace
//! function is set on the main thread until a frame of that code reaches a loop header
//! (the target of a backward jump, which the interpreter reports as a line event). There,
//! with the frame's stack pointer saved, the trace function
//! - finds a compiled loop whose guards match the frame (the types of its locals, the
//!   range iterators on its stack, its globals) and runs it: the compiled code starts
//!   from the frame's locals, and every way out of it, the function's `return`
//!   included, is a deoptimization that writes the locals and the stack back into the
//!   frame and says where the interpreter continues, so the frame always finishes in
//!   the interpreter and looks to the program exactly as under python3;
//! - or, with none, takes the frame's types and compiles the function from that header
//!   on, in the background; once it is loaded the code is armed again if a frame of it
//!   is still running.
//!
//! While armed, the thread runs with tracing on (several times slower), normally for
//! less than one iteration of the loop; a code whose calls do not reach a header is
//! armed at most [`MAX_MISSES`] times. Frames whose locals compiled code cannot hold
//! keep those locals (a plan that touches one is refused); loops over anything but a
//! `range` are not entered.

use std::cell::Cell;
use std::ffi::c_int;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyopt_jit::abi::{BOXED, ERROR, GUARD_FAILED};
use pyopt_jit::bytecode::Instr;
use pyopt_jit::opcode::op;
use pyopt_jit::snapshot::{OsrLocal, OsrRequest};
use pyopt_jit::types::Ty;

use crate::deopt::{PendingKind, take_loop_exit};
use crate::ffi::*;
use crate::hook::{call_entry, existing_state, state_for_long_call};
use crate::settings;
use crate::state::{CodeState, OsrSpec, compile_loop};
use crate::values::guard_and_flatten;

/// Arms without reaching a loop header before a code is given up on.
const MAX_MISSES: u32 = 4;
/// Compiled loops per code (headers times frame types).
const MAX_LOOPS: usize = 4;
/// `PyTrace_LINE`.
const TRACE_LINE: c_int = 2;

thread_local! {
    /// The code object the trace function waits for (0: not armed).
    static ARMED: Cell<usize> = const { Cell::new(0) };
    /// Compiled loops running on this thread (entered and not left yet).
    static RUNNING: Cell<u32> = const { Cell::new(0) };
}

/// Whether a compiled loop entered by on-stack replacement is running on this thread
/// (its call is being taken care of).
pub(crate) fn in_compiled_loop() -> bool {
    RUNNING.with(Cell::get) > 0
}

/// Whether a trace or profile function other than pyopt's own is active on the thread
/// (debuggers, coverage, profilers): then everything runs in the interpreter.
///
/// # Safety
/// GIL held; `tstate` is the running thread's.
pub(crate) unsafe fn tracing(tstate: *mut ffi::PyThreadState) -> bool {
    // SAFETY: per the contract.
    unsafe { pyopt_shim_use_tracing(tstate) != 0 && pyopt_shim_foreign_tracing(tstate, trace) != 0 }
}

/// Stops waiting for a loop header. `missed`: the armed code's call did not reach one.
///
/// # Safety
/// GIL held; `tstate` is the running thread's.
pub(crate) unsafe fn disarm(tstate: *mut ffi::PyThreadState, missed: bool) {
    let code = ARMED.with(|armed| armed.replace(0));
    if code == 0 {
        return;
    }
    // SAFETY: per the contract.
    unsafe { pyopt_shim_osr_disarm(tstate, trace) };
    if missed && let Some(state) = registry_state(code) {
        state.lock().osr_misses += 1;
    }
}

/// The state of the code at `code`, if it is still registered.
fn registry_state(code: usize) -> Option<std::sync::Arc<CodeState>> {
    crate::state::registry().lock().ok()?.get(&code).cloned()
}

/// Arms for `frame`'s code, a call running since the previous window; returns whether
/// it did (its loops can be tried).
///
/// # Safety
/// GIL held; `frame` is a started function frame of this thread.
pub(crate) unsafe fn arm_for(tstate: *mut ffi::PyThreadState, frame: *mut Frame) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let code = pyopt_shim_frame_code(frame);
        if pyopt_shim_code_nlocals(code) != pyopt_shim_code_nlocalsplus(code) {
            return false; // cells and free variables: never compiled
        }
        let Some(state) = state_for_long_call(code) else {
            return false;
        };
        let state = &*state;
        // Attached, not assumed: see `hook::select`.
        let headers = crate::ffi::with_gil_held(|py| loop_headers(py, code, state));
        {
            let inner = state.lock();
            if inner.osr_misses >= MAX_MISSES
                || inner.pending.is_some()
                || headers.iter().all(|h| inner.osr_refused.contains(h))
            {
                return false;
            }
        }
        arm(tstate, code as usize)
    }
}

/// Whether a call of `frame`'s code continued in a compiled loop before.
///
/// # Safety
/// GIL held; `frame` is a live frame of this thread.
pub(crate) unsafe fn entered_before(frame: *mut Frame) -> bool {
    // SAFETY: per the contract.
    let state = unsafe { existing_state(pyopt_shim_frame_code(frame)) };
    // SAFETY: a state in co_extra lives as long as its code object.
    state.is_some_and(|state| unsafe { &*state }.lock().osr_entries > 0)
}

/// Sets the trace function for `code`.
///
/// # Safety
/// GIL held; `tstate` is the running thread's.
unsafe fn arm(tstate: *mut ffi::PyThreadState, code: usize) -> bool {
    // SAFETY: per the contract.
    if unsafe { pyopt_shim_osr_arm(tstate, trace) } == 0 {
        return false;
    }
    ARMED.with(|armed| armed.set(code));
    true
}

/// After a compiled loop was loaded (main thread, GIL held): arms for its code again if
/// a call of it is running.
pub(crate) fn loaded(state: &CodeState) {
    if state.lock().osr_specs.is_empty() || ARMED.with(Cell::get) != 0 {
        return;
    }
    // SAFETY: GIL held by the caller; frames are this thread's.
    unsafe {
        let tstate = ffi::PyThreadState_Get();
        if tracing(tstate) {
            return;
        }
        const LOOKED_AT: usize = 8;
        let mut frames = [std::ptr::null_mut::<Frame>(); LOOKED_AT];
        let n = pyopt_shim_running_frames(tstate, frames.as_mut_ptr(), LOOKED_AT as c_int);
        if frames[..n.max(0) as usize]
            .iter()
            .any(|&f| pyopt_shim_frame_code(f) as usize == state.code)
        {
            arm(tstate, state.code);
        }
    }
}

/// Byte offsets of `code`'s loop headers (computed once per code).
fn loop_headers(py: Python<'_>, code: *mut ffi::PyCodeObject, state: &CodeState) -> Vec<u32> {
    if let Some(headers) = &state.lock().loop_headers {
        return headers.clone();
    }
    // SAFETY: GIL held (a `py` token); `code` is a live code object.
    let code = unsafe { Bound::from_borrowed_ptr(py, code.cast::<ffi::PyObject>()) };
    let bytes: Vec<u8> = code
        .getattr("co_code")
        .and_then(|b| b.extract())
        .unwrap_or_default();
    let mut headers: Vec<u32> = pyopt_jit::bytecode::decode(&bytes)
        .map(|instrs| {
            instrs
                .iter()
                .filter_map(|i| i.jump_target().filter(|&t| t <= i.start))
                .collect()
        })
        .unwrap_or_default();
    headers.sort_unstable();
    headers.dedup();
    state.lock().loop_headers = Some(headers.clone());
    headers
}

/// The trace function: at a loop header of the armed code, enter or compile its loop.
unsafe extern "C-unwind" fn trace(
    _object: *mut ffi::PyObject,
    frame_object: *mut FrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    let armed = ARMED.with(Cell::get);
    if what != TRACE_LINE || armed == 0 {
        return 0;
    }
    // SAFETY: the interpreter calls the trace function with the GIL held, for a frame of
    // this thread whose stack pointer it saved.
    unsafe {
        let frame = pyopt_shim_frame_of(frame_object);
        let code = pyopt_shim_frame_code(frame);
        if code as usize != armed {
            return 0;
        }
        let Some(state) = existing_state(code) else {
            return 0;
        };
        let state = &*state;
        let offset = pyopt_shim_frame_offset(frame) as u32;
        let at_header = state
            .lock()
            .loop_headers
            .as_ref()
            .is_some_and(|h| h.contains(&offset));
        if !at_header {
            return 0;
        }
        let tstate = ffi::PyThreadState_Get();
        disarm(tstate, false);
        // A profiler started while armed: everything stays in the interpreter.
        if pyopt_shim_foreign_tracing(tstate, trace) != 0 {
            return 0;
        }
        at_loop_header(tstate, frame, code, state, offset)
    }
}

/// The frame's locals and value stack (its stack pointer is saved).
///
/// # Safety
/// GIL held; `frame` is a frame of this thread inside a trace function call.
unsafe fn frame_contents<'f>(
    frame: *mut Frame,
    code: *mut ffi::PyCodeObject,
) -> (&'f [*mut ffi::PyObject], &'f [*mut ffi::PyObject]) {
    // SAFETY: per the contract; the frame has `co_nlocals` locals and `depth` entries.
    unsafe {
        let nlocals = pyopt_shim_code_nlocals(code) as usize;
        let locals = std::slice::from_raw_parts(pyopt_shim_frame_localsplus(frame), nlocals);
        let mut base = std::ptr::null_mut();
        let depth = pyopt_shim_frame_stack(frame, &mut base).max(0) as usize;
        let stack = if depth == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(base, depth)
        };
        (locals, stack)
    }
}

/// # Safety
/// As for [`trace`]; `state` is `code`'s and `offset` one of its loop headers.
unsafe fn at_loop_header(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    code: *mut ffi::PyCodeObject,
    state: &CodeState,
    offset: u32,
) -> c_int {
    // Attached, not assumed: see `hook::select`.
    // SAFETY: GIL held per the contract; `enter_or_compile` has this function's.
    unsafe {
        crate::ffi::with_gil_held(|py| enter_or_compile(py, tstate, frame, code, state, offset))
    }
}

/// [`at_loop_header`]: enters a compiled loop taking the frame's values, or compiles one.
///
/// # Safety
/// As for [`trace`].
unsafe fn enter_or_compile(
    py: Python<'_>,
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    code: *mut ffi::PyCodeObject,
    state: &CodeState,
    offset: u32,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        let function = pyopt_shim_frame_function(frame);
        // The function may have been given other code since the call started.
        if function.is_null() || crate::trampoline::original_code(function) != code.cast() {
            return 0;
        }
        let (locals, stack) = frame_contents(frame, code);
        let globals = pyopt_shim_frame_globals(frame);
        let builtins = pyopt_shim_frame_builtins(frame);
        let module = if pyopt_shim_frame_is_module(frame) != 0 {
            match ModuleFrame::new(py, code, globals) {
                Some(module) => Some(module),
                None => return 0,
            }
        } else {
            None
        };
        // What the compiled loop's locals are: the frame's, or a module's variables.
        let values_for = |request: &OsrRequest| match (&module, &request.module_names) {
            (Some(module), Some(names)) => Some(module.values(names)),
            (None, None) => Some(locals.to_vec()),
            _ => None,
        };
        let (loops, retired) = {
            let mut inner = state.lock();
            let retired = inner.prune_loops();
            (inner.osr_specs.clone(), retired)
        };
        drop(retired); // releases Python objects: not under the lock
        for compiled in &loops {
            if compiled.request.offset != offset
                || compiled.spec.unit.globals != globals
                || compiled.spec.unit.builtins != builtins
            {
                continue;
            }
            let Some(values) = values_for(&compiled.request) else {
                continue;
            };
            if let Some(slots) = guard(py, &compiled.request, &values, stack) {
                return enter(tstate, frame, state, compiled, &slots, module.as_ref());
            }
        }
        let (pending, refused, count) = {
            let inner = state.lock();
            (
                inner.pending.is_some(),
                inner.osr_refused.contains(&offset),
                inner.osr_specs.len(),
            )
        };
        if pending || refused || count >= MAX_LOOPS {
            return 0;
        }
        let described = match &module {
            Some(module) => {
                let names = module.held_names(offset);
                describe(py, offset, &module.values(&names), stack).map(|mut request| {
                    request.module_names = Some(names);
                    request
                })
            }
            None => describe(py, offset, locals, stack),
        };
        let request = match described {
            Ok(request) => request,
            Err(reason) => {
                crate::state::ensure_named(state, &Bound::from_borrowed_ptr(py, function));
                let mut inner = state.lock();
                inner.osr_refused.push(offset);
                // SAFETY: GIL held; `code` is the frame's live code object.
                let code = Bound::from_borrowed_ptr(py, code.cast::<ffi::PyObject>());
                let line = code_line(&code, offset);
                inner.refuse(format!("the loop at line {line}"), reason, false);
                return 0;
            }
        };
        let function = Bound::from_borrowed_ptr(py, function);
        // Compiled now when compiles wait (PYOPT_JIT_BACKGROUND=0): then enter it.
        match compile_loop(py, state, &function, request) {
            Some(compiled) => {
                let values = values_for(&compiled.request).unwrap_or_default();
                match guard(py, &compiled.request, &values, stack) {
                    Some(slots) => enter(tstate, frame, state, &compiled, &slots, module.as_ref()),
                    None => 0,
                }
            }
            None => 0,
        }
    }
}

/// The source line of the instruction at `offset` of `code` (a code object).
pub(crate) fn code_line(code: &Bound<'_, PyAny>, offset: u32) -> i64 {
    code.call_method1("co_lines", ())
        .ok()
        .and_then(|lines| {
            lines.try_iter().ok()?.flatten().find_map(|entry| {
                let (start, end, line): (u32, u32, Option<i64>) = entry.extract().ok()?;
                (start <= offset && offset < end).then_some(line).flatten()
            })
        })
        .unwrap_or(0)
}

/// What the compiler is told about the frame at the header, or why its loop cannot be
/// entered.
fn describe(
    py: Python<'_>,
    offset: u32,
    locals: &[*mut ffi::PyObject],
    stack: &[*mut ffi::PyObject],
) -> Result<OsrRequest, String> {
    let locals = locals
        .iter()
        .map(|&local| {
            if local.is_null() {
                return OsrLocal::Unbound;
            }
            // SAFETY: the frame holds a reference to each of its locals.
            let value = unsafe { Bound::from_borrowed_ptr(py, local) };
            match crate::snapshot::type_of(&value) {
                Some(ty) => OsrLocal::Value(ty),
                None => OsrLocal::Kept(type_name(&value)),
            }
        })
        .collect();
    let mut types = Vec::with_capacity(stack.len());
    for &entry in stack {
        match loop_iterator(py, entry) {
            Some((ty, _)) => types.push(ty),
            None => {
                let what = if entry.is_null() {
                    "NULL".to_owned()
                } else {
                    // SAFETY: the frame holds a reference to each stack entry.
                    type_name(&unsafe { Bound::from_borrowed_ptr(py, entry) })
                };
                return Err(format!(
                    "the running call's loop iterates over a {what}, which compiled code \
                     cannot take over (it can: range(), list, array and tuple iterators, \
                     enumerate(), zip() and reversed() of them, not shared with other code)"
                ));
            }
        }
    }
    Ok(OsrRequest {
        offset,
        locals,
        stack: types,
        module_names: None,
    })
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The compiled loop's arguments if the frame matches what it was compiled for.
fn guard(
    py: Python<'_>,
    request: &OsrRequest,
    locals: &[*mut ffi::PyObject],
    stack: &[*mut ffi::PyObject],
) -> Option<Vec<u64>> {
    if locals.len() != request.locals.len() || stack.len() != request.stack.len() {
        return None;
    }
    let mut slots = Vec::new();
    for (&local, expected) in locals.iter().zip(&request.locals) {
        match expected {
            OsrLocal::Unbound if !local.is_null() => return None,
            OsrLocal::Value(_) if local.is_null() => return None,
            OsrLocal::Value(ty) => {
                // SAFETY: the frame holds a reference to each of its locals.
                let value = unsafe { Bound::from_borrowed_ptr(py, local) };
                if !guard_and_flatten(&value, ty, &mut slots) {
                    return None;
                }
            }
            // Left in the frame: compiled code never touches it.
            OsrLocal::Kept(_) | OsrLocal::Unbound => {}
        }
    }
    for (&entry, expected) in stack.iter().zip(&request.stack) {
        let (ty, entry_slots) = loop_iterator(py, entry)?;
        if ty != *expected {
            return None;
        }
        slots.extend(entry_slots);
    }
    Some(slots)
}

/// A value-stack entry at a loop header that compiled code can take over, with its type
/// and slots: an iterator nothing else refers to, over a range, a list, an array or a
/// tuple, forwards or reversed, or `enumerate`/`zip` of such iterators.
fn loop_iterator(py: Python<'_>, entry: *mut ffi::PyObject) -> Option<(Ty, Vec<u64>)> {
    if entry.is_null() {
        return None;
    }
    let mut range = [0i64; 3];
    // SAFETY: the frame holds a reference to each stack entry.
    if unsafe { pyopt_shim_range_iter(entry, range.as_mut_ptr()) } != 0 {
        return Some((Ty::RangeIter, range.map(|v| v as u64).to_vec()));
    }
    // SAFETY: as above; the count is read before taking a reference.
    if unsafe { ffi::Py_REFCNT(entry) } != 1 {
        return None;
    }
    // SAFETY: as above.
    let iterator = unsafe { Bound::from_borrowed_ptr(py, entry) };
    iterator_state(&iterator)
}

/// The type and slots of `iterator` (see [`loop_iterator`]), read through its
/// `__reduce__` (whose state is exactly what resumes it). The iterators inside an
/// `enumerate` or a `zip` must be referred to by it alone.
fn iterator_state(iterator: &Bound<'_, PyAny>) -> Option<(Ty, Vec<u64>)> {
    let kind = iterator.get_type().name().ok()?;
    let reduced = iterator.call_method0("__reduce__").ok()?;
    let reduced = reduced.cast::<PyTuple>().ok()?;
    let arguments = reduced.get_item(1).ok()?.cast_into::<PyTuple>().ok()?;
    let index = || reduced.get_item(2).ok()?.extract::<i64>().ok();
    // Whether an inner iterator has no holder but the outer one, given the
    // references known to be taken here (the `inner` binding, and `arguments` when it
    // is a new tuple).
    let exclusive = |inner: &Bound<'_, PyAny>, known: isize| {
        // SAFETY: reading the reference count of a live object.
        unsafe { ffi::Py_REFCNT(inner.as_ptr()) == 1 + known }
    };
    match kind.to_str().ok()? {
        "range_iterator" => {
            // `(iter, (range(start, stop, step),), index)`
            let range = arguments.get_item(0).ok()?;
            let start: i64 = range.getattr("start").ok()?.extract().ok()?;
            let step: i64 = range.getattr("step").ok()?.extract().ok()?;
            let len: i64 = range.len().ok()?.try_into().ok()?;
            let done = index()?;
            let next = start.checked_add(done.checked_mul(step)?)?;
            let slots = vec![next as u64, step as u64, (len - done) as u64];
            Some((Ty::RangeIter, slots))
        }
        // ("iterator": the sequence iterator a numpy array gives.)
        "list_iterator" | "arrayiterator" | "iterator" | "list_reverseiterator" | "reversed" => {
            // `(iter or reversed, (sequence,), index)`; an exhausted iterator has no
            // index and is not taken over.
            let sequence = arguments.get_item(0).ok()?;
            let index = index()?;
            let sequence_ty = match crate::snapshot::type_of(&sequence)? {
                // A list's items are read as the type of the next one (the first
                // one's when there is none).
                Ty::List(first) => Ty::List(Box::new(
                    sequence
                        .get_item(index)
                        .ok()
                        .and_then(|next| crate::snapshot::type_of(&next))
                        .filter(Ty::is_number)
                        .unwrap_or(*first),
                )),
                array @ (Ty::Array(_) | Ty::NdArray(_, 1)) => array,
                _ => return None,
            };
            // The sequence stays alive: the iterator on the frame's stack holds it.
            let slots = vec![sequence.as_ptr() as u64, index as u64];
            let reversed = matches!(kind.to_str().ok()?, "list_reverseiterator" | "reversed");
            let ty = if reversed {
                Ty::SeqRevIter(Box::new(sequence_ty))
            } else {
                Ty::SeqIter(Box::new(sequence_ty))
            };
            Some((ty, slots))
        }
        "tuple_iterator" => {
            let tuple = arguments.get_item(0).ok()?;
            let tuple_ty = crate::snapshot::type_of(&tuple)?;
            let iterator_ty = tuple_ty.iterator()?;
            let mut slots = Vec::new();
            if !guard_and_flatten(&tuple, &tuple_ty, &mut slots) {
                return None;
            }
            slots.push(index()? as u64);
            Some((iterator_ty, slots))
        }
        "enumerate" => {
            // `(enumerate, (iterator, count))`
            let inner = arguments.get_item(0).ok()?;
            let count: i64 = arguments.get_item(1).ok()?.extract().ok()?;
            // (`arguments` is a new tuple.)
            if !exclusive(&inner, 2) {
                return None;
            }
            let (inner_ty, inner_slots) = iterator_state(&inner)?;
            let mut slots = vec![count as u64];
            slots.extend(inner_slots);
            Some((Ty::Enumerate(Box::new(inner_ty)), slots))
        }
        "zip" if reduced.len() == 2 && (1..=4).contains(&arguments.len()) => {
            // `(zip, (iterators...))` (a strict zip has a third item: not taken over)
            let mut types = Vec::new();
            let mut slots = Vec::new();
            // (`arguments` is the zip's own tuple.)
            for inner in arguments.iter() {
                if !exclusive(&inner, 1) {
                    return None;
                }
                let (inner_ty, inner_slots) = iterator_state(&inner)?;
                types.push(inner_ty);
                slots.extend(inner_slots);
            }
            Some((Ty::Zip(types), slots))
        }
        _ => None,
    }
}

/// Runs the compiled loop in `frame` and leaves the frame as the compiled code left it.
/// Returns the trace function's result: 0, or -1 with an exception raised in the frame.
///
/// # Safety
/// As for [`trace`]; `slots` are the loop's arguments, read from this frame.
unsafe fn enter(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    state: &CodeState,
    compiled: &OsrSpec,
    slots: &[u64],
    module: Option<&ModuleFrame<'_>>,
) -> c_int {
    {
        let mut inner = state.lock();
        inner.osr_entries += 1;
        inner.osr_misses = 0;
        // A module body's loop is entered again after each hand-back: logged once.
        let first = !inner.osr_logged.contains(&compiled.request.offset);
        if first {
            inner.osr_logged.push(compiled.request.offset);
        }
        if settings().log && (module.is_none() || first) {
            eprintln!(
                "pyopt: entered {} ({}:{}) at the loop at line {}",
                inner.name, inner.filename, inner.first_line, compiled.line
            );
        }
    }
    let spec = &compiled.spec;
    RUNNING.with(|running| running.set(running.get() + 1));
    let mark = crate::owned::enter();
    // SAFETY: per the contract; `frame` is the frame deoptimizations write into.
    let ret = unsafe { call_entry(tstate, &spec.unit, spec.entry, frame, slots) };
    RUNNING.with(|running| running.set(running.get() - 1));
    // SAFETY: per the contract.
    let result = unsafe { finish_entry(frame, compiled, module, ret) };
    // After the locals went back to the frame, which holds what it keeps.
    crate::owned::leave(mark);
    result
}

/// What an entered loop's native code returned, with its locals back in `frame`.
///
/// # Safety
/// As for [`enter`].
unsafe fn finish_entry(
    frame: *mut Frame,
    compiled: &OsrSpec,
    module: Option<&ModuleFrame<'_>>,
    ret: pyopt_jit::abi::Ret,
) -> c_int {
    match ret.status {
        // A global the loop depends on changed; nothing ran.
        GUARD_FAILED => 0,
        BOXED => {
            // SAFETY: the placeholder deoptimization returns (an owned None).
            unsafe { ffi::Py_XDECREF(ret.value as *mut ffi::PyObject) };
            match take_loop_exit() {
                // SAFETY: per the contract.
                Some(exit) => unsafe { leave(frame, &compiled.request, exit, module) },
                None => {
                    crate::hook::bad_status();
                    -1
                }
            }
        }
        ERROR => -1,
        _ => {
            crate::hook::bad_status();
            -1
        }
    }
}

/// Writes a compiled loop's exit into its frame (a module body's variables into its
/// dict).
///
/// # Safety
/// As for [`enter`].
unsafe fn leave(
    frame: *mut Frame,
    request: &OsrRequest,
    exit: PendingKind,
    module: Option<&ModuleFrame<'_>>,
) -> c_int {
    let (offset, mut locals, stack, exception) = match exit {
        // Nothing ran (the recursion limit): the interpreter carries on.
        PendingKind::Entry => return 0,
        PendingKind::Resume {
            offset,
            locals,
            stack,
            exception,
        } => (offset, locals, Some(stack), exception),
        // Raised where the frame has no handler (compiled code has none): the
        // interpreter unwinds whatever the stack holds.
        PendingKind::Throw {
            offset,
            locals,
            exception,
        } => (offset, locals, None, Some(exception)),
    };
    let mut failed = None;
    if let (Some(module), Some(names)) = (module, &request.module_names) {
        for (i, value) in locals.drain(..).enumerate() {
            if value.is_null() {
                continue; // unbound at entry and never stored
            }
            // SAFETY: the exit's values are owned references.
            let value = unsafe { Bound::from_owned_ptr(module.globals.py(), value) };
            if matches!(request.locals.get(i), Some(OsrLocal::Kept(_))) {
                continue;
            }
            if let Err(error) = module.set(names[i], &value) {
                failed.get_or_insert(error);
            }
        }
    }
    // Locals compiled code never touched stay as the frame has them.
    let keep: Vec<u8> = (0..locals.len())
        .map(|i| u8::from(matches!(request.locals.get(i), Some(OsrLocal::Kept(_)))))
        .collect();
    let mut stack = stack;
    let (stack_ptr, nstack) = match &mut stack {
        Some(stack) => (stack.as_mut_ptr(), stack.len() as c_int),
        None => (std::ptr::null_mut(), -1),
    };
    // SAFETY: per the contract; the references in `locals` and `stack` are stolen, so
    // the vectors are emptied without releasing them.
    unsafe {
        pyopt_shim_osr_leave(
            frame,
            offset,
            locals.as_mut_ptr(),
            keep.as_ptr(),
            locals.len() as c_int,
            stack_ptr,
            nstack,
        );
        locals.set_len(0);
        if let Some(stack) = &mut stack {
            stack.set_len(0);
        }
    }
    match exception.or(failed) {
        Some(exception) => {
            Python::attach(|py| exception.restore(py));
            -1
        }
        None => 0,
    }
}

/// A module body's frame: its variables are entries of its globals dict.
struct ModuleFrame<'py> {
    globals: Bound<'py, PyDict>,
    /// `co_names`.
    names: Bound<'py, PyTuple>,
    instrs: Vec<Instr>,
}

impl<'py> ModuleFrame<'py> {
    /// # Safety
    /// GIL held; `code` and `globals` (a dict) are the live frame's.
    unsafe fn new(
        py: Python<'py>,
        code: *mut ffi::PyCodeObject,
        globals: *mut ffi::PyObject,
    ) -> Option<Self> {
        // SAFETY: per the contract.
        let (code, globals) = unsafe {
            (
                Bound::from_borrowed_ptr(py, code.cast::<ffi::PyObject>()),
                Bound::from_borrowed_ptr(py, globals),
            )
        };
        let bytes: Vec<u8> = code.getattr("co_code").ok()?.extract().ok()?;
        Some(ModuleFrame {
            globals: globals.cast_into().ok()?,
            names: code.getattr("co_names").ok()?.cast_into().ok()?,
            instrs: pyopt_jit::bytecode::decode(&bytes).ok()?,
        })
    }

    /// The current values of the variables `names` (`co_names` indices): borrowed from
    /// the dict, which holds them while it is not changed; null when unbound.
    fn values(&self, names: &[u32]) -> Vec<*mut ffi::PyObject> {
        names
            .iter()
            .map(|&n| {
                self.names
                    .get_item(n as usize)
                    .ok()
                    .and_then(|name| self.globals.get_item(name).ok().flatten())
                    .map_or(std::ptr::null_mut(), |value| value.as_ptr())
            })
            .collect()
    }

    /// Writes a variable back; one the loop left as it was keeps its object (and the
    /// dict its version).
    fn set(&self, name: u32, value: &Bound<'py, PyAny>) -> PyResult<()> {
        let name = self.names.get_item(name as usize)?;
        if let Some(current) = self.globals.get_item(&name)?
            && crate::snapshot::same_value(&current, value)
        {
            return Ok(());
        }
        self.globals.set_item(name, value)
    }

    /// The variables a loop entered at the header `offset` keeps in locals: those the
    /// loop stores, and the module's other variables that hold a number now (the
    /// counters of enclosing loops). The rest are read like globals.
    fn held_names(&self, offset: u32) -> Vec<u32> {
        let end = pyopt_jit::bytecode::loop_end(&self.instrs, offset);
        let mut held: Vec<u32> = self
            .instrs
            .iter()
            .filter(|i| i.opcode == op::STORE_NAME)
            .filter(|i| {
                (offset..end).contains(&i.start) || {
                    let value = self.values(&[i.arg])[0];
                    // SAFETY: the dict holds a reference to the value.
                    !value.is_null()
                        && crate::snapshot::type_of(&unsafe {
                            Bound::from_borrowed_ptr(self.globals.py(), value)
                        })
                        .is_some()
                }
            })
            .map(|i| i.arg)
            .collect();
        held.sort_unstable();
        held.dedup();
        held
    }
}
