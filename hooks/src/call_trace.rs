//! `PYOPT_TRACE_CALLS=1`: every Python call and return as a slice on its thread's track.
//!
//! The eval-frame hook sees every frame CPython evaluates (while a hook is installed,
//! 3.11 stops inlining Python-to-Python calls, so each call reaches it), so call
//! tracing keeps a recording hook installed for the whole run. The JIT's own hook logic
//! runs inside it only while discovery wants it (`discovery::hook_wanted`). A call that
//! runs compiled code is one slice: what compiled code calls natively (recursion,
//! inlined callees) has no frames to see. Each generator or coroutine resumption is
//! its own slice, as CPython evaluates it.
//!
//! A traced call costs about 40 ns more than an untraced one here (fib(25): 2.1x, where
//! VizTracer takes 6.4x; `benches/trace/calls.py`): the call CPython no longer inlines,
//! a lookup of the code object's interned names in a small per-thread table, and two
//! events.

use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;
use pyopt_trace::{Arg, Event, EventKind, StrId, intern, now, record};

use crate::ffi::*;

static ON: AtomicBool = AtomicBool::new(false);

/// Whether every call is traced (the recording hook is installed).
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Installs the recording hook on the main interpreter for the rest of the run (GIL
/// held, at start-up, before the JIT's hook is installed).
pub fn install() {
    ON.store(true, Ordering::Relaxed);
    // SAFETY: GIL held by the caller.
    unsafe { pyopt_shim_set_eval_frame(Some(traced_eval_frame as EvalFrame)) }
}

/// A code object's names as the trace shows them, and what identifies the code object
/// they were read from (a freed code object's address can be reused; its names, which
/// the live code object owns, cannot be reused while it lives).
#[derive(Clone, Copy)]
struct Names {
    code: usize,
    qualname: usize,
    filename: usize,
    line: c_int,
    name: StrId,
    source: StrId,
}

const TABLE_SIZE: usize = 4096;

thread_local! {
    static TABLE: RefCell<Vec<Option<Names>>> = const { RefCell::new(Vec::new()) };
}

struct Ids {
    category: StrId,
    source_key: StrId,
}

fn ids() -> &'static Ids {
    static IDS: std::sync::OnceLock<Ids> = std::sync::OnceLock::new();
    IDS.get_or_init(|| Ids {
        category: intern("python"),
        source_key: intern("source"),
    })
}

fn text(object: *mut ffi::PyObject) -> String {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: GIL held (caller); a code object's names are str objects.
    let utf8 = unsafe { ffi::PyUnicode_AsUTF8AndSize(object, &mut size) };
    if utf8.is_null() {
        // SAFETY: GIL held; a lone surrogate in a name fails to encode.
        unsafe { ffi::PyErr_Clear() };
        return "?".to_owned();
    }
    // SAFETY: CPython returned `size` bytes of UTF-8 that live as long as the object.
    let bytes = unsafe { std::slice::from_raw_parts(utf8.cast::<u8>(), size as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// The interned name (qualname) and source (`file:line`) of `code`.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn names(code: *mut ffi::PyCodeObject) -> (StrId, StrId) {
    // SAFETY: per the contract.
    let (qualname, filename, line) = unsafe {
        (
            pyopt_shim_code_qualname(code),
            pyopt_shim_code_filename(code),
            pyopt_shim_code_firstlineno(code),
        )
    };
    let matches = |n: &Names| {
        n.code == code as usize
            && n.qualname == qualname as usize
            && n.filename == filename as usize
            && n.line == line
    };
    let slot = (code as usize >> 4) % TABLE_SIZE;
    let known = TABLE
        .try_with(|table| {
            let table = table.borrow();
            table.get(slot).copied().flatten().filter(matches)
        })
        .ok()
        .flatten();
    if let Some(names) = known {
        return (names.name, names.source);
    }
    let names = Names {
        code: code as usize,
        qualname: qualname as usize,
        filename: filename as usize,
        line,
        name: intern(&text(qualname)),
        source: intern(&format!("{}:{line}", text(filename))),
    };
    let _ = TABLE.try_with(|table| {
        let mut table = table.borrow_mut();
        if table.is_empty() {
            table.resize(TABLE_SIZE, None);
        }
        table[slot] = Some(names);
    });
    (names.name, names.source)
}

thread_local! {
    /// Whether this thread's first frame was looked at for its name.
    static NAMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Names the track of a thread `threading` started after its `Thread` (the first frame
/// such a thread runs is `Thread._bootstrap(self)`).
///
/// # Safety
/// GIL held; `frame` is a fresh frame of this thread, named `name`.
unsafe fn name_thread(frame: *mut Frame, name: StrId) {
    if pyopt_trace::resolve(name) != "Thread._bootstrap" {
        return;
    }
    // SAFETY: per the contract; `_bootstrap` takes `self` first, so a fresh frame of it
    // holds it in its first local (a strong reference the frame owns).
    unsafe {
        let this = *pyopt_shim_frame_localsplus(frame);
        if this.is_null() {
            return;
        }
        // A plain instance attribute (Thread keeps its name in `_name`).
        let thread_name = ffi::PyObject_GetAttrString(this, c"_name".as_ptr());
        if thread_name.is_null() {
            ffi::PyErr_Clear();
            return;
        }
        if ffi::PyUnicode_Check(thread_name) != 0 {
            pyopt_trace::set_thread_name(&text(thread_name));
        }
        ffi::Py_DECREF(thread_name);
    }
}

/// The recording hook: a slice around whatever evaluates the frame.
///
/// "C-unwind": see `ffi::EvalFrame`.
unsafe extern "C-unwind" fn traced_eval_frame(
    tstate: *mut ffi::PyThreadState,
    frame: *mut Frame,
    throwflag: c_int,
) -> *mut ffi::PyObject {
    let ids = ids();
    // SAFETY: CPython calls the hook with the GIL held and a frame of this thread.
    let (name, source) = unsafe { names(pyopt_shim_frame_code(frame)) };
    if !NAMED.try_with(|named| named.replace(true)).unwrap_or(true) {
        // SAFETY: as above.
        unsafe { name_thread(frame, name) };
    }
    record(Event {
        ts: now(),
        kind: EventKind::Begin,
        category: ids.category,
        name,
        arg: Arg::Str(ids.source_key, source),
    });
    // SAFETY: as above; the JIT's hook takes the same arguments.
    let result = unsafe {
        if crate::discovery::hook_wanted() {
            crate::hook::eval_frame(tstate, frame, throwflag)
        } else {
            pyopt_shim_eval_default(tstate, frame, throwflag)
        }
    };
    record(Event {
        ts: now(),
        kind: EventKind::End,
        category: ids.category,
        name,
        arg: Arg::None,
    });
    result
}
