//! Taking the compiler's snapshot of a function under the GIL: its code object's
//! fields, what each global name and module attribute it loads refers to, and the
//! functions it calls (transitively). Every name the compiled code depends on is
//! recorded with what it referred to, so a later change can be detected.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyFunction, PyInt, PyList, PyModule, PyString, PyTuple,
};
use pyopt_jit::bytecode;
use pyopt_jit::opcode::op;
use pyopt_jit::snapshot::{
    Binding, BuiltinFn, CodeSnapshot, CompileRequest, Const, LineRange, MathFn, ModuleKind,
    NumpyDraw, NumpyMaker, ObjectId, OsrRequest, RandomFn,
};
use pyopt_jit::types::{ArrayKind, Dtype, Reduction, Ty};

/// Most functions one compile request carries (the function and what it calls).
const MAX_FUNCTIONS: usize = 16;

/// An object the compiled code uses. Functions are held weakly: a function refers to
/// its code, whose state owns the compiled code, so a strong reference would keep both
/// alive forever. The guards (dict versions) notice when a name stops referring to a
/// function, so compiled code never uses a dead one.
pub enum Held {
    Strong(Py<PyAny>),
    Weak {
        weak: Py<PyAny>,
        address: *mut pyo3::ffi::PyObject,
    },
}

impl Held {
    fn new(object: &Bound<'_, PyAny>) -> Held {
        if object.is_exact_instance_of::<PyFunction>()
            && let Ok(weak) = pyo3::types::PyWeakrefReference::new(object)
        {
            return Held::Weak {
                weak: weak.into_any().unbind(),
                address: object.as_ptr(),
            };
        }
        Held::Strong(object.clone().unbind())
    }

    /// The object's address (for compiled code; valid while the guards hold).
    pub fn address(&self) -> *mut pyo3::ffi::PyObject {
        match self {
            Held::Strong(object) => object.as_ptr(),
            Held::Weak { address, .. } => *address,
        }
    }

    /// The object, if it is still alive.
    pub fn get<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        match self {
            Held::Strong(object) => Some(object.bind(py).clone()),
            Held::Weak { weak, .. } => {
                let target = weak.bind(py).call0().ok()?;
                (!target.is_none()).then_some(target)
            }
        }
    }
}

/// What a watched name must still refer to for compiled code to stay valid.
pub enum Expect {
    /// Not defined in this dict (a builtin or a missing name).
    Absent,
    /// This very object.
    Same(Held),
    /// An equal value of the same exact type (a constant the code inlined).
    Value(Py<PyAny>),
}

/// A dict the compiled code depends on. The compiled function's own globals and
/// builtins are borrowed: the interpreter frame being run holds them, and `hooks` runs
/// compiled code only for frames with these very dicts. Other dicts (modules) are held.
pub enum DictRef {
    Borrowed(*mut pyo3::ffi::PyObject),
    Strong(Py<PyDict>),
}

impl DictRef {
    pub fn as_ptr(&self) -> *mut pyo3::ffi::PyObject {
        match self {
            DictRef::Borrowed(p) => *p,
            DictRef::Strong(d) => d.as_ptr(),
        }
    }
}

pub struct WatchedName {
    /// Index into [`Snapshot::dicts`].
    pub dict: usize,
    pub name: Py<PyString>,
    pub expect: Expect,
}

/// A snapshot and the Python objects behind it.
pub struct Snapshot {
    pub request: CompileRequest,
    /// The object table `ObjectId`s index.
    pub objects: Vec<Held>,
    /// The function object of each request function.
    pub functions: Vec<Held>,
    pub watched: Vec<WatchedName>,
    /// Each watched dict, once.
    pub dicts: Vec<DictRef>,
    /// The compiled function's globals and builtins (frames must have these).
    pub globals: *mut pyo3::ffi::PyObject,
    pub builtins: *mut pyo3::ffi::PyObject,
}

struct Known {
    math: Py<PyModule>,
    random: Py<PyModule>,
    /// `random._inst`, if its class is the standard one (so its state layout and
    /// methods are known).
    generator: Option<Py<PyAny>>,
    builtins: Vec<(BuiltinFn, Py<PyAny>)>,
    math_functions: Vec<(MathFn, Py<PyAny>)>,
    random_methods: Vec<(RandomFn, Py<PyAny>)>,
    /// numpy and numpy.random, when the program imported them.
    numpy: Option<Py<PyAny>>,
    numpy_random: Option<Py<PyAny>>,
    numpy_random_draws: Option<NumpyDraws>,
    /// `numpy.dot` as numpy defines it.
    numpy_dot: Option<Py<PyAny>>,
    /// `numpy.sum`, `.max`, `.amax`, `.min`, `.amin`, with the reduction each is.
    numpy_reductions: Vec<(Reduction, Py<PyAny>)>,
    /// `numpy.zeros`, `.ones`, `.empty` and `.arange`.
    numpy_makers: Vec<(NumpyMaker, Py<PyAny>)>,
}

