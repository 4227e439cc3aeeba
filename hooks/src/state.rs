//! What `hooks` keeps per code object and per compiled unit.
//!
//! A [`CodeState`] lives in the code object's `co_extra` slot (and in a registry for
//! statistics) and dies with the code object, taking its compiled units, and their
//! machine code, with it. A [`LoadedUnit`] is one compilation: the plans, the objects
//! and guards its code uses, and the native code. A [`Spec`] is a unit's entry for one
//! argument signature of the function.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyopt_jit::abi::{Ctx, Env, Ret, Watch};
use pyopt_jit::plan::Unit;
use pyopt_jit::types::{self, Ty};

use crate::ffi::Frame;
use crate::snapshot::{self, DictRef, Held, WatchedName};
use crate::{backend, settings};

/// The slot-reading entry of a compiled plan.
pub type EntryFn = unsafe extern "C-unwind" fn(*mut Ctx, *const Env, *mut Frame, *const u64) -> Ret;

/// Most specializations (argument signatures) per function.
pub const MAX_SPECIALIZATIONS: usize = 4;
/// Signatures that failed to compile before a function is given up on.
const MAX_FAILED_SIGNATURES: usize = 3;
/// Compilations (including recompilations after a guard failed) per function.
const MAX_COMPILES: usize = 8;

pub struct LoadedUnit {
    pub unit: Unit,
    pub objects: Vec<Held>,
    pub functions: Vec<Held>,
    /// Qualified names of the request's functions (for logs).
    pub names: Vec<String>,
    /// Source line of each plan's deoptimization points, for logs: (file, function).
    pub files: Vec<String>,
    watched: Vec<WatchedName>,
    dicts: Vec<DictRef>,
    _object_pointers: Box<[*mut ffi::PyObject]>,
    watches: UnsafeCell<Box<[Watch]>>,
    env: UnsafeCell<Env>,
    pub globals: *mut ffi::PyObject,
    pub builtins: *mut ffi::PyObject,
    pub handle: u64,
    /// What the code was linked from (the cache entry's mapping or the compiled object),
    /// kept until the code is released.
    _object: crate::code_cache::ObjectBytes,
    pub max_slots: usize,
    /// A module body's loop: its variables are the module's globals, held in registers
    /// while it runs, so no other Python code may run until it hands back (see
    /// `pyopt_poll`).
    pub module_body: bool,
    pub valid: AtomicBool,
    pub deopts: AtomicU64,
}

// SAFETY: every use of a unit's Python objects and raw pointers happens with the GIL
// held; the atomics are the only state touched without it.
unsafe impl Send for LoadedUnit {}
// SAFETY: as above.
unsafe impl Sync for LoadedUnit {}

impl LoadedUnit {
    pub fn env(&self) -> *const Env {
        self.env.get()
    }

    /// Re-checks every watched name after a dict changed (GIL held). Updates the
    /// expected versions and returns true if all still refer to the same objects.
    fn revalidate(&self, py: Python<'_>) -> bool {
        for watched in &self.watched {
            let dict = self.dicts[watched.dict].as_ptr();
            // SAFETY: borrowed dicts are alive while code of this unit runs (the frame
            // holds them); the others are held by `dicts`.
            let dict = unsafe { Bound::from_borrowed_ptr(py, dict) };
            let Ok(dict) = dict.cast_into::<PyDict>() else {
                return false;
            };
            if !snapshot::still_valid(&dict, watched) {
                return false;
            }
        }
        // SAFETY: compiled code only reads the watches; this runs on the thread that
        // holds the GIL, which every reader needs.
        let watches = unsafe { &mut *self.watches.get() };
        for watch in watches.iter_mut() {
            // SAFETY: `version` points into a live dict (as above).
            watch.expected = unsafe { *watch.version };
        }
        true
    }
}

impl Drop for LoadedUnit {
    fn drop(&mut self) {
        backend::release(self.handle);
    }
}

