//! Converting between Python objects and compiled code's 64-bit slots.
//!
//! Layouts follow `Ty::slots`: ints as `i64`, floats as their bits, bools as 0/1,
//! tuples element by element, ranges as (start, step, length).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};
use pyopt_jit::abi::Env;
use pyopt_jit::types::{Dtype, MethodKind, Ty};

/// Flattens `value` into `out` if it has type `ty` exactly (the specialization guard).
pub fn guard_and_flatten(value: &Bound<'_, PyAny>, ty: &Ty, out: &mut Vec<u64>) -> bool {
    match ty {
        Ty::Int => {
            if !value.is_exact_instance_of::<PyInt>() {
                return false;
            }
            match value.extract::<i64>() {
                Ok(i) => {
                    out.push(i as u64);
                    true
                }
                Err(_) => false,
            }
        }
        Ty::Float => {
            if !value.is_exact_instance_of::<PyFloat>() {
                return false;
            }
            // SAFETY: an exact float.
            out.push(unsafe { ffi::PyFloat_AS_DOUBLE(value.as_ptr()) }.to_bits());
            true
        }
        Ty::Bool => {
            if !value.is_exact_instance_of::<PyBool>() {
                return false;
            }
            out.push(u64::from(value.is_truthy().unwrap_or(false)));
            true
        }
        Ty::None => value.is_none(),
        Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => {
            let Some(dtype) = numpy_dtype(ty) else {
                return false;
            };
            if crate::snapshot::type_of(value).as_ref() != Some(ty) {
                return false;
            }
            // SAFETY: numpy's scalars hold their value right after the object header
            // (`obval`), as an item of their dtype.
            let bits = unsafe {
                let value = value.as_ptr().cast::<u8>().add(16);
                match dtype {
                    Dtype::F64 => value.cast::<f64>().read().to_bits(),
                    Dtype::F32 => f64::from(value.cast::<f32>().read()).to_bits(),
                    Dtype::I64 => value.cast::<i64>().read() as u64,
                    Dtype::I32 => i64::from(value.cast::<i32>().read()) as u64,
                    Dtype::I8 => i64::from(value.cast::<i8>().read()) as u64,
                    Dtype::U8 => u64::from(*value),
                    Dtype::Bool => u64::from(*value != 0),
                }
            };
            out.push(bits);
            true
        }
        Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
            if crate::snapshot::type_of(value).as_ref() != Some(ty) {
                return false;
            }
            // Borrowed: the caller's arguments or the frame hold the sequence.
            out.push(value.as_ptr() as u64);
            true
        }
        Ty::Tuple(items) => {
            let Ok(tuple) = value.cast::<PyTuple>() else {
                return false;
            };
            if !value.is_exact_instance_of::<PyTuple>() || tuple.len() != items.len() {
                return false;
            }
            tuple
                .iter()
                .zip(items)
                .all(|(item, ty)| guard_and_flatten(&item, ty, out))
        }
        _ => false,
    }
}

