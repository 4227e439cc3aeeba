//! The contract between compiled code, `hooks` (which runs it) and the LLVM back end
//! library (which produces it): data layouts, calling conventions and runtime helpers.
//!
//! Every compiled plan becomes a native function
//!
//! ```text
//! fn(ctx: *mut Ctx, out: *mut u64, remaining: i32, args...) -> u64 (status)
//! ```
//!
//! with one machine argument per parameter slot (`i64` ints, `double` floats, `i64` 0/1
//! bools, tuples flattened); the result's slots go to `out` (a number's bits, a tuple's
//! items, or, for `BOXED`, the object), so that after inlining LLVM sees a plain status
//! to branch on. A wrapper `fn(ctx, env, frame, *const u64) -> Ret` reads the arguments
//! from memory and is what `hooks` calls. `frame` is the interpreter frame `hooks` was
//! given for this call; the wrapper leaves it in `ctx.entry_frame` (with its result
//! slots in `ctx.entry_out`, which tells the plan it entered from the ones compiled code
//! calls directly, which have no frame) and the unit's env in `ctx.env`, restoring the
//! previous values when the plan returns. Compiled code never raises: where it cannot
//! go on it writes a deoptimization record to `ctx.slots` and passes on what the
//! `pyopt_deopt` helper returns.

use std::ffi::c_char;

/// Bumped whenever anything in this module changes meaning.
pub const ABI_VERSION: u32 = 9;

/// Per-thread state compiled code reads and writes.
#[repr(C)]
#[derive(Debug)]
pub struct Ctx {
    /// `&tstate->recursion_remaining`: decremented on entry to every compiled
    /// function and incremented on return, exactly as interpreted calls do.
    pub recursion_remaining: *mut i32,
    /// The interpreter's eval breaker (non-zero: hand over at the next loop back-edge).
    pub eval_breaker: *const i32,
    /// Where deoptimization records are written (at least `capacity` slots).
    pub slots: *mut u64,
    pub capacity: u64,
    /// The interpreter frame of the innermost entry-wrapper call on this thread (set
    /// and restored by the wrapper), and that call's result slots.
    pub entry_frame: *mut std::ffi::c_void,
    pub entry_out: *mut u64,
    /// The env of the unit whose code runs (set and restored by entry wrappers).
    pub env: *const Env,
}

/// A dict whose PEP 509 version the compiled code checks on entry.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub version: *const u64,
    pub expected: u64,
}

/// Per-unit state: the objects the code uses and the guards on them.
#[repr(C)]
#[derive(Debug)]
pub struct Env {
    /// The request's object table (borrowed references `hooks` keeps alive).
    pub objects: *const *mut std::ffi::c_void,
    pub watches: *mut Watch,
    pub nwatches: u64,
    /// Opaque to compiled code: `hooks`' record of the loaded unit.
    pub unit: *const std::ffi::c_void,
}

/// What a compiled function returns (in two registers).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ret {
    /// The result per the plan's result type (float bits, 0/1 for bools, an owned
    /// tuple object), or an owned object when `status` is [`BOXED`].
    pub value: u64,
    pub status: u64,
}

/// The result is of the plan's result type.
pub const OK: u64 = 0;
/// The result is an owned object of some other type (the interpreter finished the call).
pub const BOXED: u64 = 1;
/// An exception is set; the function has added itself to the traceback.
pub const ERROR: u64 = 2;
/// From an entry wrapper only: a name the unit depends on changed; nothing ran, and
/// the caller runs the interpreter instead.
pub const GUARD_FAILED: u64 = 3;

/// Runtime helpers compiled code calls, by symbol name. Signatures are in the comments;
/// `hooks::helpers` defines them and the back end declares them.
/// The record `helper::NUMPY_CALL` reads: 64-bit words.
pub mod numpy_call {
    /// `KIND_PLAIN` or `KIND_ONES` (numpy.empty, then every item set to one).
    pub const KIND: usize = 0;
    pub const KIND_PLAIN: i64 = 0;
    pub const KIND_ONES: i64 = 1;
    /// The array expected: `type_num | ndim << 8`.
    pub const EXPECT: usize = 1;
    /// How many positional arguments (at most 3).
    pub const POSITIONAL: usize = 2;
    /// Positional argument `i` at `ARGS + 4 * i`, `size=` at `SIZE`: a tag, then up to
    /// three values.
    pub const ARGS: usize = 3;
    pub const SIZE: usize = 15;
    pub const WORDS: usize = 19;
    /// Tags: an int, a float's bits, a tuple of `TAG_TUPLE + k` ints (k = 1..=3), no
    /// value (`size=` not given).
    pub const TAG_INT: i64 = 0;
    pub const TAG_FLOAT: i64 = 1;
    pub const TAG_TUPLE: i64 = 10;
    pub const TAG_ABSENT: i64 = -1;
}

