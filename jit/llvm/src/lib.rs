//! pyopt's JIT back end: typed plans to native code through LLVM.
//!
//! Built as a shared library that `hooks` embeds and loads the first time a function is
//! compiled (LLVM's start-up costs ~14 ms, so processes that compile nothing never pay
//! it), loaded privately so extension modules with their own LLVM never see this one.
//! The library exports one symbol, [`pyopt_backend_api`]; everything crosses the
//! boundary as C types and serialized plans (`pyopt_jit::abi`).

pub mod codegen;
pub mod late;

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcLLJITAddObjectFileWithRT, LLVMOrcLLJITGetMainJITDylib,
    LLVMOrcLLJITLookup, LLVMOrcLLJITMangleAndIntern, LLVMOrcLLJITRef,
};
use llvm_sys::orc2::{
    LLVMJITEvaluatedSymbol, LLVMJITSymbolFlags, LLVMJITSymbolGenericFlags, LLVMOrcAbsoluteSymbols,
    LLVMOrcCSymbolMapPair, LLVMOrcExecutionSessionSetErrorReporter,
    LLVMOrcJITDylibCreateResourceTracker, LLVMOrcJITDylibDefine, LLVMOrcReleaseResourceTracker,
    LLVMOrcResourceTrackerRef, LLVMOrcResourceTrackerRemove,
};
use pyopt_jit::abi::{ABI_VERSION, BackendApi, CompileOutput, HelperSymbol, helper};
use pyopt_jit::plan::Unit;

/// An object file loaded into the JIT, shared by every handle loading the same prefix
/// (the same unit, compiled or taken from the cache twice in one process).
struct LoadedObject {
    tracker: LLVMOrcResourceTrackerRef,
    entries: Vec<u64>,
    users: usize,
}

struct Jit {
    jit: LLVMOrcLLJITRef,
    /// By symbol prefix.
    loaded: HashMap<String, LoadedObject>,
    /// Each handle's prefix.
    handles: HashMap<u64, String>,
    next_handle: u64,
    /// Made once: creating a target machine costs milliseconds.
    machine: TargetMachine,
}

// SAFETY: LLJIT is thread-safe for adding objects and lookups, and the target machine
// is only used under the mutex below.
unsafe impl Send for Jit {}

static JIT: Mutex<Option<Jit>> = Mutex::new(None);

fn take_error(error: LLVMErrorRef) -> Result<(), String> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null LLVMErrorRef is consumed by LLVMGetErrorMessage, whose string
    // we copy and dispose.
    unsafe {
        let message = LLVMGetErrorMessage(error);
        let text = CStr::from_ptr(message).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(message);
        Err(text)
    }
}

fn target_machine() -> Result<TargetMachine, String> {
    Target::initialize_native(&InitializationConfig::default())?;
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
    let cpu = TargetMachine::get_host_cpu_name();
    let features = TargetMachine::get_host_cpu_features();
    target
        .create_target_machine(
            &triple,
            cpu.to_str().unwrap_or("generic"),
            features.to_str().unwrap_or(""),
            OptimizationLevel::Aggressive,
            RelocMode::PIC,
            CodeModel::Default,
        )
        .ok_or_else(|| "LLVM could not create a target machine for this CPU".to_owned())
}