/// The methods of numpy's global `RandomState` compiled code draws from, with its bit
/// generator's capsule and lock.
struct NumpyDraws {
    methods: Vec<(NumpyDraw, Py<PyAny>)>,
    capsule: Py<PyAny>,
    lock: Py<PyAny>,
    reentrant: bool,
}

/// numpy's global `RandomState` methods that return one float from `next_double`
/// (`rand` with no arguments calls `random_sample`), when `numpy.random` is the module
/// numpy's sources define: a `RandomState` instance, its bit generator's "BitGenerator"
/// capsule and a standard lock. Never imports numpy.
/// `modules` is `sys.modules`.
fn numpy_draws(py: Python<'_>, numpy_random: &Bound<'_, PyAny>) -> PyResult<Option<NumpyDraws>> {
    let Some(mtrand) = imported(py, "numpy.random.mtrand") else {
        return Ok(None);
    };
    let state = mtrand.getattr("_rand")?;
    if !state.get_type().is(&mtrand.getattr("RandomState")?) {
        return Ok(None);
    }
    let generator = state.getattr("_bit_generator")?;
    let capsule = generator.getattr("capsule")?;
    let lock = generator.getattr("lock")?;
    let thread = py.import("_thread")?;
    let reentrant = lock.get_type().is(&thread.getattr("RLock")?);
    let plain = lock.get_type().is(&thread.getattr("LockType")?);
    // SAFETY: the GIL is held; `capsule` is a live object.
    let named =
        unsafe { pyo3::ffi::PyCapsule_IsValid(capsule.as_ptr(), c"BitGenerator".as_ptr()) == 1 };
    if !(named && (reentrant || plain)) {
        return Ok(None);
    }
    let mut methods = Vec::new();
    let names = [
        ("random", NumpyDraw::Double),
        ("random_sample", NumpyDraw::Double),
        ("rand", NumpyDraw::Double),
        ("randint", NumpyDraw::Randint),
    ];
    for (name, kind) in names {
        if let Ok(method) = numpy_random.getattr(name)
            && method
                .getattr("__self__")
                .is_ok_and(|owner| owner.is(&state))
        {
            methods.push((kind, method.unbind()));
        }
    }
    Ok(Some(NumpyDraws {
        methods,
        capsule: capsule.unbind(),
        lock: lock.unbind(),
        reentrant,
    }))
}

impl Known {
    fn load(py: Python<'_>) -> PyResult<Known> {
        let math = py.import("math")?;
        let random = py.import("random")?;
        let builtins = py.import("builtins")?;
        let generator = standard_generator(py, &random)?;
        let random_methods = match &generator {
            Some(_) => [RandomFn::Random, RandomFn::Uniform, RandomFn::Randint]
                .into_iter()
                .filter_map(|f| random.getattr(f.name()).ok().map(|m| (f, m.unbind())))
                .collect(),
            None => Vec::new(),
        };
        let numpy = imported(py, "numpy");
        if numpy.is_some() {
            crate::errstate::prepare(py);
        }
        let numpy_random = imported(py, "numpy.random");
        let numpy_random_draws = match &numpy_random {
            // A numpy whose internals differ is simply not compiled against.
            Some(module) => numpy_draws(py, module).ok().flatten(),
            None => None,
        };
        let numpy_dot = numpy
            .as_ref()
            .and_then(|numpy| numpy.getattr("dot").ok())
            .map(Bound::unbind);
        let numpy_makers = match &numpy {
            Some(numpy) => NumpyMaker::ALL
                .into_iter()
                .filter_map(|kind| Some((kind, numpy.getattr(kind.name()).ok()?.unbind())))
                .collect(),
            None => Vec::new(),
        };
        let numpy_reductions = match &numpy {
            Some(numpy) => [
                (Reduction::Sum, "sum"),
                (Reduction::Max, "max"),
                (Reduction::Max, "amax"),
                (Reduction::Min, "min"),
                (Reduction::Min, "amin"),
                (Reduction::Mean, "mean"),
            ]
            .into_iter()
            .filter_map(|(reduction, name)| Some((reduction, numpy.getattr(name).ok()?.unbind())))
            .collect(),
            None => Vec::new(),
        };
        Ok(Known {
            numpy_dot,
            numpy_reductions,
            numpy_makers,
            numpy: numpy.map(Bound::unbind),
            numpy_random: numpy_random.map(Bound::unbind),
            numpy_random_draws,
            builtins: BuiltinFn::ALL
                .into_iter()
                .map(|f| Ok((f, builtins.getattr(f.name())?.unbind())))
                .collect::<PyResult<_>>()?,
            math_functions: MathFn::ALL
                .into_iter()
                .map(|f| Ok((f, math.getattr(f.name())?.unbind())))
                .collect::<PyResult<_>>()?,
            math: math.unbind(),
            random: random.unbind(),
            generator,
            random_methods,
        })
    }
}

