//! `python_optimizer._native.mpi_*`: the Python face of `pyopt_mpi` (MPI ranks), for
//! `python_optimizer._mpi`. Payloads are lists of buffers (a pickle's header and the
//! raw memory of its numpy arrays) sent in place; what arrives is one `bytearray`.
//! The GIL is released while MPI waits, so the program's other threads run.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use pyopt_mpi::abi::Segment;
use pyopt_mpi::{Receive, World};

/// Where the parts of a gathered payload start: multiples of this, so numpy arrays
/// rebuilt on the received bytes are aligned for every dtype.
const ALIGN: u64 = 16;

fn error(message: String) -> PyErr {
    PyRuntimeError::new_err(format!("MPI: {message}"))
}

fn world() -> PyResult<&'static World> {
    pyopt_mpi::world().map_err(error)
}

/// Buffers held (so their memory stays put) while MPI reads them without the GIL.
struct Sending {
    _buffers: Vec<PyBuffer<u8>>,
    segments: Vec<Segment>,
    len: u64,
}

// SAFETY: the segments point into buffers `Sending` holds exports of; Python does not
// move or free exported memory (bytearrays refuse to resize while exported), and MPI
// only reads them.
unsafe impl Send for Sending {}
// SAFETY: as above.
unsafe impl Sync for Sending {}

impl Sending {
    /// What to send (a method, so closures capture the whole holder).
    fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

fn sending(parts: &[Bound<'_, PyAny>]) -> PyResult<Sending> {
    let mut buffers = Vec::with_capacity(parts.len());
    let mut segments = Vec::with_capacity(parts.len());
    let mut len = 0u64;
    for part in parts {
        let buffer = PyBuffer::<u8>::get(part)?;
        if !buffer.is_c_contiguous() {
            return Err(PyValueError::new_err(
                "MPI payload parts must be contiguous",
            ));
        }
        let bytes = buffer.len_bytes() as u64;
        segments.push(Segment {
            ptr: buffer.buf_ptr() as *const u8,
            len: bytes,
        });
        len += bytes;
        buffers.push(buffer);
    }
    Ok(Sending {
        _buffers: buffers,
        segments,
        len,
    })
}

/// A zeroed `bytearray` of `len` bytes to receive into, and where its bytes are.
fn receiving(py: Python<'_>, len: u64) -> PyResult<(Bound<'_, PyByteArray>, Unshared<Receive>)> {
    let len_usize = usize::try_from(len).map_err(|_| PyValueError::new_err("too large"))?;
    let array = PyByteArray::new_with(py, len_usize, |_| Ok(()))?;
    // A new bytearray nobody else holds yet: it is not resized while MPI writes.
    let ptr = array.data();
    Ok((array, Unshared(Receive { ptr, len })))
}

/// Pointers handed to MPI while the GIL is released.
#[derive(Clone, Copy)]
struct Unshared<T>(T);

// SAFETY: only for pointers into memory this call owns or holds an export of (see
// `Sending` and `receiving`), used by one thread at a time.
unsafe impl<T> Send for Unshared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Unshared<T> {}

impl<T: Copy> Unshared<T> {
    /// The pointers (a method, so closures capture the whole wrapper).
    fn get(&self) -> T {
        self.0
    }
}

/// Receiving nothing (a sender's side of a collective).
const NOWHERE: Receive = Receive {
    ptr: std::ptr::null_mut(),
    len: 0,
};

/// `(rank, size)` from the launcher's environment without starting MPI, or None when
/// no MPI launcher started this process.
#[pyfunction]
fn mpi_launched() -> Option<(i32, i32)> {
    pyopt_mpi::launched().map(|launch| (launch.rank, launch.size))
}

/// Starts MPI (once) and returns `(rank, size)`.
#[pyfunction]
fn mpi_start(py: Python<'_>) -> PyResult<(i32, i32)> {
    let world = py.detach(pyopt_mpi::world).map_err(error)?;
    Ok((world.rank, world.size))
}

/// The MPI library's version line.
#[pyfunction]
fn mpi_library_version() -> PyResult<String> {
    pyopt_mpi::library_version().map_err(error)
}

/// Whether MPI is initialized and not finalized in this process (by pyopt or mpi4py).
#[pyfunction]
fn mpi_active() -> bool {
    pyopt_mpi::active_anywhere()
}

/// Ends every rank of the job with `code` (after the caller printed why).
#[pyfunction]
fn mpi_abort(code: i32) {
    pyopt_mpi::abort(code);
}

#[pyfunction]
fn mpi_barrier(py: Python<'_>) -> PyResult<()> {
    let world = world()?;
    py.detach(|| world.barrier()).map_err(error)
}

/// Broadcast: the root passes its parts and gets None; the others get the root's bytes.
#[pyfunction]
#[pyo3(signature = (parts, root))]
fn mpi_bcast<'py>(
    py: Python<'py>,
    parts: Option<Vec<Bound<'py, PyAny>>>,
    root: i32,
) -> PyResult<Option<Bound<'py, PyByteArray>>> {
    let world = world()?;
    check_rank(world, root)?;
    if world.rank == root {
        let parts = parts.ok_or_else(|| PyValueError::new_err("the root sends the parts"))?;
        let sending = sending(&parts)?;
        let len = sending.len.to_le_bytes();
        let length = Unshared([Segment {
            ptr: len.as_ptr(),
            len: 8,
        }]);
        py.detach(|| {
            // SAFETY: `len` and the parts (held by `sending`) stay readable for the call.
            unsafe {
                world.bcast(&length.get(), NOWHERE, root)?;
                world.bcast(sending.segments(), NOWHERE, root)
            }
        })
        .map_err(error)?;
        return Ok(None);
    }
    let mut len = [0u8; 8];
    let into = Unshared(Receive {
        ptr: len.as_mut_ptr(),
        len: 8,
    });
    py.detach(|| {
        // SAFETY: `len` is writable for the call.
        unsafe { world.bcast(&[], into.get(), root) }
    })
    .map_err(error)?;
    let (array, into) = receiving(py, u64::from_le_bytes(len))?;
    py.detach(|| {
        // SAFETY: a fresh bytearray, writable for the call.
        unsafe { world.bcast(&[], into.get(), root) }
    })
    .map_err(error)?;
    Ok(Some(array))
}