/// Builds the object a value of type `ty` stands for, reading its slots at `*position`.
pub fn materialize<'py>(
    py: Python<'py>,
    ty: &Ty,
    slots: &[u64],
    position: &mut usize,
) -> PyResult<Bound<'py, PyAny>> {
    let mut take = || -> u64 {
        let v = slots.get(*position).copied().unwrap_or(0);
        *position += 1;
        v
    };
    Ok(match ty {
        Ty::Int => (take() as i64).into_pyobject(py)?.into_any(),
        Ty::Float => PyFloat::new(py, f64::from_bits(take())).into_any(),
        Ty::Bool => PyBool::new(py, take() != 0).to_owned().into_any(),
        Ty::None => py.None().into_bound(py),
        Ty::Tuple(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                values.push(materialize(py, item, slots, position)?);
            }
            PyTuple::new(py, values)?.into_any()
        }
        Ty::Range | Ty::RangeIter => {
            let start = take() as i64;
            let step = take() as i64;
            let len = take() as i64;
            // The same values and the same remaining length as CPython's iterator.
            let stop = i128::from(start) + i128::from(len) * i128::from(step);
            let range = builtin(py, "range")?.call1((start, stop, step))?;
            if *ty == Ty::RangeIter {
                range.try_iter()?.into_any()
            } else {
                range
            }
        }
        Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => {
            // The value, then whether it is numpy's.
            let Some((python, numpy)) = ty.flagged_parts() else {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "pyopt internal error: a flagged type without parts",
                ));
            };
            let is_numpy = slots.get(*position + 1).copied().unwrap_or(0) != 0;
            let value = materialize(py, if is_numpy { &numpy } else { &python }, slots, position)?;
            *position += 1;
            value
        }
        Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => {
            let bits = take();
            let dtype = numpy_dtype(ty).unwrap_or(Dtype::F64);
            // The value as a Python number the scalar type takes exactly (a float32's
            // value is a double that float32 holds).
            let value = match dtype {
                Dtype::F64 | Dtype::F32 => PyFloat::new(py, f64::from_bits(bits)).into_any(),
                Dtype::Bool => PyBool::new(py, bits != 0).to_owned().into_any(),
                _ => (bits as i64).into_pyobject(py)?.into_any(),
            };
            let kind = crate::snapshot::numpy_scalar_type(dtype);
            let Some(kind) = kind.get(py) else {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "pyopt internal error: numpy is gone",
                ));
            };
            kind.call1((value,))?
        }
        Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => {
            // SAFETY: compiled code only has sequences the caller or the frame holds.
            unsafe { Bound::from_borrowed_ptr(py, take() as *mut ffi::PyObject) }
        }
        Ty::SeqIter(_) | Ty::SeqRevIter(_) => {
            // SAFETY: as above.
            let sequence = unsafe { Bound::from_borrowed_ptr(py, take() as *mut ffi::PyObject) };
            let index = take() as i64;
            let iterator = if matches!(ty, Ty::SeqRevIter(_)) {
                builtin(py, "reversed")?.call1((sequence,))?
            } else {
                sequence.try_iter()?.into_any()
            };
            iterator.call_method1("__setstate__", (index,))?;
            iterator
        }
        Ty::TupleIter(tuple) => {
            let tuple = materialize(py, tuple, slots, position)?;
            let index = slots.get(*position).copied().unwrap_or(0) as i64;
            *position += 1;
            let iterator = tuple.try_iter()?.into_any();
            iterator.call_method1("__setstate__", (index,))?;
            iterator
        }
        Ty::Enumerate(inner) => {
            let count = slots.get(*position).copied().unwrap_or(0) as i64;
            *position += 1;
            let inner = materialize(py, inner, slots, position)?;
            builtin(py, "enumerate")?.call1((inner, count))?
        }
        Ty::Zip(inners) => {
            let mut iterators = Vec::with_capacity(inners.len());
            for inner in inners {
                iterators.push(materialize(py, inner, slots, position)?);
            }
            builtin(py, "zip")?.call1(PyTuple::new(py, iterators)?)?
        }
        // The method descriptor LOAD_METHOD found on the type.
        Ty::Method(MethodKind::ListAppend) => builtin(py, "list")?.getattr("append")?,
        Ty::Method(MethodKind::ListPop) => builtin(py, "list")?.getattr("pop")?,
        Ty::Method(MethodKind::List(method)) => builtin(py, "list")?.getattr(method.name())?,
        Ty::Method(MethodKind::ArrayReduce(reduction)) => py
            .import("numpy")?
            .getattr("ndarray")?
            .getattr(reduction.name())?,
        Ty::Null | Ty::Object(_) => {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "pyopt internal error: materializing a marker",
            ));
        }
    })
}

/// The dtype of a numpy scalar type.
fn numpy_dtype(ty: &Ty) -> Option<Dtype> {
    match ty {
        Ty::NpFloat => Some(Dtype::F64),
        Ty::NpBool => Some(Dtype::Bool),
        Ty::NpScalar(dtype) => Some(*dtype),
        _ => None,
    }
}

