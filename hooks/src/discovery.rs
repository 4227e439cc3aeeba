//! When the eval-frame hook is installed.
//!
//! While any eval-frame hook is installed, CPython 3.11 stops inlining Python-to-Python
//! calls: call-heavy code runs 30-40% slower whether or not anything gets compiled. So
//! the hook that finds hot functions is only installed in short discovery windows: a
//! timer thread asks the main thread (through `Py_AddPendingCall`, which needs no GIL)
//! to open a window of [`WINDOW`] every [`FIRST_PERIOD`], backing off to one every
//! [`MAX_PERIOD`] while nothing new gets compiled. Functions found hot in a window are
//! compiled and given a trampoline (`trampoline`), which needs no hook. Between windows,
//! every [`SAMPLE_PERIOD`], a pending call only looks at the main thread's running
//! calls: one still running at the next look is compiled for its next call or entered
//! at a loop header (`hook::compile_long_calls`, `osr`).
//!
//! With a threshold of 0 or 1 (compile on the first call, for tests) the hook stays
//! installed all the time and there is no timer.
//!
//! Pending calls run only in the main thread, at points where the interpreter checks
//! its eval breaker (loop back-edges, function entries): windows do not open while the
//! main thread waits in C code. (In 3.11 a pending call added by another thread does
//! not trip the breaker by itself; `shim.c` trips it, as CPython's signal handler does.)

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::settings;

/// How long a discovery window stays open.
pub const WINDOW: Duration = Duration::from_millis(2);
/// Time between windows at start and after a window that compiled something.
pub const FIRST_PERIOD: Duration = Duration::from_millis(50);
/// Longest time between windows.
pub const MAX_PERIOD: Duration = Duration::from_millis(1000);
/// Time between looks at the main thread's running calls (a pending call that reads a
/// few frames, no hook), windows included: a call seen twice in a row is a long one.
pub const SAMPLE_PERIOD: Duration = FIRST_PERIOD;

/// The hook is installed all the time (compile-on-first-call mode).
static ALWAYS: AtomicBool = AtomicBool::new(false);
/// A discovery window is open.
static WINDOW_OPEN: AtomicBool = AtomicBool::new(false);
/// The hook is installed right now.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Compiles so far (a window that compiled something resets the back-off).
static COMPILES: AtomicU64 = AtomicU64::new(0);
/// Which timer thread may run (a forked child starts a new one). Atomics only: a fork
/// can happen at any moment, and a lock held then would stay held in the child.
static GENERATION: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    fn _Py_IsFinalizing() -> c_int;
}

/// Calls a function must make (in discovery windows, unless the hook is always
/// installed) before it is compiled. Windows see a share of the calls, about
/// `WINDOW / FIRST_PERIOD`, so the configured threshold is scaled by that share.
pub fn threshold() -> u64 {
    let configured = settings().threshold;
    if ALWAYS.load(Ordering::Relaxed) {
        configured
    } else {
        (configured * WINDOW.as_micros() as u64 / FIRST_PERIOD.as_micros() as u64).max(1)
    }
}

/// Counts a compile (resets the windows' back-off).
pub fn compiled() {
    COMPILES.fetch_add(1, Ordering::Relaxed);
}

/// Whether discovery wants the hook installed now (the call-tracing hook asks: it stays
/// installed and runs the JIT's inside it only then).
pub(crate) fn hook_wanted() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Installs the hook or not, as the windows say (GIL held).
pub fn restore_hook() {
    let wanted = ALWAYS.load(Ordering::Relaxed) || WINDOW_OPEN.load(Ordering::Relaxed);
    if INSTALLED.swap(wanted, Ordering::Relaxed) != wanted {
        crate::hook::set_installed(wanted);
    }
}

/// Installs the hook until the next [`restore_hook`] (GIL held): for resuming a
/// deoptimized call in the frame CPython creates next.
pub fn force_hook() {
    if !INSTALLED.swap(true, Ordering::Relaxed) {
        crate::hook::set_installed(true);
    }
}

/// Starts discovery (GIL held, at start-up).
pub fn start(py: Python<'_>) -> PyResult<()> {
    if settings().threshold <= 1 {
        ALWAYS.store(true, Ordering::Relaxed);
        restore_hook();
        return Ok(());
    }
    // A forked child has no timer thread: start one there (os.fork; a fork that execs
    // does not need one).
    let after_fork = pyo3::wrap_pyfunction!(restart_after_fork, py)?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("after_in_child", after_fork)?;
    py.import("os")?
        .getattr("register_at_fork")?
        .call((), Some(&kwargs))?;
    spawn_timer();
    Ok(())
}

