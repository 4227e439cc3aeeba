//! Native code for a unit: from the shared compiled-code cache (`pyopt-cache`) when an
//! entry for it exists, otherwise compiled by the back end and stored there.
//!
//! The key covers everything that determines the code: the typed plan (the function's
//! bytecode, constants, names, argument types and what its globals were, as the front
//! end turned them into code), this build of pyopt (the back end library and the
//! runtime's sources), the target (LLVM version, triple, CPU and its features), the ABI
//! and fast-math. Symbols are named after the key, so an object means the same in every
//! process that loads it.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyopt_cache::{Cache, Claim, Key, KeyBuilder, Lookup, Meta, store::MappedEntry};
use pyopt_jit::plan::Unit;

use crate::backend;

/// This build's identity (see `build.rs`): code from another build never loads.
const BUILD_ID: &str = env!("PYOPT_BUILD_ID");

/// How long a process waits for another that claimed a compile before compiling itself.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where the cache is and how big it may grow (from pyopt's options).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub dir: PathBuf,
    pub limit: u64,
}

/// The bytes native code was linked from, kept until the code is released.
pub enum ObjectBytes {
    Compiled(#[allow(dead_code)] Vec<u8>),
    Mapped(#[allow(dead_code)] MappedEntry),
}

/// Loaded native code for a unit.
pub struct Native {
    pub handle: u64,
    pub entries: Vec<u64>,
    pub object_len: usize,
    /// IR, optimization, code generation (zero when loaded from the cache), linking.
    pub nanos: [u64; 4],
    pub from_cache: bool,
    pub bytes: ObjectBytes,
}

/// This process's cache statistics.
#[derive(Debug, Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Entries found but refused (damaged, foreign, unsafe) or failing to load.
    pub skipped: AtomicU64,
    pub stored: AtomicU64,
    pub load_nanos: AtomicU64,
    pub compile_nanos: AtomicU64,
}

pub static STATS: Stats = Stats {
    hits: AtomicU64::new(0),
    misses: AtomicU64::new(0),
    skipped: AtomicU64::new(0),
    stored: AtomicU64::new(0),
    load_nanos: AtomicU64::new(0),
    compile_nanos: AtomicU64::new(0),
};

/// Counts a lookup's outcome (`STATS.hits`, `misses` or `skipped`) and puts the hit
/// rate so far on the trace's counter track.
fn count_lookup(outcome: &AtomicU64) {
    outcome.fetch_add(1, Ordering::Relaxed);
    let hits = STATS.hits.load(Ordering::Relaxed);
    let lookups =
        hits + STATS.misses.load(Ordering::Relaxed) + STATS.skipped.load(Ordering::Relaxed);
    crate::events::counter(
        "cache hit rate (%)",
        100.0 * hits as f64 / lookups.max(1) as f64,
    );
}

static CACHE: OnceLock<Option<Cache>> = OnceLock::new();

/// One line on stderr for the first cache problem of each kind; the rest are counted.
fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("pyopt: warning: {message}");
    }
}

static WARNED_OPEN: AtomicBool = AtomicBool::new(false);
static WARNED_ENTRY: AtomicBool = AtomicBool::new(false);
static WARNED_STORE: AtomicBool = AtomicBool::new(false);

