//! What the compiler knows about a Python function: a copy of its code object's fields
//! and of what its global names referred to, taken under the GIL by `hooks`.
//!
//! The compiler never touches Python objects: everything it needs is here. Objects the
//! compiled code must use at run time (a called function, the `random` generator, ...)
//! appear as [`ObjectId`]s; `hooks` keeps the objects and checks at run time that the
//! names still refer to them.

use serde::{Deserialize, Serialize};

/// An object `hooks` resolved while taking the snapshot, by its index in
/// [`CompileRequest::objects`].
pub type ObjectId = u32;

/// A constant from `co_consts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Const {
    None,
    Bool(bool),
    Int(i64),
    /// An int outside the 64-bit range.
    BigInt,
    Float(f64),
    Str(String),
    Tuple(Vec<Const>),
    /// Anything else; the string is its type name.
    Other(String),
}

/// A `math` function the compiler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MathFn {
    Sqrt,
    Exp,
    Log,
    Log2,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Floor,
    Ceil,
    Trunc,
    Fabs,
    Copysign,
    Pow,
    Hypot,
    Fmod,
    Isnan,
    Isinf,
    Isfinite,
    Gcd,
}

impl MathFn {
    pub const ALL: [MathFn; 27] = [
        MathFn::Sqrt,
        MathFn::Exp,
        MathFn::Log,
        MathFn::Log2,
        MathFn::Log10,
        MathFn::Sin,
        MathFn::Cos,
        MathFn::Tan,
        MathFn::Asin,
        MathFn::Acos,
        MathFn::Atan,
        MathFn::Atan2,
        MathFn::Sinh,
        MathFn::Cosh,
        MathFn::Tanh,
        MathFn::Floor,
        MathFn::Ceil,
        MathFn::Trunc,
        MathFn::Fabs,
        MathFn::Copysign,
        MathFn::Pow,
        MathFn::Hypot,
        MathFn::Fmod,
        MathFn::Isnan,
        MathFn::Isinf,
        MathFn::Isfinite,
        MathFn::Gcd,
    ];

    /// The attribute name in the `math` module.
    pub fn name(self) -> &'static str {
        match self {
            MathFn::Sqrt => "sqrt",
            MathFn::Exp => "exp",
            MathFn::Log => "log",
            MathFn::Log2 => "log2",
            MathFn::Log10 => "log10",
            MathFn::Sin => "sin",
            MathFn::Cos => "cos",
            MathFn::Tan => "tan",
            MathFn::Asin => "asin",
            MathFn::Acos => "acos",
            MathFn::Atan => "atan",
            MathFn::Atan2 => "atan2",
            MathFn::Sinh => "sinh",
            MathFn::Cosh => "cosh",
            MathFn::Tanh => "tanh",
            MathFn::Floor => "floor",
            MathFn::Ceil => "ceil",
            MathFn::Trunc => "trunc",
            MathFn::Fabs => "fabs",
            MathFn::Copysign => "copysign",
            MathFn::Pow => "pow",
            MathFn::Hypot => "hypot",
            MathFn::Fmod => "fmod",
            MathFn::Isnan => "isnan",
            MathFn::Isinf => "isinf",
            MathFn::Isfinite => "isfinite",
            MathFn::Gcd => "gcd",
        }
    }

    pub fn from_name(name: &str) -> Option<MathFn> {
        MathFn::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A method of the `random` module's hidden generator (`random._inst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RandomFn {
    Random,
    Uniform,
    Randint,
}

impl RandomFn {
    pub fn name(self) -> &'static str {
        match self {
            RandomFn::Random => "random",
            RandomFn::Uniform => "uniform",
            RandomFn::Randint => "randint",
        }
    }

    pub fn from_name(name: &str) -> Option<RandomFn> {
        [RandomFn::Random, RandomFn::Uniform, RandomFn::Randint]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// A builtin the compiler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BuiltinFn {
    Range,
    Abs,
    Min,
    Max,
    Int,
    Float,
    Bool,
    Round,
    Divmod,
    Len,
    Enumerate,
    Zip,
    Reversed,
    Sum,
}