pub mod helper {
    /// `(ctx, env, out, plan: u32, point: u32, nslots: u64) -> u64`: hand over to the
    /// interpreter with the record in `ctx.slots`; `out` is the plan's result slots
    /// (when they are `ctx.entry_out`, the plan has the wrapper's frame
    /// `ctx.entry_frame`). Writes the result object (or 0) to `out[0]` and returns
    /// `BOXED` or `ERROR`, so a plan returns its value directly (a tail call).
    pub const DEOPT: &str = "pyopt_deopt";
    /// `(env) -> u32`: a watched dict changed; 0 if every name still refers to the same
    /// object (versions updated), 1 if the unit is no longer valid.
    pub const GUARDS: &str = "pyopt_guards_changed";
    /// `(ctx, env) -> u32`: the eval breaker is set. 0: carry on (the GIL was handed to
    /// another thread and taken back, and the unit's guards still hold); 1: hand over to
    /// the interpreter (a signal, a pending call, or changed globals).
    pub const POLL: &str = "pyopt_poll";
    /// `(ctx, env) -> u32`: `POLL` for a unit that borrows lists out of containers: it
    /// also hands over when another thread wants the GIL (that thread could free one).
    pub const POLL_BORROWING: &str = "pyopt_poll_borrowing";
    /// `(f64, f64) -> f64`: Python's float `//` and `%` (divisor non-zero).
    pub const FLOAT_FLOORDIV: &str = "pyopt_float_floordiv";
    pub const FLOAT_MOD: &str = "pyopt_float_mod";
    /// `(a: f64, b: f64, floor: u32) -> f64`: numpy float32 `a // b` (floor) or `a % b`
    /// of float32 values held as doubles, computed in float32; `b` is non-zero.
    pub const FLOAT32_DIVMOD: &str = "pyopt_float32_divmod";
    /// `(f64, f64, *mut f64) -> u32`: float `**`; 1 = the interpreter must do it.
    pub const FLOAT_POW: &str = "pyopt_float_pow";
    /// `(i64, i64, *mut i64) -> u32`: int `**` with a non-negative exponent; 1 = overflow.
    pub const INT_POW: &str = "pyopt_int_pow";
    /// `() -> u32`: 1 when numpy ignores underflow now (`np.geterr()["under"]`), 0
    /// otherwise or when pyopt cannot tell.
    pub const NUMPY_UNDERFLOW_IGNORED: &str = "pyopt_numpy_underflow_ignored";
    /// `(i64, f64, u32 op) -> u32`: exact comparison of an int with a float.
    pub const COMPARE_INT_FLOAT: &str = "pyopt_compare_int_float";
    /// `(i64, i64, *mut f64) -> u32`: int `/` int correctly rounded; 1 = the interpreter.
    pub const INT_TRUEDIV: &str = "pyopt_int_truediv";
    /// `(u32 function, f64, f64, f64, *mut f64) -> u32`: a `math` function returning a
    /// float; 1 = domain or range error (the interpreter raises it).
    pub const MATH: &str = "pyopt_math";
    /// `(u32 function, f64, *mut i64) -> u32`: math.floor/ceil/trunc of a float.
    pub const MATH_TO_INT: &str = "pyopt_math_to_int";
    /// `(i64, i64) -> i64`: math.gcd (returns -1 when the result does not fit).
    pub const GCD: &str = "pyopt_gcd";
    /// `(generator) -> f64`: `random()` of a `random.Random`.
    pub const RANDOM: &str = "pyopt_random";
    /// `(generator, i64, i64, *mut i64) -> u32`: `randint(a, b)`; 1 = the interpreter.
    pub const RANDINT: &str = "pyopt_randint";
    /// `(f64, *mut i64) -> u32`: `round(x)`; 1 = not finite or too large.
    pub const ROUND: &str = "pyopt_round";
    /// `(f64, i64, *mut f64) -> u32`: `round(x, n)`.
    pub const ROUND_FLOAT_DIGITS: &str = "pyopt_round_float_digits";
    /// `(i64, i64, *mut i64) -> u32`: `round(i, n)`.
    pub const ROUND_INT_DIGITS: &str = "pyopt_round_int_digits";
    /// `(env, plan: u32, slots: *const u64) -> obj`: the plan's result as a new object
    /// (for tuple results); null with an exception set when allocation failed.
    pub const BOX_RESULT: &str = "pyopt_box_result";
    /// `(list, index: i64, kind: u32, bits: i64) -> u32`: `list[index] = value`, the
    /// value an int (kind 0), a float's bits (1) or a bool (2); 1 = the interpreter must
    /// do it (index out of range, or an old item whose release could run Python code).
    pub const LIST_SET: &str = "pyopt_list_set";
    /// `(list, kind: u32, bits: i64) -> u32`: `list.append(value)`, the value coded as
    /// for `LIST_SET` or an object compiled code holds (kind 3, its address); 1 = out
    /// of memory (the interpreter raises MemoryError).
    pub const LIST_APPEND: &str = "pyopt_list_append";
    /// `(array, type_num: u32, reduction: u32, *mut i64) -> u32`: `array.sum()`, `.max()`
    /// or `.min()` (`types::Reduction::ALL[reduction]`) of an array (a float's bits or
    /// an int64); 1 = numpy would warn or raise, or reduces in another order (the
    /// interpreter does it).
    pub const ARRAY_SUM: &str = "pyopt_array_sum";
    /// `(object) -> u32`: `Py_DecRef` (references compiled code took around a call);
    /// returns 0.
    pub const RELEASE: &str = "pyopt_release";
    /// `(bitgen, low: i64, high: i64) -> i64`: `randint(low, high)` (low < high) of
    /// numpy's legacy `RandomState` from its `bitgen_t`.
    pub const NUMPY_RANDINT: &str = "pyopt_numpy_randint";
    /// `(a, b, *mut f64) -> u32`: `numpy.dot` of two 1-d float64 arrays; 1 = the
    /// interpreter (lengths differ, a stride numpy copies for, a warning).
    pub const NUMPY_DOT: &str = "pyopt_numpy_dot";
    /// `(function, dtype or null, record: *const i64, *mut ptr) -> u32`: calls a numpy
    /// function that makes an array (`function(*args, size=.., dtype=dtype)`), the
    /// arguments described by the record (see [`super::numpy_call`]). The new array
    /// belongs to the running call: pyopt releases it when the call ends (a caller that
    /// keeps it takes a reference). 1 = the interpreter (numpy raised, made another
    /// array than expected, or the call made too many objects already).
    pub const NUMPY_CALL: &str = "pyopt_numpy_call";
    /// `(*mut ptr) -> u32`: a new empty list, the running call's as for `NUMPY_CALL`
    /// (items are added with `LIST_APPEND`); 1 = the interpreter.
    pub const NEW_LIST: &str = "pyopt_new_list";
    /// `(list, n: i64, *mut ptr) -> u32`: `list * n`, a new list, the running call's;
    /// 1 = the interpreter.
    pub const LIST_REPEAT: &str = "pyopt_list_repeat";
    /// `(list, position: i64, keep: u32) -> u32`: removes item `position` (in range) of
    /// a list, which compiled code has read; with `keep` its reference goes to the
    /// running call (a list item) rather than being released (a number: no Python code
    /// runs). 1 = the interpreter (nothing removed: the call keeps too many objects).
    pub const LIST_DELETE: &str = "pyopt_list_delete";
    /// `(method: u32, list, index: i64, kind: u32, bits: i64, *mut ptr) -> u32`: the
    /// list method `types::ListMethod::ALL[method]`: `insert(index, value)` (the value
    /// coded as for `LIST_APPEND`), `extend(other)` (`bits` the other list),
    /// `reverse()`, `clear()`, `copy()` (the new list through the pointer, the running
    /// call's), `index(value)`, `count(value)`, `sort()`, `value in list` (an int
    /// through the pointer). None of them runs Python code; 1 = the interpreter (out of
    /// memory, a value not found, `clear()` releasing or the comparing methods comparing
    /// items other than numbers, or too many objects made).
    pub const LIST_METHOD: &str = "pyopt_list_method";
    /// `(which: u32, list, float: u32, *mut i64) -> u32`: CPython's `sum` (0), `min` (1)
    /// or `max` (2) of a list of numbers, an int (or a float's bits with `float`); 1 =
    /// the interpreter (an item other than a number, a result of another type or
    /// beyond 64 bits, or the function raised).
    pub const LIST_REDUCE: &str = "pyopt_list_reduce";
    /// `(ufunc, loop: u32, nin: u32, x: f64, y: f64, *mut f64) -> u32`: a numpy ufunc's
    /// float64 inner loop on one element (`y` ignored for one input); 1 = the loop
    /// raised a floating-point flag numpy warns about (the interpreter does it).
    pub const UFUNC: &str = "pyopt_ufunc";

