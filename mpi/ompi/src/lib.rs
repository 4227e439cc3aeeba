//! The MPI library behind `python_optimizer.distributed` (see `abi`, the contract): thin
//! calls into the system's MPI through rsmpi's bindings, on bytes only.
//!
//! It is a separate shared library, loaded by the runtime the first time a program under
//! `mpirun` asks for its rank, so pyopt-python starts (and runs every program that does
//! not use MPI) without libmpi.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use mpi::ffi;

// The contract's one source, shared with the runtime's side (`pyopt-mpi`) by path: a
// dependency on that crate would build this library again from its build script.
#[path = "../../src/abi.rs"]
#[allow(dead_code)] // `ENTRY` is for the loading side; this side exports the symbol.
mod abi;
use abi::{ABI_VERSION, MpiApi, Segment};

static API: MpiApi = MpiApi {
    abi_version: ABI_VERSION,
    init,
    finalize,
    active,
    abort,
    barrier,
    bcast,
    gatherv,
    allgatherv,
    send,
    probe,
    recv,
    counter_create,
    counter_fetch_add,
    counter_free,
    error_string,
    library_version,
};

#[unsafe(no_mangle)]
pub extern "C" fn pyopt_mpi_api() -> *const MpiApi {
    &API
}

const SUCCESS: c_int = ffi::MPI_SUCCESS as c_int;

/// What a message is, for MPI: a buffer, a count and a datatype. A list of segments
/// becomes one `hindexed` type over their addresses, so they travel without a copy.
struct Message {
    buffer: *mut c_void,
    count: c_int,
    datatype: ffi::MPI_Datatype,
    derived: bool,
}

impl Drop for Message {
    fn drop(&mut self) {
        if self.derived {
            // SAFETY: a datatype this message committed and nobody else holds.
            unsafe { ffi::MPI_Type_free(&mut self.datatype) };
        }
    }
}

fn byte() -> ffi::MPI_Datatype {
    // SAFETY: a constant of rsmpi's shim, valid once MPI is initialized.
    unsafe { ffi::RSMPI_UINT8_T }
}

fn world() -> ffi::MPI_Comm {
    // SAFETY: as above.
    unsafe { ffi::RSMPI_COMM_WORLD }
}

/// pyopt's own copy of `MPI_COMM_WORLD`, so its messages never meet the program's own
/// (an mpi4py `recv(ANY_TAG)`, say). Made by the first collective or message, which
/// every rank reaches in the same order (pyopt's operations are all collective).
fn comm() -> ffi::MPI_Comm {
    struct Comm(ffi::MPI_Comm);
    // SAFETY: a communicator handle may be used from any thread (MPI_THREAD_MULTIPLE).
    unsafe impl Send for Comm {}
    // SAFETY: as above.
    unsafe impl Sync for Comm {}
    static COMM: OnceLock<Comm> = OnceLock::new();
    COMM.get_or_init(|| {
        let mut copy: ffi::MPI_Comm = world();
        // SAFETY: MPI is initialized; every rank duplicates at the same point.
        unsafe { ffi::MPI_Comm_dup(world(), &mut copy) };
        Comm(copy)
    })
    .0
}

fn count(len: u64) -> Result<c_int, c_int> {
    c_int::try_from(len).map_err(|_| ffi::MPI_ERR_COUNT as c_int)
}

/// The non-empty segments of a list.
///
/// # Safety
/// `send` points to `nsend` segments (or `nsend` is 0).
unsafe fn segments<'a>(send: *const Segment, nsend: u64) -> impl Iterator<Item = &'a Segment> {
    let all: &[Segment] = if nsend == 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(send, nsend as usize) }
    };
    all.iter().filter(|segment| segment.len > 0)
}