/// `pyopt_list_set`: `list[index] = value` (see `helper::LIST_SET`).
///
/// # Safety
/// Called by compiled code with the GIL held and an exact list it holds.
pub unsafe extern "C-unwind" fn pyopt_list_set(
    list: *mut ffi::PyObject,
    index: i64,
    kind: u32,
    bits: i64,
) -> u32 {
    // SAFETY: per the contract; indices are checked against the list's size.
    unsafe {
        let len = ffi::Py_SIZE(list) as i64;
        let position = if index < 0 { index + len } else { index };
        if position < 0 || position >= len {
            return 1; // the interpreter raises IndexError
        }
        let slot = (*list.cast::<ffi::PyListObject>())
            .ob_item
            .add(position as usize);
        let old = *slot;
        // Releasing a number runs no Python code; anything else might (`__del__`).
        if !is_number_object(old) {
            return 1;
        }
        let new = new_number(kind, bits);
        if new.is_null() {
            ffi::PyErr_Clear(); // out of memory: the interpreter tries again and raises
            return 1;
        }
        *slot = new;
        ffi::Py_DecRef(old);
        0
    }
}

/// Whether `object` is an exact int, float or bool: comparing, adding or releasing one
/// runs no Python code.
///
/// # Safety
/// `object` is a live object.
pub(crate) unsafe fn is_number_object(object: *mut ffi::PyObject) -> bool {
    // SAFETY: per the contract.
    let kind = unsafe { ffi::Py_TYPE(object) };
    kind == &raw mut ffi::PyFloat_Type
        || kind == &raw mut ffi::PyLong_Type
        || kind == &raw mut ffi::PyBool_Type
}

/// A new reference to the number compiled code passed as `kind` and `bits` (0: an int,
/// 1: a float's bits, 2: a bool, 3: an object it holds); null with an exception set
/// when out of memory.
///
/// # Safety
/// The GIL is held.
pub(crate) unsafe fn new_number(kind: u32, bits: i64) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held (per the contract).
    unsafe {
        match kind {
            0 => ffi::PyLong_FromLongLong(bits),
            1 => ffi::PyFloat_FromDouble(f64::from_bits(bits as u64)),
            // An object compiled code holds (a list): a new reference to it.
            3 => {
                let object = bits as *mut ffi::PyObject;
                ffi::Py_IncRef(object);
                object
            }
            _ => {
                let object = if bits != 0 {
                    ffi::Py_True()
                } else {
                    ffi::Py_False()
                };
                ffi::Py_IncRef(object);
                object
            }
        }
    }
}

/// `pyopt_list_append`: `list.append(value)` (see `helper::LIST_APPEND`). Growing a
/// list releases no Python object, so no Python code runs.
///
/// # Safety
/// Called by compiled code with the GIL held and an exact list it holds.
pub unsafe extern "C-unwind" fn pyopt_list_append(
    list: *mut ffi::PyObject,
    kind: u32,
    bits: i64,
) -> u32 {
    // SAFETY: per the contract.
    unsafe {
        let item = new_number(kind, bits);
        if item.is_null() {
            ffi::PyErr_Clear(); // out of memory: the interpreter tries again and raises
            return 1;
        }
        let status = ffi::PyList_Append(list, item);
        ffi::Py_DecRef(item);
        if status != 0 {
            ffi::PyErr_Clear();
            return 1;
        }
    }
    0
}

fn builtin<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("builtins")?.getattr(name)
}

fn unit_of(env: *const Env) -> &'static crate::state::LoadedUnit {
    // SAFETY: compiled code passes the env of its own unit, which `hooks` keeps alive
    // while any of its code runs; `unit` points at the owning LoadedUnit.
    unsafe { &*((*env).unit as *const crate::state::LoadedUnit) }
}

/// `pyopt_box_result`: the plan's result as a new object (null with an exception set
/// on failure).
///
/// # Safety
/// Called by compiled code with the GIL held, its env, and the result's slots.
pub unsafe extern "C-unwind" fn pyopt_box_result(
    env: *const Env,
    plan: u32,
    slots: *const u64,
) -> *mut ffi::PyObject {
    let unit = unit_of(env);
    let ty = &unit.unit.plans[plan as usize].result;
    // SAFETY: compiled code wrote `ty.slots()` slots.
    let slots = unsafe { std::slice::from_raw_parts(slots, ty.slots()) };
    Python::attach(|py| match materialize(py, ty, slots, &mut 0) {
        Ok(object) => object.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    })
}
