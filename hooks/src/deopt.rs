//! Handing a compiled function over to the interpreter (deoptimization).
//!
//! Compiled code calls [`pyopt_deopt`] with a record of its live state. The state is
//! turned back into objects and the function continues in CPython's interpreter at the
//! recorded instruction: in the interpreter frame `hooks` was given for the call, or,
//! for a function called directly by other compiled code, in a fresh frame made by
//! calling the function object with a pending resume that the eval-frame hook applies
//! before the frame runs. Nothing runs twice: the record is taken before the operation
//! that could not be done natively.

use std::cell::RefCell;
use std::sync::atomic::Ordering;

use pyo3::ffi;
use pyo3::prelude::*;
use pyopt_jit::abi::{BOXED, Ctx, ERROR, Env, Ret};
use pyopt_jit::plan::{DeoptKind, Local, StackSlot};
use pyopt_jit::types::Ty;

use crate::ffi::{Frame, pyopt_shim_eval_default, pyopt_shim_resume};
use crate::settings;
use crate::state::LoadedUnit;
use crate::values::materialize;

/// What the hook does with the next fresh frame of `code` on this thread.
pub struct Pending {
    pub code: *mut ffi::PyCodeObject,
    pub kind: PendingKind,
}

pub enum PendingKind {
    /// Run the frame from the start in the interpreter.
    Entry,
    /// Continue at `offset` with these locals and stack (owned references); with an
    /// exception (a pending call compiled code ran failed), raise it there.
    Resume {
        offset: i32,
        locals: Vec<*mut ffi::PyObject>,
        stack: Vec<*mut ffi::PyObject>,
        exception: Option<PyErr>,
    },
    /// Raise `exception` at `offset`, with these locals.
    Throw {
        offset: i32,
        locals: Vec<*mut ffi::PyObject>,
        exception: PyErr,
    },
}

/// Releases owned references (null allowed); the GIL is held.
fn release(objects: Vec<*mut ffi::PyObject>) {
    for object in objects {
        // SAFETY: each is an owned reference or null, released once.
        unsafe { ffi::Py_XDECREF(object) };
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let release = |objects: &mut Vec<*mut ffi::PyObject>| release(std::mem::take(objects));
        match &mut self.kind {
            PendingKind::Entry => {}
            PendingKind::Resume { locals, stack, .. } => {
                release(locals);
                release(stack);
            }
            PendingKind::Throw { locals, .. } => release(locals),
        }
    }
}

