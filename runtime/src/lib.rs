//! The `pyopt-python` runtime: a drop-in `python3` that embeds CPython 3.11.
//!
//! - [`startup`]: the start-up sequence (the only module calling CPython's C API directly);
//! - [`config`]: pyopt's own options (`PYOPT_*`, `-X pyopt.*`);
//! - [`importer`]: serves the embedded `python_optimizer` package to `import`;
//! - [`embedded`]: the package's Python sources, compiled into the binary;
//! - [`native`]: `python_optimizer._native`, the package's Rust half.
//! - [`native_mpi`]: its MPI functions (`python_optimizer._mpi` uses them).

pub mod config;
pub mod embedded;
pub mod importer;
pub mod native;
pub mod native_mpi;
pub mod startup;
pub mod trace_output;

use std::sync::OnceLock;

/// pyopt's version: the crate's, reported as `python_optimizer.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

static OPTIONS: OnceLock<config::Options> = OnceLock::new();

/// Records the options resolved at start-up; later calls keep the first value.
pub fn set_options(options: config::Options) {
    let _ = OPTIONS.set(options);
}

/// The options resolved at start-up, or the defaults when start-up did not run (the
/// library used outside the binary, as in unit tests).
pub fn options() -> &'static config::Options {
    OPTIONS.get_or_init(|| match config::Options::resolve(Vec::new(), Vec::new()) {
        Ok(config::Request::Run(options)) => options,
        _ => unreachable!("defaults with no environment and no flags always resolve"),
    })
}
