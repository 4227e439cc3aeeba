//! `PYOPT_TRACE=out.pftrace`: record the run and write it as a Perfetto trace at exit.
//!
//! The process that was given the option writes `out.pftrace`; under an MPI launcher,
//! rank r writes `out.rank<r>.pftrace` (its track named "rank r of N"). Processes
//! they start that inherit the option (multiprocessing workers, subprocesses of
//! pyopt-python) write `out.<pid>.pftrace` beside it, each its own process track;
//! `pyopt-python -m python_optimizer trace merge` joins them into one trace. The first
//! process names itself in `_PYOPT_TRACE_OWNER` (an environment variable its children
//! inherit) to tell them apart. A forked child writes `out.<pid>.pftrace` too, with its
//! own events, when it ends normally, and a multiprocessing worker when its
//! `Process` ends: such a worker leaves through `os._exit`, which skips exit handlers,
//! but first runs multiprocessing's finalizers, and one of them writes the trace
//! (registered in the child once multiprocessing has cleared the parent's). A worker
//! that `Pool.terminate()` ends with SIGTERM writes its trace first and then dies of
//! the signal, as under python3.
//!
//! While tracing, a sampler thread puts the process's resident memory on a counter
//! track every 10 ms.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::config::Value;

const OWNER: &str = "_PYOPT_TRACE_OWNER";

/// Where this process writes its trace (set once options are resolved).
static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();

/// The process that chose the trace's path (a forked child has another id).
static STARTED_BY: AtomicU32 = AtomicU32::new(0);

/// How often the sampler reads the resident memory.
const SAMPLE_PERIOD: std::time::Duration = std::time::Duration::from_millis(10);

/// The process whose sampler thread runs (a forked child starts its own).
static SAMPLER_OF: AtomicU32 = AtomicU32::new(0);

/// Whether this run records a trace (`PYOPT_TRACE`).
pub fn tracing() -> bool {
    matches!(PATH.get(), Some(Some(_)))
}

/// Resolves where this process writes its trace, if tracing was asked for, and starts
/// recording. Called at start-up, before any other thread exists and before CPython
/// copies the environment.
pub fn start(options: &crate::config::Options) {
    let _ = PATH.set(resolve(options));
}

fn resolve(options: &crate::config::Options) -> Option<PathBuf> {
    let Some(Value::Path(path)) = options.get("trace") else {
        return None;
    };
    let pid = std::process::id();
    let path = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.clone());
    let launch = pyopt_mpi::launched().filter(|launch| launch.size > 1);
    let mine = match (launch, std::env::var(OWNER)) {
        (Some(launch), _) => {
            // An MPI rank: every rank was given the same path.
            // SAFETY: start-up is single-threaded (see `startup::initialize`).
            unsafe { std::env::set_var(OWNER, pid.to_string()) };
            pyopt_trace::perfetto::set_process_name(&format!(
                "rank {} of {}",
                launch.rank, launch.size
            ));
            per_rank(&path, launch.rank)
        }
        (None, Ok(owner)) if owner != pid.to_string() => per_process(&path, pid),
        _ => {
            // SAFETY: start-up is single-threaded (see `startup::initialize`).
            unsafe { std::env::set_var(OWNER, pid.to_string()) };
            path
        }
    };
    let events = match options.get("trace_buffer") {
        Some(Value::Count(n)) if *n > 0 => *n as usize,
        _ if options.get("trace_calls") == Some(&Value::Bool(true)) => 1 << 20,
        _ => 1 << 16,
    };
    pyopt_trace::set_capacity(events);
    STARTED_BY.store(pid, Ordering::Relaxed);
    // SAFETY: registers a child handler that only touches the recorder (no lock waits).
    unsafe { libc::pthread_atfork(None, None, Some(forget_parent_events)) };
    pyopt_trace::set_enabled(true);
    pyopt_trace::set_thread_name("main");
    Some(mine)
}

