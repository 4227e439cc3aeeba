//! Process start-up: CPython's own `Py_BytesMain` sequence, split open so pyopt can act
//! between "the interpreter is initialised" and "`__main__` runs".
//!
//! ```text
//! register python_optimizer._native (inittab)
//! -> pre-initialise from argv (locale, -E/-I/-X utf8/-X dev, as python3 does)
//! -> PyConfig_Read on a throw-away config: -h, -V, bad options end here; -X options
//! -> resolve pyopt's own options (exit 2 on a bad one, before Python starts)
//! -> Py_InitializeFromConfig on a fresh config (argv + environment read once, as python3)
//! -> install the embedded-package importer        <- later: the frame hook
//! -> Py_RunMain (runs the script/-c/-m/REPL, finalises, returns the exit status)
//! ```
//!
//! This is the only module of the runtime that calls CPython's C API directly.

use std::ffi::{c_char, c_int};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

use crate::config::{self, Options, Request, Value};
use crate::{importer, native};

/// How start-up ends early: with an exit code, or with CPython's fatal-error status.
enum Stop {
    Exit(c_int),
    Fatal(ffi::PyStatus),
}

/// Runs `pyopt-python` with the process's `argc`/`argv` and returns its exit status.
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings, as the C runtime passes to
/// `main`, and this must be called once, on the main thread, before anything else
/// touches CPython.
pub unsafe fn run(argc: c_int, argv: *mut *mut c_char) -> c_int {
    // SAFETY: forwarded from our caller's contract.
    match unsafe { initialize(argc, argv) } {
        Ok(()) => {}
        Err(Stop::Exit(code)) => return code,
        // SAFETY: `status` is an error status CPython returned; this prints it like
        // python3 does and exits the process.
        Err(Stop::Fatal(status)) => unsafe { ffi::Py_ExitStatusException(status) },
    }
    Python::attach(|py| {
        if let Err(err) = importer::install(py) {
            // Scripts still run; only `import python_optimizer` is affected.
            eprintln!(
                "pyopt-python: warning: could not install the embedded python_optimizer package:"
            );
            err.print(py);
        }
        if trace_calls() {
            // Before the JIT, whose hook then runs inside the recording one.
            pyopt_hooks::call_trace::install();
        }
        install_jit(py);
        if crate::trace_output::tracing() {
            crate::trace_output::started(py);
        }
    });
    // Before the script can change the working directory.
    let _ = cache_settings();
    if let Some(launch) = pyopt_mpi::launched() {
        under_mpi_launcher(launch);
    }
    if crate::trace_output::tracing() {
        // At the end of finalization, however the run ends: `sys.exit()` leaves
        // through `Py_Exit`, which never returns here. Forked children run it too.
        // SAFETY: the interpreter is initialised; the callback needs no Python.
        if unsafe { ffi::Py_AtExit(Some(write_trace)) } != 0 {
            eprintln!("pyopt-python: warning: PYOPT_TRACE: too many exit functions; no trace");
        }
    }
    // SAFETY: the interpreter is initialised and this thread holds the GIL, as
    // Py_RunMain requires; it runs __main__, finalises and returns the exit status.
    let status = unsafe { ffi::Py_RunMain() };
    // No compile may still be running when the process's destructors run.
    pyopt_hooks::shutdown();
    status
}

/// Under `mpirun`: an exception no rank catches ends the job instead of leaving the
/// other ranks waiting (the `python_optimizer._mpi` excepthook, installed now so that
/// mpi4py scripts get it too), and MPI, if pyopt started it, is finalized at exit.
fn under_mpi_launcher(launch: pyopt_mpi::Launch) {
    if launch.size > 1 {
        Python::attach(|py| {
            let installed = py
                .import("python_optimizer._mpi")
                .and_then(|module| module.call_method0("_abort_on_uncaught_exceptions"));
            if let Err(err) = installed {
                eprintln!(
                    "pyopt-python: warning: an uncaught exception may leave the other MPI \
                     ranks waiting:"
                );
                err.print(py);
            }
        });
    }
    // SAFETY: the interpreter is initialised; the callback needs no Python.
    if unsafe { ffi::Py_AtExit(Some(finalize_mpi)) } != 0 {
        eprintln!("pyopt-python: warning: too many exit functions; MPI is not finalized");
    }
}

/// `Py_AtExit` callback: `MPI_Finalize`, when this process started MPI.
extern "C" fn finalize_mpi() {
    pyopt_mpi::finalize();
}

/// `Py_AtExit` callback: writes this process's trace.
extern "C" fn write_trace() {
    crate::trace_output::finish();
}

/// Whether every call is traced: `PYOPT_TRACE_CALLS=1` while `PYOPT_TRACE` records.
fn trace_calls() -> bool {
    crate::trace_output::tracing()
        && crate::options().get("trace_calls") == Some(&Value::Bool(true))
}