impl BuiltinFn {
    pub const ALL: [BuiltinFn; 14] = [
        BuiltinFn::Range,
        BuiltinFn::Abs,
        BuiltinFn::Min,
        BuiltinFn::Max,
        BuiltinFn::Int,
        BuiltinFn::Float,
        BuiltinFn::Bool,
        BuiltinFn::Round,
        BuiltinFn::Divmod,
        BuiltinFn::Len,
        BuiltinFn::Enumerate,
        BuiltinFn::Zip,
        BuiltinFn::Reversed,
        BuiltinFn::Sum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinFn::Range => "range",
            BuiltinFn::Abs => "abs",
            BuiltinFn::Min => "min",
            BuiltinFn::Max => "max",
            BuiltinFn::Int => "int",
            BuiltinFn::Float => "float",
            BuiltinFn::Bool => "bool",
            BuiltinFn::Round => "round",
            BuiltinFn::Divmod => "divmod",
            BuiltinFn::Len => "len",
            BuiltinFn::Enumerate => "enumerate",
            BuiltinFn::Zip => "zip",
            BuiltinFn::Reversed => "reversed",
            BuiltinFn::Sum => "sum",
        }
    }

    pub fn from_name(name: &str) -> Option<BuiltinFn> {
        BuiltinFn::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A module the compiler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModuleKind {
    Math,
    Random,
    Numpy,
    /// `numpy.random`.
    NumpyRandom,
}

/// What a method of numpy's global `RandomState` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumpyDraw {
    /// `random()`, `random_sample()`, `rand()`: a float from `next_double`.
    Double,
    /// `randint(high)`, `randint(low, high)`: an int by masked rejection sampling.
    Randint,
}

/// A numpy function that makes a new array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NumpyMaker {
    Zeros,
    Ones,
    Empty,
    Arange,
}

impl NumpyMaker {
    pub const ALL: [NumpyMaker; 4] = [
        NumpyMaker::Zeros,
        NumpyMaker::Ones,
        NumpyMaker::Empty,
        NumpyMaker::Arange,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NumpyMaker::Zeros => "zeros",
            NumpyMaker::Ones => "ones",
            NumpyMaker::Empty => "empty",
            NumpyMaker::Arange => "arange",
        }
    }
}

/// What a name referred to when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Binding {
    /// An int, float, bool, None or tuple value (inlined; guarded).
    Value(Const),
    /// A Python function; its code is `CompileRequest::functions[function]`.
    Function {
        object: ObjectId,
        function: u32,
    },
    Module {
        object: ObjectId,
        kind: ModuleKind,
    },
    Builtin {
        object: ObjectId,
        kind: BuiltinFn,
    },
    Math {
        object: ObjectId,
        kind: MathFn,
    },
    /// A bound method of the `random` module's generator; `generator` is that
    /// `random.Random` instance.
    Random {
        object: ObjectId,
        generator: ObjectId,
        kind: RandomFn,
    },
    /// `numpy.random.random`, `.random_sample` or `.rand`: methods of numpy's global
    /// `RandomState`. `capsule` holds its bit generator (a `bitgen_t`); `lock` is the
    /// `_thread.RLock` (`reentrant`) or `_thread.lock` numpy takes around each draw.
    NumpyRandom {
        object: ObjectId,
        kind: NumpyDraw,
        capsule: ObjectId,
        lock: ObjectId,
        reentrant: bool,
    },
    /// `numpy.dot`.
    NumpyDot {
        object: ObjectId,
    },
    /// `numpy.sum`, `numpy.max` (`amax`) or `numpy.min` (`amin`): for an ndarray, what
    /// `ndarray.sum`, `.max` or `.min` computes.
    NumpyReduce {
        object: ObjectId,
        reduction: crate::types::Reduction,
    },
    /// `numpy.zeros`, `numpy.ones`, `numpy.empty` or `numpy.arange`.
    NumpyMaker {
        object: ObjectId,
        kind: NumpyMaker,
    },
    /// A numpy scalar type (`numpy.float32`, `numpy.int64`, ...): calling it casts.
    NumpyScalarType {
        object: ObjectId,
        dtype: crate::types::Dtype,
    },
    /// A numpy ufunc with one output; `loops` are its `types` (`"dd->d"`, in numpy's
    /// order, as `ufunc.types` lists them), checked against the ufunc's C struct.
    NumpyUfunc {
        object: ObjectId,
        name: String,
        loops: Vec<String>,
    },
    /// Something the compiler does not handle; the text says what it is.
    Unsupported(String),
    /// Not defined at snapshot time (a NameError if executed).
    Missing,
}