fn init(helpers: &[(String, u64)]) -> Result<(), String> {
    let mut guard = JIT.lock().map_err(|_| "JIT lock poisoned")?;
    if guard.is_some() {
        return Ok(());
    }
    Target::initialize_native(&InitializationConfig::default())?;
    // No SLP vectorization: on straight-line float code (n-body steps) it packs scalars
    // into 512-bit vectors and spends more on shuffles and spills than it saves (the
    // n-body kernel: 5.9 ms with it, 4.7 ms without, the same as Numba). Pipeline
    // options do not switch it off in LLVM 22; the command-line option does (it is
    // global to the libLLVM this library loads).
    let options = [c"pyopt-jit".as_ptr(), c"-vectorize-slp=false".as_ptr()];
    // SAFETY: two NUL-terminated strings; called once, before any compilation.
    unsafe {
        llvm_sys::support::LLVMParseCommandLineOptions(2, options.as_ptr(), std::ptr::null());
    }
    let mut jit: LLVMOrcLLJITRef = std::ptr::null_mut();
    // SAFETY: creating an LLJIT with default options; `jit` receives the instance.
    take_error(unsafe { LLVMOrcCreateLLJIT(&mut jit, std::ptr::null_mut()) })?;
    // ORC prints session errors to stderr by default; a user's program must never see
    // them (a failed link is reported as a refusal instead).
    // SAFETY: the callback ignores its arguments and consumes the error.
    unsafe {
        LLVMOrcExecutionSessionSetErrorReporter(
            llvm_sys::orc2::lljit::LLVMOrcLLJITGetExecutionSession(jit),
            silent_error_reporter,
            std::ptr::null_mut(),
        );
    }
    let names: Vec<CString> = helpers
        .iter()
        .map(|(name, _)| CString::new(name.as_str()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut pairs: Vec<LLVMOrcCSymbolMapPair> = names
        .iter()
        .zip(helpers)
        .map(|(name, (_, address))| LLVMOrcCSymbolMapPair {
            // SAFETY: `jit` is live; the name is a NUL-terminated string.
            Name: unsafe { LLVMOrcLLJITMangleAndIntern(jit, name.as_ptr()) },
            Sym: LLVMJITEvaluatedSymbol {
                Address: *address,
                Flags: LLVMJITSymbolFlags {
                    GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported
                        as u8
                        | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
                    TargetFlags: 0,
                },
            },
        })
        .collect();
    // SAFETY: the pairs are valid; LLVMOrcAbsoluteSymbols takes over the interned names
    // and LLVMOrcJITDylibDefine the materialization unit.
    unsafe {
        let unit = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
        take_error(LLVMOrcJITDylibDefine(
            LLVMOrcLLJITGetMainJITDylib(jit),
            unit,
        ))?;
    }
    *guard = Some(Jit {
        jit,
        loaded: HashMap::new(),
        handles: HashMap::new(),
        next_handle: 0,
        machine: target_machine()?,
    });
    Ok(())
}

extern "C" fn silent_error_reporter(_context: *mut std::ffi::c_void, error: LLVMErrorRef) {
    let _ = take_error(error);
}

/// What [`compile`] produced: an object file, not loaded yet.
pub struct Compiled {
    pub object: Vec<u8>,
    /// IR, optimization, code generation.
    pub nanos: [u64; 3],
}

/// Generates and optimizes a unit into an object file whose symbols start with
/// `prefix` (the cache key's: the same code gets the same names in every process).
pub fn compile(unit: &Unit, prefix: &str) -> Result<Compiled, String> {
    let guard = JIT.lock().map_err(|_| "JIT lock poisoned")?;
    let state = guard.as_ref().ok_or("the back end was not initialized")?;

    let started = Instant::now();
    let context = Context::create();
    let mut generator = codegen::Gen::new(&context, unit, prefix);
    generator.generate()?;
    let ir_done = Instant::now();
    let machine = &state.machine;
    generator.module.set_triple(&machine.get_triple());
    generator
        .module
        .set_data_layout(&machine.get_target_data().get_data_layout());
    let dump = unit.dump.as_ref().map(|dir| {
        if let Err(e) = std::fs::create_dir_all(dir) {
            warn_once(format!("could not create {dir} (PYOPT_JIT_DUMP): {e}"));
        }
        let name: String = unit
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        // The process id keeps processes sharing the directory (workers, MPI ranks)
        // from overwriting each other's files.
        std::path::Path::new(dir).join(format!(
            "{}-{prefix}-{}",
            std::process::id(),
            name.trim_matches('_')
        ))
    });
    if let Some(stem) = &dump {
        dump_or_warn(stem.with_extension("ll"), |path| {
            generator
                .module
                .print_to_file(path)
                .map_err(|e| e.to_string())
        });
    }
    let run = |pipeline: &str| {
        generator
            .module
            .run_passes(pipeline, machine, PassBuilderOptions::create())
            .map_err(|e| format!("optimization failed: {e}"))
    };
    run("default<O3>")?;
    // A standalone `instcombine` verifies that it reached a fixpoint and aborts the
    // process when it did not (O3's own runs do not verify): always say not to.
    const INSTCOMBINE: &str = "instcombine<no-verify-fixpoint>";
    // Rewrites O3 does not do (see `late`): multiplications by constants checked by
    // range, and checks inside branchy arms moved before the branch so the arms fold
    // into selects. A few rounds: each moves one check per arm.
    let mut hoisted = late::split_constant_multiplications(&context, &generator.module);
    for _ in 0..4 {
        if !late::hoist_guards(&context, &generator.module, helper::DEOPT) {
            break;
        }
        hoisted = true;
        run(&format!("function(simplifycfg,{INSTCOMBINE})"))?;
    }
    if hoisted {
        run(&format!(
            "function(simplifycfg,{INSTCOMBINE},gvn,simplifycfg)"
        ))?;
    }
    let optimized = Instant::now();
    if let Some(stem) = &dump {
        dump_or_warn(stem.with_extension("opt.ll"), |path| {
            generator
                .module
                .print_to_file(path)
                .map_err(|e| e.to_string())
        });
        dump_or_warn(stem.with_extension("s"), |path| {
            machine
                .write_to_file(&generator.module, FileType::Assembly, path)
                .map_err(|e| e.to_string())
        });
    }

    let buffer = machine
        .write_to_memory_buffer(&generator.module, FileType::Object)
        .map_err(|e| format!("code generation failed: {e}"))?;
    let object = buffer.as_slice().to_vec();
    let generated = Instant::now();
    let nanos = |a: Instant, b: Instant| (b - a).as_nanos() as u64;
    Ok(Compiled {
        object,
        nanos: [
            nanos(started, ir_done),
            nanos(ir_done, optimized),
            nanos(optimized, generated),
        ],
    })
}

/// What [`load`] gives: a handle for [`release`] and each plan's entry address.
pub struct Loaded {
    pub handle: u64,
    pub entries: Vec<u64>,
    pub nanos: u64,
}

/// Links an object file [`compile`] made with `prefix` into the JIT, reading it in
/// place: `object` must stay readable until the handle is released. A prefix already
/// loaded is shared rather than loaded twice (its symbols would clash).
pub fn load(object: &[u8], prefix: &str, entries: usize) -> Result<Loaded, String> {
    let started = Instant::now();
    let mut guard = JIT.lock().map_err(|_| "JIT lock poisoned")?;
    let state = guard.as_mut().ok_or("the back end was not initialized")?;
    let handle = state.next_handle;
    if let Some(loaded) = state.loaded.get_mut(prefix) {
        if loaded.entries.len() != entries {
            return Err(format!(
                "{prefix} is loaded with {} entry points, not {entries}",
                loaded.entries.len()
            ));
        }
        loaded.users += 1;
        let addresses = loaded.entries.clone();
        state.next_handle += 1;
        state.handles.insert(handle, prefix.to_owned());
        return Ok(Loaded {
            handle,
            entries: addresses,
            nanos: started.elapsed().as_nanos() as u64,
        });
    }
    let mut addresses = Vec::with_capacity(entries);
    // SAFETY: the JIT is live under the lock; the memory buffer (a view of `object`,
    // which the caller keeps readable) is handed to ORC, which owns the view from then
    // on; lookups use NUL-terminated names.
    unsafe {
        let dylib = LLVMOrcLLJITGetMainJITDylib(state.jit);
        let tracker = LLVMOrcJITDylibCreateResourceTracker(dylib);
        let memory = llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRange(
            object.as_ptr().cast(),
            object.len(),
            c"pyopt-unit".as_ptr(),
            0,
        );
        if let Err(e) = take_error(LLVMOrcLLJITAddObjectFileWithRT(state.jit, tracker, memory)) {
            LLVMOrcReleaseResourceTracker(tracker);
            return Err(format!("loading the object failed: {e}"));
        }
        for index in 0..entries {
            let name = CString::new(codegen::symbol(prefix, "entry", index))
                .map_err(|_| "a symbol prefix with a NUL")?;
            let mut address = 0u64;
            if let Err(e) = take_error(LLVMOrcLLJITLookup(state.jit, &mut address, name.as_ptr())) {
                take_error(LLVMOrcResourceTrackerRemove(tracker)).ok();
                LLVMOrcReleaseResourceTracker(tracker);
                return Err(format!("linking failed: {e}"));
            }
            addresses.push(address);
        }
        state.loaded.insert(
            prefix.to_owned(),
            LoadedObject {
                tracker,
                entries: addresses.clone(),
                users: 1,
            },
        );
    }
    state.next_handle += 1;
    state.handles.insert(handle, prefix.to_owned());
    Ok(Loaded {
        handle,
        entries: addresses,
        nanos: started.elapsed().as_nanos() as u64,
    })
}

/// Writes one `PYOPT_JIT_DUMP` file; a failure is a warning, never a failed compile.
fn dump_or_warn(
    path: std::path::PathBuf,
    write: impl FnOnce(&std::path::Path) -> Result<(), String>,
) {
    if let Err(e) = write(&path) {
        warn_once(format!(
            "could not write {} (PYOPT_JIT_DUMP): {e}",
            path.display()
        ));
    }
}

/// The first dump problem is worth a line on stderr; the same one for every function
/// is not.
fn warn_once(message: String) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("pyopt: warning: {message}; no further dump warnings");
    }
}

