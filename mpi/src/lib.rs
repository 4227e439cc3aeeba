//! MPI ranks for `python_optimizer.distributed`: whether this process was started by an
//! MPI launcher, and the calls to MPI itself, made through a library embedded in the
//! binary (`mpi/ompi`, built on rsmpi) that is loaded the first time they are needed.
//!
//! A process that no launcher started is rank 0 of 1 and never loads libmpi, so
//! pyopt-python starts like python3 and runs without MPI installed. Under `mpirun`, MPI
//! is initialized once, by whoever asks first: this crate checks `MPI_Initialized`, so a
//! script that imported mpi4py first keeps its MPI, and mpi4py imported later finds
//! ours. Payloads are bytes; see [`abi`].

pub mod abi;

use std::ffi::CStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use abi::{ABI_VERSION, ENTRY, MpiApi, Segment};
use pyopt_jit::embedded_library;

static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libpyopt_mpi_ompi.so"));

/// The MPI library the embedded one links (the soname Debian's OpenMPI 4 installs).
const LIBMPI: &CStr = c"libmpi.so.40";

/// This process's place in the job its launcher started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub rank: i32,
    pub size: i32,
}

/// The rank and size an MPI launcher gave this process (Open MPI's `mpirun`, or a
/// PMI/PMIx launcher such as Slurm's `srun`), read from its environment; `None` when
/// no launcher started it.
pub fn launched() -> Option<Launch> {
    // A process a rank started (a multiprocessing worker, a subprocess) inherits the
    // launcher's variables but is no rank: the rank named itself in `RANK_PROCESS`.
    let pid = std::process::id().to_string();
    match std::env::var(RANK_PROCESS) {
        Ok(owner) if owner != pid => None,
        _ => launched_from(|name| std::env::var(name).ok()),
    }
}

/// Where a rank writes its process id, for the processes it starts to inherit.
const RANK_PROCESS: &str = "_PYOPT_MPI_RANK_PID";

/// Called once at start-up, before any other thread exists: if a launcher started this
/// process, marks it as the rank, so that the processes it starts are not taken for
/// ranks (see [`launched`]).
pub fn claim_launch() -> Option<Launch> {
    let launch = launched()?;
    // SAFETY: start-up is single-threaded (the caller's contract).
    unsafe { std::env::set_var(RANK_PROCESS, std::process::id().to_string()) };
    Some(launch)
}

fn launched_from(var: impl Fn(&str) -> Option<String>) -> Option<Launch> {
    const PAIRS: [(&str, &str); 3] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMIX_RANK", "PMIX_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
    ];
    PAIRS.iter().find_map(|(rank, size)| {
        let rank = var(rank)?.parse().ok()?;
        let size = var(size)?.parse().ok()?;
        (0 <= rank && rank < size).then_some(Launch { rank, size })
    })
}

/// MPI, initialized: this process's rank and size in `MPI_COMM_WORLD`.
pub struct World {
    api: &'static MpiApi,
    pub rank: i32,
    pub size: i32,
    /// Whether this process initialized MPI (and so finalizes it), not mpi4py.
    initialized_here: bool,
}

// SAFETY: the API table is static data in a library that is never unloaded; MPI runs
// at thread level MULTIPLE.
unsafe impl Send for World {}
// SAFETY: as above.
unsafe impl Sync for World {}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

/// The process that initialized MPI (a forked child must not finalize it).
static INITIALIZED_BY: AtomicU32 = AtomicU32::new(0);

/// The embedded library's table, loaded once (with libmpi) on first use.
fn api() -> Result<&'static MpiApi, String> {
    static API: OnceLock<Result<&'static MpiApi, String>> = OnceLock::new();
    API.get_or_init(load).clone()
}

