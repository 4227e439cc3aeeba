//! Builds `src/shim.c` (the one file that sees CPython internals) against the headers of
//! the CPython pyo3 links, and the LLVM back end library (`jit/llvm`, a cdylib) that
//! `src/backend.rs` embeds and loads on first use, and names this build for the
//! compiled-code cache (`PYOPT_BUILD_ID`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let python = pyo3_build_config::get();
    let executable = python
        .executable()
        .expect("pyo3 knows which python it builds against");
    let output = Command::new(executable)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .expect("run python for its include directory");
    assert!(
        output.status.success(),
        "python could not report its include directory"
    );
    let include = String::from_utf8(output.stdout).expect("utf-8 path");
    let include = include.trim();
    println!("cargo:rerun-if-changed=src/shim.c");
    cc::Build::new()
        .file("src/shim.c")
        .include(include)
        .include(Path::new(include).join("internal"))
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(true)
        .compile("pyopt_shim");

    let library = build_backend();
    build_id(&library);
}

/// `PYOPT_BUILD_ID`: a blake3 hash of the back end library and of this crate's sources
/// (the runtime half of compiled code's contract), so a cache entry compiled by another
/// build of pyopt is never loaded, even when the version number is the same.
fn build_id(library: &Path) {
    println!("cargo:rerun-if-changed=src");
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::fs::read(library).expect("read the back end library"));
    let mut sources: Vec<PathBuf> = std::fs::read_dir("src")
        .expect("read src")
        .map(|entry| entry.expect("list src").path())
        .collect();
    sources.sort();
    for source in sources {
        hasher.update(source.to_string_lossy().as_bytes());
        hasher.update(&std::fs::read(&source).expect("read a source file"));
    }
    println!(
        "cargo:rustc-env=PYOPT_BUILD_ID={}",
        hasher.finalize().to_hex()
    );
}

include!("../scripts/build/nested_cargo.rs");

/// The LLVM back end cdylib, built so this crate can embed it: the binary carries
/// everything and loads LLVM only when a function is compiled.
fn build_backend() -> PathBuf {
    println!("cargo:rerun-if-env-changed=LLVM_SYS_221_PREFIX");
    let prefix = std::env::var("LLVM_SYS_221_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-22".into());
    build_nested_library(
        "pyopt-jit-llvm",
        "libpyopt_jit_llvm.so",
        "backend",
        &[
            "jit/src",
            "jit/Cargo.toml",
            "jit/llvm/src",
            "jit/llvm/Cargo.toml",
        ],
        &[("LLVM_SYS_221_PREFIX", &prefix)],
    )
}