fn check_rank(world: &World, rank: i32) -> PyResult<()> {
    if (0..world.size).contains(&rank) {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "rank {rank} is not in this job of {} ranks",
            world.size
        )))
    }
}

/// Gathers every rank's parts to `root` (or to every rank when `root` is None).
/// Receivers get `(bytearray, [(offset, length) per rank])`, the others None.
#[pyfunction]
#[pyo3(signature = (parts, root=None))]
#[allow(clippy::type_complexity)]
fn mpi_gather<'py>(
    py: Python<'py>,
    parts: Vec<Bound<'py, PyAny>>,
    root: Option<i32>,
) -> PyResult<Option<(Bound<'py, PyByteArray>, Vec<(u64, u64)>)>> {
    let world = world()?;
    if let Some(root) = root {
        check_rank(world, root)?;
    }
    let sending = sending(&parts)?;
    // Every rank's length, to every rank (8 bytes each; cheaper than a second round).
    let size = world.size as usize;
    let mut lengths = vec![0u64; size];
    let mine = sending.len.to_le_bytes();
    let eights = vec![8u64; size];
    let offsets: Vec<u64> = (0..size as u64).map(|r| r * 8).collect();
    let into = Unshared(Receive {
        ptr: lengths.as_mut_ptr().cast(),
        len: 8 * size as u64,
    });
    let length = Unshared([Segment {
        ptr: mine.as_ptr(),
        len: 8,
    }]);
    py.detach(|| {
        // SAFETY: `lengths` has 8 bytes per rank; `mine` is readable.
        unsafe { world.gather(&length.get(), into.get(), &eights, &offsets, None) }
    })
    .map_err(error)?;
    let lengths: Vec<u64> = lengths.into_iter().map(u64::from_le).collect();
    let mut displs = Vec::with_capacity(size);
    let mut total = 0u64;
    for &n in &lengths {
        total = total.div_ceil(ALIGN) * ALIGN;
        displs.push(total);
        total += n;
    }
    let receives = root.is_none_or(|root| root == world.rank);
    let (array, into) = if receives {
        let (array, into) = receiving(py, total)?;
        (Some(array), into)
    } else {
        (None, Unshared(NOWHERE))
    };
    py.detach(|| {
        // SAFETY: the receive buffer holds every part at its displacement.
        unsafe { world.gather(sending.segments(), into.get(), &lengths, &displs, root) }
    })
    .map_err(error)?;
    Ok(array.map(|array| (array, displs.into_iter().zip(lengths).collect())))
}

/// Sends parts to `dest` (point to point, on pyopt's own communicator).
#[pyfunction]
fn mpi_send(py: Python<'_>, parts: Vec<Bound<'_, PyAny>>, dest: i32, tag: i32) -> PyResult<()> {
    let world = world()?;
    check_rank(world, dest)?;
    let sending = sending(&parts)?;
    // SAFETY: the segments stay readable for the call.
    py.detach(|| unsafe { world.send(sending.segments(), dest, tag) })
        .map_err(error)
}

/// Receives the next message from `source` with `tag`.
#[pyfunction]
fn mpi_recv(py: Python<'_>, source: i32, tag: i32) -> PyResult<Bound<'_, PyByteArray>> {
    let world = world()?;
    check_rank(world, source)?;
    let len = py.detach(|| world.probe(source, tag)).map_err(error)?;
    let (array, into) = receiving(py, len)?;
    py.detach(|| {
        // SAFETY: a fresh bytearray, writable for the call.
        unsafe { world.recv(into.get(), source, tag) }
    })
    .map_err(error)?;
    Ok(array)
}

/// A counter every rank adds to atomically (collective to create and to free).
#[pyclass(name = "MpiCounter", module = "python_optimizer._native")]
struct MpiCounter(Option<pyopt_mpi::Counter>);

#[pymethods]
impl MpiCounter {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let world = world()?;
        let counter = py.detach(|| world.counter()).map_err(error)?;
        Ok(MpiCounter(Some(counter)))
    }

    /// Adds `add`; returns the value before.
    fn fetch_add(&self, py: Python<'_>, add: i64) -> PyResult<i64> {
        let counter = self
            .0
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("the counter was freed"))?;
        py.detach(|| counter.fetch_add(add)).map_err(error)
    }

    /// Collective: frees the counter.
    fn free(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.0.take() {
            Some(counter) => py.detach(|| counter.free()).map_err(error),
            None => Ok(()),
        }
    }
}

/// Adds the `mpi_*` functions to `python_optimizer._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mpi_launched, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_start, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_library_version, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_active, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_abort, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_barrier, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_bcast, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_gather, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_send, m)?)?;
    m.add_function(wrap_pyfunction!(mpi_recv, m)?)?;
    m.add_class::<MpiCounter>()?;
    Ok(())
}
