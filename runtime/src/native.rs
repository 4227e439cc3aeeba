//! `python_optimizer._native`: the Rust half of the `python_optimizer` package.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::config::Value;

/// pyopt's options as resolved at start-up: a list of dicts with `key`, `value`,
/// `source` ("default", "environment", "command line"), `active`, `env`, `xoption`
/// and `help`.
#[pyfunction]
fn options(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for setting in crate::options().settings() {
        let entry = PyDict::new(py);
        entry.set_item("key", setting.spec.key)?;
        match &setting.value {
            Value::Bool(b) => entry.set_item("value", b)?,
            Value::Count(n) => entry.set_item("value", n)?,
            Value::Path(p) => entry.set_item("value", p.to_string_lossy())?,
            Value::Unset => entry.set_item("value", py.None())?,
        }
        entry.set_item("source", setting.source.as_str())?;
        entry.set_item("active", setting.spec.active)?;
        entry.set_item("env", setting.spec.env_name())?;
        entry.set_item("xoption", setting.spec.xoption_name())?;
        entry.set_item("help", setting.spec.help)?;
        list.append(entry)?;
    }
    Ok(list)
}

/// Facts about this build, for bug reports: pyopt version, target, profile and the
/// directory of the libpython it links.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("version", crate::VERSION)?;
    info.set_item("target", env!("BUILD_INFO_TARGET"))?;
    info.set_item("profile", env!("BUILD_INFO_PROFILE"))?;
    info.set_item("libpython_dir", env!("BUILD_INFO_LIBPYTHON_DIR"))?;
    Ok(info)
}

fn stats_dict<'py>(
    py: Python<'py>,
    stats: &pyopt_hooks::FunctionStats,
) -> PyResult<Bound<'py, PyDict>> {
    let entry = PyDict::new(py);
    entry.set_item("function", &stats.name)?;
    entry.set_item("file", &stats.filename)?;
    entry.set_item("line", stats.first_line)?;
    entry.set_item("calls", stats.calls)?;
    entry.set_item("specializations", stats.specializations.clone())?;
    let compiles = PyList::empty(py);
    for record in &stats.compiles {
        let compile = PyDict::new(py);
        compile.set_item("signature", &record.signature)?;
        let ms = |n: u64| n as f64 / 1e6;
        compile.set_item("milliseconds", ms(record.nanos.iter().sum()))?;
        let phases = PyDict::new(py);
        for (name, nanos) in ["front_end", "ir", "optimize", "codegen", "link"]
            .iter()
            .zip(record.nanos)
        {
            phases.set_item(name, ms(nanos))?;
        }
        compile.set_item("phases_ms", phases)?;
        compile.set_item("object_bytes", record.object_bytes)?;
        compile.set_item("from_cache", record.from_cache)?;
        compiles.append(compile)?;
    }
    entry.set_item("compiles", compiles)?;
    entry.set_item("deopts", stats.deopts)?;
    let refusals = PyList::empty(py);
    for (signature, reason) in &stats.refusals {
        let refusal = PyDict::new(py);
        refusal.set_item("signature", signature)?;
        refusal.set_item("reason", reason)?;
        refusals.append(refusal)?;
    }
    entry.set_item("refusals", refusals)?;
    entry.set_item("loops", stats.loops.clone())?;
    entry.set_item("loop_entries", stats.loop_entries)?;
    let not_compiled = if stats.specializations.is_empty() && stats.loops.is_empty() {
        stats.refusals.last().map(|(_, reason)| reason.clone())
    } else {
        None
    };
    entry.set_item("not_compiled", not_compiled)?;
    entry.set_item("disabled", stats.disabled)?;
    Ok(entry)
}

/// Per-function JIT statistics: every function the JIT compiled or refused.
#[pyfunction]
fn jit_stats(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for stats in pyopt_hooks::all_stats() {
        list.append(stats_dict(py, &stats)?)?;
    }
    Ok(list)
}

