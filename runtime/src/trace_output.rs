//! `PYOPT_TRACE=out.pftrace`: record the run and write it as a Perfetto trace at exit.
//!
//! The process that was given the option writes `out.pftrace`; processes it starts that
//! inherit the option (multiprocessing workers, subprocesses of pyopt-python) write
//! `out.<pid>.pftrace` beside it, each its own process track, so opening the files
//! together in ui.perfetto.dev shows them all. The first process names itself in
//! `_PYOPT_TRACE_OWNER` (an environment variable its children inherit) to tell them
//! apart. A forked child writes `out.<pid>.pftrace` too, with its own events, when it
//! ends normally; one that ends with `os._exit` (as multiprocessing's fork workers do)
//! writes nothing.

use std::path::{Path, PathBuf};

use crate::config::Value;

const OWNER: &str = "_PYOPT_TRACE_OWNER";

/// Where this process writes its trace, if tracing was asked for. Called at start-up,
/// before any other thread exists and before CPython copies the environment.
pub fn start(options: &crate::config::Options) -> Option<PathBuf> {
    let Some(Value::Path(path)) = options.get("trace") else {
        return None;
    };
    let pid = std::process::id();
    let path = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.clone());
    let mine = match std::env::var(OWNER) {
        Ok(owner) if owner != pid.to_string() => per_process(&path, pid),
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
    STARTED_BY.store(pid, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: registers a child handler that only touches the recorder (no lock waits).
    unsafe { libc::pthread_atfork(None, None, Some(forget_parent_events)) };
    pyopt_trace::set_enabled(true);
    pyopt_trace::set_thread_name("main");
    Some(mine)
}

/// In a forked child: its trace holds its own events, not a copy of its parent's.
unsafe extern "C" fn forget_parent_events() {
    pyopt_trace::forget_after_fork();
}

/// `dir/out.pftrace` -> `dir/out.<pid>.pftrace`.
fn per_process(path: &Path, pid: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{pid}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{pid}"),
    };
    path.with_file_name(name)
}

/// The process that chose the trace's path (a forked child has another id).
static STARTED_BY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Writes the recorded trace to `path` (`<stem>.<pid>.<ext>` in a forked child; a temp
/// file renamed into place); a failure is a warning naming the file.
pub fn finish(path: &Path) {
    let pid = std::process::id();
    let forked = STARTED_BY.load(std::sync::atomic::Ordering::Relaxed) != pid;
    let owned;
    let path = if forked {
        owned = per_process(path, pid);
        owned.as_path()
    } else {
        path
    };
    let bytes = pyopt_trace::perfetto::encode_this_process();
    let temp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id()
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
    }
}