/// `pyopt_guards_changed`: a watched dict's version changed.
///
/// # Safety
/// Called by compiled code of the unit `env` belongs to, with the GIL held.
pub unsafe extern "C-unwind" fn pyopt_guards_changed(env: *const Env) -> u32 {
    // SAFETY: `unit` points at the LoadedUnit owning this env (see `LoadedUnit::load`).
    let unit = unsafe { &*((*env).unit as *const LoadedUnit) };
    Python::attach(|py| {
        if unit.valid.load(Ordering::Relaxed) && unit.revalidate(py) {
            0
        } else {
            unit.valid.store(false, Ordering::Relaxed);
            1
        }
    })
}

/// `pyopt_poll`: the eval breaker is set at a loop back-edge.
///
/// # Safety
/// Called by compiled code of `env`'s unit with the GIL held.
pub unsafe extern "C-unwind" fn pyopt_poll(ctx: *mut Ctx, env: *const Env) -> u32 {
    // SAFETY: per this function's contract.
    unsafe { poll(ctx, env, false) }
}

/// `pyopt_poll_borrowing`: `pyopt_poll` for a frame that borrows lists out of
/// containers: another thread waiting for the GIL could free one, so the frame hands
/// over to the interpreter (which holds references) instead of letting it run.
///
/// # Safety
/// As for [`pyopt_poll`].
pub unsafe extern "C-unwind" fn pyopt_poll_borrowing(ctx: *mut Ctx, env: *const Env) -> u32 {
    // SAFETY: per this function's contract.
    unsafe { poll(ctx, env, true) }
}

/// # Safety
/// As for [`pyopt_poll`].
unsafe fn poll(_ctx: *mut Ctx, env: *const Env, borrowing: bool) -> u32 {
    // SAFETY: per the callers' contract.
    unsafe {
        let tstate = ffi::PyThreadState_Get();
        let reasons = crate::ffi::pyopt_shim_breaker_reasons(tstate);
        let unit = &*((*env).unit as *const LoadedUnit);
        if reasons & 1 != 0 {
            return 1; // signals and asynchronous exceptions: the interpreter handles them
        }
        if borrowing && reasons & 4 != 0 {
            return 1; // another thread wants the GIL
        }
        if unit.module_body && reasons != 0 {
            // Pending calls and other threads may read the module's variables, which
            // this loop holds: hand back (the loop is entered again at a later window).
            return 1;
        }
        // Pending calls (pyopt's discovery windows, mostly) run here, as the
        // interpreter would run them at this back-edge; one that fails hands over to
        // the interpreter with its exception.
        if reasons & 2 != 0 && ffi::Py_MakePendingCalls() < 0 {
            return 1;
        }
        if reasons & 4 != 0 {
            // Let the thread waiting for the GIL run, then carry on natively.
            let saved = ffi::PyEval_SaveThread();
            ffi::PyEval_RestoreThread(saved);
        }
        let watches = &*unit.watches.get();
        if watches.iter().any(|w| *w.version != w.expected) {
            // The other thread changed a watched dict.
            return pyopt_guards_changed(env);
        }
        0
    }
}

/// One compiled signature of a function.
pub struct Spec {
    pub params: Vec<Ty>,
    pub unit: Arc<LoadedUnit>,
    pub entry: EntryFn,
}

/// A compile that happened, for statistics.
#[derive(Clone, Debug)]
pub struct CompileRecord {
    pub signature: String,
    /// Front end, IR, optimization, code generation, linking (nanoseconds).
    pub nanos: [u64; 5],
    pub object_bytes: usize,
    /// The code was loaded from the compiled-code cache rather than compiled.
    pub from_cache: bool,
}

#[derive(Default)]
pub struct CodeInner {
    pub name: String,
    pub filename: String,
    pub first_line: u32,
    pub calls: u64,
    pub specs: Vec<Arc<Spec>>,
    pub compiles: Vec<CompileRecord>,
    /// (signature, reason) of each refusal.
    pub refusals: Vec<(String, String)>,
    failed: Vec<Vec<Ty>>,
    /// Set when the function will never be compiled (the reason is the last refusal).
    pub disabled: bool,
    /// What `@optimize` asked for this function.
    pub requested: Requested,
    /// A compile running on the background pool.
    pub pending: Option<PendingCompile>,
    /// Deoptimizations of units that were replaced (live units count their own).
    pub retired_deopts: u64,
    /// On-stack replacement (see `osr`): compiled loops, by header and frame types.
    pub osr_specs: Vec<OsrSpec>,
    /// Byte offsets of the loop headers (targets of backward jumps), once computed.
    pub loop_headers: Option<Vec<u32>>,
    /// Loop headers whose compile was refused.
    pub osr_refused: Vec<u32>,
    /// Times a running call of this code waited for a loop header without reaching it.
    pub osr_misses: u32,
    /// Times a running call continued in compiled code.
    pub osr_entries: u64,
    /// Loop headers whose first entry was logged.
    pub osr_logged: Vec<u32>,
}

