//! The importer that serves the embedded `python_optimizer` package from the binary.
//!
//! Installed first on `sys.meta_path` before `__main__` runs, it answers only for the
//! modules in [`embedded::EMBEDDED_MODULES`] and returns `None` for everything else. It
//! is written in Rust so start-up compiles no Python: start-up time is part of the
//! drop-in promise. Modules get a `<pyopt-python>/...` filename and no `__file__` (there
//! is no file); `get_source` lets `inspect` and `traceback` show their source.

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::embedded;

const FILENAME_PREFIX: &str = "<pyopt-python>/";

/// Finder and loader for the modules compiled into pyopt-python.
#[pyclass(frozen, module = "python_optimizer._native")]
pub struct EmbeddedImporter;

/// `(name, is package, source)` of an embedded module, or ImportError.
fn lookup(fullname: &Bound<'_, PyString>) -> PyResult<(String, bool, &'static str)> {
    let name = fullname.to_string_lossy().into_owned();
    match fullname.to_str().ok().and_then(embedded::find) {
        Some((is_package, source)) => Ok((name, is_package, source)),
        None => Err(PyImportError::new_err(format!(
            "pyopt-python embeds no module {name:?}"
        ))),
    }
}

fn filename(fullname: &str, is_package: bool) -> String {
    let path = fullname.replace('.', "/");
    if is_package {
        format!("{FILENAME_PREFIX}{path}/__init__.py")
    } else {
        format!("{FILENAME_PREFIX}{path}.py")
    }
}

#[pymethods]
impl EmbeddedImporter {
    fn __repr__(&self) -> String {
        format!(
            "<EmbeddedImporter: {} modules>",
            embedded::EMBEDDED_MODULES.len()
        )
    }

    /// Module names may hold lone surrogates (undecodable file names): those are never
    /// ours, so `fullname` is taken as a Python str, not converted up front.
    #[pyo3(signature = (fullname, path=None, target=None))]
    fn find_spec<'py>(
        slf: &Bound<'py, Self>,
        fullname: &Bound<'py, PyString>,
        path: Option<&Bound<'py, PyAny>>,
        target: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let _ = (path, target); // the embedded table is the only place we look
        let Ok(fullname) = fullname.to_str() else {
            return Ok(None);
        };
        let Some((is_package, _)) = embedded::find(fullname) else {
            return Ok(None);
        };
        let py = slf.py();
        let options = PyDict::new(py);
        options.set_item("origin", filename(fullname, is_package))?;
        options.set_item("is_package", is_package)?;
        let spec = py
            .import("_frozen_importlib")?
            .getattr("ModuleSpec")?
            .call((fullname, slf), Some(&options))?;
        if is_package {
            // Submodules come from this importer too, never from a directory.
            spec.setattr("submodule_search_locations", PyList::empty(py))?;
        }
        Ok(Some(spec))
    }

    fn create_module(&self, spec: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
        let _ = spec; // default module creation
        None
    }

    fn exec_module(slf: &Bound<'_, Self>, module: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let name = module.getattr("__spec__")?.getattr("name")?;
        let code = slf.get().get_code(py, name.cast::<PyString>()?)?;
        py.import("builtins")?
            .getattr("exec")?
            .call1((code, module.getattr("__dict__")?))?;
        Ok(())
    }

    fn is_package(&self, fullname: &Bound<'_, PyString>) -> PyResult<bool> {
        Ok(lookup(fullname)?.1)
    }

    fn get_source(&self, fullname: &Bound<'_, PyString>) -> PyResult<&'static str> {
        Ok(lookup(fullname)?.2)
    }

    fn get_code<'py>(
        &self,
        py: Python<'py>,
        fullname: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (name, is_package, source) = lookup(fullname)?;
        let options = PyDict::new(py);
        options.set_item("dont_inherit", true)?;
        py.import("builtins")?.getattr("compile")?.call(
            (source, filename(&name, is_package), "exec"),
            Some(&options),
        )
    }
}

/// Puts an [`EmbeddedImporter`] first on `sys.meta_path`.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let meta_path = py.import("sys")?.getattr("meta_path")?;
    meta_path.call_method1("insert", (0, Bound::new(py, EmbeddedImporter)?))?;
    Ok(())
}
