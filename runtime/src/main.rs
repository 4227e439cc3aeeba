//! `pyopt-python`: the process entry point.
//!
//! `no_main` keeps Rust's runtime start-up out of the process: it would ignore SIGPIPE
//! and install its own SIGSEGV/SIGBUS stack-overflow handlers, and python3 does neither
//! before CPython's own start-up decides. The process must look exactly like python3.
#![no_main]

use std::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *mut *mut c_char) -> c_int {
    // SAFETY: the C runtime calls `main` once, on the main thread, with the process's
    // arguments, before anything has touched CPython.
    unsafe { pyopt_runtime::startup::run(argc, argv) }
}