/// # Safety
/// `send` points to `nsend` segments whose bytes stay readable while the message lives.
unsafe fn message(send: *const Segment, nsend: u64) -> Result<Message, c_int> {
    // SAFETY: per the contract.
    let segments: Vec<Segment> = unsafe { segments(send, nsend) }.copied().collect();
    match segments.as_slice() {
        [] => Ok(Message {
            buffer: ptr::null_mut(),
            count: 0,
            datatype: byte(),
            derived: false,
        }),
        [one] => Ok(Message {
            buffer: one.ptr as *mut c_void,
            count: count(one.len)?,
            datatype: byte(),
            derived: false,
        }),
        [first, ..] => {
            let base = first.ptr as ffi::MPI_Aint;
            let mut lengths = Vec::with_capacity(segments.len());
            let mut displacements = Vec::with_capacity(segments.len());
            for segment in &segments {
                lengths.push(count(segment.len)?);
                displacements.push(segment.ptr as ffi::MPI_Aint - base);
            }
            let mut datatype = byte();
            // SAFETY: the arrays hold `segments.len()` entries each.
            let status = unsafe {
                ffi::MPI_Type_create_hindexed(
                    count(segments.len() as u64)?,
                    lengths.as_ptr(),
                    displacements.as_ptr(),
                    byte(),
                    &mut datatype,
                )
            };
            if status != SUCCESS {
                return Err(status);
            }
            // SAFETY: a datatype just created.
            let status = unsafe { ffi::MPI_Type_commit(&mut datatype) };
            if status != SUCCESS {
                // SAFETY: created above and used by nobody.
                unsafe { ffi::MPI_Type_free(&mut datatype) };
                return Err(status);
            }
            Ok(Message {
                buffer: first.ptr as *mut c_void,
                count: 1,
                datatype,
                derived: true,
            })
        }
    }
}

/// Byte counts and displacements, one per rank, as MPI's `int`s.
///
/// # Safety
/// Both point to one entry per rank in `MPI_COMM_WORLD`.
unsafe fn layout(
    counts: *const u64,
    displs: *const u64,
) -> Result<(Vec<c_int>, Vec<c_int>), c_int> {
    let mut size = 0;
    // SAFETY: MPI is initialized (callers run collectives only after `init`).
    unsafe { ffi::MPI_Comm_size(world(), &mut size) };
    let size = size as usize;
    // SAFETY: per the contract.
    let (counts, displs) = unsafe {
        (
            std::slice::from_raw_parts(counts, size),
            std::slice::from_raw_parts(displs, size),
        )
    };
    let counts = counts.iter().map(|&n| count(n)).collect::<Result<_, _>>()?;
    let displs = displs.iter().map(|&n| count(n)).collect::<Result<_, _>>()?;
    Ok((counts, displs))
}

unsafe extern "C" fn init(rank: *mut i32, size: *mut i32, here: *mut i32) -> i32 {
    let mut initialized = 0;
    // SAFETY: MPI_Initialized may be called at any time.
    unsafe { ffi::MPI_Initialized(&mut initialized) };
    let mut started_here = 0;
    if initialized == 0 {
        let mut provided = 0;
        // SAFETY: MPI is not initialized; null argc/argv are allowed since MPI-2.
        let status = unsafe {
            ffi::MPI_Init_thread(
                ptr::null_mut(),
                ptr::null_mut(),
                ffi::RSMPI_THREAD_MULTIPLE,
                &mut provided,
            )
        };
        if status != SUCCESS {
            return status;
        }
        started_here = 1;
    }
    // SAFETY: MPI is initialized; the outputs are valid per the contract.
    unsafe {
        ffi::MPI_Comm_rank(world(), rank);
        ffi::MPI_Comm_size(world(), size);
        *here = started_here;
    }
    SUCCESS
}

extern "C" fn finalize() -> i32 {
    if active() == 0 {
        return SUCCESS;
    }
    // SAFETY: MPI is initialized and not finalized.
    unsafe { ffi::MPI_Finalize() }
}

extern "C" fn active() -> i32 {
    let (mut initialized, mut finalized) = (0, 0);
    // SAFETY: both may be called at any time.
    unsafe {
        ffi::MPI_Initialized(&mut initialized);
        ffi::MPI_Finalized(&mut finalized);
    }
    (initialized != 0 && finalized == 0) as i32
}

extern "C" fn abort(code: i32) {
    // SAFETY: callers check `active` first.
    unsafe { ffi::MPI_Abort(world(), code) };
}

extern "C" fn barrier() -> i32 {
    // SAFETY: MPI is initialized.
    unsafe { ffi::MPI_Barrier(comm()) }
}

/// Runs `call`, turning a refused argument into its error code.
fn status(call: impl FnOnce() -> Result<c_int, c_int>) -> c_int {
    call().unwrap_or_else(|code| code)
}