    /// CPython objects compiled code compares items with (addresses, not functions):
    /// the exact types of floats, ints, lists and tuples, and the two bools.
    pub const PYTHON_OBJECTS: [&str; 6] = [
        "PyFloat_Type",
        "PyLong_Type",
        "PyList_Type",
        "PyTuple_Type",
        "_Py_TrueStruct",
        "_Py_FalseStruct",
    ];

    /// C library math functions compiled code calls directly (`double f(double)`),
    /// resolved to the process's libm: the very functions CPython's `math` module calls.
    pub const LIBM: [&str; 14] = [
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "log2",
        "log10", "sqrt",
    ];

    pub const ALL: [&str; 34] = [
        DEOPT,
        GUARDS,
        POLL,
        FLOAT_FLOORDIV,
        FLOAT_MOD,
        FLOAT32_DIVMOD,
        FLOAT_POW,
        INT_POW,
        COMPARE_INT_FLOAT,
        INT_TRUEDIV,
        MATH,
        MATH_TO_INT,
        GCD,
        RANDOM,
        RANDINT,
        ROUND,
        ROUND_FLOAT_DIGITS,
        ROUND_INT_DIGITS,
        BOX_RESULT,
        LIST_SET,
        LIST_APPEND,
        UFUNC,
        ARRAY_SUM,
        NUMPY_DOT,
        NUMPY_CALL,
        NEW_LIST,
        LIST_REPEAT,
        LIST_DELETE,
        LIST_METHOD,
        LIST_REDUCE,
        NUMPY_RANDINT,
        RELEASE,
        POLL_BORROWING,
        NUMPY_UNDERFLOW_IGNORED,
    ];
}