/// Installs the JIT's frame hook unless `PYOPT_JIT=0`.
/// Set when the process runs `pyopt-python -m python_optimizer` (see `install_jit`).
static RUNS_OWN_TOOL: AtomicBool = AtomicBool::new(false);

fn install_jit(py: Python<'_>) {
    let options = crate::options();
    if options.get("jit") != Some(&Value::Bool(true)) {
        return;
    }
    // pyopt's own command-line tool compiles nothing: `cache verify` and `cache list`
    // then report the cache as they found it, never an entry their own process just
    // loaded (counting a hit) or, finding it damaged, compiled again and replaced.
    if RUNS_OWN_TOOL.load(Ordering::Relaxed) {
        return;
    }
    let threshold = match options.get("jit_threshold") {
        Some(Value::Count(n)) => *n,
        _ => 1000,
    };
    let log = options.get("jit_log") == Some(&Value::Bool(true));
    let fastmath = options.get("jit_fastmath") == Some(&Value::Bool(true));
    let background = options.get("jit_background") != Some(&Value::Bool(false));
    let dump = match options.get("jit_dump") {
        Some(Value::Path(path)) => Some(path.to_string_lossy().into_owned()),
        _ => None,
    };
    let settings = pyopt_hooks::Settings {
        threshold,
        log,
        fastmath,
        background,
        dump,
        cache: cache_settings(),
    };
    if let Err(message) = pyopt_hooks::install(settings) {
        // The program runs as in python3, without compiling.
        let _ = py;
        eprintln!("pyopt-python: warning: the JIT is off: {message}");
    }
}

/// The compiled-code cache's directory and size limit, or `None` when `PYOPT_CACHE=0`
/// (or no directory can be named: no `PYOPT_CACHE_DIR`, `XDG_CACHE_HOME` or `HOME`).
/// Resolved once, at start-up (`run` asks first): a relative directory is the start-up
/// directory's, whatever the script's working directory later.
pub(crate) fn cache_settings() -> Option<pyopt_hooks::code_cache::CacheSettings> {
    static RESOLVED: std::sync::OnceLock<Option<pyopt_hooks::code_cache::CacheSettings>> =
        std::sync::OnceLock::new();
    RESOLVED
        .get_or_init(|| resolve_cache_settings(crate::options()))
        .clone()
}

fn resolve_cache_settings(
    options: &crate::config::Options,
) -> Option<pyopt_hooks::code_cache::CacheSettings> {
    if options.get("cache") == Some(&Value::Bool(false)) {
        return None;
    }
    let dir = match options.get("cache_dir") {
        // Absolute, so a script changing directory keeps using the same cache.
        Some(Value::Path(path)) => std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.clone()),
        _ => default_cache_dir()?,
    };
    let mib = match options.get("cache_size") {
        Some(Value::Count(n)) => *n,
        _ => 1024,
    };
    Some(pyopt_hooks::code_cache::CacheSettings {
        dir,
        limit: mib.saturating_mul(1 << 20),
    })
}

/// `$XDG_CACHE_HOME/pyopt` (an absolute `XDG_CACHE_HOME`, as the XDG spec requires), or
/// `~/.cache/pyopt`.
fn default_cache_dir() -> Option<std::path::PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(std::path::PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .map(|xdg| xdg.join("pyopt"))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache").join("pyopt")))
}