fn load() -> Result<&'static MpiApi, String> {
    // Global first: Open MPI's components, loaded later with dlopen, expect libmpi's
    // symbols to be visible (what mpi4py does too).
    // SAFETY: dlopen of a system library by name.
    let global = unsafe { libc::dlopen(LIBMPI.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if global.is_null() {
        return Err(format!(
            "MPI is not installed here: {} was not found (on Debian or Ubuntu: apt install \
             openmpi-bin libopenmpi3)",
            LIBMPI.to_string_lossy()
        ));
    }
    let library = embedded_library::open(c"pyopt-mpi", LIBRARY)?;
    // SAFETY: the library's entry returns its static `MpiApi` table.
    let api: &MpiApi = unsafe { library.table(ENTRY) }.map_err(|e| format!("MPI library: {e}"))?;
    if api.abi_version != ABI_VERSION {
        return Err(format!(
            "MPI library ABI {} does not match the runtime's {ABI_VERSION}",
            api.abi_version
        ));
    }
    Ok(api)
}

fn start() -> Result<World, String> {
    let api = api()?;
    let (mut rank, mut size, mut here) = (0, 0, 0);
    // SAFETY: the outputs are valid for the call.
    let status = unsafe { (api.init)(&mut rank, &mut size, &mut here) };
    if status != 0 {
        return Err(format!("MPI_Init_thread failed: {}", describe(api, status)));
    }
    if here != 0 {
        INITIALIZED_BY.store(std::process::id(), Ordering::Relaxed);
    }
    Ok(World {
        api,
        rank,
        size,
        initialized_here: here != 0,
    })
}

fn describe(api: &MpiApi, code: i32) -> String {
    if code == MESSAGE_TOO_LARGE {
        return "a message over 2 GiB (MPI counts are 32-bit): send it in parts".to_owned();
    }
    let mut text = [0u8; 512];
    // SAFETY: `text` has room for its length.
    unsafe { (api.error_string)(code, text.as_mut_ptr(), text.len() as u64) };
    CStr::from_bytes_until_nul(&text)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// MPI's error code for a count that does not fit its `int` (`MPI_ERR_COUNT`).
const MESSAGE_TOO_LARGE: i32 = 2;

/// MPI for this process, initialized at the first call (which loads the library).
pub fn world() -> Result<&'static World, String> {
    WORLD.get_or_init(start).as_ref().map_err(Clone::clone)
}

/// MPI, if [`world`] has been called and succeeded.
pub fn world_if_started() -> Option<&'static World> {
    WORLD.get().and_then(|w| w.as_ref().ok())
}

