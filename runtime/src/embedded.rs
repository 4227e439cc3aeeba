//! The `python_optimizer` package's Python sources (`runtime/python/`), compiled into
//! the binary by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/embedded_modules.rs"));

/// `(is package, source)` of an embedded module, by dotted name.
pub fn find(name: &str) -> Option<(bool, &'static str)> {
    EMBEDDED_MODULES
        .iter()
        .find(|(module, _, _)| *module == name)
        .map(|(_, is_package, source)| (*is_package, *source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_and_its_main_are_embedded() {
        let (is_package, source) = find("python_optimizer").expect("python_optimizer is embedded");
        assert!(is_package, "python_optimizer is a package");
        assert!(source.contains("__version__"));
        assert_eq!(find("python_optimizer.__main__").map(|m| m.0), Some(false));
        assert!(find("python_optimizer.nonexistent").is_none());
    }

    #[test]
    fn module_names_are_unique() {
        let mut names: Vec<_> = EMBEDDED_MODULES.iter().map(|(n, _, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EMBEDDED_MODULES.len());
    }
}
