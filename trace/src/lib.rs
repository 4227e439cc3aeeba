//! pyopt's trace recorder (issue 7): what the JIT, the cache and the user's spans do,
//! recorded cheaply enough to leave on.
//!
//! - [`strings`]: interned names, categories and annotation keys (an id per string).
//! - [`clock`]: event timestamps (the TSC where the kernel trusts it), read out in
//!   monotonic nanoseconds;
//! - [`recorder`]: per-thread rings of fixed-size events with no lock on the recording
//!   path, monotonic nanosecond timestamps, dropped events counted; [`snapshot`] reads
//!   every thread's events out for the exporters.
//!
//! The exporters (Perfetto protobuf, Chrome JSON, flamegraph, timeline) read snapshots;
//! they live elsewhere, so recording stays dependency-free.

pub mod clock;
pub mod perfetto;
pub mod recorder;
pub mod strings;

pub use clock::{now, now_ns};
pub use recorder::{
    Arg, Event, EventKind, ThreadEvents, capacity, enabled, forget_after_fork, record,
    set_capacity, set_enabled, set_thread_name, snapshot,
};
pub use strings::{StrId, intern, resolve};