unsafe extern "C" fn bcast(
    send: *const Segment,
    nsend: u64,
    recv: *mut u8,
    len: u64,
    root: i32,
) -> i32 {
    status(|| {
        let mut rank = 0;
        // SAFETY: MPI is initialized.
        unsafe { ffi::MPI_Comm_rank(world(), &mut rank) };
        if rank == root {
            // SAFETY: the root's segments are valid per the contract.
            let message = unsafe { message(send, nsend)? };
            // SAFETY: the message describes readable memory.
            Ok(unsafe {
                ffi::MPI_Bcast(
                    message.buffer,
                    message.count,
                    message.datatype,
                    root,
                    comm(),
                )
            })
        } else {
            // SAFETY: `recv` has room for `len` bytes per the contract.
            Ok(unsafe { ffi::MPI_Bcast(recv.cast(), count(len)?, byte(), root, comm()) })
        }
    })
}

unsafe extern "C" fn gatherv(
    send: *const Segment,
    nsend: u64,
    recv: *mut u8,
    counts: *const u64,
    displs: *const u64,
    root: i32,
) -> i32 {
    status(|| {
        let mut rank = 0;
        // SAFETY: MPI is initialized.
        unsafe { ffi::MPI_Comm_rank(world(), &mut rank) };
        // SAFETY: per the contract.
        let message = unsafe { message(send, nsend)? };
        let (counts, displs) = if rank == root {
            // SAFETY: valid at the root per the contract.
            unsafe { layout(counts, displs)? }
        } else {
            (Vec::new(), Vec::new())
        };
        // SAFETY: the message is readable; at the root `recv` holds every rank's bytes
        // at their displacements.
        Ok(unsafe {
            ffi::MPI_Gatherv(
                message.buffer,
                message.count,
                message.datatype,
                recv.cast(),
                counts.as_ptr(),
                displs.as_ptr(),
                byte(),
                root,
                comm(),
            )
        })
    })
}

unsafe extern "C" fn allgatherv(
    send: *const Segment,
    nsend: u64,
    recv: *mut u8,
    counts: *const u64,
    displs: *const u64,
) -> i32 {
    status(|| {
        // Open MPI 4.1's allgatherv truncates messages (4+ ranks) when a rank sends
        // its parts as one derived datatype: they are joined first (one copy).
        let mut joined = Vec::new();
        // SAFETY: per the contract.
        for segment in unsafe { segments(send, nsend) } {
            // SAFETY: each segment is readable per the contract.
            joined.extend_from_slice(unsafe {
                std::slice::from_raw_parts(segment.ptr, segment.len as usize)
            });
        }
        let whole = Segment {
            ptr: joined.as_ptr(),
            len: joined.len() as u64,
        };
        // SAFETY: `joined` outlives the message.
        let message = unsafe { message(&whole, 1)? };
        // SAFETY: per the contract.
        let (counts, displs) = unsafe { layout(counts, displs)? };
        // SAFETY: as for `gatherv`, on every rank.
        Ok(unsafe {
            ffi::MPI_Allgatherv(
                message.buffer,
                message.count,
                message.datatype,
                recv.cast(),
                counts.as_ptr(),
                displs.as_ptr(),
                byte(),
                comm(),
            )
        })
    })
}

unsafe extern "C" fn send(send: *const Segment, nsend: u64, dest: i32, tag: i32) -> i32 {
    status(|| {
        // SAFETY: per the contract.
        let message = unsafe { message(send, nsend)? };
        // SAFETY: the message is readable until the blocking send returns.
        Ok(unsafe {
            ffi::MPI_Send(
                message.buffer,
                message.count,
                message.datatype,
                dest,
                tag,
                comm(),
            )
        })
    })
}

unsafe extern "C" fn probe(source: i32, tag: i32, len: *mut u64) -> i32 {
    // SAFETY: a status struct MPI fills in.
    let mut probed: ffi::MPI_Status = unsafe { std::mem::zeroed() };
    // SAFETY: MPI is initialized.
    let status = unsafe { ffi::MPI_Probe(source, tag, comm(), &mut probed) };
    if status != SUCCESS {
        return status;
    }
    let mut count = 0;
    // SAFETY: a status MPI_Probe filled.
    let status = unsafe { ffi::MPI_Get_count(&probed, byte(), &mut count) };
    // SAFETY: `len` is writable per the contract.
    unsafe { *len = count.max(0) as u64 };
    status
}

unsafe extern "C" fn recv(recv: *mut u8, len: u64, source: i32, tag: i32) -> i32 {
    status(|| {
        // SAFETY: `recv` has room for `len` bytes per the contract.
        Ok(unsafe {
            ffi::MPI_Recv(
                recv.cast(),
                count(len)?,
                byte(),
                source,
                tag,
                comm(),
                ffi::RSMPI_STATUS_IGNORE,
            )
        })
    })
}