/// Once the interpreter runs (GIL held): starts the sampler and hooks forks, so forked
/// children and multiprocessing workers write their traces too.
pub fn started(py: Python<'_>) {
    start_sampler();
    if let Err(err) = hook_forks(py) {
        eprintln!(
            "pyopt-python: warning: PYOPT_TRACE: forked processes will not write traces: {err}"
        );
    }
}

/// What multiprocessing's after-fork registry keys [`write_at_worker_exit`] on (the
/// registry holds weak references; [`TOKEN`] keeps it alive).
#[pyclass(frozen, weakref, module = "python_optimizer._native")]
struct ForkToken;

static TOKEN: OnceLock<Py<ForkToken>> = OnceLock::new();

fn hook_forks(py: Python<'_>) -> PyResult<()> {
    let _ = TOKEN.set(Py::new(py, ForkToken)?);
    let kwargs = PyDict::new(py);
    kwargs.set_item("after_in_child", wrap_pyfunction!(after_fork_in_child, py)?)?;
    py.import("os")?
        .getattr("register_at_fork")?
        .call((), Some(&kwargs))?;
    Ok(())
}

/// In a forked child: a sampler of its own, and in a multiprocessing worker a trace
/// written when its `Process` ends (registered for after multiprocessing clears the
/// parent's finalizers in `Process._bootstrap`).
#[pyfunction]
fn after_fork_in_child(py: Python<'_>) -> PyResult<()> {
    start_sampler();
    let modules = py.import("sys")?.getattr("modules")?;
    if let Some(util) = modules.cast::<PyDict>()?.get_item("multiprocessing.util")?
        && let Some(token) = TOKEN.get()
    {
        util.call_method1(
            "register_after_fork",
            (
                token.clone_ref(py),
                wrap_pyfunction!(write_at_worker_exit, py)?,
            ),
        )?;
    }
    Ok(())
}

#[pyfunction]
fn write_at_worker_exit(py: Python<'_>, _token: &Bound<'_, PyAny>) -> PyResult<()> {
    let util = py.import("multiprocessing.util")?;
    // The lowest priority runs last, after the worker's own finalizers.
    let kwargs = PyDict::new(py);
    kwargs.set_item("exitpriority", i32::MIN)?;
    util.getattr("Finalize")?
        .call((py.None(), wrap_pyfunction!(write_now, py)?), Some(&kwargs))?;
    let signal = py.import("signal")?;
    let sigterm = signal.getattr("SIGTERM")?;
    if signal
        .call_method1("getsignal", (&sigterm,))?
        .eq(signal.getattr("SIG_DFL")?)?
    {
        write_on_sigterm();
    }
    Ok(())
}

#[pyfunction]
fn write_now() {
    finish();
}

/// SIGTERM arrived (see [`write_on_sigterm`]).
static TERMINATING: AtomicBool = AtomicBool::new(false);

extern "C" fn note_sigterm(_: libc::c_int) {
    TERMINATING.store(true, Ordering::Relaxed);
}

/// Makes SIGTERM write the trace before it ends the process, in a process whose
/// SIGTERM does the default (`Pool.terminate()` kills workers with it). The handler
/// only sets a flag: the sampler thread writes the trace and then raises SIGTERM again
/// with its default action, so the process dies of it as under python3. (A Python-level
/// handler could be lost: a signal arriving just before a blocking wait, like
/// multiprocessing's semaphore waits, is only looked at after the wait.)
fn write_on_sigterm() {
    if SAMPLER_OF.load(Ordering::Relaxed) != std::process::id() {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid value to fill; the handler only stores to
    // an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = note_sigterm as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
    }
}