/// Frees a unit's code.
pub fn release(handle: u64) {
    let Ok(mut guard) = JIT.lock() else { return };
    let Some(state) = guard.as_mut() else { return };
    let Some(prefix) = state.handles.remove(&handle) else {
        return;
    };
    let Some(loaded) = state.loaded.get_mut(&prefix) else {
        return;
    };
    loaded.users -= 1;
    if loaded.users == 0
        && let Some(loaded) = state.loaded.remove(&prefix)
    {
        // SAFETY: the tracker came from this JIT and is removed once, by its last user.
        unsafe {
            take_error(LLVMOrcResourceTrackerRemove(loaded.tracker)).ok();
            LLVMOrcReleaseResourceTracker(loaded.tracker);
        }
    }
}

fn target_description() -> &'static CStr {
    static TEXT: OnceLock<CString> = OnceLock::new();
    TEXT.get_or_init(|| {
        let (major, minor, patch) = inkwell::support::get_llvm_version();
        let _ = Target::initialize_native(&InitializationConfig::default());
        let text = format!(
            "LLVM {major}.{minor}.{patch}; {}; cpu {}; features {}",
            TargetMachine::get_default_triple()
                .as_str()
                .to_string_lossy(),
            TargetMachine::get_host_cpu_name().to_string_lossy(),
            TargetMachine::get_host_cpu_features().to_string_lossy()
        );
        CString::new(text).unwrap_or_default()
    })
}

