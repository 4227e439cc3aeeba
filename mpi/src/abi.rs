//! The contract between the runtime and the MPI library (`mpi/ompi`, a cdylib embedded
//! in the binary and loaded on first use): one table of C functions on byte buffers.
//!
//! Every payload is bytes. A sender passes a list of [`Segment`]s (a pickle's header and
//! the raw buffers of its numpy arrays), sent as one message without being joined; a
//! receiver gets one contiguous buffer. Counts and displacements are byte counts, one
//! per rank. Every function returns an MPI error code (0 is success).

/// Bumped whenever anything in this module changes meaning.
pub const ABI_VERSION: u32 = 1;

/// The symbol the library exports: `extern "C" fn() -> *const MpiApi`.
pub const ENTRY: &str = "pyopt_mpi_api";

/// Bytes to send, read in place.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub ptr: *const u8,
    pub len: u64,
}

#[repr(C)]
pub struct MpiApi {
    pub abi_version: u32,
    /// Initializes MPI (thread level MULTIPLE) unless it already is, then reports this
    /// process's rank and size in `MPI_COMM_WORLD`, and whether it was initialized here.
    pub init: unsafe extern "C" fn(rank: *mut i32, size: *mut i32, here: *mut i32) -> i32,
    /// `MPI_Finalize`, unless MPI is finalized already.
    pub finalize: extern "C" fn() -> i32,
    /// Whether MPI is initialized and not finalized (1 or 0).
    pub active: extern "C" fn() -> i32,
    /// `MPI_Abort(MPI_COMM_WORLD, code)`.
    pub abort: extern "C" fn(code: i32),
    pub barrier: extern "C" fn() -> i32,
    /// Root sends `send`; every other rank receives `len` bytes into `recv`.
    pub bcast: unsafe extern "C" fn(
        send: *const Segment,
        nsend: u64,
        recv: *mut u8,
        len: u64,
        root: i32,
    ) -> i32,
    /// Every rank sends `send`; `root` receives rank r's bytes at `recv + displs[r]`.
    pub gatherv: unsafe extern "C" fn(
        send: *const Segment,
        nsend: u64,
        recv: *mut u8,
        counts: *const u64,
        displs: *const u64,
        root: i32,
    ) -> i32,
    /// As `gatherv`, every rank receiving.
    pub allgatherv: unsafe extern "C" fn(
        send: *const Segment,
        nsend: u64,
        recv: *mut u8,
        counts: *const u64,
        displs: *const u64,
    ) -> i32,
    /// Point to point: sends `send` to `dest` with `tag`.
    pub send: unsafe extern "C" fn(send: *const Segment, nsend: u64, dest: i32, tag: i32) -> i32,
    /// Waits for a message from `source` with `tag` and reports its length in bytes.
    pub probe: unsafe extern "C" fn(source: i32, tag: i32, len: *mut u64) -> i32,
    /// Receives the message `probe` reported into `recv` (`len` bytes).
    pub recv: unsafe extern "C" fn(recv: *mut u8, len: u64, source: i32, tag: i32) -> i32,
    /// Collective: a window holding one 64-bit counter (0) on rank 0.
    pub counter_create: unsafe extern "C" fn(handle: *mut u64) -> i32,
    /// Atomically adds `add` to the counter and reports its previous value.
    pub counter_fetch_add: unsafe extern "C" fn(handle: u64, add: i64, previous: *mut i64) -> i32,
    /// Collective: frees the counter's window.
    pub counter_free: unsafe extern "C" fn(handle: u64) -> i32,
    /// Writes an NUL-terminated description of `code` (an MPI error code) into `buf`.
    pub error_string: unsafe extern "C" fn(code: i32, buf: *mut u8, cap: u64),
    /// Writes the MPI library's NUL-terminated version string into `buf`.
    pub library_version: unsafe extern "C" fn(buf: *mut u8, cap: u64),
}