/// A compiled loop: entered in a running frame at the header `request.offset` when the
/// frame's locals and stack match `request`.
#[derive(Clone)]
pub struct OsrSpec {
    pub request: pyopt_jit::snapshot::OsrRequest,
    /// Source line of the header (for logs and statistics).
    pub line: u32,
    pub spec: Arc<Spec>,
}

/// What the background pool hands back: the plan and native code, or why not.
type Built = Result<(Unit, crate::code_cache::Native, u64), String>;

/// A compile on the background pool. The snapshot (Python references) stays here,
/// under the GIL; the pool only sees its plain-data request.
pub struct PendingCompile {
    types: Vec<Ty>,
    snapshot: snapshot::Snapshot,
    versions: Vec<u64>,
    result: Arc<Mutex<Option<Built>>>,
}

impl PendingCompile {
    /// Whether this compiles a loop for on-stack replacement.
    pub fn is_osr(&self) -> bool {
        self.snapshot.request.osr.is_some()
    }
}

// SAFETY: the snapshot's Python references are only touched with the GIL held (the
// pool gets a copy of the request, plain data).
unsafe impl Send for PendingCompile {}

/// Per-function choices made with `python_optimizer.optimize`.
#[derive(Default, Clone, Copy)]
pub struct Requested {
    /// Compile on the first call, whatever the threshold.
    pub eager: bool,
    /// Relaxed float arithmetic for this function.
    pub fastmath: bool,
    /// One specialization only (the first call's argument types).
    pub single: bool,
}

pub struct CodeState {
    /// The code object's address: its key in [`registry`].
    pub code: usize,
    pub inner: Mutex<CodeInner>,
}

impl CodeState {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, CodeInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CodeInner {
    pub fn deopts(&self) -> u64 {
        self.retired_deopts
            + self
                .specs
                .iter()
                .chain(self.osr_specs.iter().map(|s| &s.spec))
                .map(|s| s.unit.deopts.load(Ordering::Relaxed))
                .sum::<u64>()
    }

    /// Drops compiled loops whose guards failed (their deoptimizations stay counted);
    /// returns them, for the caller to drop once it released the state's lock.
    #[must_use]
    pub fn prune_loops(&mut self) -> Vec<OsrSpec> {
        let (keep, dead): (Vec<_>, Vec<_>) = self
            .osr_specs
            .drain(..)
            .partition(|s| s.spec.unit.valid.load(Ordering::Relaxed));
        self.retired_deopts += dead
            .iter()
            .map(|s| s.spec.unit.deopts.load(Ordering::Relaxed))
            .sum::<u64>();
        self.osr_specs = keep;
        dead
    }

    /// Records why the function is not compiled for `signature` (e.g. "(int, str)").
    pub fn refuse(&mut self, signature: String, reason: String, disable: bool) {
        crate::events::refusal(&format!("{}{signature}", self.name), &reason);
        if settings().log {
            eprintln!(
                "pyopt: not compiling {} ({}:{}) for {signature}: {reason}",
                self.name, self.filename, self.first_line
            );
        }
        if !self
            .refusals
            .iter()
            .any(|(s, r)| *s == signature && *r == reason)
        {
            self.refusals.push((signature, reason));
        }
        if disable {
            self.disabled = true;
        }
    }

    fn log_compile(&self, record: &CompileRecord) {
        if settings().log {
            let total: u64 = record.nanos.iter().sum();
            eprintln!(
                "pyopt: compiled {} ({}:{}) for {} in {:.2} ms",
                self.name,
                self.filename,
                self.first_line,
                record.signature,
                total as f64 / 1e6
            );
        }
    }