/// `random._inst` when it is a plain `random.Random` whose generator methods are
/// CPython's own; compiled code then reads and advances its Mersenne Twister state.
fn standard_generator(py: Python<'_>, random: &Bound<'_, PyModule>) -> PyResult<Option<Py<PyAny>>> {
    let Ok(instance) = random.getattr("_inst") else {
        return Ok(None);
    };
    let class = random.getattr("Random")?;
    let base = py.import("_random")?.getattr("Random")?;
    let same = |name: &str, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>| -> PyResult<bool> {
        Ok(a.getattr(name)?.is(&b.getattr(name)?))
    };
    let standard = instance.get_type().is(&class)
        && same("random", &class, &base)?
        && same("getrandbits", &class, &base)?
        && class
            .getattr("_randbelow")?
            .is(&class.getattr("_randbelow_with_getrandbits")?);
    Ok(standard.then(|| instance.unbind()))
}

struct Builder<'py> {
    py: Python<'py>,
    known: Known,
    objects: Vec<Held>,
    object_ids: HashMap<usize, ObjectId>,
    functions: Vec<Bound<'py, PyAny>>,
    function_ids: HashMap<usize, u32>,
    codes: Vec<Option<CodeSnapshot>>,
    watched: Vec<WatchedName>,
    dicts: Vec<DictRef>,
    /// The root function's globals and builtins (borrowed).
    borrowed: [*mut pyo3::ffi::PyObject; 2],
    /// Entering a module body's loop.
    module: Option<ModuleLoop>,
}

/// A module body's loop entered at `header`: `held` are the names it keeps in locals
/// (see `OsrRequest::module_names`; they are the plan's `varnames`); the other names it
/// loads are read like globals.
struct ModuleLoop {
    header: u32,
    held: Vec<u32>,
}

/// Takes the snapshot for compiling `function` (a Python function) for `arg_types`, or
/// for entering a running frame of it at a loop header (`osr`).
pub fn take(
    function: &Bound<'_, PyAny>,
    arg_types: Vec<Ty>,
    fastmath: bool,
    osr: Option<OsrRequest>,
) -> PyResult<Snapshot> {
    let py = function.py();
    let (_, globals, builtins) = function_parts(function)?;
    let (globals, builtins) = (globals.as_ptr(), builtins.as_ptr());
    let mut builder = Builder {
        py,
        known: Known::load(py)?,
        objects: Vec::new(),
        object_ids: HashMap::new(),
        functions: Vec::new(),
        function_ids: HashMap::new(),
        codes: Vec::new(),
        watched: Vec::new(),
        dicts: Vec::new(),
        borrowed: [globals, builtins],
        module: osr.as_ref().and_then(|o| {
            Some(ModuleLoop {
                header: o.offset,
                held: o.module_names.clone()?,
            })
        }),
    };
    builder.function_index(function);
    let mut next = 0;
    while next < builder.functions.len() {
        let function = builder.functions[next].clone();
        let module = if next == 0 {
            builder.module.take()
        } else {
            None
        };
        let code = builder.code_snapshot(&function, module.as_ref())?;
        builder.codes[next] = Some(code);
        next += 1;
    }
    Ok(Snapshot {
        request: CompileRequest {
            functions: builder
                .codes
                .into_iter()
                .map(|c| c.expect("every function snapshotted"))
                .collect(),
            objects: builder.objects.len() as u32,
            arg_types,
            fastmath,
            osr,
        },
        objects: builder.objects,
        functions: builder.functions.iter().map(Held::new).collect(),
        watched: builder.watched,
        dicts: builder.dicts,
        globals,
        builtins,
    })
}

