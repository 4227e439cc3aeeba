//! The cache directory.
//!
//! ```text
//! <dir>/                    created 0700; refused if another user owns it or group or
//!                           others can write to it
//!   objects-v1/<key>.pyobj  one entry per compiled unit (`entry` format), mode 0600
//!   objects-v1/<key>.hits   one byte appended per load: the hit count is its length, its
//!                           modification time the entry's last use (for LRU eviction)
//!   objects-v1/.tmp-*       an entry being written (renamed into place when complete)
//!   objects-v1/<key>.claim  a process is compiling this entry (created exclusively);
//!                           others wait for the entry instead of compiling it too
//!   specs-v1/<key>.specs    the argument signatures one function was compiled for, a
//!                           line each (appended), so later processes compile it at
//!                           its first call (warm start)
//! ```
//!
//! Native code is only ever read from files this user owns that nobody else can write.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use memmap2::Mmap;

use crate::entry::{self, Entry, Meta};
use crate::key::Key;

const OBJECTS: &str = "objects-v1";
const SPECS: &str = "specs-v1";
const SPECS_SUFFIX: &str = ".specs";
/// Signatures recorded per function (more than the JIT keeps: a record is only a hint).
const MAX_SPEC_LINES: usize = 16;
const ENTRY_SUFFIX: &str = ".pyobj";
const HITS_SUFFIX: &str = ".hits";
const CLAIM_SUFFIX: &str = ".claim";
const TEMP_PREFIX: &str = ".tmp-";
/// A temp file this old was left by a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// A claim this old was left by a compiler that died (compiles take milliseconds to a
/// few seconds).
const STALE_CLAIM: Duration = Duration::from_secs(60);

/// An open cache directory.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    objects: PathBuf,
    specs: PathBuf,
    limit: u64,
    uid: u32,
    /// The entries' total size as of this process's last scan plus what it wrote since
    /// (`u64::MAX`: not scanned yet). Writes scan the directory (for eviction) only when
    /// this passes the limit, not after every entry.
    estimate: AtomicU64,
}

/// What a lookup found.
pub enum Lookup {
    /// A verified entry, mapped.
    Hit(MappedEntry),
    Miss,
    /// An entry exists but cannot be used (the reason says why); compile instead.
    Skipped(String),
}

/// A verified entry mapped into memory; the object stays readable while this lives, even
/// if another process evicts the entry meanwhile.
pub struct MappedEntry {
    map: Mmap,
    entry: Entry,
}

impl MappedEntry {
    pub fn meta(&self) -> &Meta {
        &self.entry.meta
    }

    /// The object file, in the mapping (not copied).
    pub fn object(&self) -> &[u8] {
        self.entry.object(&self.map)
    }
}

/// The outcome of [`Cache::claim`].
pub enum Claim {
    /// This process compiles the entry; dropping the guard releases the claim.
    Mine(ClaimGuard),
    /// Another process is compiling it: [`Cache::wait_for`] it.
    Theirs,
}

/// A claim on compiling one entry, released when dropped (`None`: the claim file could
/// not be made, and this process compiles anyway).
pub struct ClaimGuard(Option<PathBuf>);

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// One entry, for listings.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub key: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub hits: u64,
    /// Its metadata, or why it is unreadable.
    pub meta: Result<Meta, String>,
    /// Seconds since it was last loaded (or written).
    pub idle_seconds: u64,
}

