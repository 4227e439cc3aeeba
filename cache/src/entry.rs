//! The entry file: a header, the object file and a checksum.
//!
//! ```text
//! 0    magic "PYOPTOB1" (the format version is its last byte)
//! 8    key (32 bytes): the key the entry was written under
//! 40   object offset (u64, a multiple of 16: object readers want it aligned)
//! 48   object length (u64)
//! 56   entry points (u32): how many the unit has
//! 60   meta length (u32)
//! 64   created (u64, seconds since the epoch)
//! 72   meta: UTF-8 lines "function", "signature"
//! ...  zeros up to the object offset, the object, then
//! end  blake3 of everything before it (32 bytes)
//! ```
//!
//! All integers little-endian. [`Entry::parse`] checks every field before anything is
//! used: a truncated, corrupted, foreign or older file is refused, never loaded.

use crate::key::Key;

const MAGIC: &[u8; 8] = b"PYOPTOB1";
const HEADER: usize = 72;
const CHECKSUM: usize = 32;

/// What an entry says about its code (for `cache list` and for loading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The compiled function's qualified name.
    pub function: String,
    /// Its argument types, as `jit_info` shows them.
    pub signature: String,
    /// How many entry points the object defines.
    pub entries: u32,
    /// Seconds since the epoch when it was written.
    pub created: u64,
}

/// Serializes an entry for `key`.
pub fn encode(key: &Key, meta: &Meta, object: &[u8]) -> Vec<u8> {
    let text = format!(
        "{}\n{}",
        meta.function.replace('\n', " "),
        meta.signature.replace('\n', " ")
    );
    let object_offset = (HEADER + text.len()).next_multiple_of(16);
    let mut bytes = Vec::with_capacity(object_offset + object.len() + CHECKSUM);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&key.0);
    bytes.extend_from_slice(&(object_offset as u64).to_le_bytes());
    bytes.extend_from_slice(&(object.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&meta.entries.to_le_bytes());
    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&meta.created.to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.resize(object_offset, 0);
    bytes.extend_from_slice(object);
    let checksum = blake3::hash(&bytes);
    bytes.extend_from_slice(checksum.as_bytes());
    bytes
}

/// A verified entry's parts, as offsets into its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub meta: Meta,
    pub object_offset: usize,
    pub object_len: usize,
}

impl Entry {
    /// Checks `bytes` as the entry for `key` (`None`: any key, for `cache verify` and
    /// `list`); the error says what is wrong.
    pub fn parse(bytes: &[u8], key: Option<&Key>) -> Result<Entry, String> {
        if bytes.len() < HEADER + CHECKSUM {
            return Err(format!("truncated ({} bytes)", bytes.len()));
        }
        if bytes[..7] != MAGIC[..7] {
            return Err("not a pyopt cache entry".to_owned());
        }
        if bytes[7] != MAGIC[7] {
            return Err(format!(
                "entry format {} (this pyopt reads {})",
                bytes[7] as char, MAGIC[7] as char
            ));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
        if blake3::hash(body).as_bytes() != checksum {
            return Err("checksum mismatch (corrupted or truncated)".to_owned());
        }
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8"));
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4"));
        if let Some(key) = key
            && body[8..40] != key.0
        {
            return Err("written under another key".to_owned());
        }
        let object_offset = usize::try_from(u64_at(40)).map_err(|_| "bad offset")?;
        let object_len = usize::try_from(u64_at(48)).map_err(|_| "bad length")?;
        let entries = u32_at(56);
        let meta_len = u32_at(60) as usize;
        let created = u64_at(64);
        if HEADER + meta_len > object_offset
            || object_offset % 16 != 0
            || object_offset.checked_add(object_len) != Some(body.len())
        {
            return Err("inconsistent lengths".to_owned());
        }
        let text = std::str::from_utf8(&body[HEADER..HEADER + meta_len])
            .map_err(|_| "metadata is not UTF-8".to_owned())?;
        let (function, signature) = text.split_once('\n').unwrap_or((text, ""));
        Ok(Entry {
            meta: Meta {
                function: function.to_owned(),
                signature: signature.to_owned(),
                entries,
                created,
            },
            object_offset,
            object_len,
        })
    }

    /// The object file inside `bytes` (the bytes this entry was parsed from).
    pub fn object<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.object_offset..self.object_offset + self.object_len]
    }
}

/// The key an entry's header names, without verifying anything else.
pub fn written_key(bytes: &[u8]) -> Option<Key> {
    bytes.get(8..40).map(|k| Key(k.try_into().expect("32")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyBuilder;

    fn sample() -> (Key, Meta, Vec<u8>) {
        let key = KeyBuilder::new().part("plan", b"f").finish();
        let meta = Meta {
            function: "mod.f".to_owned(),
            signature: "(int, float)".to_owned(),
            entries: 2,
            created: 1_700_000_000,
        };
        (key, meta, (0..=255u8).cycle().take(1000).collect())
    }

    #[test]
    fn an_entry_reads_back_with_its_object_aligned() {
        let (key, meta, object) = sample();
        let bytes = encode(&key, &meta, &object);
        let entry = Entry::parse(&bytes, Some(&key)).unwrap();
        assert_eq!(entry.meta, meta);
        assert_eq!(entry.object(&bytes), &object[..]);
        assert_eq!(entry.object_offset % 16, 0);
        assert_eq!(written_key(&bytes), Some(key));
    }

    #[test]
    fn any_damage_is_refused_with_a_reason() {
        let (key, meta, object) = sample();
        let bytes = encode(&key, &meta, &object);
        let fails = |bytes: &[u8], key: Option<&Key>| Entry::parse(bytes, key).unwrap_err();
        assert!(fails(&bytes[..bytes.len() - 1], Some(&key)).contains("checksum"));
        assert!(fails(&bytes[..40], Some(&key)).contains("truncated"));
        for at in [0, 9, 45, 70, 200, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(Entry::parse(&damaged, Some(&key)).is_err(), "byte {at}");
        }
        let other = KeyBuilder::new().part("plan", b"g").finish();
        assert!(fails(&bytes, Some(&other)).contains("another key"));
        let mut newer = bytes.clone();
        newer[7] = b'2';
        assert!(fails(&newer, Some(&key)).contains("format 2"));
        let mut elf = b"\x7fELF".to_vec();
        elf.resize(200, 0);
        assert!(fails(&elf, None).contains("not a pyopt"));
    }
}