/// JIT statistics of one function (or code object); None if the JIT has not seen it
/// compile-worthy.
#[pyfunction]
fn jit_info<'py>(
    py: Python<'py>,
    function: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let code = match function.getattr("__code__") {
        Ok(code) => code,
        Err(_) => function.clone(),
    };
    // A compiled function's `__code__` is its trampoline; statistics are the original's.
    match pyopt_hooks::stats_for_code(pyopt_hooks::trampoline::resolve(&code) as usize) {
        Some(stats) => Ok(Some(stats_dict(py, &stats)?)),
        None => Ok(None),
    }
}

/// `python_optimizer.optimize`'s work on one function (see `pyopt_hooks::optimize`).
#[pyfunction]
fn optimize_function(
    function: &Bound<'_, PyAny>,
    jit: bool,
    specialize: bool,
    fastmath: bool,
) -> PyResult<()> {
    pyopt_hooks::optimize(function, jit, specialize, fastmath)
}

/// Whether the JIT is on in this process.
#[pyfunction]
fn jit_enabled() -> bool {
    pyopt_hooks::active()
}

/// LLVM's version and the host CPU the JIT compiles for (loads LLVM).
#[pyfunction]
fn jit_target() -> PyResult<String> {
    pyopt_hooks::target().map_err(pyo3::exceptions::PyRuntimeError::new_err)
}

/// The compiled-code cache as pyopt's options name it (opened, and created if need be),
/// or why there is none: `Err(None)` when switched off, `Err(Some(reason))` when the
/// directory cannot be used.
fn open_cache() -> Result<pyopt_cache::Cache, Option<String>> {
    let settings = crate::startup::cache_settings().ok_or(None)?;
    pyopt_cache::Cache::open(&settings.dir, settings.limit).map_err(Some)
}

/// The cache directory pyopt uses (None: `PYOPT_CACHE=0`, or no directory to name).
#[pyfunction]
fn cache_path() -> Option<String> {
    crate::startup::cache_settings().map(|settings| settings.dir.to_string_lossy().into_owned())
}

/// The stats fields both caches share: `path`, `enabled`, `problem` (why the directory
/// cannot be used, or None), what `usage` counts in the directory (under `names`), and
/// this process's `hits`, `misses` and `hit_rate`.
fn common_stats<'py>(
    py: Python<'py>,
    usage: fn(&pyopt_cache::Cache) -> (usize, u64),
    names: [&str; 2],
    hits: u64,
    misses: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let stats = PyDict::new(py);
    stats.set_item("path", cache_path())?;
    stats.set_item("enabled", cache_path().is_some())?;
    let (problem, (count, bytes)) = match open_cache() {
        Ok(cache) => (None, usage(&cache)),
        Err(problem) => (problem, (0, 0)),
    };
    stats.set_item("problem", problem)?;
    stats.set_item(names[0], count)?;
    stats.set_item(names[1], bytes)?;
    stats.set_item("hits", hits)?;
    stats.set_item("misses", misses)?;
    let lookups = hits + misses;
    let rate = if lookups == 0 {
        0.0
    } else {
        hits as f64 / lookups as f64
    };
    stats.set_item("hit_rate", rate)?;
    Ok(stats)
}

/// The cache's state and this process's use of it: `path`, `enabled`, `problem` (why
/// it cannot be used, or None), `limit_bytes`, `entries`, `bytes`, and this process's
/// `hits`, `misses`, `hit_rate`, `skipped`, `stored`, `load_ms` and `compile_ms`.
#[pyfunction]
fn cache_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &pyopt_hooks::code_cache::STATS;
    let stats = common_stats(
        py,
        pyopt_cache::Cache::usage,
        ["entries", "bytes"],
        counters.hits.load(Relaxed),
        counters.misses.load(Relaxed),
    )?;
    let settings = crate::startup::cache_settings();
    stats.set_item("limit_bytes", settings.as_ref().map(|s| s.limit))?;
    stats.set_item("skipped", counters.skipped.load(Relaxed))?;
    stats.set_item("stored", counters.stored.load(Relaxed))?;
    stats.set_item("load_ms", counters.load_nanos.load(Relaxed) as f64 / 1e6)?;
    stats.set_item(
        "compile_ms",
        counters.compile_nanos.load(Relaxed) as f64 / 1e6,
    )?;
    Ok(stats)
}

