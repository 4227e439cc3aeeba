//! Interned strings: events carry 32-bit ids, not text. Interning takes a lock; callers
//! intern a name once (a function name when it compiles, a span name when it is first
//! used) and record with the id from then on.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// An interned string's id; 0 is the empty string.
pub type StrId = u32;

#[derive(Default)]
struct Table {
    ids: HashMap<String, StrId>,
    strings: Vec<String>,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        Mutex::new(Table {
            ids: HashMap::from([(String::new(), 0)]),
            strings: vec![String::new()],
        })
    })
}

/// The id of `text`, the same for equal texts for the life of the process.
pub fn intern(text: &str) -> StrId {
    let mut table = table().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(id) = table.ids.get(text) {
        return *id;
    }
    let id = table.strings.len() as StrId;
    table.strings.push(text.to_owned());
    table.ids.insert(text.to_owned(), id);
    id
}

/// The text of `id` (empty for an id never handed out).
pub fn resolve(id: StrId) -> String {
    let table = table().lock().unwrap_or_else(|p| p.into_inner());
    table.strings.get(id as usize).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_an_id_and_resolve_back() {
        let a = intern("compile");
        assert_eq!(intern("compile"), a);
        assert_ne!(intern("deopt"), a);
        assert_eq!(resolve(a), "compile");
        assert_eq!(intern(""), 0);
        assert_eq!(resolve(u32::MAX), "");
    }
}
