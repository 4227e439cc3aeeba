//! Loading the LLVM back end (`jit/llvm`, embedded in the binary) on first use.
//!
//! The library is written to an anonymous in-memory file and opened from there with
//! `RTLD_LOCAL`: no file on disk, nothing for a copied binary to lose, and its LLVM
//! symbols stay private (extension modules that bring their own LLVM, like llvmlite,
//! never bind to them). Loading LLVM costs ~14 ms, paid only by processes that compile.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use pyopt_jit::abi::{ABI_VERSION, BACKEND_ENTRY, BackendApi, CompileOutput, HelperSymbol};
use pyopt_jit::embedded_library;
use pyopt_jit::plan::Unit;

static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libpyopt_jit_llvm.so"));

struct Backend {
    api: &'static BackendApi,
    target: String,
}

// SAFETY: the API table is static data in a library that is never unloaded.
unsafe impl Send for Backend {}
// SAFETY: as above; the back end serializes its own state.
unsafe impl Sync for Backend {}

static BACKEND: OnceLock<Result<Backend, String>> = OnceLock::new();

fn open_library() -> Result<Backend, String> {
    let library = embedded_library::open(c"pyopt-jit-llvm", LIBRARY)?;
    // SAFETY: the back end's entry returns its static `BackendApi` table.
    let api: &BackendApi =
        unsafe { library.table(BACKEND_ENTRY) }.map_err(|e| format!("JIT library: {e}"))?;
    if api.abi_version != ABI_VERSION {
        return Err(format!(
            "JIT library ABI {} does not match the runtime's {ABI_VERSION}",
            api.abi_version
        ));
    }
    let names: Vec<(CString, u64)> = crate::helpers::symbols()
        .into_iter()
        .map(|(name, address)| (CString::new(name).expect("no NUL"), address))
        .collect();
    let table: Vec<HelperSymbol> = names
        .iter()
        .map(|(name, address)| HelperSymbol {
            name: name.as_ptr(),
            address: *address,
        })
        .collect();
    // SAFETY: the table and its names outlive the call, which copies them.
    if unsafe { (api.init)(table.as_ptr(), table.len() as u64) } != 0 {
        return Err("the JIT library could not start LLVM's ORC JIT".to_owned());
    }
    // SAFETY: `target` returns a static NUL-terminated string.
    let target = unsafe { CStr::from_ptr((api.target)()) }
        .to_string_lossy()
        .into_owned();
    Ok(Backend { api, target })
}

fn backend() -> Result<&'static Backend, String> {
    BACKEND
        .get_or_init(open_library)
        .as_ref()
        .map_err(Clone::clone)
}

/// LLVM version and host CPU (for stats and cache keys); loads the back end.
pub fn target() -> Result<String, String> {
    Ok(backend()?.target.clone())
}

/// An object file for a unit, not loaded yet.
pub struct Compiled {
    pub object: Vec<u8>,
    /// IR, optimization, code generation.
    pub nanos: [u64; 3],
}

/// A new output for an API call.
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

/// Reads an API call's outcome out of `output` (then freed).
///
/// # Safety
/// `output` was filled by an API call that returned `status`.
unsafe fn finish<T>(
    backend: &Backend,
    status: i32,
    mut output: CompileOutput,
    read: impl FnOnce(&CompileOutput) -> T,
) -> Result<T, String> {
    // SAFETY: per the contract; the output is freed once.
    unsafe {
        let result = if status == 0 {
            Ok(read(&output))
        } else if output.error.is_null() {
            Err("the JIT library failed without a message".to_owned())
        } else {
            Err(CStr::from_ptr(output.error).to_string_lossy().into_owned())
        };
        (backend.api.free_output)(&mut output);
        result
    }
}

/// Compiles `unit` to an object file whose symbols start with `prefix`.
pub fn compile(unit: &Unit, prefix: &str) -> Result<Compiled, String> {
    let backend = backend()?;
    let bytes = pyopt_jit::encode(unit);
    let prefix = CString::new(prefix).map_err(|_| "a symbol prefix with a NUL")?;
    let mut output = empty_output();
    // SAFETY: the buffers and output are valid for the call.
    let status = unsafe {
        (backend.api.compile)(
            bytes.as_ptr(),
            bytes.len() as u64,
            prefix.as_ptr(),
            &mut output,
        )
    };
    // SAFETY: filled by `compile`; its object is `object_len` readable bytes.
    unsafe {
        finish(backend, status, output, |output| Compiled {
            object: std::slice::from_raw_parts(output.object, output.object_len as usize).to_vec(),
            nanos: [output.nanos[0], output.nanos[1], output.nanos[2]],
        })
    }
}

/// Loaded native code: a handle for [`release`] and each plan's entry address.
pub struct Loaded {
    pub handle: u64,
    pub entries: Vec<u64>,
    /// Linking, in nanoseconds.
    pub nanos: u64,
}

/// Links an object file [`compile`] made with `prefix`, reading it in place.
///
/// # Safety
/// `object` must stay readable until the handle is released.
pub unsafe fn load(object: &[u8], prefix: &str, entries: usize) -> Result<Loaded, String> {
    let backend = backend()?;
    let prefix = CString::new(prefix).map_err(|_| "a symbol prefix with a NUL")?;
    let mut output = empty_output();
    // SAFETY: the buffers and output are valid for the call; the object outlives the
    // handle per the contract.
    let status = unsafe {
        (backend.api.load)(
            object.as_ptr(),
            object.len() as u64,
            prefix.as_ptr(),
            entries as u64,
            &mut output,
        )
    };
    // SAFETY: filled by `load`; `entries` holds `nentries` addresses.
    unsafe {
        finish(backend, status, output, |output| Loaded {
            handle: output.handle,
            entries: std::slice::from_raw_parts(output.entries, output.nentries as usize).to_vec(),
            nanos: output.nanos[3],
        })
    }
}

/// Frees a unit's native code (no thread may be running it).
pub fn release(handle: u64) {
    if let Some(Ok(backend)) = BACKEND.get() {
        // SAFETY: the handle came from `compile` and is released once.
        unsafe { (backend.api.release)(handle) }
    }
}