    /// Removes specializations whose guards failed and returns them, for the caller to
    /// drop once it released the state's lock.
    #[must_use]
    pub fn prune(&mut self) -> Vec<Arc<Spec>> {
        if self
            .specs
            .iter()
            .all(|s| s.unit.valid.load(Ordering::Relaxed))
        {
            return Vec::new();
        }
        let (keep, dead): (Vec<_>, Vec<_>) = self
            .specs
            .drain(..)
            .partition(|s| s.unit.valid.load(Ordering::Relaxed));
        self.retired_deopts += dead
            .iter()
            .map(|s| s.unit.deopts.load(Ordering::Relaxed))
            .sum::<u64>();
        self.specs = keep;
        dead
    }
}

/// Every live code state, for statistics (code object address -> state).
pub fn registry() -> &'static Mutex<HashMap<usize, Arc<CodeState>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<usize, Arc<CodeState>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Names a state created for a long call (for logs and statistics), once.
pub fn ensure_named(state: &CodeState, function: &Bound<'_, PyAny>) {
    if state.lock().name.is_empty() {
        name_state(state, function);
    }
}

/// Records the function's name, file and first line in its state (for statistics and
/// log lines). Call without holding the state's lock.
pub fn name_state(state: &CodeState, function: &Bound<'_, PyAny>) {
    let (name, filename, first_line) = match snapshot::function_parts(function) {
        Ok((code, _, _)) => (
            code.getattr("co_qualname")
                .and_then(|n| n.extract())
                .unwrap_or_default(),
            code.getattr("co_filename")
                .and_then(|n| n.extract())
                .unwrap_or_default(),
            code.getattr("co_firstlineno")
                .and_then(|n| n.extract())
                .unwrap_or(0),
        ),
        Err(_) => (String::from("?"), String::new(), 0),
    };
    let mut inner = state.lock();
    inner.name = name;
    inner.filename = filename;
    inner.first_line = first_line;
}

/// Decides, after a call was counted, whether to compile now, and does it. Returns the
/// new specialization.
pub fn maybe_compile(
    py: Python<'_>,
    state: &CodeState,
    function: &Bound<'_, PyAny>,
    args: &[Bound<'_, PyAny>],
) -> Option<Arc<Spec>> {
    let mut inner = state.lock();
    if inner.disabled
        || (!inner.requested.eager && inner.calls < crate::discovery::threshold().max(1))
    {
        return None;
    }
    if inner.name.is_empty() {
        // Python code must not run while the lock is held (it can call this function).
        drop(inner);
        name_state(state, function);
        inner = state.lock();
    }

    let mut types = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        match snapshot::type_of(arg) {
            Some(ty) => types.push(ty),
            None => {
                let type_name = arg
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let what = if arg.is_exact_instance_of::<pyo3::types::PyInt>() {
                    "an int beyond 64 bits".to_owned()
                } else if let Some(array) = snapshot::describe_array(arg) {
                    array
                } else {
                    format!("a {type_name}")
                };
                let names: Vec<String> = args
                    .iter()
                    .map(|a| {
                        a.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    })
                    .collect();
                let signature = format!("({})", names.join(", "));
                inner.refuse(signature, format!("argument {} is {what}", i + 1), true);
                return None;
            }
        }
    }
    let most = if inner.requested.single {
        1
    } else {
        MAX_SPECIALIZATIONS
    };
    if inner.failed.contains(&types) || inner.specs.len() >= most {
        return None;
    }
    if inner.compiles.len() >= MAX_COMPILES {
        inner.refuse(
            types::signature(&types),
            "recompiled too often (the globals it uses keep changing)".to_owned(),
            true,
        );
        return None;
    }
    if inner.pending.is_some() {
        return None; // one compile at a time per function
    }
    let fastmath = settings().fastmath || inner.requested.fastmath;
    let background =
        settings().background && !inner.requested.eager && crate::discovery::threshold() > 1;
    drop(inner); // compiling runs Python code (snapshots) and may re-enter the hook
    let taken = take_snapshot(py, function, types.clone(), fastmath, None);
    if background
        && let Some(pool) = pool()
        && let Ok((snapshot, versions)) = taken
    {
        compile_in_background(pool, state, types, snapshot, versions);
        return None;
    }
    let result = taken.and_then(|(snapshot, versions)| {
        let built = build(&snapshot.request);
        finish(snapshot, versions, &types, built)
    });
    record_result(state, types, result)
}

/// Hands a snapshot to the background pool; when the compile is done, a pending call
/// loads it (`discovery::compiled_in_background`).
/// Background compiles queued or running (see [`shutdown`]).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Set once the interpreter is finalized: queued compiles are dropped.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Counts a background compile from its queueing to its end (even if it panicked).
struct InFlight;

impl InFlight {
    fn new() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Called once the interpreter is finalized, before the process exits: drops queued
/// compiles and waits (at most `limit`) for running ones, so no thread is inside LLVM
/// while the process's static destructors run (a crash at exit otherwise, now and
/// then, when a script ends while functions are compiling).
pub fn shutdown(limit: std::time::Duration) {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + limit;
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn compile_in_background(
    pool: &rayon::ThreadPool,
    state: &CodeState,
    types: Vec<Ty>,
    snapshot: snapshot::Snapshot,
    versions: Vec<u64>,
) {
    let request = snapshot.request.clone();
    let result = Arc::new(Mutex::new(None));
    let filled = result.clone();
    let owner = registry()
        .lock()
        .ok()
        .and_then(|r| r.get(&state.code).cloned());
    let in_flight = InFlight::new();
    pool.spawn(move || {
        let _in_flight = in_flight;
        if SHUTTING_DOWN.load(Ordering::SeqCst) {
            // (`owner` is not dropped here: a state's last reference goes with the GIL.)
            std::mem::forget(owner);
            return;
        }
        let built = build(&request);
        if let Ok(mut slot) = filled.lock() {
            *slot = Some(built);
        }
        if let Some(owner) = owner {
            crate::discovery::compiled_in_background(owner);
        }
    });
    state.lock().pending = Some(PendingCompile {
        types,
        snapshot,
        versions,
        result,
    });
}

/// Compiles `function`'s loop at the header `request.offset` for a running frame in
/// the state `request` describes (GIL held): in the background, or now when compiles
/// wait. Returns the compiled loop when it is ready now.
pub fn compile_loop(
    py: Python<'_>,
    state: &CodeState,
    function: &Bound<'_, PyAny>,
    request: pyopt_jit::snapshot::OsrRequest,
) -> Option<OsrSpec> {
    let fastmath = {
        let inner = state.lock();
        if inner.pending.is_some() {
            return None; // one compile at a time per function
        }
        settings().fastmath || inner.requested.fastmath
    };
    ensure_named(state, function);
    let offset = request.offset;
    let taken = take_snapshot(py, function, Vec::new(), fastmath, Some(request));
    if settings().background
        && let Some(pool) = pool()
        && let Ok((snapshot, versions)) = taken
    {
        compile_in_background(pool, state, Vec::new(), snapshot, versions);
        return None;
    }
    match taken {
        Ok((snapshot, versions)) => {
            let built = build(&snapshot.request);
            record_loop_result(state, snapshot, versions, built)
        }
        Err(reason) => {
            let mut inner = state.lock();
            inner.osr_refused.push(offset);
            let line = snapshot::function_parts(function)
                .map_or(0, |(code, _, _)| crate::osr::code_line(&code, offset));
            inner.refuse(format!("the loop at line {line}"), reason, false);
            None
        }
    }
}

/// Records a loop compile's outcome: a new compiled loop, or a refusal.
fn record_loop_result(
    state: &CodeState,
    snapshot: snapshot::Snapshot,
    versions: Vec<u64>,
    built: Built,
) -> Option<OsrSpec> {
    let request = snapshot.request.osr.clone()?;
    let line = snapshot
        .request
        .functions
        .first()
        .and_then(|f| f.line_of(request.offset))
        .unwrap_or(0);
    let place = format!("the loop at line {line}");
    let result = finish(snapshot, versions, &[], built);
    let mut inner = state.lock();
    match result {
        Ok((spec, mut record)) => {
            record.signature = place;
            inner.log_compile(&record);
            inner.compiles.push(record);
            crate::discovery::compiled();
            let loop_spec = OsrSpec {
                request,
                line,
                spec,
            };
            inner.osr_specs.push(loop_spec.clone());
            Some(loop_spec)
        }
        Err(reason) => {
            inner.osr_refused.push(request.offset);
            inner.refuse(place, reason, false);
            None
        }
    }
}

/// The background compile pool: rayon's threads, started with signals blocked (see
/// `discovery::with_signals_blocked`). `None` if it cannot start: compiles then run in
/// the call.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        crate::discovery::with_signals_blocked(|| {
            rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("pyopt-compile-{i}"))
                .build()
                .ok()
        })
    })
    .as_ref()
}