/// A Python function's (original) code, globals and builtins, read from the function object
/// itself: attribute access (`f.__code__`) raises audit events that python3 would not.
pub fn function_parts<'py>(
    function: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>, Bound<'py, PyAny>)> {
    let function = function.cast::<PyFunction>()?;
    let py = function.py();
    // SAFETY: `function` is a live function object (checked above), whose struct pyo3
    // declares for this CPython; the fields are strong references it holds.
    unsafe {
        let raw = function.as_ptr().cast::<pyo3::ffi::PyFunctionObject>();
        // A compiled function's `__code__` is its trampoline; what it runs is the original.
        let code =
            Bound::from_borrowed_ptr(py, crate::trampoline::original_code(function.as_ptr()));
        let globals = Bound::from_borrowed_ptr(py, (*raw).func_globals).cast_into::<PyDict>()?;
        let builtins = Bound::from_borrowed_ptr(py, (*raw).func_builtins);
        Ok((code, globals, builtins))
    }
}

/// The `Ty` of an argument value, if compiled code can take it.
pub fn type_of(value: &Bound<'_, PyAny>) -> Option<Ty> {
    type_of_depth(value, 0)
}

fn type_of_depth(value: &Bound<'_, PyAny>, depth: usize) -> Option<Ty> {
    if value.is_exact_instance_of::<PyBool>() {
        Some(Ty::Bool)
    } else if value.is_exact_instance_of::<PyInt>() {
        value.extract::<i64>().ok().map(|_| Ty::Int)
    } else if value.is_exact_instance_of::<PyFloat>() {
        Some(Ty::Float)
    } else if value.is_none() {
        Some(Ty::None)
    } else if value.is_exact_instance_of::<PyTuple>() && depth < 4 {
        let tuple = value.cast::<PyTuple>().ok()?;
        if tuple.len() > 16 {
            return None;
        }
        tuple
            .iter()
            .map(|item| type_of_depth(&item, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(Ty::Tuple)
    } else if value.is_exact_instance_of::<PyList>() && depth < 4 {
        // Items are read as the first one's type (checked at every read); an empty
        // list's as floats. Numbers, lists and tuples of these (`Ty::is_list_item`).
        let list = value.cast::<PyList>().ok()?;
        let item = match list.get_item(0) {
            Ok(first) => type_of_depth(&first, depth + 1).filter(Ty::is_list_item)?,
            Err(_) => Ty::Float,
        };
        Some(Ty::List(Box::new(item)))
    } else if depth == 0 && is_a(value, &ARRAY) {
        let typecode: char = value.getattr("typecode").ok()?.extract().ok()?;
        ArrayKind::from_typecode(typecode).map(Ty::Array)
    } else if let Some(dtype) = Dtype::ALL
        .into_iter()
        .find(|dtype| is_a(value, numpy_scalar_type(*dtype)))
    {
        Some(dtype.scalar())
    } else if depth == 0 && is_a(value, &NUMPY_NDARRAY) {
        // SAFETY: an exact ndarray (checked above), read as numpy's C API lays it out.
        unsafe { ndarray_type(value.as_ptr()) }
    } else {
        None
    }
}

/// A type of a module, found in `sys.modules` once the program imported the module
/// (without it there are no such objects), and kept.
pub(crate) struct ModuleType {
    module: &'static str,
    name: &'static str,
    found: std::sync::OnceLock<Py<PyAny>>,
}

static ARRAY: ModuleType = ModuleType::new("array", "array");
static NUMPY_SCALARS: [ModuleType; 7] = [
    ModuleType::new("numpy", "float64"),
    ModuleType::new("numpy", "float32"),
    ModuleType::new("numpy", "int64"),
    ModuleType::new("numpy", "int32"),
    ModuleType::new("numpy", "int8"),
    ModuleType::new("numpy", "uint8"),
    ModuleType::new("numpy", "bool_"),
];

/// The type of numpy's scalars of `dtype` (in `Dtype::ALL`'s order).
pub(crate) fn numpy_scalar_type(dtype: Dtype) -> &'static ModuleType {
    let position = Dtype::ALL.iter().position(|d| *d == dtype).unwrap_or(0);
    &NUMPY_SCALARS[position]
}
static NUMPY_NDARRAY: ModuleType = ModuleType::new("numpy", "ndarray");
static NUMPY_UFUNC: ModuleType = ModuleType::new("numpy", "ufunc");

impl ModuleType {
    const fn new(module: &'static str, name: &'static str) -> Self {
        ModuleType {
            module,
            name,
            found: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn get<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        if let Some(found) = self.found.get() {
            return Some(found.bind(py).clone());
        }
        let found = imported(py, self.module)?.getattr(self.name).ok()?;
        Some(self.found.get_or_init(|| found.unbind()).bind(py).clone())
    }
}

/// The module `name` if it has been imported; never imports it.
///
/// Looked up without raising: a KeyError made while the running Python code handles an
/// exception would chain that exception (and its frames) to itself.
pub(crate) fn imported<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, PyAny>> {
    // Not through `import sys`: the import machinery can run Python code (importlib's
    // module locks), and this runs inside the eval-frame hook.
    // SAFETY: GIL held (a `Python` token); a borrowed reference to sys.modules, which
    // lives as long as the interpreter.
    let modules = unsafe { pyo3::ffi::PySys_GetObject(c"modules".as_ptr()) };
    if modules.is_null() {
        return None;
    }
    // SAFETY: as above; the borrowed reference is made an owned one at once.
    let modules = unsafe { Bound::from_borrowed_ptr(py, modules) };
    modules.cast::<PyDict>().ok()?.get_item(name).ok().flatten()
}

/// Whether `value`'s type is exactly `kind`.
fn is_a(value: &Bound<'_, PyAny>, kind: &ModuleType) -> bool {
    kind.get(value.py())
        .is_some_and(|kind| value.get_type().is(&kind))
}

/// Why compiled code does not take `value` when it is a numpy array.
pub(crate) fn describe_array(value: &Bound<'_, PyAny>) -> Option<String> {
    if !is_a(value, &NUMPY_NDARRAY) {
        return None;
    }
    let dtype: String = value
        .getattr("dtype")
        .ok()?
        .getattr("str")
        .ok()?
        .extract()
        .ok()?;
    let ndim: usize = value.getattr("ndim").ok()?.extract().ok()?;
    let aligned: bool = value
        .getattr("flags")
        .and_then(|flags| flags.getattr("aligned"))
        .and_then(|aligned| aligned.extract())
        .unwrap_or(false);
    let names: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
    Some(format!(
        "a numpy array of dtype '{dtype}' with {ndim} dimension(s){} (compiled: aligned arrays \
         of 1 to 3 dimensions of {} in native byte order)",
        if aligned { "" } else { ", unaligned" },
        names.join(", ")
    ))
}

/// The type of a numpy array compiled code takes: items of a `Dtype`, aligned, in
/// native byte order, 1 to 3 dimensions.
///
/// # Safety
/// `array` is an exact `numpy.ndarray` (`PyArrayObject_fields`: nd at 24, descr at 56,
/// flags at 64; `PyArray_Descr`: byteorder at 26, type_num at 28).
unsafe fn ndarray_type(array: *mut pyo3::ffi::PyObject) -> Option<Ty> {
    const NPY_ARRAY_ALIGNED: i32 = 0x0100;
    // SAFETY: per the contract.
    unsafe {
        let base = array.cast::<u8>();
        let ndim = *base.add(24).cast::<i32>();
        let descr = *base.add(56).cast::<*const u8>();
        let flags = *base.add(64).cast::<i32>();
        let byteorder = *descr.add(26);
        let type_num = *descr.add(28).cast::<i32>();
        // ('|': one-byte items have no byte order.)
        let native = matches!(byteorder, b'=' | b'|')
            || (cfg!(target_endian = "little") && byteorder == b'<');
        let aligned = flags & NPY_ARRAY_ALIGNED != 0;
        let dtype = Dtype::from_type_num(type_num)?;
        (native && aligned && (1..=3).contains(&ndim)).then_some(Ty::NdArray(dtype, ndim as u8))
    }
}

fn constant(value: &Bound<'_, PyAny>) -> Const {
    if value.is_exact_instance_of::<PyBool>() {
        Const::Bool(value.is_truthy().unwrap_or(false))
    } else if value.is_exact_instance_of::<PyInt>() {
        value
            .extract::<i64>()
            .map(Const::Int)
            .unwrap_or(Const::BigInt)
    } else if value.is_exact_instance_of::<PyFloat>() {
        Const::Float(value.extract::<f64>().unwrap_or(f64::NAN))
    } else if value.is_none() {
        Const::None
    } else if value.is_exact_instance_of::<PyString>() {
        Const::Str(value.extract::<String>().unwrap_or_default())
    } else if let Ok(tuple) = value.cast::<PyTuple>()
        && value.is_exact_instance_of::<PyTuple>()
    {
        Const::Tuple(tuple.iter().map(|item| constant(&item)).collect())
    } else {
        Const::Other(
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".to_owned()),
        )
    }
}

fn is_plain_value(c: &Const) -> bool {
    match c {
        Const::None | Const::Bool(_) | Const::Int(_) | Const::Float(_) => true,
        Const::Tuple(items) => items.iter().all(is_plain_value),
        _ => false,
    }
}

impl<'py> Builder<'py> {
    fn object_id(&mut self, object: &Bound<'py, PyAny>) -> ObjectId {
        let key = object.as_ptr() as usize;
        if let Some(id) = self.object_ids.get(&key) {
            return *id;
        }
        let id = self.objects.len() as ObjectId;
        self.objects.push(Held::new(object));
        self.object_ids.insert(key, id);
        id
    }

    /// The request index of a function, queueing it for a snapshot (None: too many).
    fn function_index(&mut self, function: &Bound<'py, PyAny>) -> Option<u32> {
        let key = function.as_ptr() as usize;
        if let Some(index) = self.function_ids.get(&key) {
            return Some(*index);
        }
        if self.functions.len() >= MAX_FUNCTIONS {
            return None;
        }
        let index = self.functions.len() as u32;
        self.functions.push(function.clone());
        self.codes.push(None);
        self.function_ids.insert(key, index);
        Some(index)
    }

    fn watch_dict(&mut self, dict: &Bound<'py, PyDict>) -> usize {
        if let Some(index) = self.dicts.iter().position(|d| d.as_ptr() == dict.as_ptr()) {
            return index;
        }
        self.dicts.push(if self.borrowed.contains(&dict.as_ptr()) {
            DictRef::Borrowed(dict.as_ptr())
        } else {
            DictRef::Strong(dict.clone().unbind())
        });
        self.dicts.len() - 1
    }

    fn watch(&mut self, dict: &Bound<'py, PyDict>, name: &Bound<'py, PyString>, expect: Expect) {
        let dict = self.watch_dict(dict);
        self.watched.push(WatchedName {
            dict,
            name: name.clone().unbind(),
            expect,
        });
    }

    /// What `value` is, for the compiler.
    fn classify(&mut self, value: &Bound<'py, PyAny>) -> (Binding, Expect) {
        let c = constant(value);
        if is_plain_value(&c) {
            return (Binding::Value(c), Expect::Value(value.clone().unbind()));
        }
        let same = Expect::Same(Held::new(value));
        if value.is(self.known.math.bind(self.py)) {
            let object = self.object_id(value);
            return (
                Binding::Module {
                    object,
                    kind: ModuleKind::Math,
                },
                same,
            );
        }
        if value.is(self.known.random.bind(self.py)) {
            let object = self.object_id(value);
            return (
                Binding::Module {
                    object,
                    kind: ModuleKind::Random,
                },
                same,
            );
        }
        let is =
            |module: &Option<Py<PyAny>>| module.as_ref().is_some_and(|m| value.is(m.bind(self.py)));
        let numpy_module = if is(&self.known.numpy) {
            Some(ModuleKind::Numpy)
        } else if is(&self.known.numpy_random) {
            Some(ModuleKind::NumpyRandom)
        } else {
            None
        };
        if let Some(kind) = numpy_module {
            let object = self.object_id(value);
            return (Binding::Module { object, kind }, same);
        }
        if self
            .known
            .numpy_dot
            .as_ref()
            .is_some_and(|dot| value.is(dot.bind(self.py)))
        {
            let object = self.object_id(value);
            return (Binding::NumpyDot { object }, same);
        }
        if let Some(reduction) = self
            .known
            .numpy_reductions
            .iter()
            .find(|(_, function)| value.is(function.bind(self.py)))
            .map(|(reduction, _)| *reduction)
        {
            let object = self.object_id(value);
            return (Binding::NumpyReduce { object, reduction }, same);
        }
        if let Some(kind) = self
            .known
            .numpy_makers
            .iter()
            .find(|(_, maker)| value.is(maker.bind(self.py)))
            .map(|(kind, _)| *kind)
        {
            let object = self.object_id(value);
            return (Binding::NumpyMaker { object, kind }, same);
        }
        if let Some(dtype) = Dtype::ALL.into_iter().find(|dtype| {
            numpy_scalar_type(*dtype)
                .get(self.py)
                .is_some_and(|kind| value.is(&kind))
        }) {
            let object = self.object_id(value);
            return (Binding::NumpyScalarType { object, dtype }, same);
        }
        if is_a(value, &NUMPY_UFUNC) {
            let object = self.object_id(value);
            let name = value
                .getattr("__name__")
                .and_then(|n| n.extract::<String>())
                .unwrap_or_default();
            return match crate::ufunc::float64_loops(value) {
                Some(loops) => (
                    Binding::NumpyUfunc {
                        object,
                        name,
                        loops,
                    },
                    same,
                ),
                None => (
                    Binding::Unsupported(format!(
                        "numpy.{name}, a ufunc with several outputs or a layout pyopt does not know"
                    )),
                    same,
                ),
            };
        }
        if let Some(draws) = &self.known.numpy_random_draws
            && let Some(kind) = draws
                .methods
                .iter()
                .find(|(_, m)| value.is(m.bind(self.py)))
                .map(|(kind, _)| *kind)
        {
            let (capsule, lock, reentrant) = (
                draws.capsule.clone_ref(self.py),
                draws.lock.clone_ref(self.py),
                draws.reentrant,
            );
            let object = self.object_id(value);
            return (
                Binding::NumpyRandom {
                    object,
                    kind,
                    capsule: self.object_id(capsule.bind(self.py)),
                    lock: self.object_id(lock.bind(self.py)),
                    reentrant,
                },
                same,
            );
        }
        if let Some(kind) = self
            .known
            .builtins
            .iter()
            .find(|(_, o)| value.is(o.bind(self.py)))
            .map(|(k, _)| *k)
        {
            let object = self.object_id(value);
            return (Binding::Builtin { object, kind }, same);
        }
        if let Some(kind) = self
            .known
            .math_functions
            .iter()
            .find(|(_, o)| value.is(o.bind(self.py)))
            .map(|(k, _)| *k)
        {
            let object = self.object_id(value);
            return (Binding::Math { object, kind }, same);
        }
        if let Some(kind) = self
            .known
            .random_methods
            .iter()
            .find(|(_, o)| value.is(o.bind(self.py)))
            .map(|(k, _)| *k)
            && let Some(generator) = self.known.generator.as_ref().map(|g| g.clone_ref(self.py))
        {
            let object = self.object_id(value);
            let generator = self.object_id(generator.bind(self.py));
            return (
                Binding::Random {
                    object,
                    generator,
                    kind,
                },
                same,
            );
        }
        if value.is_exact_instance_of::<PyFunction>() {
            if let Some(function) = self.function_index(value) {
                let object = self.object_id(value);
                return (Binding::Function { object, function }, same);
            }
            return (
                Binding::Unsupported("a function beyond the compile unit's size limit".to_owned()),
                same,
            );
        }
        let type_name = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "object".to_owned());
        (Binding::Unsupported(format!("a {type_name}")), same)
    }

    /// `module`: a module body entered at a loop header.
    fn code_snapshot(
        &mut self,
        function: &Bound<'py, PyAny>,
        module: Option<&ModuleLoop>,
    ) -> PyResult<CodeSnapshot> {
        let (code, globals, builtins) = function_parts(function)?;
        let get_str = |name: &str| -> PyResult<String> { code.getattr(name)?.extract() };
        let get_u32 = |name: &str| -> PyResult<u32> { code.getattr(name)?.extract() };
        let strings = |name: &str| -> PyResult<Vec<String>> { code.getattr(name)?.extract() };
        let bytes = |name: &str| -> PyResult<Vec<u8>> {
            Ok(code.getattr(name)?.cast::<PyBytes>()?.as_bytes().to_vec())
        };
        let names_tuple = code.getattr("co_names")?;
        let names_tuple = names_tuple.cast::<PyTuple>()?;
        let names: Vec<String> = names_tuple.extract()?;
        let consts: Vec<Const> = code
            .getattr("co_consts")?
            .cast::<PyTuple>()?
            .iter()
            .map(|c| constant(&c))
            .collect();
        let mut lines = Vec::new();
        for entry in code.call_method0("co_lines")?.try_iter()? {
            let (start, end, line): (u32, u32, Option<u32>) = entry?.extract()?;
            lines.push(LineRange { start, end, line });
        }
        let raw_code = bytes("co_code")?;

        // Which names the code loads as globals, and as attributes: in a module body,
        // those of the entered loop (the plan hands back everywhere else).
        let mut global_names = vec![false; names.len()];
        let mut attribute_names = vec![false; names.len()];
        if let Ok(instrs) = bytecode::decode(&raw_code) {
            let region = module.map(|m| (m.header, bytecode::loop_end(&instrs, m.header)));
            for instr in instrs {
                if region.is_some_and(|(start, end)| !(start..end).contains(&instr.start)) {
                    continue;
                }
                match instr.opcode {
                    op::LOAD_GLOBAL => {
                        if let Some(flag) = global_names.get_mut((instr.arg >> 1) as usize) {
                            *flag = true;
                        }
                    }
                    op::LOAD_NAME if module.is_some_and(|m| !m.held.contains(&instr.arg)) => {
                        if let Some(flag) = global_names.get_mut(instr.arg as usize) {
                            *flag = true;
                        }
                    }
                    op::LOAD_ATTR | op::LOAD_METHOD => {
                        if let Some(flag) = attribute_names.get_mut(instr.arg as usize) {
                            *flag = true;
                        }
                    }
                    _ => {}
                }
            }
        }

        let builtins = match builtins.cast_into::<PyDict>() {
            Ok(dict) => dict,
            Err(e) => e.into_inner().getattr("__dict__")?.cast_into::<PyDict>()?,
        };
        let mut bindings = Vec::with_capacity(names.len());
        let mut modules_used: Vec<(ModuleKind, Bound<'py, PyAny>)> = Vec::new();
        for (index, used) in global_names.iter().enumerate() {
            if !used {
                bindings.push(Binding::Missing);
                continue;
            }
            let name = names_tuple.get_item(index)?.cast_into::<PyString>()?;
            let binding = if let Some(value) = globals.get_item(&name)? {
                let (binding, expect) = self.classify(&value);
                self.watch(&globals, &name, expect);
                if let Binding::Module { kind, .. } = &binding {
                    modules_used.push((*kind, value));
                }
                binding
            } else {
                self.watch(&globals, &name, Expect::Absent);
                if let Some(value) = builtins.get_item(&name)? {
                    let (binding, expect) = self.classify(&value);
                    self.watch(&builtins, &name, expect);
                    binding
                } else {
                    self.watch(&builtins, &name, Expect::Absent);
                    Binding::Missing
                }
            };
            bindings.push(binding);
        }
        let mut module_attributes = Vec::new();
        // Modules reached as attributes of modules (`np.random`) are looked into too.
        let mut seen_modules = Vec::new();
        while let Some((kind, module)) = modules_used.pop() {
            if seen_modules.contains(&kind) {
                continue;
            }
            seen_modules.push(kind);
            let dict = module.getattr("__dict__")?.cast_into::<PyDict>()?;
            for (index, used) in attribute_names.iter().enumerate() {
                if !used {
                    continue;
                }
                let name = names_tuple.get_item(index)?.cast_into::<PyString>()?;
                let binding = match dict.get_item(&name)? {
                    Some(value) => {
                        let (binding, expect) = self.classify(&value);
                        self.watch(&dict, &name, expect);
                        if let Binding::Module { kind, .. } = &binding {
                            modules_used.push((*kind, value));
                        }
                        binding
                    }
                    None => {
                        self.watch(&dict, &name, Expect::Absent);
                        Binding::Missing
                    }
                };
                module_attributes.push((kind, index as u32, binding));
            }
        }

        Ok(CodeSnapshot {
            name: get_str("co_name")?,
            qualname: get_str("co_qualname")?,
            filename: get_str("co_filename")?,
            first_line: get_u32("co_firstlineno")?,
            argcount: get_u32("co_argcount")?,
            posonlyargcount: get_u32("co_posonlyargcount")?,
            kwonlyargcount: get_u32("co_kwonlyargcount")?,
            flags: get_u32("co_flags")?,
            stacksize: get_u32("co_stacksize")?,
            varnames: match module {
                Some(module) => module
                    .held
                    .iter()
                    .map(|&n| names.get(n as usize).cloned().unwrap_or_default())
                    .collect(),
                None => strings("co_varnames")?,
            },
            ncellvars: strings("co_cellvars")?.len() as u32,
            nfreevars: strings("co_freevars")?.len() as u32,
            code: raw_code,
            exception_table: bytes("co_exceptiontable")?,
            consts,
            names,
            lines,
            globals: bindings,
            module_attributes,
        })
    }
}

/// Whether a watched name in `dict` still refers to what it did.
pub fn still_valid(dict: &Bound<'_, PyDict>, watched: &WatchedName) -> bool {
    let py = dict.py();
    let current = match dict.get_item(watched.name.bind(py)) {
        Ok(value) => value,
        Err(_) => return false,
    };
    match (&watched.expect, current) {
        (Expect::Absent, None) => true,
        (Expect::Same(expected), Some(value)) => {
            expected.get(py).is_some_and(|expected| value.is(&expected))
        }
        (Expect::Value(expected), Some(value)) => same_value(&value, expected.bind(py)),
        _ => false,
    }
}

/// Whether two numbers (or tuples of them) are the same value of the same type: what
/// compiled code could have inlined for one stands for the other. Other objects are
/// the same only when they are one object.
pub fn same_value(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> bool {
    if a.is(b) {
        return true;
    }
    let value = constant(a);
    is_plain_value(&value)
        && a.get_type().is(b.get_type())
        && value == constant(b)
        && same_float_bits(a, b)
}

/// Floats compare by bits (0.0 and -0.0 differ; an inlined NaN is never "the same").
fn same_float_bits(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> bool {
    match (constant(a), constant(b)) {
        (Const::Float(x), Const::Float(y)) => x.to_bits() == y.to_bits(),
        (Const::Tuple(_), Const::Tuple(_)) => {
            let (Ok(x), Ok(y)) = (a.cast::<PyTuple>(), b.cast::<PyTuple>()) else {
                return false;
            };
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_float_bits(&p, &q))
        }
        _ => true,
    }
}