/// Everything up to and including `Py_InitializeFromConfig`.
///
/// # Safety
/// As for [`run`].
unsafe fn initialize(argc: c_int, argv: *mut *mut c_char) -> Result<(), Stop> {
    // SAFETY: called before the interpreter is initialised, with a static name and
    // pyo3's module init function, as PyImport_AppendInittab requires.
    unsafe {
        ffi::PyImport_AppendInittab(
            c"python_optimizer._native".as_ptr(),
            Some(native::native_module::__pyo3_init),
        );
    }

    let mut preconfig = MaybeUninit::<ffi::PyPreConfig>::uninit();
    // SAFETY: PyPreConfig_InitPythonConfig fully initialises the struct it is given.
    let preconfig = unsafe {
        ffi::PyPreConfig_InitPythonConfig(preconfig.as_mut_ptr());
        preconfig.assume_init()
    };
    // SAFETY: argc/argv are the process's arguments (caller's contract).
    check(unsafe { ffi::Py_PreInitializeFromBytesArgs(&preconfig, argc as isize, argv) })?;

    // Read the command line once on a throw-away config, only to learn the `-X` options
    // and whether -E/-I are set. `-h`, `-V` and invalid options end the process here,
    // exactly as in python3. The config CPython initialises from is a fresh one, read
    // once inside Py_InitializeFromConfig as in python3: reading a config twice loses
    // settings (in 3.11, `-X warn_default_encoding`).
    let (xoptions, uses_environment) = {
        // SAFETY: argc/argv are the process's arguments (caller's contract).
        let mut probe = unsafe { Config::from_argv(argc, argv) }?;
        // SAFETY: `probe` is initialised.
        check(unsafe { ffi::PyConfig_Read(probe.as_mut_ptr()) })?;
        if probe.run_module().as_deref() == Some("python_optimizer") {
            RUNS_OWN_TOOL.store(true, Ordering::Relaxed);
        }
        (probe.xoptions(), probe.uses_environment())
    };
    let environment: Vec<(String, String)> = if uses_environment {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
            .collect()
    } else {
        Vec::new()
    };
    match Options::resolve(environment, xoptions) {
        Ok(Request::Run(options)) => {
            for (name, value) in options.command_line_exports() {
                // SAFETY: start-up is single-threaded: no other thread reads the
                // environment while it changes. CPython copies it into os.environ later.
                unsafe { std::env::set_var(name, value) };
            }
            // Still single-threaded: marks an MPI rank for the processes it starts.
            pyopt_mpi::claim_launch();
            crate::trace_output::start(&options);
            crate::set_options(options);
        }
        Ok(Request::ShowHelp) => {
            print!("{}", config::help_text());
            // The process ends by returning from the C `main`, which Rust's buffered
            // stdout does not see.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            return Err(Stop::Exit(0));
        }
        Err(err) => {
            eprintln!("{err}");
            return Err(Stop::Exit(2));
        }
    }

    // SAFETY: as above.
    let mut config = unsafe { Config::from_argv(argc, argv) }?;
    // SAFETY: `config` is initialised; CPython copies what it keeps.
    check(unsafe { ffi::Py_InitializeFromConfig(config.as_mut_ptr()) })
}

fn check(status: ffi::PyStatus) -> Result<(), Stop> {
    // SAFETY: these inspect a status value by copy and have no preconditions.
    unsafe {
        if ffi::PyStatus_IsExit(status) != 0 {
            Err(Stop::Exit(status.exitcode))
        } else if ffi::PyStatus_Exception(status) != 0 {
            Err(Stop::Fatal(status))
        } else {
            Ok(())
        }
    }
}

/// An initialised `PyConfig`, cleared on drop.
struct Config(Box<ffi::PyConfig>);

impl Config {
    fn new() -> Self {
        let mut config = Box::new(MaybeUninit::<ffi::PyConfig>::uninit());
        // SAFETY: PyConfig_InitPythonConfig fully initialises the struct it is given.
        unsafe {
            ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
            Config(config.assume_init())
        }
    }

    /// A Python config holding the process's command line, not yet parsed.
    ///
    /// # Safety
    /// As for [`run`]: `argv` holds `argc` valid C strings.
    unsafe fn from_argv(argc: c_int, argv: *mut *mut c_char) -> Result<Self, Stop> {
        let mut config = Config::new();
        // SAFETY: `config` is initialised; argc/argv per this function's contract.
        check(unsafe {
            ffi::PyConfig_SetBytesArgv(config.as_mut_ptr(), argc as isize, argv.cast())
        })?;
        Ok(config)
    }

    fn as_mut_ptr(&mut self) -> *mut ffi::PyConfig {
        &mut *self.0
    }

    /// The module `-m` runs, once the config is read.
    fn run_module(&self) -> Option<String> {
        let module = self.0.run_module;
        // SAFETY: CPython keeps `run_module` null or a valid NUL-terminated wide string
        // for as long as the config lives.
        (!module.is_null()).then(|| unsafe { wide_to_string(module) })
    }

    fn uses_environment(&self) -> bool {
        self.0.use_environment != 0
    }

    /// The `-X` options CPython parsed, as in `sys._xoptions` (`key` or `key=value`).
    fn xoptions(&self) -> Vec<String> {
        let list = self.0.xoptions;
        (0..usize::try_from(list.length).unwrap_or(0))
            .map(|i| {
                // SAFETY: CPython keeps `length` valid NUL-terminated wide strings in
                // `items` for as long as the config lives.
                unsafe { wide_to_string(*list.items.add(i)) }
            })
            .collect()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: the config was initialised by PyConfig_InitPythonConfig.
        unsafe { ffi::PyConfig_Clear(self.as_mut_ptr()) }
    }
}

/// Converts a NUL-terminated `wchar_t` string (UTF-32 on Linux) to a `String`; code
/// points that are not valid chars (surrogate-escaped bytes) become U+FFFD.
///
/// # Safety
/// `text` must be null or point to a NUL-terminated wide string.
unsafe fn wide_to_string(text: *const libc::wchar_t) -> String {
    let mut out = String::new();
    if text.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: we stop at the terminating NUL, so every read is inside the string.
        let unit = unsafe { *text.add(i) };
        if unit == 0 {
            return out;
        }
        out.push(char::from_u32(unit as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
        i += 1;
    }
}
