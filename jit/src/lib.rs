//! pyopt's JIT front end: from a snapshot of a CPython 3.11 code object and argument
//! types to a typed [`plan::Unit`] the LLVM back end (`jit/llvm`) compiles, or a
//! [`infer::Refusal`] that says which construct on which line is not compiled.
//!
//! Nothing here touches Python objects or LLVM: `hooks` takes the snapshot under the GIL
//! and loads the back end only for functions that pass this front end.
//!
//! - [`opcode`], [`bytecode`]: 3.11 opcodes and decoding;
//! - [`snapshot`]: what the compiler is told about a function and its global names;
//! - [`types`]: the types compiled code works with and their slot layout;
//! - [`numpy`]: numpy's promotion rules for scalars of its other dtypes;
//! - [`infer`]: type inference, producing a [`plan`].

pub mod abi;
pub mod bytecode;
pub mod embedded_library;
pub mod infer;
pub mod numpy;
pub mod opcode;
pub mod plan;
pub mod snapshot;
pub mod types;

pub use infer::{Refusal, plan_unit};

/// Serializes a value for the boundary between the binary and the back end library.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("plans always serialize")
}

/// The inverse of [`encode`].
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}