/// Takes a finished background compile's result into the state (GIL held); returns
/// the new specialization.
pub fn finish_pending(state: &CodeState) -> Option<Arc<Spec>> {
    let pending = {
        let mut inner = state.lock();
        let ready = inner
            .pending
            .as_ref()
            .is_some_and(|p| p.result.lock().map(|r| r.is_some()).unwrap_or(true));
        if !ready {
            return None;
        }
        inner.pending.take()?
    };
    let built = pending
        .result
        .lock()
        .ok()
        .and_then(|mut slot| slot.take())
        .unwrap_or_else(|| Err("the background compile failed".to_owned()));
    if pending.is_osr() {
        record_loop_result(state, pending.snapshot, pending.versions, built);
        return None;
    }
    let result = finish(pending.snapshot, pending.versions, &pending.types, built);
    record_result(state, pending.types, result)
}

/// Records a compile's outcome: a new specialization, or a refusal.
fn record_result(
    state: &CodeState,
    types: Vec<Ty>,
    result: Result<(Arc<Spec>, CompileRecord), String>,
) -> Option<Arc<Spec>> {
    let mut inner = state.lock();
    match result {
        Ok((spec, record)) => {
            inner.log_compile(&record);
            let signature = record.signature.clone();
            inner.compiles.push(record);
            crate::discovery::compiled();
            inner.specs.push(spec.clone());
            crate::events::compiled();
            drop(inner); // recording reads the code object's attributes
            // SAFETY: GIL held; a state lives in its code object's co_extra, so the code
            // is alive.
            unsafe { crate::spec_cache::record(state.code as *mut ffi::PyCodeObject, &signature) };
            Some(spec)
        }
        Err(reason) => {
            inner.failed.push(types.clone());
            let disable = inner.failed.len() >= MAX_FAILED_SIGNATURES;
            inner.refuse(types::signature(&types), reason, disable);
            None
        }
    }
}