/// A counter's window and, on rank 0, the memory it exposes.
struct Counter {
    window: ffi::MPI_Win,
}

unsafe extern "C" fn counter_create(handle: *mut u64) -> i32 {
    let mut rank = 0;
    // SAFETY: MPI is initialized.
    unsafe { ffi::MPI_Comm_rank(world(), &mut rank) };
    let bytes = if rank == 0 { 8 } else { 0 };
    let mut base: *mut i64 = ptr::null_mut();
    // SAFETY: a window of `bytes` bytes MPI allocates; `window` is filled on success.
    let mut window: ffi::MPI_Win = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let status = unsafe {
        ffi::MPI_Win_allocate(
            bytes,
            8,
            ffi::RSMPI_INFO_NULL,
            comm(),
            (&mut base as *mut *mut i64).cast(),
            &mut window,
        )
    };
    if status != SUCCESS {
        return status;
    }
    if rank == 0 {
        // SAFETY: rank 0's 8 bytes, written under an exclusive lock before anyone reads.
        unsafe {
            ffi::MPI_Win_lock(ffi::MPI_LOCK_EXCLUSIVE as c_int, 0, 0, window);
            *base = 0;
            ffi::MPI_Win_unlock(0, window);
        }
    }
    // SAFETY: `handle` is writable per the contract.
    unsafe { *handle = Box::into_raw(Box::new(Counter { window })) as u64 };
    barrier()
}

unsafe extern "C" fn counter_fetch_add(handle: u64, add: i64, previous: *mut i64) -> i32 {
    // SAFETY: a handle `counter_create` made and `counter_free` has not freed.
    let counter = unsafe { &*(handle as *const Counter) };
    // SAFETY: passive-target access to rank 0's counter; `previous` is writable.
    unsafe {
        let status = ffi::MPI_Win_lock(ffi::MPI_LOCK_SHARED as c_int, 0, 0, counter.window);
        if status != SUCCESS {
            return status;
        }
        let status = ffi::MPI_Fetch_and_op(
            (&add as *const i64).cast(),
            previous.cast(),
            ffi::RSMPI_INT64_T,
            0,
            0,
            ffi::RSMPI_SUM,
            counter.window,
        );
        let unlocked = ffi::MPI_Win_unlock(0, counter.window);
        if status != SUCCESS { status } else { unlocked }
    }
}

unsafe extern "C" fn counter_free(handle: u64) -> i32 {
    // SAFETY: a handle `counter_create` made, freed once (collectively).
    let mut counter = unsafe { Box::from_raw(handle as *mut Counter) };
    // SAFETY: the window is no longer locked by this rank.
    unsafe { ffi::MPI_Win_free(&mut counter.window) }
}

/// # Safety
/// `buf` has room for `cap` bytes.
unsafe fn write_c_string(text: &[u8], buf: *mut u8, cap: u64) {
    if cap == 0 {
        return;
    }
    let n = text.len().min(cap as usize - 1);
    // SAFETY: `n + 1 <= cap` bytes are written.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr(), buf, n);
        *buf.add(n) = 0;
    }
}

unsafe extern "C" fn error_string(code: i32, buf: *mut u8, cap: u64) {
    let mut text = vec![0u8; ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len = 0;
    // SAFETY: `text` has MPI_MAX_ERROR_STRING bytes.
    if unsafe { ffi::MPI_Error_string(code, text.as_mut_ptr().cast(), &mut len) } != SUCCESS {
        len = 0;
    }
    let text = if len > 0 {
        &text[..len as usize]
    } else {
        &b"unknown MPI error"[..]
    };
    // SAFETY: per the contract.
    unsafe { write_c_string(text, buf, cap) };
}

unsafe extern "C" fn library_version(buf: *mut u8, cap: u64) {
    let mut text = vec![0u8; ffi::MPI_MAX_LIBRARY_VERSION_STRING as usize + 1];
    let mut len = 0;
    // SAFETY: MPI_Get_library_version may be called before MPI_Init; `text` is large
    // enough.
    unsafe { ffi::MPI_Get_library_version(text.as_mut_ptr().cast(), &mut len) };
    let first_line = text[..len.max(0) as usize]
        .split(|&b| b == b'\n' || b == 0)
        .next()
        .unwrap_or_default();
    // SAFETY: per the contract.
    unsafe { write_c_string(first_line, buf, cap) };
}