/// Raises the reason the cache cannot be used as a RuntimeError.
fn cache_or_raise() -> PyResult<pyopt_cache::Cache> {
    open_cache().map_err(|problem| {
        pyo3::exceptions::PyRuntimeError::new_err(match problem {
            Some(reason) => format!("the compiled-code cache cannot be used: {reason}"),
            None => "the compiled-code cache is off (PYOPT_CACHE=0)".to_owned(),
        })
    })
}

/// Every entry, most recently used first: `key`, `function`, `signature`, `bytes`,
/// `hits`, `idle_seconds`, `created` (seconds since the epoch) and `problem` (None, or
/// why the entry is unusable).
#[pyfunction]
fn cache_entries(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for info in cache_or_raise()?.list() {
        let entry = PyDict::new(py);
        entry.set_item("key", &info.key)?;
        entry.set_item("path", info.path.to_string_lossy())?;
        entry.set_item("bytes", info.bytes)?;
        entry.set_item("hits", info.hits)?;
        entry.set_item("idle_seconds", info.idle_seconds)?;
        match &info.meta {
            Ok(meta) => {
                entry.set_item("function", &meta.function)?;
                entry.set_item("signature", &meta.signature)?;
                entry.set_item("created", meta.created)?;
                entry.set_item("problem", py.None())?;
            }
            Err(problem) => {
                entry.set_item("function", py.None())?;
                entry.set_item("signature", py.None())?;
                entry.set_item("created", py.None())?;
                entry.set_item("problem", problem)?;
            }
        }
        list.append(entry)?;
    }
    Ok(list)
}

/// Removes every entry; returns how many there were.
#[pyfunction]
fn cache_clear() -> PyResult<usize> {
    Ok(cache_or_raise()?.clear())
}

/// The warm-start records and this process's use of them: `path`, `enabled`,
/// `problem`, `functions` and `bytes` in the directory, and this process's `hits`
/// (functions seen for the first time that were compiled before, so compiled at once),
/// `misses`, `hit_rate` and `recorded` (signatures it added).
#[pyfunction]
fn spec_cache_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &pyopt_hooks::spec_cache::STATS;
    let stats = common_stats(
        py,
        pyopt_cache::Cache::spec_usage,
        ["functions", "bytes"],
        counters.hits.load(Relaxed),
        counters.misses.load(Relaxed),
    )?;
    stats.set_item("recorded", counters.recorded.load(Relaxed))?;
    Ok(stats)
}

/// Removes every warm-start record; returns how many functions had one.
#[pyfunction]
fn spec_cache_clear() -> PyResult<usize> {
    Ok(cache_or_raise()?.clear_specs())
}

/// Checks every entry; returns `(path, problem)` pairs, problem None for a good one.
#[pyfunction]
fn cache_verify() -> PyResult<Vec<(String, Option<String>)>> {
    Ok(cache_or_raise()?
        .verify()
        .into_iter()
        .map(|result| (result.path.to_string_lossy().into_owned(), result.problem))
        .collect())
}

/// Switches trace recording on (the profiler API records even without `PYOPT_TRACE`).
#[pyfunction]
fn trace_start() {
    pyopt_trace::set_enabled(true);
}

fn trace_arg(key: &str, value: Option<&str>) -> pyopt_trace::Arg {
    match value {
        Some(value) => pyopt_trace::Arg::Str(pyopt_trace::intern(key), pyopt_trace::intern(value)),
        None => pyopt_trace::Arg::None,
    }
}

