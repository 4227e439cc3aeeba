//! pyopt's bridge between CPython 3.11 and the JIT.
//!
//! - [`hook`]: the eval-frame hook (counting, dispatch to compiled code);
//! - [`discovery`]: when the hook is installed (short windows, or always for tests);
//! - [`trampoline`]: compiled functions entered through their `__code__`, no hook;
//! - [`state`]: per-code-object state, compiled units and specializations;
//! - [`snapshot`]: what the compiler is told about a function, taken under the GIL;
//! - [`backend`]: loading the LLVM back end library on first use;
//! - [`deopt`]: handing a compiled call over to the interpreter;
//! - [`helpers`], [`random`], [`values`]: the runtime functions compiled code calls;
//! - [`ufunc`]: numpy ufuncs' C struct, checked at snapshot time, and their loops;
//! - [`call_trace`]: `PYOPT_TRACE_CALLS`, every call as a slice, through a hook of its own;
//! - [`ffi`] + `shim.c`: the only code that sees CPython's internal structures.

pub mod backend;
pub mod call_trace;
pub mod code_cache;
pub mod deopt;
pub mod discovery;
pub mod errstate;
pub mod events;
pub mod ffi;
pub mod helpers;
pub mod hook;
pub mod osr;
pub mod owned;
pub mod random;
pub mod snapshot;
pub mod spec_cache;
pub mod state;
pub mod trampoline;
pub mod ufunc;
pub mod values;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The JIT's settings, from pyopt's options.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Calls before a function is compiled (0 and 1: on the first call).
    pub threshold: u64,
    /// One line on stderr per compile, refusal and deoptimization.
    pub log: bool,
    /// Relaxed float semantics (reassociation, contraction), only when the user asks.
    pub fastmath: bool,
    /// Compile on the background pool (not for compile-on-first-call or `@optimize`).
    pub background: bool,
    /// Directory for each compiled unit's LLVM IR and assembly.
    pub dump: Option<String>,
    /// The compiled-code cache (`None`: off).
    pub cache: Option<code_cache::CacheSettings>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static ACTIVE: AtomicBool = AtomicBool::new(false);

pub fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        threshold: 1000,
        ..Settings::default()
    })
}

/// Installs the JIT (GIL held, at start-up, before `__main__` runs).
pub fn install(settings: Settings) -> Result<(), String> {
    let _ = SETTINGS.set(settings);
    hook::install()?;
    pyo3::Python::attach(discovery::start).map_err(|e| format!("cannot start the JIT: {e}"))?;
    ACTIVE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether the JIT's hook is installed.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Statistics of one function the JIT saw.
#[derive(Debug, Clone)]
pub struct FunctionStats {
    pub name: String,
    pub filename: String,
    pub first_line: u32,
    pub calls: u64,
    pub specializations: Vec<String>,
    pub compiles: Vec<state::CompileRecord>,
    pub deopts: u64,
    /// (signature, reason) pairs.
    pub refusals: Vec<(String, String)>,
    pub disabled: bool,
    /// Source lines of the loops compiled for running calls (on-stack replacement).
    pub loops: Vec<u32>,
    /// Times a running call continued in a compiled loop.
    pub loop_entries: u64,
}

fn stats_of(state: &state::CodeState) -> FunctionStats {
    let inner = state.lock();
    FunctionStats {
        name: inner.name.clone(),
        filename: inner.filename.clone(),
        first_line: inner.first_line,
        calls: inner.calls,
        specializations: inner
            .specs
            .iter()
            .map(|s| pyopt_jit::types::signature(&s.params))
            .collect(),
        compiles: inner.compiles.clone(),
        deopts: inner.deopts(),
        refusals: inner.refusals.clone(),
        disabled: inner.disabled,
        loops: inner.osr_specs.iter().map(|s| s.line).collect(),
        loop_entries: inner.osr_entries,
    }
}

/// Every function the JIT compiled or refused.
pub fn all_stats() -> Vec<FunctionStats> {
    let states: Vec<std::sync::Arc<state::CodeState>> = match state::registry().lock() {
        Ok(registry) => registry.values().cloned().collect(),
        Err(_) => return Vec::new(),
    };
    let mut stats: Vec<FunctionStats> = states
        .iter()
        .map(|s| stats_of(s))
        .filter(|s| !s.compiles.is_empty() || !s.refusals.is_empty())
        .collect();
    stats.sort_by(|a, b| (&a.filename, a.first_line).cmp(&(&b.filename, b.first_line)));
    stats
}

/// The statistics of one code object (by address), if the JIT saw it.
pub fn stats_for_code(code: usize) -> Option<FunctionStats> {
    let state = state::registry().lock().ok()?.get(&code).cloned()?;
    Some(stats_of(&state))
}

/// What `python_optimizer.optimize` asks of one function: `jit=False` keeps it in the
/// interpreter for good; otherwise it compiles on its first call (its trampoline is
/// installed now, so no discovery window is needed), with `fastmath` for it alone, and
/// with one specialization only unless `specialize`. Does nothing while the JIT is off.
pub fn optimize(
    function: &pyo3::Bound<'_, pyo3::PyAny>,
    jit: bool,
    specialize: bool,
    fastmath: bool,
) -> pyo3::PyResult<()> {
    use pyo3::types::{PyAnyMethods, PyTypeMethods};
    if !function.is_instance_of::<pyo3::types::PyFunction>() {
        let kind = function.get_type().name()?;
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "python_optimizer.optimize() takes a Python function (def or lambda), not {kind}"
        )));
    }
    if !active() {
        return Ok(());
    }
    // SAFETY: GIL held (a Bound exists); `function` is a live function object, and
    // `code` its original code object, which it keeps alive.
    unsafe {
        let raw = function.as_ptr();
        let code = trampoline::original_code(raw).cast::<pyo3::ffi::PyCodeObject>();
        let state = match hook::existing_state(code) {
            Some(state) => state,
            None => hook::create_state(code, 0).ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err(
                    "pyopt: cannot attach the JIT's state to this function's code",
                )
            })?,
        };
        let state = &*state;
        state::name_state(state, function);
        {
            let mut inner = state.lock();
            if !jit {
                inner.refuse("()".to_owned(), "@optimize(jit=False)".to_owned(), true);
                return Ok(());
            }
            if crate::ffi::pyopt_shim_trampoline_fits(code) == 0 {
                let reason = "@optimize: functions with keyword-only parameters, *args, \
                              **kwargs or closures are not compiled yet";
                inner.refuse("()".to_owned(), reason.to_owned(), true);
                return Ok(());
            }
            inner.requested = state::Requested {
                eager: true,
                fastmath,
                single: !specialize,
            };
        }
        trampoline::install(raw, code, state);
    }
    Ok(())
}

/// LLVM version and host CPU (loads the back end).
/// Ends the JIT's background work once the interpreter is finalized (see
/// [`state::shutdown`]); call before the process exits.
pub fn shutdown() {
    state::shutdown(std::time::Duration::from_secs(10));
}

pub fn target() -> Result<String, String> {
    backend::target()
}