/// The snapshot a compile starts from (GIL held), with the version of each dict it
/// watches at this moment: code built from it is valid only while they stay.
fn take_snapshot(
    py: Python<'_>,
    function: &Bound<'_, PyAny>,
    types: Vec<Ty>,
    fastmath: bool,
    osr: Option<pyopt_jit::snapshot::OsrRequest>,
) -> Result<(snapshot::Snapshot, Vec<u64>), String> {
    let snapshot = snapshot::take(function, types, fastmath, osr).map_err(|e| {
        let message = e.to_string();
        e.restore(py);
        PyErr::take(py); // the snapshot's failure is reported as a refusal
        format!("could not read the function: {message}")
    })?;
    let versions = snapshot
        .dicts
        .iter()
        // SAFETY: the dicts are alive (GIL held).
        .map(|dict| unsafe { *crate::ffi::pyopt_shim_dict_version(dict.as_ptr()) })
        .collect();
    Ok((snapshot, versions))
}

/// Front end and back end: plain data in, plan and native code out (no GIL needed).
/// The last element is the front end's time in nanoseconds.
fn build(request: &pyopt_jit::snapshot::CompileRequest) -> Built {
    let started = Instant::now();
    let signature = match &request.osr {
        Some(osr) => format!("loop at byte {}", osr.offset),
        None => types::signature(&request.arg_types),
    };
    let _compile = crate::events::compile(&request.functions[0].qualname, &signature);
    let front_end = crate::events::phase("front end");
    let unit = pyopt_jit::plan_unit(request).map_err(|refusal| {
        let root = &request.functions[0];
        let place = match refusal.line {
            Some(line) => format!("line {line}"),
            None => "its definition".to_owned(),
        };
        if refusal.function == root.qualname && refusal.filename == root.filename {
            format!("{} ({place})", refusal.construct)
        } else {
            format!(
                "it calls {}, which is not compiled: {} ({}:{})",
                refusal.function,
                refusal.construct,
                refusal.filename,
                refusal.line.unwrap_or(0)
            )
        }
    })?;
    let mut unit = unit;
    unit.dump = settings().dump.clone();
    drop(front_end);
    let front_end = started.elapsed().as_nanos() as u64;
    let native = crate::code_cache::obtain(&unit, &request.functions[0].qualname, &signature)?;
    Ok((unit, native, front_end))
}

