//! Warm start: the argument signatures each function was compiled for are recorded in
//! the cache directory (`pyopt-cache`'s spec records), so a later process treats the
//! function as hot the first time it sees a call, instead of after the hotness
//! threshold; its code then comes from the compiled-code cache.
//!
//! A record is a hint, never code (the code comes from the compiled-code cache, whose
//! keys cover everything that determines it): the worst a stale one does is compile a
//! function early. So functions are identified cheaply, by file, qualified name and
//! first line, and the records are listed once per process: looking a function up is
//! then a hash and a set lookup, with no file access.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyopt_cache::{Key, KeyBuilder};

/// This process's use of the records.
#[derive(Debug, Default)]
pub struct Stats {
    /// Functions seen for the first time that had records (made hot at once).
    pub hits: AtomicU64,
    /// Functions seen for the first time without records.
    pub misses: AtomicU64,
    /// Signatures this process recorded.
    pub recorded: AtomicU64,
}

pub static STATS: Stats = Stats {
    hits: AtomicU64::new(0),
    misses: AtomicU64::new(0),
    recorded: AtomicU64::new(0),
};

/// The identity of a code object across processes.
fn identity(code: &Bound<'_, PyAny>) -> Option<Key> {
    let text = |name: &str| code.getattr(name).ok()?.extract::<String>().ok();
    let line: u32 = code.getattr("co_firstlineno").ok()?.extract().ok()?;
    Some(
        KeyBuilder::new()
            .part("file", text("co_filename")?.as_bytes())
            .part("qualname", text("co_qualname")?.as_bytes())
            .part("line", &line.to_le_bytes())
            .finish(),
    )
}

/// The functions earlier processes recorded, listed at the first lookup.
fn known() -> &'static HashSet<Key> {
    static KNOWN: OnceLock<HashSet<Key>> = OnceLock::new();
    KNOWN.get_or_init(|| match crate::code_cache::cache() {
        Some(cache) => cache.spec_functions().into_iter().collect(),
        None => HashSet::new(),
    })
}

/// Whether `code` was compiled by an earlier process (it then counts as hot now).
///
/// # Safety
/// GIL held; `code` is a live code object.
pub unsafe fn recorded(code: *mut ffi::PyCodeObject) -> bool {
    let known_functions = known();
    if known_functions.is_empty() {
        STATS.misses.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    // SAFETY: GIL held and `code` live, per the contract.
    let known = unsafe {
        crate::ffi::with_gil_held(|py| {
            let code = Bound::from_borrowed_ptr(py, code.cast());
            identity(&code).is_some_and(|key| known_functions.contains(&key))
        })
    };
    let counter = if known { &STATS.hits } else { &STATS.misses };
    counter.fetch_add(1, Ordering::Relaxed);
    known
}

/// Records that the function running `code` was compiled for `signature`.
///
/// # Safety
/// GIL held; `code` is a live code object.
pub unsafe fn record(code: *mut ffi::PyCodeObject, signature: &str) {
    let Some(cache) = crate::code_cache::cache() else {
        return;
    };
    // SAFETY: GIL held and `code` live, per the contract.
    unsafe {
        crate::ffi::with_gil_held(|py| {
            let code = Bound::from_borrowed_ptr(py, code.cast());
            if let Some(key) = identity(&code)
                && cache.add_spec(&key, signature) == Ok(true)
            {
                STATS.recorded.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
}