fn trace_record(kind: pyopt_trace::EventKind, name: &str, category: &str, arg: pyopt_trace::Arg) {
    pyopt_trace::record(pyopt_trace::Event {
        ts: pyopt_trace::now(),
        kind,
        category: pyopt_trace::intern(category),
        name: pyopt_trace::intern(name),
        arg,
    });
}

/// Begins a slice on this thread's track; `args` (JSON text) is its annotation.
#[pyfunction]
#[pyo3(signature = (name, category, args=None))]
fn trace_begin(name: &str, category: &str, args: Option<&str>) {
    trace_record(
        pyopt_trace::EventKind::Begin,
        name,
        category,
        trace_arg("args", args),
    );
}

/// Ends this thread's innermost slice.
#[pyfunction]
fn trace_end() {
    trace_record(pyopt_trace::EventKind::End, "", "", pyopt_trace::Arg::None);
}

/// A point in time on this thread's track.
#[pyfunction]
#[pyo3(signature = (name, category, args=None))]
fn trace_instant(name: &str, category: &str, args: Option<&str>) {
    trace_record(
        pyopt_trace::EventKind::Instant,
        name,
        category,
        trace_arg("args", args),
    );
}

/// A counter's new value (its own track).
#[pyfunction]
fn trace_counter(name: &str, value: f64) {
    let arg = pyopt_trace::Arg::Float(pyopt_trace::intern("value"), value);
    trace_record(pyopt_trace::EventKind::Counter, name, "counter", arg);
}

/// Starts (`end` false) or ends a flow, an arrow between this event and another,
/// possibly in another process, with the same `flow_id`.
#[pyfunction]
fn trace_flow(name: &str, category: &str, flow_id: u64, end: bool) {
    let kind = if end {
        pyopt_trace::EventKind::FlowEnd
    } else {
        pyopt_trace::EventKind::FlowStart
    };
    let arg = pyopt_trace::Arg::Int(pyopt_trace::intern("flow"), flow_id as i64);
    trace_record(kind, name, category, arg);
}

/// Whether the trace recorder is on (PYOPT_TRACE, or a profiler started it).
#[pyfunction]
fn trace_enabled() -> bool {
    pyopt_trace::enabled()
}

/// Names this process's track.
#[pyfunction]
fn trace_set_process_name(name: &str) {
    pyopt_trace::perfetto::set_process_name(name);
}

/// Joins the Perfetto traces at `inputs` (pyopt's, one per process) into one at
/// `output`.
#[pyfunction]
fn trace_merge(inputs: Vec<std::path::PathBuf>, output: std::path::PathBuf) -> PyResult<usize> {
    let error = |message: String| pyo3::exceptions::PyValueError::new_err(message);
    let mut traces = Vec::with_capacity(inputs.len());
    for path in &inputs {
        let bytes = std::fs::read(path)
            .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
        traces.push((path.display().to_string(), bytes));
    }
    let merged = pyopt_trace::perfetto::merge(&traces).map_err(error)?;
    std::fs::write(&output, merged)
        .map_err(|e| error(format!("cannot write {}: {e}", output.display())))?;
    Ok(traces.len())
}

/// Names this thread's track.
#[pyfunction]
fn trace_set_thread_name(name: &str) {
    pyopt_trace::set_thread_name(name);
}