/// Loads built code as a specialization (GIL held).
fn finish(
    snapshot: snapshot::Snapshot,
    versions: Vec<u64>,
    types: &[Ty],
    built: Built,
) -> Result<(Arc<Spec>, CompileRecord), String> {
    let (unit, compiled, front_end) = built?;
    let record = CompileRecord {
        signature: types::signature(types),
        nanos: [
            front_end,
            compiled.nanos[0],
            compiled.nanos[1],
            compiled.nanos[2],
            compiled.nanos[3],
        ],
        object_bytes: compiled.object_len,
        from_cache: compiled.from_cache,
    };
    let entry_address = compiled.entries[0];
    let unit = load(snapshot, versions, unit, compiled);
    // SAFETY: the back end returned the address of plan 0's entry wrapper, which has
    // exactly the EntryFn signature (pyopt_jit::abi).
    let entry: EntryFn = unsafe { std::mem::transmute::<usize, EntryFn>(entry_address as usize) };
    Ok((
        Arc::new(Spec {
            params: types.to_vec(),
            unit,
            entry,
        }),
        record,
    ))
}

/// `versions`: each watched dict's version when the snapshot was taken. A dict that
/// changed since (while the code was being built) fails the guard on the first call,
/// which re-checks the names.
fn load(
    snapshot: snapshot::Snapshot,
    versions: Vec<u64>,
    unit: Unit,
    compiled: crate::code_cache::Native,
) -> Arc<LoadedUnit> {
    let object_pointers: Box<[*mut ffi::PyObject]> =
        snapshot.objects.iter().map(Held::address).collect();
    let watches: Box<[Watch]> = snapshot
        .dicts
        .iter()
        .zip(versions)
        .map(|(dict, expected)| Watch {
            // SAFETY: the dicts are alive now (GIL held); see DictRef for later.
            version: unsafe { crate::ffi::pyopt_shim_dict_version(dict.as_ptr()) },
            expected,
        })
        .collect();
    let max_slots = unit.max_deopt_slots();
    let module_body = snapshot
        .request
        .osr
        .as_ref()
        .is_some_and(|o| o.module_names.is_some());
    let names = snapshot
        .request
        .functions
        .iter()
        .map(|f| f.qualname.clone())
        .collect();
    let files = snapshot
        .request
        .functions
        .iter()
        .map(|f| f.filename.clone())
        .collect();
    Arc::new_cyclic(|weak: &std::sync::Weak<LoadedUnit>| {
        let mut watches = watches;
        let env = Env {
            objects: object_pointers.as_ptr().cast(),
            watches: watches.as_mut_ptr(),
            nwatches: watches.len() as u64,
            unit: weak.as_ptr().cast(),
        };
        LoadedUnit {
            unit,
            objects: snapshot.objects,
            functions: snapshot.functions,
            names,
            files,
            watched: snapshot.watched,
            dicts: snapshot.dicts,
            _object_pointers: object_pointers,
            watches: UnsafeCell::new(watches),
            env: UnsafeCell::new(env),
            globals: snapshot.globals,
            builtins: snapshot.builtins,
            handle: compiled.handle,
            _object: compiled.bytes,
            max_slots,
            module_body,
            valid: AtomicBool::new(true),
            deopts: AtomicU64::new(0),
        }
    })
}
