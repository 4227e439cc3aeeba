//! Opening a shared library carried inside the binary (the LLVM back end, the MPI
//! library): written to an anonymous in-memory file and opened from there with
//! `RTLD_LOCAL`, so there is no file on disk to lose and its symbols stay private.

use std::ffi::{CStr, CString, c_void};

/// A library opened from memory; never closed (its code may run until the process ends).
#[derive(Clone, Copy, Debug)]
pub struct Library(*mut c_void);

// SAFETY: a dlopen handle may be used from any thread.
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

/// Libraries opened so far (each one's path must differ from the others').
static LOADED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message.
    unsafe {
        let message = libc::dlerror();
        if message.is_null() {
            "unknown error".to_owned()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        }
    }
}

/// Opens `bytes` (a shared library) as `name`; errors say what failed, naming `name`.
pub fn open(name: &CStr, bytes: &[u8]) -> Result<Library, String> {
    let label = name.to_string_lossy();
    // SAFETY: plain system calls on a file descriptor this function owns.
    unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 {
            return Err(format!(
                "memfd_create for {label} failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut written = 0usize;
        while written < bytes.len() {
            let n = libc::write(fd, bytes[written..].as_ptr().cast(), bytes.len() - written);
            if n <= 0 {
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(format!("writing the {label} library failed: {error}"));
            }
            written += n as usize;
        }
        // The fd is closed after loading, so the next library may get the same number,
        // and glibc takes a path it has loaded before for that library: each library
        // gets a path of its own, padded with "./" components.
        let nth = LOADED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = format!("/proc/self/{}fd/{fd}", "./".repeat(nth));
        let path = CString::new(path).expect("no NUL");
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        libc::close(fd);
        if handle.is_null() {
            return Err(format!(
                "loading the {label} library failed: {}",
                dl_error()
            ));
        }
        Ok(Library(handle))
    }
}

impl Library {
    /// The static table an entry function `symbol` (`extern "C" fn() -> *const T`)
    /// returns: how the embedded libraries hand over their API.
    ///
    /// # Safety
    /// `symbol`, if present, is such a function, and its table lives as long as the
    /// process.
    pub unsafe fn table<T>(&self, symbol: &str) -> Result<&'static T, String> {
        let address = self.symbol(symbol)?;
        // SAFETY: per the contract.
        unsafe {
            let entry: extern "C" fn() -> *const T = std::mem::transmute(address);
            Ok(&*entry())
        }
    }

    /// The address of `symbol`, or an error naming it.
    pub fn symbol(&self, symbol: &str) -> Result<*mut c_void, String> {
        let name =
            CString::new(symbol).map_err(|_| format!("a symbol name with a NUL: {symbol}"))?;
        // SAFETY: `self.0` is a loaded library.
        let address = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        if address.is_null() {
            Err(format!("the library has no {symbol}"))
        } else {
            Ok(address)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_libraries_loaded_one_after_the_other_are_two_libraries() {
        // The first one's fd is closed when it is loaded, so the second gets the same
        // fd number: it must still be the second library.
        let zlib = std::fs::read("/lib/x86_64-linux-gnu/libz.so.1").expect("zlib (apt)");
        let zstd = std::fs::read("/lib/x86_64-linux-gnu/libzstd.so.1").expect("zstd (apt)");
        let first = open(c"first", &zlib).expect("loads");
        assert!(first.symbol("zlibVersion").is_ok());
        let second = open(c"second", &zstd).expect("loads");
        assert!(second.symbol("ZSTD_versionNumber").is_ok());
        assert!(second.symbol("zlibVersion").is_err());
    }
}