/// In a child made by `os.fork()`: closes the window the parent may have had open and
/// starts a timer thread, unless the fork was made by a thread other than the main
/// one. Such a child ends when its only thread, a `threading.Thread`, finishes; a timer
/// thread would keep the process alive.
#[pyfunction]
fn restart_after_fork(py: Python<'_>) -> PyResult<()> {
    WINDOW_OPEN.store(false, Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
    restore_hook();
    let forked_by_main = match crate::snapshot::imported(py, "threading") {
        Some(threading) => threading
            .call_method0("current_thread")?
            .is_instance(&threading.getattr("_MainThread")?)?,
        // Without `threading` no other thread runs Python code (`_thread` alone is rare
        // enough to not start discovery for).
        None => true,
    };
    if forked_by_main {
        spawn_timer();
    }
    Ok(())
}

/// Runs `f` with every asynchronous signal blocked in this thread, so that threads it
/// starts inherit the mask: signals sent to the process then reach Python's threads
/// only, as under python3 (which has no other threads). A signal delivered to a pyopt
/// thread would run its Python handler at an unexpected moment (and `sigpending()` in
/// a thread that blocked it would not see it). Faults (SIGSEGV and the like) stay
/// unblocked.
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain libc calls on sigset_t values this function owns.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for fault in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut all, fault);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        result
    }
}

fn spawn_timer() {
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
    let spawned = with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("pyopt-discovery".to_owned())
            .spawn(move || timer(generation))
    });
    if let Err(e) = spawned {
        eprintln!("pyopt: cannot start the JIT's discovery thread ({e}); nothing will be compiled");
    }
}

/// Sleeps `duration`.
fn sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep(deadline - now);
    }
}

/// Asks the main thread to run `callback`; false when the timer must stop.
fn ask(generation: u64, callback: extern "C" fn(*mut c_void) -> c_int) -> bool {
    // SAFETY: _Py_IsFinalizing has no preconditions. Py_AddPendingCall needs no GIL;
    // the interpreter is alive until finalization, which is checked first (the gap
    // between the check and the call is a few instructions, and the interpreter is
    // freed long after finalization starts).
    unsafe {
        if GENERATION.load(Ordering::Relaxed) != generation || _Py_IsFinalizing() != 0 {
            return false;
        }
        // A full queue (-1) only skips this window.
        if crate::ffi::pyopt_shim_add_pending_call_main(callback) == 0 {
            crate::ffi::pyopt_shim_wake_main_interpreter();
        }
    }
    true
}

fn timer(generation: u64) {
    let mut period = FIRST_PERIOD;
    let mut until_window = period;
    loop {
        sleep(SAMPLE_PERIOD);
        until_window = until_window.saturating_sub(SAMPLE_PERIOD);
        if !until_window.is_zero() {
            if !ask(generation, sample) {
                return;
            }
            continue;
        }
        let before = COMPILES.load(Ordering::Relaxed);
        if !ask(generation, open_window) {
            return;
        }
        sleep(WINDOW);
        if !ask(generation, close_window) {
            return;
        }
        period = if COMPILES.load(Ordering::Relaxed) != before {
            FIRST_PERIOD
        } else {
            (period * 2).min(MAX_PERIOD)
        };
        until_window = period;
    }
}

/// Code states whose background compile finished, for the main thread to load.
static READY: std::sync::Mutex<Vec<std::sync::Arc<crate::state::CodeState>>> =
    std::sync::Mutex::new(Vec::new());

/// Called on the background pool when a compile finished: asks the main thread to load
/// the code and give the function its trampoline (no window needed).
pub fn compiled_in_background(state: std::sync::Arc<crate::state::CodeState>) {
    // Always kept (never dropped here): the last reference to a state must be dropped
    // with the GIL held, in `load_ready`.
    READY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(state);
    // SAFETY: as in `ask` (no GIL needed; not after finalization started).
    unsafe {
        if _Py_IsFinalizing() == 0 && crate::ffi::pyopt_shim_add_pending_call_main(load_ready) == 0
        {
            crate::ffi::pyopt_shim_wake_main_interpreter();
        }
    }
}

/// Whether a pending call may do its work: not during finalization (Py_FinalizeEx runs
/// the pending calls left over), and only in the main interpreter (they are queued
/// there; this is a second line).
fn may_run() -> bool {
    // SAFETY: pending calls run with the GIL held; these have no other preconditions.
    unsafe { _Py_IsFinalizing() == 0 && crate::ffi::pyopt_shim_in_main_interpreter() != 0 }
}

extern "C" fn load_ready(_: *mut c_void) -> c_int {
    if !may_run() {
        return 0;
    }
    // try_lock: in a child forked while a pool thread held the lock it stays held
    // forever. A compile not taken here is not lost: the next call the hook or the
    // trampoline sees takes it (`finish_pending`).
    let ready = match READY.try_lock() {
        Ok(mut ready) => std::mem::take(&mut *ready),
        Err(_) => return 0,
    };
    // SAFETY: pending calls run with the GIL held, in the main thread.
    unsafe {
        crate::ffi::with_gil_held(|py| {
            for state in &ready {
                crate::state::finish_pending(state);
                crate::trampoline::install_for(py, state);
                crate::osr::loaded(state);
            }
        })
    };
    drop(ready);
    0
}

extern "C" fn open_window(_: *mut c_void) -> c_int {
    if !may_run() {
        return 0;
    }
    WINDOW_OPEN.store(true, Ordering::Relaxed);
    restore_hook();
    crate::hook::compile_long_calls();
    0
}

extern "C" fn sample(_: *mut c_void) -> c_int {
    if !may_run() {
        return 0;
    }
    crate::hook::compile_long_calls();
    0
}

extern "C" fn close_window(_: *mut c_void) -> c_int {
    WINDOW_OPEN.store(false, Ordering::Relaxed);
    restore_hook();
    0
}