/// One entry of `co_lines()`: bytecode offsets `start..end` belong to `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRange {
    pub start: u32,
    pub end: u32,
    /// `None` for instructions with no line (artificial ones).
    pub line: Option<u32>,
}

/// A code object, copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeSnapshot {
    pub name: String,
    pub qualname: String,
    pub filename: String,
    pub first_line: u32,
    pub argcount: u32,
    pub posonlyargcount: u32,
    pub kwonlyargcount: u32,
    pub flags: u32,
    pub stacksize: u32,
    /// `co_varnames`: the plain locals, arguments first.
    pub varnames: Vec<String>,
    pub ncellvars: u32,
    pub nfreevars: u32,
    /// `co_code`: the instructions with inline caches zeroed.
    pub code: Vec<u8>,
    pub exception_table: Vec<u8>,
    pub consts: Vec<Const>,
    pub names: Vec<String>,
    pub lines: Vec<LineRange>,
    /// For each entry of `names`: what it referred to as a global (module globals,
    /// then builtins).
    pub globals: Vec<Binding>,
    /// For each entry of `names`, what it is as an attribute of each module the function
    /// uses: `(module kind, name index, binding)`.
    pub module_attributes: Vec<(ModuleKind, u32, Binding)>,
}

pub const CO_OPTIMIZED: u32 = 0x0001;
pub const CO_NEWLOCALS: u32 = 0x0002;
pub const CO_VARARGS: u32 = 0x0004;
pub const CO_VARKEYWORDS: u32 = 0x0008;
pub const CO_GENERATOR: u32 = 0x0020;
pub const CO_COROUTINE: u32 = 0x0080;
pub const CO_ITERABLE_COROUTINE: u32 = 0x0100;
pub const CO_ASYNC_GENERATOR: u32 = 0x0200;

impl CodeSnapshot {
    /// The source line of the instruction at `offset`, if it has one.
    pub fn line_of(&self, offset: u32) -> Option<u32> {
        self.lines
            .iter()
            .find(|r| r.start <= offset && offset < r.end)
            .and_then(|r| r.line)
    }

    /// The binding of `name` as an attribute of a module of the given kind.
    pub fn module_attribute(&self, kind: ModuleKind, name_index: u32) -> Option<&Binding> {
        self.module_attributes
            .iter()
            .find(|(k, i, _)| *k == kind && *i == name_index)
            .map(|(_, _, b)| b)
    }
}

/// Everything one compilation needs: the function to compile (index 0), every Python
/// function it calls by global name (transitively, as far as `hooks` resolved them), and
/// the argument types to specialize for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileRequest {
    pub functions: Vec<CodeSnapshot>,
    /// How many entries `hooks` holds in its object table for this request.
    pub objects: u32,
    pub arg_types: Vec<crate::types::Ty>,
    /// Allow reassociation and other fast-math flags (only when the user asks).
    pub fastmath: bool,
    /// Compile the function for entering a running frame at a loop header instead of
    /// for a call (then `arg_types` is empty).
    pub osr: Option<OsrRequest>,
}

/// On-stack replacement: the frame's state at a loop header, which the plan starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsrRequest {
    /// Byte offset of the loop header (where its instruction starts).
    pub offset: u32,
    /// Each local of the frame, in order.
    pub locals: Vec<OsrLocal>,
    /// The value stack at the header, bottom first (range iterators of enclosing loops).
    pub stack: Vec<crate::types::Ty>,
    /// A module body's frame (its variables live in the module's dict): the `co_names`
    /// index of each of `locals`, which the plan keeps in locals (`LOAD_NAME` and
    /// `STORE_NAME` of them); the module's other names are read like globals. `None` for
    /// a function's frame.
    #[serde(default)]
    pub module_names: Option<Vec<u32>>,
}

/// A local of a running frame entered at a loop header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OsrLocal {
    Unbound,
    Value(crate::types::Ty),
    /// An object compiled code cannot hold (its type's name): it stays in the frame, and
    /// a plan that reads, stores or deletes the local is refused.
    Kept(String),
}
