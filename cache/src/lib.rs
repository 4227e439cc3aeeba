//! pyopt's compiled-code cache: each compiled unit's object file, keyed by a blake3 hash
//! of everything that determines its code, in one directory every process shares.
//!
//! - [`key`]: the key, built from labelled parts.
//! - [`entry`]: the entry file format (header, object, checksum) and its verification.
//! - [`store`]: the directory: opening it safely, lookups that map entries with mmap,
//!   atomic writes, LRU eviction, listing, clearing and verifying.
//!
//! No locks anywhere: writers write a private temp file and rename it into place (atomic
//! on local and network file systems), readers map whole files, and eviction only
//! unlinks, so a process that mapped an entry keeps reading it after another evicted it.
//! Nothing here knows about Python or LLVM.

pub mod entry;
pub mod key;
pub mod store;

pub use entry::{Entry, Meta};
pub use key::{Key, KeyBuilder};
pub use store::{Cache, Claim, EntryInfo, Lookup, VerifyResult};