/// Every thread's events so far: dicts with `tid`, `name`, `dropped` and `events`, a
/// list of `(ns, kind, category, name, annotation)` with kind "B", "E", "i", "C", or
/// "s" and "f" (a flow's start and end, the annotation its id), and the annotation a
/// str, an int, a float or None.
#[pyfunction]
fn trace_events(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    use pyopt_trace::{Arg, EventKind, resolve};
    let threads = PyList::empty(py);
    for thread in pyopt_trace::snapshot() {
        let events = PyList::empty(py);
        for event in &thread.events {
            let kind = match event.kind {
                EventKind::Begin => "B",
                EventKind::End => "E",
                EventKind::Instant => "i",
                EventKind::Counter => "C",
                EventKind::FlowStart => "s",
                EventKind::FlowEnd => "f",
            };
            let value = match event.arg {
                Arg::None => py.None(),
                Arg::Int(_, v) => v.into_pyobject(py)?.into_any().unbind(),
                Arg::Float(_, v) => v.into_pyobject(py)?.into_any().unbind(),
                Arg::Str(_, v) => resolve(v).into_pyobject(py)?.into_any().unbind(),
            };
            events.append((
                event.ts,
                kind,
                resolve(event.category),
                resolve(event.name),
                value,
            ))?;
        }
        let entry = PyDict::new(py);
        entry.set_item("tid", thread.tid)?;
        entry.set_item("name", thread.name)?;
        entry.set_item("dropped", thread.dropped)?;
        entry.set_item("events", events)?;
        threads.append(entry)?;
    }
    Ok(threads)
}

/// A flame graph (SVG text) of folded stacks (`a;b;c <count>` lines), drawn by inferno.
#[pyfunction]
fn flamegraph_svg(folded: &str, title: &str) -> PyResult<String> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = "µs".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("flame graph: {e}")))?;
    String::from_utf8(svg)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("flame graph: {e}")))
}

/// Writes everything recorded so far as a Perfetto trace to `path`.
#[pyfunction]
fn trace_write_perfetto(path: std::path::PathBuf) -> PyResult<()> {
    std::fs::write(&path, pyopt_trace::perfetto::encode_this_process()).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
    })
}

#[pymodule]
#[pyo3(name = "_native")]
pub fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", crate::VERSION)?;
    m.add_function(wrap_pyfunction!(options, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_class::<crate::importer::EmbeddedImporter>()?;
    m.add_function(wrap_pyfunction!(jit_stats, m)?)?;
    m.add_function(wrap_pyfunction!(jit_info, m)?)?;
    m.add_function(wrap_pyfunction!(optimize_function, m)?)?;
    m.add_function(wrap_pyfunction!(jit_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(jit_target, m)?)?;
    m.add_function(wrap_pyfunction!(cache_path, m)?)?;
    m.add_function(wrap_pyfunction!(cache_stats, m)?)?;
    m.add_function(wrap_pyfunction!(cache_entries, m)?)?;
    m.add_function(wrap_pyfunction!(cache_clear, m)?)?;
    m.add_function(wrap_pyfunction!(cache_verify, m)?)?;
    m.add_function(wrap_pyfunction!(spec_cache_stats, m)?)?;
    m.add_function(wrap_pyfunction!(spec_cache_clear, m)?)?;
    m.add_function(wrap_pyfunction!(trace_start, m)?)?;
    m.add_function(wrap_pyfunction!(trace_begin, m)?)?;
    m.add_function(wrap_pyfunction!(trace_end, m)?)?;
    m.add_function(wrap_pyfunction!(trace_instant, m)?)?;
    m.add_function(wrap_pyfunction!(trace_counter, m)?)?;
    m.add_function(wrap_pyfunction!(trace_set_thread_name, m)?)?;
    m.add_function(wrap_pyfunction!(trace_flow, m)?)?;
    m.add_function(wrap_pyfunction!(trace_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(trace_set_process_name, m)?)?;
    m.add_function(wrap_pyfunction!(trace_merge, m)?)?;
    m.add_function(wrap_pyfunction!(trace_events, m)?)?;
    m.add_function(wrap_pyfunction!(trace_write_perfetto, m)?)?;
    m.add_function(wrap_pyfunction!(flamegraph_svg, m)?)?;
    crate::native_mpi::register(m)?;
    Ok(())
}