/// A runtime helper's address, handed to the back end.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HelperSymbol {
    pub name: *const c_char,
    pub address: u64,
}

/// What `compile` (the object file) or `load` (the handle and entry points) produced,
/// filled in by the back end.
#[repr(C)]
#[derive(Debug)]
pub struct CompileOutput {
    /// Identifies the loaded code for `release`.
    pub handle: u64,
    /// Address of each plan's slot-reading wrapper, in plan order.
    pub entries: *mut u64,
    pub nentries: u64,
    /// The object file (for the compiled-object cache).
    pub object: *mut u8,
    pub object_len: u64,
    /// Nanoseconds spent in each phase: IR, optimization, code generation (`compile`),
    /// linking (`load`).
    pub nanos: [u64; 4],
    /// On failure: a NUL-terminated message.
    pub error: *mut c_char,
}

/// The back end library's entry points (`pyopt_backend_api` returns this).
#[repr(C)]
pub struct BackendApi {
    pub abi_version: u32,
    /// Registers the runtime helpers; call once before `compile`. Returns 0 on success.
    pub init: unsafe extern "C" fn(helpers: *const HelperSymbol, count: u64) -> i32,
    /// Compiles a serialized [`crate::plan::Unit`] to an object file whose symbols start
    /// with `prefix` (NUL-terminated). Returns 0 on success; `output` must then be given
    /// to `free_output`.
    pub compile: unsafe extern "C" fn(
        unit: *const u8,
        len: u64,
        prefix: *const c_char,
        output: *mut CompileOutput,
    ) -> i32,
    /// Loads an object file `compile` made with `prefix`, defining `entries` entry
    /// points, without copying it: the bytes must stay readable until the handle is
    /// released. An object already loaded under `prefix` is shared (the handle counts
    /// one more user). Returns 0 on success; `output` must then be given to
    /// `free_output`.
    pub load: unsafe extern "C" fn(
        object: *const u8,
        len: u64,
        prefix: *const c_char,
        entries: u64,
        output: *mut CompileOutput,
    ) -> i32,
    pub free_output: unsafe extern "C" fn(output: *mut CompileOutput),
    /// Frees loaded code; no thread may be running it.
    pub release: unsafe extern "C" fn(handle: u64),
    /// LLVM's version, host CPU name and features, NUL-terminated (static).
    pub target: unsafe extern "C" fn() -> *const c_char,
}

/// The symbol the back end library exports: `extern "C" fn() -> *const BackendApi`.
pub const BACKEND_ENTRY: &str = "pyopt_backend_api";