thread_local! {
    /// How the compiled loop running in a frame entered by on-stack replacement left
    /// (`osr` applies it to the frame).
    static LOOP_EXIT: RefCell<Option<PendingKind>> = const { RefCell::new(None) };
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
    /// Whether PENDING may hold something (the hook checks this on every call).
    static ANY_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Takes how the last compiled loop entered by on-stack replacement left its frame.
pub fn take_loop_exit() -> Option<PendingKind> {
    LOOP_EXIT.with(|exit| exit.borrow_mut().take())
}

/// Takes the pending resume if it is for `code`.
pub fn take_pending(code: *mut ffi::PyCodeObject) -> Option<Pending> {
    if !ANY_PENDING.with(std::cell::Cell::get) {
        return None;
    }
    PENDING.with(|p| {
        let mut slot = p.borrow_mut();
        if slot.as_ref().is_some_and(|pending| pending.code == code) {
            slot.take()
        } else {
            None
        }
    })
}

/// Runs a fresh frame as a pending resume says.
///
/// # Safety
/// `frame` is the fresh frame of `pending.code` the hook was given, on this thread.
pub unsafe fn run_pending(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    pending: Pending,
) -> *mut ffi::PyObject {
    let mut pending = pending;
    let kind = std::mem::replace(&mut pending.kind, PendingKind::Entry);
    let (offset, mut locals, mut stack, exception) = match kind {
        // SAFETY: per this function's contract.
        PendingKind::Entry => return unsafe { pyopt_shim_eval_default(tstate, frame, 0) },
        PendingKind::Resume {
            offset,
            locals,
            stack,
            exception,
        } => (offset, locals, stack, exception),
        PendingKind::Throw {
            offset,
            locals,
            exception,
        } => (offset, locals, Vec::new(), Some(exception)),
    };
    let throw = exception.is_some();
    if let Some(exception) = exception {
        Python::attach(|py| exception.restore(py));
    }
    // SAFETY: per this function's contract; the vectors' references are stolen.
    unsafe {
        pyopt_shim_resume(
            tstate,
            frame,
            offset,
            locals.as_mut_ptr(),
            locals.len() as i32,
            stack.as_mut_ptr(),
            stack.len() as i32,
            i32::from(throw),
        )
    }
}

/// The status for an error: `e` becomes the raised exception.
fn raised(py: Python<'_>, e: PyErr) -> Ret {
    e.restore(py);
    Ret {
        value: 0,
        status: ERROR,
    }
}

fn ret_of(result: *mut ffi::PyObject) -> Ret {
    if result.is_null() {
        Ret {
            value: 0,
            status: ERROR,
        }
    } else {
        Ret {
            value: result as u64,
            status: BOXED,
        }
    }
}

/// Owned references for a record's locals (null where unbound), reading its slots.
fn locals_from(
    py: Python<'_>,
    locals: &[Local],
    slots: &[u64],
    position: &mut usize,
) -> PyResult<Vec<*mut ffi::PyObject>> {
    let mut objects = Vec::with_capacity(locals.len());
    let result = (|| {
        for local in locals {
            let object = match local {
                Local::Unbound => std::ptr::null_mut(),
                Local::Bound(ty) => materialize(py, ty, slots, position)?.into_ptr(),
                Local::MaybeBound(ty) => {
                    let bound = slots.get(*position).copied().unwrap_or(0) != 0;
                    *position += 1;
                    if bound {
                        materialize(py, ty, slots, position)?.into_ptr()
                    } else {
                        // The slots of an unbound local hold whatever the storage had
                        // (for a list, no object at all): skipped, never read.
                        *position += ty.slots();
                        std::ptr::null_mut()
                    }
                }
            };
            objects.push(object);
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(objects),
        Err(e) => {
            release(objects);
            Err(e)
        }
    }
}

fn stack_from(
    py: Python<'_>,
    unit: &LoadedUnit,
    stack: &[StackSlot],
    slots: &[u64],
    position: &mut usize,
) -> PyResult<Vec<*mut ffi::PyObject>> {
    let start = *position;
    let mut objects: Vec<*mut ffi::PyObject> = Vec::with_capacity(stack.len());
    let mut boxed_seen = false;
    let result = (|| {
        for slot in stack {
            let object = match slot {
                StackSlot::Boxed => {
                    boxed_seen = true;
                    let value = slots.get(*position).copied().unwrap_or(0);
                    *position += 1;
                    value as *mut ffi::PyObject
                }
                StackSlot::Typed(Ty::Null) => std::ptr::null_mut(),
                StackSlot::Typed(Ty::Object(id)) => {
                    let held = &unit.objects[*id as usize];
                    held.get(py)
                        .ok_or_else(|| {
                            pyo3::exceptions::PyRuntimeError::new_err(
                                "pyopt internal error: a compiled function's callee was freed",
                            )
                        })?
                        .into_ptr()
                }
                StackSlot::Typed(ty) => materialize(py, ty, slots, position)?.into_ptr(),
            };
            objects.push(object);
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(objects),
        Err(e) => {
            // (The boxed one among them was owned too.)
            release(objects);
            if !boxed_seen && let Some(index) = stack.iter().position(|s| *s == StackSlot::Boxed) {
                // The boxed result was not reached: it is owned too.
                let offset = start + stack[..index].iter().map(StackSlot::slots).sum::<usize>();
                if let Some(&value) = slots.get(offset) {
                    // SAFETY: the callee returned this owned reference.
                    unsafe { ffi::Py_XDECREF(value as *mut ffi::PyObject) };
                }
            }
            Err(e)
        }
    }
}

/// `pyopt_deopt`.
///
/// # Safety
/// Called by compiled code of `env`'s unit with the GIL held, after writing `nslots`
/// slots of the record of `point` to `ctx.slots`.
pub unsafe extern "C-unwind" fn pyopt_deopt(
    ctx: *mut Ctx,
    env: *const Env,
    out: *mut u64,
    plan: u32,
    point: u32,
    nslots: u64,
) -> u64 {
    // SAFETY: per this function's contract.
    let ret = unsafe { deoptimize(ctx, env, out, plan, point, nslots) };
    // The object (or 0) goes to the plan's result slots, so that the plan's own return
    // can be this call, as a tail call.
    // SAFETY: `out` is the calling plan's result slots, at least one.
    unsafe { *out = ret.value };
    ret.status
}

/// [`pyopt_deopt`]'s work, returning the object and the status.
///
/// # Safety
/// As for [`pyopt_deopt`].
unsafe fn deoptimize(
    ctx: *mut Ctx,
    env: *const Env,
    out: *mut u64,
    plan: u32,
    point: u32,
    nslots: u64,
) -> Ret {
    // SAFETY: per this function's contract.
    let (unit, slots, frame) = unsafe {
        // The plan the entry wrapper called has the wrapper's result slots and its
        // interpreter frame; plans compiled code called have no frame.
        let frame = if out == (*ctx).entry_out {
            (*ctx).entry_frame.cast::<Frame>()
        } else {
            std::ptr::null_mut()
        };
        let unit = &*((*env).unit as *const LoadedUnit);
        let slots = std::slice::from_raw_parts((*ctx).slots, nslots as usize).to_vec();
        // Undo the compiled function's entry decrement: the interpreter frame counts
        // itself when it starts.
        *(*ctx).recursion_remaining += 1;
        (unit, slots, frame)
    };
    let plan = &unit.unit.plans[plan as usize];
    let record = &plan.deopts[point as usize];
    // A compiled loop's frame returning is how it ends, not a deoptimization.
    let loop_frame = plan.osr.is_some() && !frame.is_null();
    let routine = loop_frame && record.ends_loop(unit.module_body);
    if !routine {
        unit.deopts.fetch_add(1, Ordering::Relaxed);
    }
    if crate::events::enabled() && !matches!(record.kind, DeoptKind::Entry) && !routine {
        crate::events::deopt(
            &unit.names[plan.function as usize],
            &format!(
                "{}:{}: {}",
                unit.files[plan.function as usize],
                record
                    .line
                    .map_or_else(|| "?".to_owned(), |l| l.to_string()),
                record.reason
            ),
        );
    }
    if settings().log && !matches!(record.kind, DeoptKind::Entry) && !routine {
        eprintln!(
            "pyopt: deoptimized {} ({}:{}): {}",
            unit.names[plan.function as usize],
            unit.files[plan.function as usize],
            record
                .line
                .map_or_else(|| "?".to_owned(), |l| l.to_string()),
            record.reason
        );
    }
    Python::attach(|py| {
        // SAFETY: the GIL is held; frames and functions are live per the contract.
        let tstate = unsafe { ffi::PyThreadState_Get() };
        let mut position = 0usize;
        let prepared: PyResult<PendingKind> = (|| {
            Ok(match &record.kind {
                DeoptKind::Entry => PendingKind::Entry,
                DeoptKind::Resume { offset, stack } => {
                    // Set only when a pending call run at a loop's eval-breaker check
                    // failed (see `pyopt_poll`).
                    let exception = PyErr::take(py);
                    let locals = locals_from(py, &record.locals, &slots, &mut position)?;
                    let stack = match stack_from(py, unit, stack, &slots, &mut position) {
                        Ok(stack) => stack,
                        Err(e) => {
                            release(locals);
                            return Err(e);
                        }
                    };
                    PendingKind::Resume {
                        offset: *offset as i32,
                        locals,
                        stack,
                        exception,
                    }
                }
                DeoptKind::Throw { offset } => {
                    let exception = PyErr::take(py).unwrap_or_else(|| {
                        pyo3::exceptions::PySystemError::new_err(
                            "pyopt: deoptimizing without an exception",
                        )
                    });
                    let locals = locals_from(py, &record.locals, &slots, &mut position)?;
                    PendingKind::Throw {
                        offset: *offset as i32,
                        locals,
                        exception,
                    }
                }
            })
        })();
        let kind = match prepared {
            Ok(kind) => kind,
            Err(e) => {
                return raised(py, e);
            }
        };
        if loop_frame {
            // The frame is running in the interpreter, which called `osr`'s trace
            // function: that writes this into the frame after the compiled code returns.
            LOOP_EXIT.with(|exit| *exit.borrow_mut() = Some(kind));
            return Ret {
                value: py.None().into_ptr() as u64,
                status: BOXED,
            };
        }
        if !frame.is_null() {
            let pending = Pending {
                // SAFETY: frame is live.
                code: unsafe { crate::ffi::pyopt_shim_frame_code(frame) },
                kind,
            };
            // SAFETY: the hook's fresh frame for this call.
            return ret_of(unsafe { run_pending(tstate, frame, pending) });
        }
        // No frame yet: call the function with the resume pending; the hook applies it
        // to the frame CPython creates.
        let Some(function) = unit.functions[plan.function as usize].get(py) else {
            drop(kind);
            let e = pyo3::exceptions::PyRuntimeError::new_err(
                "pyopt internal error: compiled function freed",
            );
            return raised(py, e);
        };
        let args: PyResult<Vec<Bound<'_, PyAny>>> = match &record.kind {
            DeoptKind::Entry => {
                let mut position = 0usize;
                plan.params
                    .iter()
                    .map(|ty| materialize(py, ty, &slots, &mut position))
                    .collect()
            }
            _ => Ok((0..plan.params.len())
                .map(|_| py.None().into_bound(py))
                .collect()),
        };
        let args = match args {
            Ok(args) => args,
            Err(e) => {
                drop(kind);
                return raised(py, e);
            }
        };
        // A trampolined function's frame must run its original code.
        // SAFETY: `function` is a live function object; GIL held.
        let original = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                crate::trampoline::original_function(function.as_ptr()),
            )
        };
        let original = match original {
            Ok(original) => original,
            Err(e) => {
                drop(kind);
                return raised(py, e);
            }
        };
        // SAFETY: as above.
        let code = unsafe { crate::trampoline::original_code(function.as_ptr()) }
            .cast::<ffi::PyCodeObject>();
        PENDING.with(|p| *p.borrow_mut() = Some(Pending { code, kind }));
        ANY_PENDING.with(|any| any.set(true));
        // The hook takes the resume from the frame CPython makes next (nothing runs in
        // between), and switches itself off again if it was off.
        crate::discovery::force_hook();
        let result =
            original.call1(pyo3::types::PyTuple::new(py, args).expect("a tuple of objects"));
        // If the frame was never created (it always is), do not leave the resume behind.
        let leftover = PENDING.with(|p| p.borrow_mut().take());
        ANY_PENDING.with(|any| any.set(false));
        crate::discovery::restore_hook();
        drop(leftover);
        match result {
            Ok(value) => Ret {
                value: value.into_ptr() as u64,
                status: BOXED,
            },
            Err(e) => raised(py, e),
        }
    })
}