/// On the sampler thread once SIGTERM arrived: writes the trace and dies of SIGTERM.
fn finish_and_die() -> ! {
    finish();
    // SAFETY: restores the default action and sends the signal to the process; this
    // thread blocks it, so another thread takes it and the process ends.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGTERM);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Starts this process's sampler thread unless it has one (a forked child has none).
fn start_sampler() {
    let pid = std::process::id();
    if !tracing() || SAMPLER_OF.swap(pid, Ordering::Relaxed) == pid {
        return;
    }
    let spawned = pyopt_hooks::discovery::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("pyopt sampler".to_owned())
            .spawn(move || sample_memory(pid))
    });
    if let Err(e) = spawned {
        eprintln!("pyopt-python: warning: PYOPT_TRACE: no memory counter: {e}");
    }
}

/// The resident memory in MiB, from `/proc/self/statm`.
fn resident_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    Some(pages * page / (1024.0 * 1024.0))
}

fn sample_memory(pid: u32) {
    pyopt_trace::set_thread_name("pyopt sampler");
    let (name, category, key) = (
        pyopt_trace::intern("RSS (MiB)"),
        pyopt_trace::intern("process"),
        pyopt_trace::intern("value"),
    );
    // A forked child's copy of this thread does not exist; a new one replaces it.
    while SAMPLER_OF.load(Ordering::Relaxed) == pid {
        if TERMINATING.load(Ordering::Relaxed) {
            finish_and_die();
        }
        if let Some(mib) = resident_mib() {
            pyopt_trace::record(pyopt_trace::Event {
                ts: pyopt_trace::now(),
                kind: pyopt_trace::EventKind::Counter,
                category,
                name,
                arg: pyopt_trace::Arg::Float(key, mib),
            });
        }
        std::thread::sleep(SAMPLE_PERIOD);
    }
}

/// In a forked child: its trace holds its own events, not a copy of its parent's.
unsafe extern "C" fn forget_parent_events() {
    pyopt_trace::forget_after_fork();
}

/// `dir/out.pftrace` -> `dir/out.rank<r>.pftrace`.
fn per_rank(path: &Path, rank: i32) -> PathBuf {
    beside(path, &format!("rank{rank}"))
}

/// `dir/out.pftrace` -> `dir/out.<pid>.pftrace`.
fn per_process(path: &Path, pid: u32) -> PathBuf {
    beside(path, &pid.to_string())
}

/// `dir/out.pftrace` -> `dir/out.<tag>.pftrace`.
fn beside(path: &Path, tag: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{tag}"),
    };
    path.with_file_name(name)
}

/// Writes the recorded trace to this process's file (`<stem>.<pid>.<ext>` in a forked
/// child; a temp file renamed into place); a failure is a warning naming the file.
/// Nothing without `PYOPT_TRACE`. Called at exit, and by a multiprocessing worker as
/// its `Process` ends; a later call writes a newer trace over an earlier one.
pub fn finish() {
    let Some(Some(path)) = PATH.get() else {
        return;
    };
    let pid = std::process::id();
    let owned;
    let path = if STARTED_BY.load(Ordering::Relaxed) != pid {
        owned = per_process(path, pid);
        owned.as_path()
    } else {
        path.as_path()
    };
    let bytes = pyopt_trace::perfetto::encode_this_process();
    // Unique per write: a worker's SIGTERM write can race its exit's.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let temp = path.with_file_name(format!(
        ".{}.tmp-{pid}-{}",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        WRITES.fetch_add(1, Ordering::Relaxed),
    ));
    let written = std::fs::write(&temp, &bytes).and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        eprintln!(
            "pyopt-python: warning: could not write the trace to {} (PYOPT_TRACE): {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_write_beside_the_parents_file() {
        assert_eq!(
            per_process(Path::new("/t/out.pftrace"), 42),
            Path::new("/t/out.42.pftrace")
        );
        assert_eq!(
            per_process(Path::new("/t/trace"), 7),
            Path::new("/t/trace.7")
        );
        assert_eq!(
            per_rank(Path::new("/t/out.pftrace"), 3),
            Path::new("/t/out.rank3.pftrace")
        );
    }

    #[test]
    fn resident_memory_is_read() {
        let mib = resident_mib().unwrap();
        assert!(mib > 0.5 && mib < 1e6, "{mib}");
    }
}
