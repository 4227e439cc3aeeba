//! Cache keys: a blake3 hash over labelled, length-prefixed parts, so no two different
//! lists of parts hash the same bytes.

use std::fmt;

/// What identifies one compiled unit's code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The key as 64 lowercase hex digits (entry file names).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The inverse of [`Key::hex`]; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Key> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Key(bytes))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.hex())
    }
}

/// Builds a [`Key`] from parts: `KeyBuilder::new().part("plan", bytes)...finish()`.
pub struct KeyBuilder(blake3::Hasher);

impl KeyBuilder {
    pub fn new() -> Self {
        KeyBuilder(blake3::Hasher::new_derive_key("pyopt compiled unit key v1"))
    }

    /// Adds one part. The label and both lengths are hashed too, so moving bytes from one
    /// part to the next changes the key.
    pub fn part(mut self, label: &str, bytes: &[u8]) -> Self {
        self.0.update(&(label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> Key {
        Key(*self.0.finalize().as_bytes())
    }
}

impl Default for KeyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_and_its_boundaries_count() {
        let key = |parts: &[(&str, &[u8])]| {
            parts
                .iter()
                .fold(KeyBuilder::new(), |b, (label, bytes)| b.part(label, bytes))
                .finish()
        };
        let base = key(&[("plan", b"abc"), ("target", b"x86")]);
        assert_eq!(base, key(&[("plan", b"abc"), ("target", b"x86")]));
        assert_ne!(base, key(&[("plan", b"abd"), ("target", b"x86")]));
        assert_ne!(base, key(&[("plan", b"ab"), ("target", b"cx86")]));
        assert_ne!(
            base,
            key(&[("plan", b"abc"), ("target", b"x86"), ("fast", b"")])
        );
        assert_ne!(base, key(&[("plan2", b"abc"), ("target", b"x86")]));
    }

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let key = KeyBuilder::new().part("a", b"b").finish();
        assert_eq!(Key::from_hex(&key.hex()), Some(key));
        assert_eq!(key.hex().len(), 64);
        assert_eq!(Key::from_hex("zz"), None);
        assert_eq!(Key::from_hex(&"g".repeat(64)), None);
    }
}
