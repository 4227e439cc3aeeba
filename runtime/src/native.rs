//! `python_optimizer._native`: the Rust half of the `python_optimizer` package.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::config::Value;

/// pyopt's options as resolved at start-up: a list of dicts with `key`, `value`,
/// `source` ("default", "environment", "command line"), `active`, `env`, `xoption`
/// and `help`.
#[pyfunction]
fn options(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for setting in crate::options().settings() {
        let entry = PyDict::new(py);
        entry.set_item("key", setting.spec.key)?;
        match &setting.value {
            Value::Bool(b) => entry.set_item("value", b)?,
            Value::Count(n) => entry.set_item("value", n)?,
            Value::Path(p) => entry.set_item("value", p.to_string_lossy())?,
            Value::Unset => entry.set_item("value", py.None())?,
        }
        entry.set_item("source", setting.source.as_str())?;
        entry.set_item("active", setting.spec.active)?;
        entry.set_item("env", setting.spec.env_name())?;
        entry.set_item("xoption", setting.spec.xoption_name())?;
        entry.set_item("help", setting.spec.help)?;
        list.append(entry)?;
    }
    Ok(list)
}

/// Facts about this build, for bug reports: pyopt version, target, profile and the
/// directory of the libpython it links.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("version", crate::VERSION)?;
    info.set_item("target", env!("BUILD_INFO_TARGET"))?;
    info.set_item("profile", env!("BUILD_INFO_PROFILE"))?;
    info.set_item("libpython_dir", env!("BUILD_INFO_LIBPYTHON_DIR"))?;
    Ok(info)
}

#[pymodule]
#[pyo3(name = "_native")]
pub fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", crate::VERSION)?;
    m.add_function(wrap_pyfunction!(options, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_class::<crate::importer::EmbeddedImporter>()?;
    Ok(())
}