fn error_string(message: &str) -> *mut c_char {
    CString::new(message.replace('\0', " "))
        .unwrap_or_default()
        .into_raw()
}

unsafe extern "C" fn api_init(helpers: *const HelperSymbol, count: u64) -> i32 {
    // SAFETY: the caller passes `count` valid entries with NUL-terminated names.
    let helpers: Vec<(String, u64)> = unsafe {
        std::slice::from_raw_parts(helpers, count as usize)
            .iter()
            .map(|h| {
                (
                    CStr::from_ptr(h.name).to_string_lossy().into_owned(),
                    h.address,
                )
            })
            .collect()
    };
    match init(&helpers) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// An empty output, as every API call starts its output.
fn empty_output() -> CompileOutput {
    CompileOutput {
        handle: 0,
        entries: std::ptr::null_mut(),
        nentries: 0,
        object: std::ptr::null_mut(),
        object_len: 0,
        nanos: [0; 4],
        error: std::ptr::null_mut(),
    }
}

unsafe extern "C" fn api_compile(
    bytes: *const u8,
    len: u64,
    prefix: *const c_char,
    output: *mut CompileOutput,
) -> i32 {
    // SAFETY: the caller passes a readable buffer, a NUL-terminated prefix and a
    // writable output.
    let (bytes, prefix, output) = unsafe {
        (
            std::slice::from_raw_parts(bytes, len as usize),
            CStr::from_ptr(prefix).to_string_lossy(),
            &mut *output,
        )
    };
    *output = empty_output();
    let result = pyopt_jit::decode::<Unit>(bytes)
        .map_err(|e| format!("bad plan: {e}"))
        .and_then(|unit| compile(&unit, &prefix));
    match result {
        Ok(compiled) => {
            let object = compiled.object.into_boxed_slice();
            output.object_len = object.len() as u64;
            output.object = Box::into_raw(object).cast();
            output.nanos[..3].copy_from_slice(&compiled.nanos);
            0
        }
        Err(message) => {
            output.error = error_string(&message);
            1
        }
    }
}

unsafe extern "C" fn api_load(
    object: *const u8,
    len: u64,
    prefix: *const c_char,
    entries: u64,
    output: *mut CompileOutput,
) -> i32 {
    // SAFETY: the caller passes a readable object (kept readable until release), a
    // NUL-terminated prefix and a writable output.
    let (object, prefix, output) = unsafe {
        (
            std::slice::from_raw_parts(object, len as usize),
            CStr::from_ptr(prefix).to_string_lossy(),
            &mut *output,
        )
    };
    *output = empty_output();
    match load(object, &prefix, entries as usize) {
        Ok(loaded) => {
            let entries = loaded.entries.into_boxed_slice();
            output.nentries = entries.len() as u64;
            output.entries = Box::into_raw(entries).cast();
            output.handle = loaded.handle;
            output.nanos[3] = loaded.nanos;
            0
        }
        Err(message) => {
            output.error = error_string(&message);
            1
        }
    }
}

unsafe extern "C" fn api_free_output(output: *mut CompileOutput) {
    // SAFETY: the output was filled by api_compile; each buffer is freed once.
    unsafe {
        let output = &mut *output;
        if !output.entries.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                output.entries,
                output.nentries as usize,
            )));
            output.entries = std::ptr::null_mut();
        }
        if !output.object.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                output.object,
                output.object_len as usize,
            )));
            output.object = std::ptr::null_mut();
        }
        if !output.error.is_null() {
            drop(CString::from_raw(output.error));
            output.error = std::ptr::null_mut();
        }
    }
}

unsafe extern "C" fn api_release(handle: u64) {
    release(handle);
}

unsafe extern "C" fn api_target() -> *const c_char {
    target_description().as_ptr()
}

static API: BackendApi = BackendApi {
    abi_version: ABI_VERSION,
    init: api_init,
    compile: api_compile,
    load: api_load,
    free_output: api_free_output,
    release: api_release,
    target: api_target,
};

/// The library's one export.
#[unsafe(no_mangle)]
pub extern "C" fn pyopt_backend_api() -> *const BackendApi {
    &API
}