/// `cache verify`'s verdict on one file.
#[derive(Debug, Clone)]
pub struct VerifyResult {
    pub path: PathBuf,
    pub problem: Option<String>,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why `meta` (of `path`) is not safe to keep native code in, if it is not.
fn unsafe_reason(path: &Path, meta: &fs::Metadata, uid: u32) -> Option<String> {
    if meta.uid() != uid {
        Some(format!(
            "{} is owned by user id {}, not by this user ({uid})",
            path.display(),
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "{} is writable by group or others (mode {:o}); `chmod go-w` it to use it",
            path.display(),
            meta.mode() & 0o7777
        ))
    } else {
        None
    }
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn seconds_since_epoch() -> u64 {
    now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Cache {
    /// Opens (creating, mode 0700) the cache in `dir`, holding at most `limit` bytes of
    /// entries. The error says why the directory cannot be used safely.
    pub fn open(dir: &Path, limit: u64) -> Result<Cache, String> {
        let uid = euid();
        let objects = dir.join(OBJECTS);
        let specs = dir.join(SPECS);
        for path in [dir, objects.as_path(), specs.as_path()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            let meta =
                fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if !meta.is_dir() {
                return Err(format!("{} is not a directory", path.display()));
            }
            if let Some(reason) = unsafe_reason(path, &meta, uid) {
                return Err(reason);
            }
        }
        Ok(Cache {
            dir: dir.to_owned(),
            objects,
            specs,
            limit,
            uid,
            estimate: AtomicU64::new(u64::MAX),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.objects.join(format!("{}{ENTRY_SUFFIX}", key.hex()))
    }

    fn hits_path(&self, key: &Key) -> PathBuf {
        self.objects.join(format!("{}{HITS_SUFFIX}", key.hex()))
    }

    fn claim_path(&self, key: &Key) -> PathBuf {
        self.objects.join(format!("{}{CLAIM_SUFFIX}", key.hex()))
    }

    /// Claims compiling the entry for `key` (after a miss), so that processes starting
    /// together compile each unit once: the claim file is created exclusively (atomic on
    /// local and network file systems), and a claim left by a process that died is taken
    /// over once it is stale. Any error other than an existing claim counts as this
    /// process's claim: compiling twice is better than waiting for nobody.
    pub fn claim(&self, key: &Key) -> Claim {
        let path = self.claim_path(key);
        for _ in 0..2 {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path);
            match created {
                Ok(mut file) => {
                    let _ = write!(file, "{}", std::process::id());
                    return Claim::Mine(ClaimGuard(Some(path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::symlink_metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| now().duration_since(m).ok())
                        .is_some_and(|age| age > STALE_CLAIM);
                    if !stale {
                        return Claim::Theirs;
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(_) => break,
            }
        }
        Claim::Mine(ClaimGuard(None))
    }

    /// Waits up to `timeout` for another process's claimed entry: the entry once it is
    /// written, `Miss` when the claim goes away without one or time runs out.
    pub fn wait_for(&self, key: &Key, timeout: Duration) -> Lookup {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.get(key) {
                Lookup::Miss => {}
                found => return found,
            }
            if !self.claim_path(key).exists() {
                // Written between the lookup and this check, or abandoned.
                return self.get(key);
            }
            if started.elapsed() > timeout {
                return Lookup::Miss;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Opens and maps the file at `path` if it is a regular file this user owns that
    /// nobody else can write.
    fn map_private(&self, path: &Path) -> Result<Option<Mmap>, String> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        if let Some(reason) = unsafe_reason(path, &meta, self.uid) {
            return Err(reason);
        }
        // SAFETY: entries are never written in place (writers rename complete files over
        // them and eviction unlinks), so the mapped bytes do not change under us; the
        // checksum is verified before anything is used.
        unsafe { Mmap::map(&file) }
            .map(Some)
            .map_err(|e| format!("cannot map {}: {e}", path.display()))
    }

    /// The entry for `key`, verified and mapped; counts a hit.
    pub fn get(&self, key: &Key) -> Lookup {
        let path = self.entry_path(key);
        let map = match self.map_private(&path) {
            Ok(Some(map)) => map,
            Ok(None) => return Lookup::Miss,
            Err(reason) => return Lookup::Skipped(reason),
        };
        match Entry::parse(&map, Some(key)) {
            Ok(entry) => {
                self.count_hit(key);
                Lookup::Hit(MappedEntry { map, entry })
            }
            Err(reason) => Lookup::Skipped(format!("{}: {reason}", path.display())),
        }
    }

    /// Appends one byte to the entry's hit file: its length counts hits, its mtime is the
    /// entry's last use. Appends are atomic, so concurrent loads all count.
    fn count_hit(&self, key: &Key) {
        let _ = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.hits_path(key))
            .and_then(|mut file| file.write_all(b"."));
    }

    /// Stores `object` under `key`: written to a private temp file, then renamed into
    /// place, so readers see the whole entry or none. Evicts least recently used entries
    /// when the cache grows past its limit.
    pub fn put(&self, key: &Key, meta: &Meta, object: &[u8]) -> Result<(), String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let bytes = entry::encode(key, meta, object);
        let temp = self.objects.join(format!(
            "{TEMP_PREFIX}{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            key.hex()
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
            .and_then(|mut file| file.write_all(&bytes))
            .and_then(|()| fs::rename(&temp, self.entry_path(key)));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(format!(
                "cannot write {}: {e}",
                self.entry_path(key).display()
            ));
        }
        // A stale hit file (of an entry replaced after it failed its checks) goes; until
        // the first hit makes a new one, the entry's own time is its last use.
        let _ = fs::remove_file(self.hits_path(key));
        let written = bytes.len() as u64;
        let estimate = self.estimate.load(Ordering::Relaxed);
        if estimate == u64::MAX || estimate.saturating_add(written) > self.limit {
            self.evict(self.limit);
        } else {
            self.estimate.fetch_add(written, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Every entry file name's key, with its size and last use.
    fn scan(&self) -> Vec<(Key, PathBuf, u64, SystemTime)> {
        let Ok(dir) = fs::read_dir(&self.objects) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for item in dir.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            if let Some(hex) = name.strip_suffix(ENTRY_SUFFIX)
                && let Some(key) = Key::from_hex(hex)
                && let Ok(meta) = item.metadata()
            {
                let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let used = fs::metadata(self.hits_path(&key))
                    .and_then(|m| m.modified())
                    .unwrap_or(written)
                    .max(written);
                found.push((key, item.path(), meta.len(), used));
            } else if name.starts_with(TEMP_PREFIX)
                && let Ok(meta) = item.metadata()
                && meta
                    .modified()
                    .ok()
                    .and_then(|m| now().duration_since(m).ok())
                    .is_some_and(|age| age > STALE_TEMP)
            {
                let _ = fs::remove_file(item.path());
            }
        }
        found
    }

    /// Removes least recently used entries until they total at most 90% of `limit`
    /// (when they exceed `limit`). Only unlinks: processes that mapped an evicted entry
    /// keep their mapping.
    pub fn evict(&self, limit: u64) -> usize {
        let mut entries = self.scan();
        let mut total: u64 = entries.iter().map(|e| e.2).sum();
        if total <= limit {
            self.estimate.store(total, Ordering::Relaxed);
            return 0;
        }
        entries.sort_by_key(|e| e.3);
        let target = limit / 10 * 9;
        let mut removed = 0;
        for (key, path, bytes, _) in entries {
            if total <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                let _ = fs::remove_file(self.hits_path(&key));
                total -= bytes;
                removed += 1;
            }
        }
        self.estimate.store(total, Ordering::Relaxed);
        removed
    }

    /// Every entry, most recently used first.
    pub fn list(&self) -> Vec<EntryInfo> {
        let mut entries = self.scan();
        entries.sort_by_key(|e| std::cmp::Reverse(e.3));
        entries
            .into_iter()
            .map(|(key, path, bytes, used)| {
                let meta = match self.map_private(&path) {
                    Ok(Some(map)) => Entry::parse(&map, Some(&key)).map(|e| e.meta),
                    Ok(None) => Err("removed meanwhile".to_owned()),
                    Err(reason) => Err(reason),
                };
                let hits = fs::metadata(self.hits_path(&key))
                    .map(|m| m.len())
                    .unwrap_or(0);
                EntryInfo {
                    key: key.hex(),
                    path,
                    bytes,
                    hits,
                    meta,
                    idle_seconds: now().duration_since(used).map(|d| d.as_secs()).unwrap_or(0),
                }
            })
            .collect()
    }

    /// Entries and their total size.
    pub fn usage(&self) -> (usize, u64) {
        let entries = self.scan();
        (entries.len(), entries.iter().map(|e| e.2).sum())
    }

    /// Removes every entry (and stale temp files); returns how many entries.
    pub fn clear(&self) -> usize {
        let mut removed = 0;
        if let Ok(dir) = fs::read_dir(&self.objects) {
            for item in dir.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                let entry = name.ends_with(ENTRY_SUFFIX);
                if !(entry
                    || name.ends_with(HITS_SUFFIX)
                    || name.ends_with(CLAIM_SUFFIX)
                    || name.starts_with(TEMP_PREFIX))
                {
                    continue;
                }
                let gone = fs::remove_file(item.path()).is_ok();
                if entry && gone {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Checks every entry: ownership, mode, format, checksum, and that it sits under the
    /// key it was written for.
    pub fn verify(&self) -> Vec<VerifyResult> {
        let mut results: Vec<VerifyResult> = self
            .scan()
            .into_iter()
            .map(|(key, path, _, _)| {
                let problem = match self.map_private(&path) {
                    Ok(Some(map)) => Entry::parse(&map, Some(&key)).err(),
                    Ok(None) => Some("removed meanwhile".to_owned()),
                    Err(reason) => Some(reason),
                };
                VerifyResult { path, problem }
            })
            .collect();
        results.sort_by(|a, b| a.path.cmp(&b.path));
        results
    }

    fn specs_path(&self, function: &Key) -> PathBuf {
        self.specs.join(format!("{}{SPECS_SUFFIX}", function.hex()))
    }

    /// The signatures recorded for the function `function` identifies, in the order
    /// they were first recorded (empty when none; an unsafe file counts as none).
    pub fn specs(&self, function: &Key) -> Vec<String> {
        let Ok(Some(map)) = self.map_private(&self.specs_path(function)) else {
            return Vec::new();
        };
        let mut lines: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&map).lines() {
            if !line.is_empty() && !lines.iter().any(|l| l == line) {
                lines.push(line.to_owned());
            }
        }
        lines
    }

    /// Records that `function` was compiled for `signature` (one line; appends are atomic,
    /// so concurrent writers interleave whole lines). Returns whether it was new.
    pub fn add_spec(&self, function: &Key, signature: &str) -> Result<bool, String> {
        let signature = signature.replace('\n', " ");
        let known = self.specs(function);
        if known.contains(&signature) || known.len() >= MAX_SPEC_LINES {
            return Ok(false);
        }
        let path = self.specs_path(function);
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .and_then(|mut file| file.write_all(format!("{signature}\n").as_bytes()))
            .map(|()| true)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The functions that have recorded signatures.
    pub fn spec_functions(&self) -> Vec<Key> {
        let Ok(dir) = fs::read_dir(&self.specs) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|item| {
                let name = item.file_name();
                Key::from_hex(name.to_string_lossy().strip_suffix(SPECS_SUFFIX)?)
            })
            .collect()
    }

    /// Functions with recorded signatures, and the bytes their records take.
    pub fn spec_usage(&self) -> (usize, u64) {
        let Ok(dir) = fs::read_dir(&self.specs) else {
            return (0, 0);
        };
        dir.flatten()
            .filter(|item| item.file_name().to_string_lossy().ends_with(SPECS_SUFFIX))
            .filter_map(|item| item.metadata().ok())
            .fold((0, 0), |(n, bytes), meta| (n + 1, bytes + meta.len()))
    }

    /// Removes every signature record; returns how many functions had one.
    pub fn clear_specs(&self) -> usize {
        let Ok(dir) = fs::read_dir(&self.specs) else {
            return 0;
        };
        dir.flatten()
            .filter(|item| item.file_name().to_string_lossy().ends_with(SPECS_SUFFIX))
            .filter(|item| fs::remove_file(item.path()).is_ok())
            .count()
    }

    /// Seconds since the epoch, for [`Meta::created`].
    pub fn now_seconds() -> u64 {
        seconds_since_epoch()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::key::KeyBuilder;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "pyopt-cache-test-{}-{name}-{}",
                std::process::id(),
                seconds_since_epoch()
            ));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o700));
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn key(n: u32) -> Key {
        KeyBuilder::new().part("n", &n.to_le_bytes()).finish()
    }

    fn meta(function: &str) -> Meta {
        Meta {
            function: function.to_owned(),
            signature: "(int)".to_owned(),
            entries: 1,
            created: Cache::now_seconds(),
        }
    }

    fn hit(cache: &Cache, key: &Key) -> Vec<u8> {
        match cache.get(key) {
            Lookup::Hit(entry) => entry.object().to_vec(),
            Lookup::Miss => panic!("miss"),
            Lookup::Skipped(reason) => panic!("skipped: {reason}"),
        }
    }

    #[test]
    fn entries_are_stored_found_counted_and_listed() {
        let dir = TempDir::new("basic");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        let mode = fs::metadata(&dir.0).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(matches!(cache.get(&key(1)), Lookup::Miss));
        cache.put(&key(1), &meta("f"), b"object one").unwrap();
        assert_eq!(hit(&cache, &key(1)), b"object one");
        assert_eq!(hit(&cache, &key(1)), b"object one");
        let entry_mode = fs::metadata(cache.entry_path(&key(1))).unwrap().mode() & 0o777;
        assert_eq!(entry_mode, 0o600);
        let listed = cache.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].hits, 2);
        assert_eq!(listed[0].meta.as_ref().unwrap().function, "f");
        assert_eq!(cache.usage().0, 1);
        assert!(cache.verify().iter().all(|v| v.problem.is_none()));
        assert_eq!(cache.clear(), 1);
        assert!(matches!(cache.get(&key(1)), Lookup::Miss));
    }

    #[test]
    fn damaged_or_misplaced_entries_are_skipped_and_reported() {
        let dir = TempDir::new("damaged");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        cache.put(&key(1), &meta("f"), &[7u8; 4096]).unwrap();
        cache.put(&key(2), &meta("g"), &[8u8; 4096]).unwrap();
        cache.put(&key(3), &meta("h"), &[9u8; 4096]).unwrap();
        // Truncated, one bit flipped in the object, and an entry copied to another key.
        let path = cache.entry_path(&key(1));
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let path = cache.entry_path(&key(2));
        let mut bytes = fs::read(&path).unwrap();
        bytes[1000] ^= 1;
        fs::write(&path, &bytes).unwrap();
        fs::copy(cache.entry_path(&key(3)), cache.entry_path(&key(4))).unwrap();
        for (n, expected) in [(1, "checksum"), (2, "checksum"), (4, "another key")] {
            match cache.get(&key(n)) {
                Lookup::Skipped(reason) => assert!(reason.contains(expected), "{reason}"),
                _ => panic!("entry {n} was not skipped"),
            }
        }
        assert_eq!(hit(&cache, &key(3)), [9u8; 4096]);
        let problems = cache
            .verify()
            .into_iter()
            .filter(|v| v.problem.is_some())
            .count();
        assert_eq!(problems, 3);
    }

    #[test]
    fn directories_and_entries_others_can_write_are_refused() {
        let dir = TempDir::new("modes");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        cache.put(&key(1), &meta("f"), b"object").unwrap();
        let entry = cache.entry_path(&key(1));
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).unwrap();
        match cache.get(&key(1)) {
            Lookup::Skipped(reason) => assert!(reason.contains("writable by group"), "{reason}"),
            _ => panic!("a world-writable entry was used"),
        }
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(cache.get(&key(1)), Lookup::Hit(_)));
        // Another user's entry (only root can make one here).
        if euid() == 0 {
            std::os::unix::fs::chown(&entry, Some(54321), None).unwrap();
            match cache.get(&key(1)) {
                Lookup::Skipped(reason) => assert!(reason.contains("user id 54321"), "{reason}"),
                _ => panic!("another user's entry was used"),
            }
            std::os::unix::fs::chown(&dir.0, Some(54321), None).unwrap();
            let refused = Cache::open(&dir.0, 1 << 20).unwrap_err();
            assert!(refused.contains("owned by user id 54321"), "{refused}");
            std::os::unix::fs::chown(&dir.0, Some(0), None).unwrap();
        }
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).unwrap();
        let refused = Cache::open(&dir.0, 1 << 20).unwrap_err();
        assert!(refused.contains("writable by group or others"), "{refused}");
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o700)).unwrap();
        let objects = dir.0.join(OBJECTS);
        fs::set_permissions(&objects, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(Cache::open(&dir.0, 1 << 20).is_err());
    }

    #[test]
    fn one_process_claims_a_compile_and_the_others_wait_for_its_entry() {
        let dir = TempDir::new("claim");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        let Claim::Mine(guard) = cache.claim(&key(1)) else {
            panic!("the first claim was refused")
        };
        assert!(matches!(cache.claim(&key(1)), Claim::Theirs));
        assert!(matches!(cache.claim(&key(2)), Claim::Mine(_)));
        let waiter = {
            let dir = dir.0.clone();
            std::thread::spawn(move || {
                let cache = Cache::open(&dir, 1 << 20).unwrap();
                match cache.wait_for(&key(1), Duration::from_secs(20)) {
                    Lookup::Hit(entry) => entry.object().to_vec(),
                    _ => Vec::new(),
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        cache.put(&key(1), &meta("f"), b"compiled once").unwrap();
        drop(guard);
        assert_eq!(waiter.join().unwrap(), b"compiled once");
        assert!(matches!(cache.claim(&key(1)), Claim::Mine(_)));
        // A claim whose process died: waiting ends when it goes stale and is taken over.
        let Claim::Mine(abandoned) = cache.claim(&key(3)) else {
            panic!("claim refused")
        };
        std::mem::forget(abandoned);
        assert!(matches!(cache.claim(&key(3)), Claim::Theirs));
        assert!(matches!(
            cache.wait_for(&key(3), Duration::from_millis(30)),
            Lookup::Miss
        ));
        File::options()
            .write(true)
            .open(cache.claim_path(&key(3)))
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap();
        assert!(matches!(cache.claim(&key(3)), Claim::Mine(_)));
    }

    #[test]
    fn signatures_are_recorded_once_each_and_cleared() {
        let dir = TempDir::new("specs");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        let f = key(1);
        assert!(cache.specs(&f).is_empty());
        assert!(cache.add_spec(&f, "(int, float)").unwrap());
        assert!(cache.add_spec(&f, "(float, float)").unwrap());
        assert!(!cache.add_spec(&f, "(int, float)").unwrap());
        assert_eq!(cache.specs(&f), ["(int, float)", "(float, float)"]);
        assert!(cache.specs(&key(2)).is_empty());
        for n in 0..40 {
            cache.add_spec(&key(3), &format!("(sig{n})")).unwrap();
        }
        assert_eq!(cache.specs(&key(3)).len(), MAX_SPEC_LINES);
        assert_eq!(cache.spec_usage().0, 2);
        let mut functions = cache.spec_functions();
        functions.sort_by_key(Key::hex);
        let mut expected = vec![f, key(3)];
        expected.sort_by_key(Key::hex);
        assert_eq!(functions, expected);
        // Others could have written it: not trusted.
        fs::set_permissions(cache.specs_path(&f), fs::Permissions::from_mode(0o622)).unwrap();
        assert!(cache.specs(&f).is_empty());
        assert_eq!(cache.clear_specs(), 2);
        assert_eq!(cache.spec_usage(), (0, 0));
    }

    #[test]
    fn a_symlinked_entry_is_not_followed() {
        let dir = TempDir::new("symlink");
        let cache = Cache::open(&dir.0, 1 << 20).unwrap();
        cache.put(&key(1), &meta("f"), b"object").unwrap();
        std::os::unix::fs::symlink(cache.entry_path(&key(1)), cache.entry_path(&key(2))).unwrap();
        assert!(matches!(cache.get(&key(2)), Lookup::Skipped(_)));
    }

    #[test]
    fn eviction_removes_the_least_recently_used_and_spares_mapped_readers() {
        let dir = TempDir::new("evict");
        // Entries of about 10 KiB; room for about 5.
        let cache = Cache::open(&dir.0, 52 * 1024).unwrap();
        let object = vec![1u8; 10 * 1024];
        for n in 0..5 {
            cache.put(&key(n), &meta("f"), &object).unwrap();
        }
        let Lookup::Hit(mapped) = cache.get(&key(1)) else {
            panic!("entry 1 missing")
        };
        // Last uses: entry 0 now, the others long ago, 1 the oldest.
        for n in 1..5 {
            let used = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + u64::from(n));
            for path in [cache.hits_path(&key(n)), cache.entry_path(&key(n))] {
                // (Only entry 1 has a hit file.)
                if let Ok(file) = File::options().write(true).open(path) {
                    file.set_modified(used).unwrap();
                }
            }
        }
        cache.put(&key(9), &meta("g"), &object).unwrap();
        let present: Vec<u32> = (0..10)
            .filter(|n| matches!(cache.get(&key(*n)), Lookup::Hit(_)))
            .collect();
        assert!(present.contains(&0) && present.contains(&9), "{present:?}");
        assert!(
            !present.contains(&1) && !present.contains(&2),
            "{present:?}"
        );
        assert!(cache.usage().1 <= 52 * 1024);
        // A mapping taken before the eviction still reads the whole object.
        assert_eq!(mapped.object(), &object[..]);
    }
}