/// The cache, opened on first use; `None` when switched off or unusable (said once).
pub fn cache() -> Option<&'static Cache> {
    CACHE
        .get_or_init(|| {
            let settings = crate::settings().cache.as_ref()?;
            match Cache::open(&settings.dir, settings.limit) {
                Ok(cache) => Some(cache),
                Err(reason) => {
                    warn_once(
                        &WARNED_OPEN,
                        &format!(
                            "not using the compiled-code cache: {reason} (PYOPT_CACHE_DIR \
                             chooses another directory, PYOPT_CACHE=0 turns this off)"
                        ),
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// The key's hex digits used in symbol names (128 bits: collisions are not a concern).
fn symbol_prefix(hex: &str) -> String {
    format!("pyopt_{}", &hex[..32])
}

/// The cache key of `unit` compiled for `target` (LLVM version, triple, CPU name and
/// features) by the build `build`.
fn unit_key(unit: &Unit, target: &str, build: &str) -> Key {
    let plan = pyopt_jit::encode(&(&unit.plans, unit.fastmath, &unit.name));
    KeyBuilder::new()
        .part("plan", &plan)
        .part("target", target.as_bytes())
        .part("build", build.as_bytes())
        .part("abi", &pyopt_jit::abi::ABI_VERSION.to_le_bytes())
        .part("version", env!("CARGO_PKG_VERSION").as_bytes())
        .finish()
}

/// Native code for `unit`, compiled from `function` for `signature` (both for listings).
pub fn obtain(unit: &Unit, function: &str, signature: &str) -> Result<Native, String> {
    let key = unit_key(unit, &backend::target()?, BUILD_ID);
    let prefix = symbol_prefix(&key.hex());
    let entries = unit.plans.len();
    let cache = cache();
    // Held while this process compiles the unit, so processes starting together wait for
    // its entry instead of compiling it too.
    let mut claim = None;
    // Dumping IR (PYOPT_JIT_DUMP) compiles every unit, so each one's files are written.
    let lookup = cache.filter(|_| unit.dump.is_none());
    if let Some(cache) = lookup {
        let mut found = cache.get(&key);
        if matches!(found, Lookup::Miss) {
            match cache.claim(&key) {
                Claim::Mine(guard) => claim = Some(guard),
                Claim::Theirs => found = cache.wait_for(&key, CLAIM_WAIT),
            }
        }
        crate::events::cache(
            match &found {
                Lookup::Hit(_) => "cache hit",
                Lookup::Miss => "cache miss",
                Lookup::Skipped(_) => "cache entry skipped",
            },
            &format!("{function}{signature}"),
        );
        match found {
            Lookup::Hit(entry) => {
                let link = crate::events::phase("link");
                // SAFETY: the mapping is kept with the code (`Native::bytes`) until the
                // handle is released.
                let loaded = unsafe { backend::load(entry.object(), &prefix, entries) };
                drop(link);
                match loaded {
                    Ok(loaded) => {
                        count_lookup(&STATS.hits);
                        STATS.load_nanos.fetch_add(loaded.nanos, Ordering::Relaxed);
                        return Ok(Native {
                            handle: loaded.handle,
                            entries: loaded.entries,
                            object_len: entry.object().len(),
                            nanos: [0, 0, 0, loaded.nanos],
                            from_cache: true,
                            bytes: ObjectBytes::Mapped(entry),
                        });
                    }
                    Err(reason) => {
                        count_lookup(&STATS.skipped);
                        warn_once(
                            &WARNED_ENTRY,
                            &format!(
                                "a compiled-code cache entry failed to load ({reason}); \
                                 compiling instead"
                            ),
                        );
                    }
                }
            }
            Lookup::Miss => {
                count_lookup(&STATS.misses);
            }
            Lookup::Skipped(reason) => {
                count_lookup(&STATS.skipped);
                warn_once(
                    &WARNED_ENTRY,
                    &format!(
                        "skipping a compiled-code cache entry: {reason}; compiling instead \
                         (`pyopt-python -m python_optimizer cache verify` checks them all)"
                    ),
                );
            }
        }
    }
    let compiled = {
        let _llvm = crate::events::phase("LLVM");
        // After the slice's begin, so the phases recorded afterwards nest inside it.
        let llvm_started = pyopt_trace::now();
        let compiled = backend::compile(unit, &prefix)?;
        crate::events::phases_since(
            llvm_started,
            &[
                ("IR", compiled.nanos[0]),
                ("optimize", compiled.nanos[1]),
                ("codegen", compiled.nanos[2]),
            ],
        );
        compiled
    };
    STATS
        .compile_nanos
        .fetch_add(compiled.nanos.iter().sum(), Ordering::Relaxed);
    if let Some(cache) = cache {
        let meta = Meta {
            function: function.to_owned(),
            signature: signature.to_owned(),
            entries: entries as u32,
            created: Cache::now_seconds(),
        };
        match cache.put(&key, &meta, &compiled.object) {
            Ok(()) => {
                STATS.stored.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) => warn_once(
                &WARNED_STORE,
                &format!("could not store compiled code in the cache: {reason}"),
            ),
        }
    }
    drop(claim);
    let link = crate::events::phase("link");
    // SAFETY: the object's heap buffer moves into `Native::bytes` with it (moving a Vec
    // does not move its contents) and lives until the handle is released.
    let loaded = unsafe { backend::load(&compiled.object, &prefix, entries) }?;
    drop(link);
    STATS.load_nanos.fetch_add(loaded.nanos, Ordering::Relaxed);
    Ok(Native {
        handle: loaded.handle,
        entries: loaded.entries,
        object_len: compiled.object.len(),
        nanos: [
            compiled.nanos[0],
            compiled.nanos[1],
            compiled.nanos[2],
            loaded.nanos,
        ],
        from_cache: false,
        bytes: ObjectBytes::Compiled(compiled.object),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(fastmath: bool, name: &str) -> Unit {
        Unit {
            plans: Vec::new(),
            fastmath,
            dump: None,
            name: name.to_owned(),
        }
    }

    #[test]
    fn keys_follow_the_code_target_build_and_flags_but_not_the_dump_directory() {
        const TARGET: &str = "LLVM 22.1.0; x86_64-pc-linux-gnu; cpu znver3; features +avx2,+fma";
        let base = unit_key(&unit(false, "f(int)"), TARGET, "build 1");
        assert_eq!(base, unit_key(&unit(false, "f(int)"), TARGET, "build 1"));
        let mut dumped = unit(false, "f(int)");
        dumped.dump = Some("/tmp/ir".to_owned());
        assert_eq!(base, unit_key(&dumped, TARGET, "build 1"));
        for other in [
            unit_key(&unit(true, "f(int)"), TARGET, "build 1"),
            unit_key(&unit(false, "f(float)"), TARGET, "build 1"),
            unit_key(
                &unit(false, "f(int)"),
                &TARGET.replace("+fma", "-fma"),
                "build 1",
            ),
            unit_key(
                &unit(false, "f(int)"),
                &TARGET.replace("znver3", "skylake"),
                "build 1",
            ),
            unit_key(
                &unit(false, "f(int)"),
                &TARGET.replace("22.1.0", "22.1.1"),
                "build 1",
            ),
            unit_key(&unit(false, "f(int)"), TARGET, "build 2"),
        ] {
            assert_ne!(base, other);
        }
    }
}