/// Whether libmpi is loaded in this process (by pyopt or by an extension such as
/// mpi4py) and MPI is initialized and not finalized.
pub fn active_anywhere() -> bool {
    if let Some(world) = world_if_started() {
        return (world.api.active)() != 0;
    }
    // SAFETY: RTLD_NOLOAD only looks for an already loaded library.
    let loaded = unsafe { libc::dlopen(LIBMPI.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if loaded.is_null() {
        return false;
    }
    // Loaded by someone else: asking needs our library (MPI_Initialized is always safe).
    api().is_ok_and(|api| (api.active)() != 0)
}

/// Ends the job: `MPI_Abort` on `MPI_COMM_WORLD` (every rank dies, `mpirun` exits
/// non-zero). Does nothing when MPI is not active.
pub fn abort(code: i32) {
    if active_anywhere()
        && let Ok(api) = api()
    {
        (api.abort)(code);
    }
}

/// `MPI_Finalize`, if this process initialized MPI and it is still active. Called at
/// exit; a forked child leaves MPI to its parent.
pub fn finalize() {
    if let Some(world) = world_if_started()
        && world.initialized_here
        && INITIALIZED_BY.load(Ordering::Relaxed) == std::process::id()
    {
        (world.api.finalize)();
    }
}

/// The MPI library's version line (for `check_backend_availability`), or why there is
/// no MPI here.
pub fn library_version() -> Result<String, String> {
    let api = api()?;
    let mut text = [0u8; 512];
    // SAFETY: `text` has room for its length.
    unsafe { (api.library_version)(text.as_mut_ptr(), text.len() as u64) };
    Ok(CStr::from_bytes_until_nul(&text)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Bytes to receive into: `len` writable bytes at `ptr`.
#[derive(Clone, Copy, Debug)]
pub struct Receive {
    pub ptr: *mut u8,
    pub len: u64,
}

impl World {
    fn check(&self, what: &str, code: i32) -> Result<(), String> {
        if code == 0 {
            Ok(())
        } else {
            Err(format!("{what} failed: {}", describe(self.api, code)))
        }
    }

    pub fn barrier(&self) -> Result<(), String> {
        self.check("MPI_Barrier", (self.api.barrier)())
    }

    /// Broadcast: the root sends `send`, the others receive `recv.len` bytes.
    ///
    /// # Safety
    /// `send`'s segments are readable and `recv` writable for the call, and nobody
    /// else writes them meanwhile.
    pub unsafe fn bcast(&self, send: &[Segment], recv: Receive, root: i32) -> Result<(), String> {
        // SAFETY: per the contract.
        let code =
            unsafe { (self.api.bcast)(send.as_ptr(), send.len() as u64, recv.ptr, recv.len, root) };
        self.check("MPI_Bcast", code)
    }

    /// Gather (to `Some(root)`) or allgather (`None`): rank r's bytes land in `recv` at
    /// `displs[r]`, `counts[r]` of them.
    ///
    /// # Safety
    /// As for [`World::bcast`]; `counts` and `displs` hold one entry per rank and fit
    /// in `recv` (where it is written).
    pub unsafe fn gather(
        &self,
        send: &[Segment],
        recv: Receive,
        counts: &[u64],
        displs: &[u64],
        root: Option<i32>,
    ) -> Result<(), String> {
        let size = self.size as usize;
        let writes_here = root.is_none_or(|root| root == self.rank);
        if writes_here {
            if counts.len() != size || displs.len() != size {
                return Err(format!("gather needs {size} counts and displacements"));
            }
            let fits = counts
                .iter()
                .zip(displs)
                .all(|(&n, &at)| at.checked_add(n).is_some_and(|end| end <= recv.len));
            if !fits {
                return Err("gather: the receive buffer is too small".to_owned());
            }
        }
        let (n, s) = (send.len() as u64, send.as_ptr());
        // SAFETY: per the contract, checked above where this rank receives.
        let code = unsafe {
            match root {
                Some(root) => {
                    (self.api.gatherv)(s, n, recv.ptr, counts.as_ptr(), displs.as_ptr(), root)
                }
                None => (self.api.allgatherv)(s, n, recv.ptr, counts.as_ptr(), displs.as_ptr()),
            }
        };
        self.check(
            if root.is_some() {
                "MPI_Gatherv"
            } else {
                "MPI_Allgatherv"
            },
            code,
        )
    }

    /// Sends `send` to `dest`.
    ///
    /// # Safety
    /// As for [`World::bcast`].
    pub unsafe fn send(&self, send: &[Segment], dest: i32, tag: i32) -> Result<(), String> {
        // SAFETY: per the contract.
        let code = unsafe { (self.api.send)(send.as_ptr(), send.len() as u64, dest, tag) };
        self.check("MPI_Send", code)
    }

    /// Waits for a message from `source` and says how many bytes it holds.
    pub fn probe(&self, source: i32, tag: i32) -> Result<u64, String> {
        let mut len = 0;
        // SAFETY: `len` is writable.
        let code = unsafe { (self.api.probe)(source, tag, &mut len) };
        self.check("MPI_Probe", code).map(|()| len)
    }

    /// Receives the message [`World::probe`] reported.
    ///
    /// # Safety
    /// As for [`World::bcast`].
    pub unsafe fn recv(&self, recv: Receive, source: i32, tag: i32) -> Result<(), String> {
        // SAFETY: per the contract.
        let code = unsafe { (self.api.recv)(recv.ptr, recv.len, source, tag) };
        self.check("MPI_Recv", code)
    }

    /// Collective: a shared counter, starting at 0, on rank 0.
    pub fn counter(&'static self) -> Result<Counter, String> {
        let mut handle = 0;
        // SAFETY: `handle` is writable.
        let code = unsafe { (self.api.counter_create)(&mut handle) };
        self.check("MPI_Win_allocate", code)?;
        Ok(Counter {
            world: self,
            handle,
        })
    }
}

/// A counter every rank adds to atomically (an MPI window; one-sided operations).
pub struct Counter {
    world: &'static World,
    handle: u64,
}

impl Counter {
    /// Adds `add` and returns the value before.
    pub fn fetch_add(&self, add: i64) -> Result<i64, String> {
        let mut previous = 0;
        // SAFETY: a live handle; `previous` is writable.
        let code = unsafe { (self.world.api.counter_fetch_add)(self.handle, add, &mut previous) };
        self.world
            .check("MPI_Fetch_and_op", code)
            .map(|()| previous)
    }

    /// Collective: frees the window.
    pub fn free(self) -> Result<(), String> {
        // SAFETY: a live handle, freed once (this consumes it).
        let code = unsafe { (self.world.api.counter_free)(self.handle) };
        self.world.check("MPI_Win_free", code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launchers_environment_gives_rank_and_size() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        static OMPI: &[(&str, &str)] =
            &[("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(launched_from(env(OMPI)), Some(Launch { rank: 3, size: 4 }));
        static SLURM: &[(&str, &str)] = &[("PMI_RANK", "0"), ("PMI_SIZE", "2")];
        assert_eq!(launched_from(env(SLURM)), Some(Launch { rank: 0, size: 2 }));
        assert_eq!(launched_from(env(&[])), None);
        static NONSENSE: &[(&str, &str)] =
            &[("OMPI_COMM_WORLD_RANK", "4"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(launched_from(env(NONSENSE)), None);
        static PARTIAL: &[(&str, &str)] = &[("PMIX_RANK", "1")];
        assert_eq!(launched_from(env(PARTIAL)), None);
    }

    #[test]
    fn the_embedded_library_matches_this_contract() {
        // Loads the real library (libmpi is installed wherever this crate builds) but
        // does not initialize MPI: a test process has no launcher.
        let api = api().expect("the MPI library loads");
        assert_eq!(api.abi_version, ABI_VERSION);
        let version = library_version().expect("a version");
        assert!(version.contains("MPI"), "{version}");
        assert_eq!((api.active)(), 0, "nothing initialized MPI");
    }
}
