//! Type inference: abstract interpretation of a function's bytecode for one signature,
//! producing a [`FunctionPlan`], or a [`Refusal`] naming the construct and the line that
//! cannot be compiled.
//!
//! Each instruction's transfer function gives the typed operation and the states of its
//! successors; states are joined at merge points until nothing changes. A local whose
//! type differs between paths is refused (compiled code never converts a value's type).
//! Operations that always raise for the types at hand, or that the compiled code does
//! not handle for them, become unconditional deoptimizations: the interpreter then does
//! exactly what python3 does. Calls between functions of the unit are inferred together:
//! result types start unknown and are iterated to a fixed point (recursion included).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::bytecode::{self, Instr};
use crate::opcode::op;
use crate::plan::{
    ArrayAttribute, BinOp, CmpOp, DeoptId, DeoptKind, DeoptPoint, FunctionPlan, Local, Op,
    OsrEntry, REASON_EVAL_BREAKER, REASON_LOOP_DONE, REASON_RETURN, StackSlot, State, Step, Test,
    UnaryOp, Unit, Value,
};
use crate::snapshot::{
    Binding, BuiltinFn, CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR, CO_ITERABLE_COROUTINE,
    CO_VARARGS, CO_VARKEYWORDS, CodeSnapshot, CompileRequest, Const, MathFn, ModuleKind, NumpyDraw,
    NumpyMaker, ObjectId, OsrLocal, RandomFn,
};
use crate::types::{self, Dtype, ListMethod, MethodKind, Reduction, Ty};

/// Why a function is not compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The function's qualified name.
    pub function: String,
    pub filename: String,
    pub line: Option<u32>,
    /// The construct, e.g. "try/except blocks" or "local 'x' is int on one path and
    /// float on another".
    pub construct: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{} ({}:{}): {}",
                self.function, self.filename, line, self.construct
            ),
            None => write!(
                f,
                "{} ({}): {}",
                self.function, self.filename, self.construct
            ),
        }
    }
}

/// What an object of the request is, from the bindings that mention it.
#[derive(Debug, Clone, PartialEq)]
enum ObjKind {
    Function(u32),
    Module(ModuleKind),
    Builtin(BuiltinFn),
    Math(MathFn),
    Random(RandomFn, ObjectId),
    NumpyRandom {
        kind: NumpyDraw,
        capsule: ObjectId,
        lock: ObjectId,
        reentrant: bool,
    },
    NumpyUfunc {
        name: String,
        loops: Vec<String>,
    },
    NumpyDot,
    NumpyReduce(Reduction),
    NumpyScalarType(Dtype),
    NumpyMaker(NumpyMaker),
}

struct UnitState {
    /// (function index, parameter types) of every plan; plan 0 is the request's.
    keys: Vec<(u32, Vec<Ty>)>,
    /// Result type of each plan so far (`None`: no return reached yet).
    results: Vec<Option<Ty>>,
    objects: BTreeMap<ObjectId, ObjKind>,
    /// Plan 0 enters a running frame at a loop header: calls never reach it.
    osr: bool,
    /// How a plan reads the items of the empty lists it makes (`[]`), when its appends
    /// showed a type other than float (see `infer_plan`).
    empty_list_items: HashMap<usize, Ty>,
    /// The types of the values appended to lists by the plan being inferred.
    appended: Vec<Ty>,
}

impl UnitState {
    fn plan_for(&mut self, function: u32, params: Vec<Ty>) -> usize {
        let key = (function, params);
        let first = usize::from(self.osr);
        if let Some(index) = self.keys.iter().skip(first).position(|k| *k == key) {
            return index + first;
        }
        self.keys.push(key);
        self.results.push(None);
        self.keys.len() - 1
    }
}

/// A numpy function making an array (`FnInfer::numpy_call`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumpyCallee {
    Maker(NumpyMaker),
    Draw(NumpyDraw),
}

/// BINARY_OP's argument for `*`.
const NB_MULTIPLY: u32 = 5;

/// Most rounds of unit-wide inference before giving up (each round re-infers every plan
/// with the result types of the previous one; real code settles in two or three).
const MAX_ROUNDS: usize = 16;
/// Most plans in one unit (direct callees and their specializations).
const MAX_PLANS: usize = 64;

/// Infers every plan of a compile request.
pub fn plan_unit(request: &CompileRequest) -> Result<Unit, Refusal> {
    let root = request.functions.first().ok_or_else(|| Refusal {
        function: "<none>".to_owned(),
        filename: String::new(),
        line: None,
        construct: "empty compile request".to_owned(),
    })?;
    for ty in &request.arg_types {
        if !ty.is_value() {
            return Err(refusal(root, None, format!("argument of type {ty}")));
        }
    }
    let mut unit = UnitState {
        keys: vec![(0, request.arg_types.clone())],
        results: vec![None],
        objects: BTreeMap::new(),
        osr: request.osr.is_some(),
        empty_list_items: HashMap::new(),
        appended: Vec::new(),
    };
    for function in &request.functions {
        for binding in function
            .globals
            .iter()
            .chain(function.module_attributes.iter().map(|(_, _, b)| b))
        {
            record_object(&mut unit.objects, binding);
        }
    }
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        let mut plans = Vec::new();
        let mut index = 0;
        while index < unit.keys.len() {
            if unit.keys.len() > MAX_PLANS {
                return Err(refusal(
                    root,
                    None,
                    format!("more than {MAX_PLANS} specializations of called functions"),
                ));
            }
            let plan = infer_plan(&mut unit, request, index)?;
            if unit.results[index].as_ref() != Some(&plan.result) && plan.result != Ty::Null {
                unit.results[index] = Some(plan.result.clone());
                changed = true;
            }
            plans.push(plan);
            index += 1;
        }
        if !changed {
            // (An on-stack-replacement plan leaves through its frame, not by returning.)
            for (plan, result) in plans.iter().zip(&unit.results).skip(usize::from(unit.osr)) {
                if result.is_none() {
                    let code = &request.functions[plan.function as usize];
                    return Err(refusal(code, None, "never returns normally".to_owned()));
                }
            }
            return Ok(Unit {
                plans,
                fastmath: request.fastmath,
                dump: None,
                name: describe(request),
            });
        }
    }
    Err(refusal(
        root,
        None,
        "result types of its calls do not settle".to_owned(),
    ))
}

fn record_object(objects: &mut BTreeMap<ObjectId, ObjKind>, binding: &Binding) {
    match binding {
        Binding::Function { object, function } => {
            objects.insert(*object, ObjKind::Function(*function));
        }
        Binding::Module { object, kind } => {
            objects.insert(*object, ObjKind::Module(*kind));
        }
        Binding::Builtin { object, kind } => {
            objects.insert(*object, ObjKind::Builtin(*kind));
        }
        Binding::Math { object, kind } => {
            objects.insert(*object, ObjKind::Math(*kind));
        }
        Binding::Random {
            object,
            generator,
            kind,
        } => {
            objects.insert(*object, ObjKind::Random(*kind, *generator));
        }
        Binding::NumpyRandom {
            object,
            kind,
            capsule,
            lock,
            reentrant,
        } => {
            objects.insert(
                *object,
                ObjKind::NumpyRandom {
                    kind: *kind,
                    capsule: *capsule,
                    lock: *lock,
                    reentrant: *reentrant,
                },
            );
        }
        Binding::NumpyUfunc {
            object,
            name,
            loops,
        } => {
            objects.insert(
                *object,
                ObjKind::NumpyUfunc {
                    name: name.clone(),
                    loops: loops.clone(),
                },
            );
        }
        Binding::NumpyDot { object } => {
            objects.insert(*object, ObjKind::NumpyDot);
        }
        Binding::NumpyReduce { object, reduction } => {
            objects.insert(*object, ObjKind::NumpyReduce(*reduction));
        }
        Binding::NumpyScalarType { object, dtype } => {
            objects.insert(*object, ObjKind::NumpyScalarType(*dtype));
        }
        Binding::NumpyMaker { object, kind } => {
            objects.insert(*object, ObjKind::NumpyMaker(*kind));
        }
        Binding::Value(_) | Binding::Unsupported(_) | Binding::Missing => {}
    }
}

fn refusal(code: &CodeSnapshot, line: Option<u32>, construct: String) -> Refusal {
    Refusal {
        function: code.qualname.clone(),
        filename: code.filename.clone(),
        line,
        construct,
    }
}

/// The successors of one instruction and what it does.
struct Transfer {
    op: Op,
    successors: Vec<(usize, State)>,
    returns: Option<Ty>,
}

struct FnInfer<'a> {
    unit: &'a mut UnitState,
    request: &'a CompileRequest,
    code: &'a CodeSnapshot,
    instrs: Vec<Instr>,
    index_of_start: HashMap<u32, usize>,
    jump_targets: HashSet<usize>,
    /// Recording pass: deoptimization points are kept (the fixpoint pass discards them).
    recording: bool,
    deopts: Vec<DeoptPoint>,
    /// An on-stack-replacement plan: it returns through its frame.
    osr: bool,
    /// Locals an on-stack-replacement plan leaves in the frame (their type's name).
    kept: Vec<Option<String>>,
    /// The instructions of the loop an on-stack-replacement plan enters (first and
    /// last index): what it cannot compile inside them refuses the plan; after them the
    /// plan hands the frame back to the interpreter there.
    entered_loop: Option<(usize, usize)>,
    /// Every instruction outside the entered loop hands the frame back (module bodies,
    /// and code with exception handlers outside the loop).
    leave_outside: bool,
    /// A module body's plan: the `co_names` index of each local (see
    /// [`crate::snapshot::OsrRequest::module_names`]).
    module_names: Option<Vec<u32>>,
    /// How the items of `[]` are read (see `infer_plan`).
    empty_list_item: Ty,
}

/// Infers one plan. The items of an empty list it makes are read as floats (every read
/// checks), unless everything the plan appends to lists has one other type: then it is
/// inferred again reading them as that (`out = []`, `out.append(i)`, `for x in out`).
fn infer_plan(
    unit: &mut UnitState,
    request: &CompileRequest,
    plan: usize,
) -> Result<FunctionPlan, Refusal> {
    unit.appended.clear();
    let inferred = infer_plan_once(unit, request, plan);
    let appended = std::mem::take(&mut unit.appended);
    let current = unit.empty_list_items.get(&plan).unwrap_or(&Ty::Float);
    if let Some((first, rest)) = appended.split_first()
        && first != current
        && first.is_list_item()
        && rest.iter().all(|t| t == first)
    {
        let previous = unit.empty_list_items.insert(plan, first.clone());
        let retried = infer_plan_once(unit, request, plan);
        if retried.is_ok() || inferred.is_err() {
            return retried;
        }
        // Reading them as floats worked and this does not: keep that.
        match previous {
            Some(previous) => unit.empty_list_items.insert(plan, previous),
            None => unit.empty_list_items.remove(&plan),
        };
    }
    inferred
}

fn infer_plan_once(
    unit: &mut UnitState,
    request: &CompileRequest,
    plan: usize,
) -> Result<FunctionPlan, Refusal> {
    let empty_list_item = unit
        .empty_list_items
        .get(&plan)
        .cloned()
        .unwrap_or(Ty::Float);
    let (function, params) = unit.keys[plan].clone();
    let code = &request.functions[function as usize];
    let osr = request.osr.as_ref().filter(|_| plan == 0);
    check_shape(code, &params, osr.is_some())?;
    let instrs = bytecode::decode(&code.code).map_err(|e| {
        refusal(
            code,
            code.line_of(e.offset),
            format!("undecodable bytecode: {}", e.message),
        )
    })?;
    let index_of_start: HashMap<u32, usize> = instrs
        .iter()
        .enumerate()
        .map(|(i, instr)| (instr.start, i))
        .collect();
    let mut jump_targets = HashSet::new();
    for instr in &instrs {
        if let Some(target) = instr.jump_target() {
            let index = *index_of_start.get(&target).ok_or_else(|| {
                refusal(
                    code,
                    code.line_of(instr.offset),
                    format!("jump to {target}, which is not an instruction"),
                )
            })?;
            jump_targets.insert(index);
        }
    }
    let mut infer = FnInfer {
        unit,
        request,
        code,
        instrs,
        index_of_start,
        jump_targets,
        recording: false,
        deopts: Vec::new(),
        osr: osr.is_some(),
        kept: Vec::new(),
        entered_loop: None,
        leave_outside: false,
        module_names: osr.and_then(|o| o.module_names.clone()),
        empty_list_item,
    };

    let nlocals = code.varnames.len();
    let mut entry = State {
        locals: vec![Local::Unbound; nlocals],
        stack: Vec::new(),
    };
    let (first, params, osr_entry) = match osr {
        None => {
            for (i, ty) in params.iter().enumerate() {
                entry.locals[i] = Local::Bound(ty.clone());
            }
            (0, params, None)
        }
        Some(osr) => {
            let (header, osr_entry, params) = infer.osr_entry(osr, &mut entry)?;
            (header, params, Some(osr_entry))
        }
    };

    // Fixpoint over instruction entry states.
    let mut states: Vec<Option<State>> = vec![None; infer.instrs.len()];
    states[first] = Some(entry.clone());
    // In program order, so a loop's body is seen before the code after it (what the
    // body appends to an empty list decides how the code after reads it).
    let mut worklist = std::collections::BTreeSet::from([first]);
    let mut visits = 0usize;
    while let Some(index) = worklist.pop_first() {
        visits += 1;
        if visits > 64 * infer.instrs.len() + 1024 {
            return Err(infer.refuse(index, "types do not settle".to_owned()));
        }
        let state = states[index].clone().expect("queued states exist");
        let transfer = infer.transfer_or_leave(index, &state)?;
        for (successor, out) in transfer.successors {
            let joined = match &states[successor] {
                None => out,
                Some(existing) => infer.join(successor, existing, &out)?,
            };
            if states[successor].as_ref() != Some(&joined) {
                states[successor] = Some(joined);
                worklist.insert(successor);
            }
        }
    }

    // Recording pass over the final states.
    infer.recording = true;
    let entry_deopt = infer.add_deopt(DeoptPoint {
        kind: DeoptKind::Entry,
        locals: entry.locals.clone(),
        reason: "function entry".to_owned(),
        line: None,
    });
    let mut steps = Vec::with_capacity(infer.instrs.len());
    let mut result: Option<Ty> = None;
    for (index, state) in states.iter().enumerate() {
        let instr = infer.instrs[index];
        let Some(state) = state else {
            steps.push(Step {
                start: instr.start,
                offset: instr.offset,
                before: None,
                op: Op::Nop,
            });
            continue;
        };
        let transfer = infer.transfer_or_leave(index, state)?;
        if let Some(ty) = transfer.returns {
            match &result {
                None => result = Some(ty),
                Some(existing) if *existing == ty => {}
                Some(existing) => {
                    return Err(infer.refuse(
                        index,
                        format!("returns {existing} on one path and {ty} on another"),
                    ));
                }
            }
        }
        steps.push(Step {
            start: instr.start,
            offset: instr.offset,
            before: Some(state.clone()),
            op: transfer.op,
        });
    }
    Ok(FunctionPlan {
        function,
        params,
        // `Null` stands for "no return reached yet" until the unit settles.
        result: result.unwrap_or(Ty::Null),
        steps,
        deopts: infer.deopts,
        entry_deopt,
        osr: osr_entry,
    })
}

fn check_shape(code: &CodeSnapshot, params: &[Ty], osr: bool) -> Result<(), Refusal> {
    let kind_flags = CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR;
    let problem = if code.flags & kind_flags != 0 {
        Some("generators and coroutines".to_owned())
    } else if code.flags & (CO_VARARGS | CO_VARKEYWORDS) != 0 {
        Some("*args or **kwargs parameters".to_owned())
    } else if code.kwonlyargcount > 0 {
        Some("keyword-only parameters".to_owned())
    } else if code.ncellvars > 0 || code.nfreevars > 0 {
        Some("closures (variables shared with nested functions)".to_owned())
    } else if !osr && !code.exception_table.is_empty() {
        Some("try/except/finally or with blocks".to_owned())
    } else if !osr && code.argcount as usize != params.len() {
        Some(format!(
            "a call with {} arguments for {} parameters",
            params.len(),
            code.argcount
        ))
    } else {
        None
    };
    match problem {
        Some(construct) => Err(refusal(code, Some(code.first_line), construct)),
        None => Ok(()),
    }
}

fn join_ty(a: &Ty, b: &Ty) -> Option<Ty> {
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        // Python's and numpy's floats (and bools) meet as one run-time-flagged type,
        // also inside tuples.
        (Ty::Float | Ty::NpFloat | Ty::AnyFloat, Ty::Float | Ty::NpFloat | Ty::AnyFloat) => {
            Some(Ty::AnyFloat)
        }
        (Ty::Bool | Ty::NpBool | Ty::AnyBool, Ty::Bool | Ty::NpBool | Ty::AnyBool) => {
            Some(Ty::AnyBool)
        }
        // Python floats and numpy float32s, likewise.
        (
            Ty::Float | Ty::NpScalar(Dtype::F32) | Ty::AnyFloat32,
            Ty::Float | Ty::NpScalar(Dtype::F32) | Ty::AnyFloat32,
        ) => Some(Ty::AnyFloat32),
        // Python ints and numpy ints of one dtype, likewise.
        (Ty::Int | Ty::NpScalar(_) | Ty::AnyInt(_), Ty::Int | Ty::NpScalar(_) | Ty::AnyInt(_)) => {
            let dtype = |t: &Ty| match t {
                Ty::NpScalar(d) | Ty::AnyInt(d) => Some(*d),
                _ => None,
            };
            let d = match (dtype(a), dtype(b)) {
                (Some(x), Some(y)) if x != y => return None,
                (x, y) => x.or(y)?,
            };
            (!d.is_float()).then_some(Ty::AnyInt(d))
        }
        (Ty::Tuple(x), Ty::Tuple(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .map(|(p, q)| join_ty(p, q))
            .collect::<Option<Vec<_>>>()
            .map(Ty::Tuple),
        _ => None,
    }
}

/// Whether values of this type may be numpy's: no, yes, or known at run time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Numpy {
    No,
    Maybe,
    Yes,
}

fn numpy_of(ty: &Ty) -> Numpy {
    match ty {
        Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => Numpy::Yes,
        Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => Numpy::Maybe,
        _ => Numpy::No,
    }
}

fn is_intlike(ty: &Ty) -> bool {
    matches!(ty, Ty::Int | Ty::Bool)
}

/// Whether `op` on these types is computed by compiled code (`Some(result)`), or always
/// handed to the interpreter (`None`: it raises, or compiled code does not do it).
fn binary_result(op: BinOp, lhs: &Ty, rhs: &Ty) -> Option<Ty> {
    // numpy scalars of the other dtypes: numpy's promotion.
    if matches!(lhs, Ty::AnyInt(_)) || matches!(rhs, Ty::AnyInt(_)) {
        return crate::numpy::flagged_int_result(op, lhs, rhs);
    }
    if *lhs == Ty::AnyFloat32 || *rhs == Ty::AnyFloat32 {
        return crate::numpy::flagged_float32_result(op, lhs, rhs);
    }
    if crate::numpy::is_scalar(lhs) || crate::numpy::is_scalar(rhs) {
        return crate::numpy::binary_result(op, lhs, rhs);
    }
    // numpy float64 with numbers: numpy's float64 arithmetic (+, -, *, /, and // and %,
    // whose `npy_divmod` is CPython's float algorithm); with a float that may be
    // numpy's, numpy's if it is.
    let numpy = numpy_of(lhs).max(numpy_of(rhs));
    if numpy != Numpy::No {
        let numpy_op = matches!(
            op,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::TrueDiv | BinOp::FloorDiv | BinOp::Mod
        );
        if !(is_numeric(lhs) && is_numeric(rhs) && numpy_op) {
            return None;
        }
        return Some(if numpy == Numpy::Yes {
            Ty::NpFloat
        } else {
            Ty::AnyFloat
        });
    }
    let numbers = lhs.is_number() && rhs.is_number();
    let ints = is_intlike(lhs) && is_intlike(rhs);
    match op {
        BinOp::Add if matches!((lhs, rhs), (Ty::Tuple(_), Ty::Tuple(_))) => {
            let (Ty::Tuple(a), Ty::Tuple(b)) = (lhs, rhs) else {
                unreachable!()
            };
            Some(Ty::Tuple(a.iter().chain(b).cloned().collect()))
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::FloorDiv | BinOp::Mod | BinOp::Pow => {
            if ints {
                Some(Ty::Int)
            } else if numbers {
                Some(Ty::Float)
            } else {
                None
            }
        }
        BinOp::TrueDiv => numbers.then_some(Ty::Float),
        BinOp::And | BinOp::Or | BinOp::Xor => {
            if *lhs == Ty::Bool && *rhs == Ty::Bool {
                Some(Ty::Bool)
            } else {
                ints.then_some(Ty::Int)
            }
        }
        BinOp::LShift | BinOp::RShift => ints.then_some(Ty::Int),
        BinOp::MatMul => None,
    }
}

/// The truth value of a value of this type when it does not depend on the value.
fn static_truth(ty: &Ty) -> Option<bool> {
    match ty {
        Ty::None => Some(false),
        Ty::Tuple(items) => Some(!items.is_empty()),
        Ty::Object(_) => Some(true),
        _ => None,
    }
}

fn can_test_truth(ty: &Ty) -> bool {
    // (A numpy array's truth is its item's, or an error: not compiled.)
    is_numeric(ty)
        || matches!(ty, Ty::NpBool | Ty::AnyBool)
        || static_truth(ty).is_some()
        || (ty.item().is_some() && !matches!(ty, Ty::NdArray(..)))
}

/// Whether `subscript` indexes one item of an `ndim`-dimensional array: an int, or a
/// tuple of `ndim` ints.
fn array_index(ndim: u8, subscript: &Ty) -> bool {
    match subscript {
        Ty::Tuple(items) => items.len() == usize::from(ndim) && items.iter().all(is_index),
        other => ndim == 1 && is_index(other),
    }
}

/// An int a sequence is indexed with: Python's, or a numpy integer (its `__index__`).
fn is_index(ty: &Ty) -> bool {
    is_intlike(ty)
        || matches!(ty, Ty::NpScalar(dtype) if !dtype.is_float())
        || matches!(ty, Ty::AnyInt(_))
}

/// A number compiled code computes with: Python's, or a numpy scalar of a numeric
/// dtype.
fn is_numeric(ty: &Ty) -> bool {
    ty.is_number()
        || matches!(
            ty,
            Ty::NpFloat | Ty::AnyFloat | Ty::NpScalar(_) | Ty::AnyInt(_) | Ty::AnyFloat32
        )
}

impl FnInfer<'_> {
    /// The state an on-stack-replacement plan starts from (written to `entry`), the
    /// header's index, the plan's entry and its parameters.
    fn osr_entry(
        &mut self,
        osr: &crate::snapshot::OsrRequest,
        entry: &mut State,
    ) -> Result<(usize, OsrEntry, Vec<Ty>), Refusal> {
        let header = match self.index_of_start.get(&osr.offset) {
            Some(&index) if self.jump_targets.contains(&index) => index,
            _ => {
                return Err(refusal(
                    self.code,
                    self.code.line_of(osr.offset),
                    format!("offset {} is not a loop header", osr.offset),
                ));
            }
        };
        if osr.locals.len() != entry.locals.len() {
            return Err(self.refuse(header, "a frame with other locals".to_owned()));
        }
        let mut locals = Vec::with_capacity(osr.locals.len());
        let mut params = Vec::new();
        self.kept = vec![None; osr.locals.len()];
        for (i, local) in osr.locals.iter().enumerate() {
            match local {
                OsrLocal::Unbound => locals.push(None),
                OsrLocal::Value(ty) => {
                    if !ty.is_value() {
                        return Err(self.refuse(header, format!("a local of type {ty}")));
                    }
                    entry.locals[i] = Local::Bound(ty.clone());
                    params.push(ty.clone());
                    locals.push(Some(ty.clone()));
                }
                OsrLocal::Kept(type_name) => {
                    self.kept[i] = Some(type_name.clone());
                    locals.push(None);
                }
            }
        }
        for ty in &osr.stack {
            if ty.next_item().is_none() {
                return Err(self.refuse(header, format!("a loop over a {ty}")));
            }
            params.push(ty.clone());
        }
        entry.stack = osr.stack.clone();
        let last = self
            .instrs
            .iter()
            .enumerate()
            .filter(|(i, instr)| *i >= header && instr.jump_target() == Some(osr.offset))
            .map(|(i, _)| i)
            .max()
            .unwrap_or(header);
        self.entered_loop = Some((header, last));
        self.check_handlers(header, last)?;
        if let Some(names) = &osr.module_names
            && names.len() != osr.locals.len()
        {
            return Err(self.refuse(header, "module names without values".to_owned()));
        }
        self.leave_outside = osr.module_names.is_some() || !self.code.exception_table.is_empty();
        let osr_entry = OsrEntry {
            step: header as u32,
            locals,
            stack: osr.stack.clone(),
        };
        Ok((header, osr_entry, params))
    }

    /// Refuses an entered loop that an exception handler covers: compiled code has none,
    /// and what the interpreter's handler would find on the stack is gone. Handlers
    /// elsewhere stay the interpreter's (see `leave_outside`).
    fn check_handlers(&self, header: usize, last: usize) -> Result<(), Refusal> {
        let entries = bytecode::exception_table(&self.code.exception_table)
            .map_err(|e| self.refuse(header, format!("exception table: {}", e.message)))?;
        let (start, end) = (self.instrs[header].start, self.instrs[last].next);
        if entries.iter().any(|e| e.start < end && start < e.end) {
            return Err(self.refuse(
                header,
                "a loop inside try/except/finally or with".to_owned(),
            ));
        }
        Ok(())
    }

    /// [`Self::transfer`]; in an on-stack-replacement plan, an instruction after the
    /// entered loop that cannot be compiled hands the frame back to the interpreter
    /// instead (the loop is what matters; the rest of the call runs as it would have).
    fn transfer_or_leave(&mut self, index: usize, state: &State) -> Result<Transfer, Refusal> {
        let outside = self
            .entered_loop
            .is_some_and(|(first, last)| index < first || index > last);
        if outside && self.leave_outside {
            return Ok(self.deopt_always(index, state, REASON_LOOP_DONE));
        }
        match self.transfer(index, state) {
            Err(refusal)
                if self
                    .entered_loop
                    .is_some_and(|(first, last)| index < first || index > last) =>
            {
                Ok(self.deopt_always(
                    index,
                    state,
                    &format!("not compiled: {}", refusal.construct),
                ))
            }
            result => result,
        }
    }

    /// Refuses a local an on-stack-replacement plan left in the frame.
    fn check_not_kept(&self, index: usize, local: u32) -> Result<(), Refusal> {
        match self.kept.get(local as usize) {
            Some(Some(type_name)) => {
                let name = self
                    .code
                    .varnames
                    .get(local as usize)
                    .map_or("?", String::as_str);
                Err(self.refuse(
                    index,
                    format!("local '{name}', which holds a {type_name} in the running call"),
                ))
            }
            _ => Ok(()),
        }
    }

    fn line(&self, index: usize) -> Option<u32> {
        self.code.line_of(self.instrs[index].offset)
    }

    fn refuse(&self, index: usize, construct: String) -> Refusal {
        refusal(self.code, self.line(index), construct)
    }

    fn add_deopt(&mut self, point: DeoptPoint) -> DeoptId {
        if !self.recording {
            return 0;
        }
        self.deopts.push(point);
        (self.deopts.len() - 1) as DeoptId
    }

    /// Hand over at this instruction, before it runs, with `state`.
    fn resume_here(&mut self, index: usize, state: &State, reason: &str) -> DeoptId {
        let point = DeoptPoint {
            kind: DeoptKind::Resume {
                offset: self.instrs[index].start,
                stack: state.stack.iter().cloned().map(StackSlot::Typed).collect(),
            },
            locals: state.locals.clone(),
            reason: reason.to_owned(),
            line: self.line(index),
        };
        self.add_deopt(point)
    }

    fn join(&self, index: usize, a: &State, b: &State) -> Result<State, Refusal> {
        if a.stack.len() != b.stack.len() {
            return Err(self.refuse(index, "stack depths differ between paths".to_owned()));
        }
        let mut stack = Vec::with_capacity(a.stack.len());
        for (x, y) in a.stack.iter().zip(&b.stack) {
            stack.push(join_ty(x, y).ok_or_else(|| {
                self.refuse(
                    index,
                    format!("a value is {x} on one path and {y} on another"),
                )
            })?);
        }
        let mut locals = Vec::with_capacity(a.locals.len());
        for (i, (x, y)) in a.locals.iter().zip(&b.locals).enumerate() {
            let joined = match (x, y) {
                (Local::Unbound, Local::Unbound) => Local::Unbound,
                (Local::Bound(p), Local::Bound(q)) => {
                    Local::Bound(self.join_local(index, i, p, q)?)
                }
                (Local::Unbound, Local::Bound(t) | Local::MaybeBound(t))
                | (Local::Bound(t) | Local::MaybeBound(t), Local::Unbound) => {
                    Local::MaybeBound(t.clone())
                }
                (Local::MaybeBound(p), Local::Bound(q) | Local::MaybeBound(q))
                | (Local::Bound(p), Local::MaybeBound(q)) => {
                    Local::MaybeBound(self.join_local(index, i, p, q)?)
                }
            };
            locals.push(joined);
        }
        Ok(State { locals, stack })
    }

    fn join_local(&self, index: usize, local: usize, a: &Ty, b: &Ty) -> Result<Ty, Refusal> {
        join_ty(a, b).ok_or_else(|| {
            let name = self.code.varnames.get(local).map_or("?", String::as_str);
            self.refuse(
                index,
                format!("local '{name}' is {a} on one path and {b} on another"),
            )
        })
    }

    fn target_index(&self, index: usize) -> Result<usize, Refusal> {
        let target = self.instrs[index]
            .jump_target()
            .expect("called for jumps only");
        self.index_of_start
            .get(&target)
            .copied()
            .ok_or_else(|| self.refuse(index, format!("jump to offset {target}")))
    }

    fn pop(&self, index: usize, stack: &mut Vec<Ty>) -> Result<Ty, Refusal> {
        stack
            .pop()
            .ok_or_else(|| self.refuse(index, "value stack underflow".to_owned()))
    }

    fn pop_n(&self, index: usize, stack: &mut Vec<Ty>, n: usize) -> Result<Vec<Ty>, Refusal> {
        if stack.len() < n {
            return Err(self.refuse(index, "value stack underflow".to_owned()));
        }
        Ok(stack.split_off(stack.len() - n))
    }

    /// An instruction that always hands over to the interpreter.
    fn deopt_always(&mut self, index: usize, state: &State, reason: &str) -> Transfer {
        let deopt = self.resume_here(index, state, reason);
        Transfer {
            op: Op::Deopt(deopt),
            successors: Vec::new(),
            returns: None,
        }
    }

    fn transfer(&mut self, index: usize, state: &State) -> Result<Transfer, Refusal> {
        let instr = self.instrs[index];
        let next = index + 1;
        let mut out = state.clone();
        let simple = |op: Op, out: State| -> Transfer {
            Transfer {
                op,
                successors: vec![(next, out)],
                returns: None,
            }
        };
        let arg = instr.arg;
        match instr.opcode {
            op::RESUME | op::NOP => Ok(simple(Op::Nop, out)),
            op::PRECALL => Ok(simple(Op::Nop, out)),
            op::LOAD_FAST => self.load_local(index, state, out, arg),
            op::STORE_FAST => self.store_local(index, state, out, arg),
            op::LOAD_NAME | op::STORE_NAME => {
                let Some(names) = &self.module_names else {
                    return Err(self.refuse(index, "names outside a function".to_owned()));
                };
                let slot = names.iter().position(|&n| n == arg);
                match (instr.opcode, slot) {
                    (op::LOAD_NAME, Some(slot)) => self.load_local(index, state, out, slot as u32),
                    (op::STORE_NAME, Some(slot)) => {
                        self.store_local(index, state, out, slot as u32)
                    }
                    // Read like a global: the module's dict, then the builtins (the
                    // frame's locals are its globals).
                    (op::LOAD_NAME, None) => {
                        self.load_global(index, state, out, arg, false, "module name")
                    }
                    _ => {
                        let name = self
                            .code
                            .names
                            .get(arg as usize)
                            .map_or("?", String::as_str);
                        Err(self.refuse(
                            index,
                            format!(
                                "storing module name '{name}', unbound when the loop was entered"
                            ),
                        ))
                    }
                }
            }
            op::DELETE_FAST => {
                self.check_not_kept(index, arg)?;
                let check = match state.locals.get(arg as usize) {
                    Some(Local::Bound(_)) => None,
                    Some(Local::MaybeBound(_)) => {
                        Some(self.resume_here(index, state, "local may be unbound"))
                    }
                    _ => return Ok(self.deopt_always(index, state, "unbound local")),
                };
                out.locals[arg as usize] = Local::Unbound;
                Ok(simple(Op::DeleteLocal { local: arg, check }, out))
            }
            op::LOAD_CONST => {
                let constant =
                    self.code.consts.get(arg as usize).ok_or_else(|| {
                        self.refuse(index, format!("constant #{arg} out of range"))
                    })?;
                let value = self.value_of(index, constant)?;
                out.stack.push(value.ty());
                Ok(simple(Op::Const(value), out))
            }
            op::POP_TOP => {
                self.pop(index, &mut out.stack)?;
                Ok(simple(Op::Pop, out))
            }
            op::PUSH_NULL => {
                out.stack.push(Ty::Null);
                Ok(simple(Op::PushMarker(Ty::Null), out))
            }
            op::COPY => {
                let n = arg as usize;
                if n == 0 || n > out.stack.len() {
                    return Err(self.refuse(index, "COPY beyond the stack".to_owned()));
                }
                let ty = out.stack[out.stack.len() - n].clone();
                out.stack.push(ty);
                Ok(simple(Op::Copy(arg), out))
            }
            op::SWAP => {
                let n = arg as usize;
                let len = out.stack.len();
                if n < 2 || n > len {
                    return Err(self.refuse(index, "SWAP beyond the stack".to_owned()));
                }
                out.stack.swap(len - 1, len - n);
                Ok(simple(Op::Swap(arg), out))
            }
            op::LOAD_GLOBAL => {
                let name_index = arg >> 1;
                if arg & 1 == 1 {
                    out.stack.push(Ty::Null);
                }
                self.load_global(index, state, out, name_index, arg & 1 == 1, "global name")
            }
            op::LOAD_ATTR | op::LOAD_METHOD => {
                let owner = self.pop(index, &mut out.stack)?;
                if let (op::LOAD_ATTR, Ty::NdArray(_, ndim)) = (instr.opcode, &owner) {
                    let name = self
                        .code
                        .names
                        .get(arg as usize)
                        .map_or("?", String::as_str);
                    let (attribute, ty) = match name {
                        "shape" => (
                            ArrayAttribute::Shape,
                            Ty::Tuple(vec![Ty::Int; usize::from(*ndim)]),
                        ),
                        "size" => (ArrayAttribute::Size, Ty::Int),
                        "ndim" => (ArrayAttribute::Ndim, Ty::Int),
                        _ => {
                            return Err(self.refuse(
                                index,
                                format!(
                                    "the array attribute '{name}' (shape, size, ndim are compiled)"
                                ),
                            ));
                        }
                    };
                    out.stack.push(ty);
                    return Ok(simple(Op::ArrayAttribute(attribute), out));
                }
                if let (op::LOAD_METHOD, Ty::NdArray(dtype, ndim)) = (instr.opcode, &owner) {
                    let name = self
                        .code
                        .names
                        .get(arg as usize)
                        .map_or("?", String::as_str);
                    let reduction = Reduction::ALL.into_iter().find(|r| r.name() == name);
                    let Some(reduction) = reduction.filter(|r| *ndim > 0 && r.compiled_for(*dtype))
                    else {
                        return Err(self.refuse(
                            index,
                            format!(
                                "the array method '{name}' of a {owner} (sum() of an array of \
                                 float64, float32, int64, int32, int8 or bool, max(), min(), \
                                 and mean() of floats are compiled)"
                            ),
                        ));
                    };
                    let method = MethodKind::ArrayReduce(reduction);
                    out.stack.push(Ty::Method(method));
                    out.stack.push(owner);
                    return Ok(simple(Op::LoadMethod(method), out));
                }
                if let (op::LOAD_METHOD, Ty::List(_)) = (instr.opcode, &owner) {
                    let name = self
                        .code
                        .names
                        .get(arg as usize)
                        .map_or("?", String::as_str);
                    let method = match name {
                        "append" => MethodKind::ListAppend,
                        "pop" => MethodKind::ListPop,
                        _ => match ListMethod::ALL.into_iter().find(|m| m.name() == name) {
                            Some(method) => MethodKind::List(method),
                            None => {
                                return Err(self.refuse(
                                    index,
                                    format!(
                                        "the list method '{name}' (append, pop, insert, \
                                         extend, reverse, clear, copy, index, count and sort \
                                         are compiled)"
                                    ),
                                ));
                            }
                        },
                    };
                    out.stack.push(Ty::Method(method));
                    out.stack.push(owner);
                    return Ok(simple(Op::LoadMethod(method), out));
                }
                let Ty::Object(id) = owner else {
                    return Err(self.refuse(index, format!("attribute access on a {owner}")));
                };
                let Some(ObjKind::Module(kind)) = self.unit.objects.get(&id).cloned() else {
                    return Err(
                        self.refuse(index, "attribute access on a non-module object".to_owned())
                    );
                };
                if instr.opcode == op::LOAD_METHOD {
                    out.stack.push(Ty::Null);
                }
                let binding = self.code.module_attribute(kind, arg).cloned();
                let mut transfer =
                    self.push_binding(index, state, out, binding, arg, "module attribute")?;
                if !matches!(transfer.op, Op::Deopt(_)) {
                    let value = std::mem::replace(&mut transfer.op, Op::Nop);
                    transfer.op = Op::LoadAttribute {
                        method: instr.opcode == op::LOAD_METHOD,
                        value: Box::new(value),
                    };
                }
                Ok(transfer)
            }
            op::BINARY_OP => {
                let operator = BinOp::from_arg(arg)
                    .ok_or_else(|| self.refuse(index, format!("BINARY_OP {arg}")))?;
                let rhs = self.pop(index, &mut out.stack)?;
                let lhs = self.pop(index, &mut out.stack)?;
                // `list * n` makes a list (`list *= n` changes one: not compiled).
                if arg == NB_MULTIPLY
                    && let (list @ Ty::List(_), Ty::Int) | (Ty::Int, list @ Ty::List(_)) =
                        (&lhs, &rhs)
                {
                    let list_right = matches!(rhs, Ty::List(_));
                    out.stack.push(list.clone());
                    let deopt = self.resume_here(index, state, "a list too long");
                    return Ok(simple(Op::ListRepeat { list_right, deopt }, out));
                }
                match binary_result(operator, &lhs, &rhs) {
                    Some(result) => {
                        let deopt =
                            self.resume_here(index, state, "arithmetic the interpreter must do");
                        out.stack.push(result.clone());
                        Ok(simple(
                            Op::Binary {
                                op: operator,
                                result,
                                deopt,
                            },
                            out,
                        ))
                    }
                    None if lhs.is_value() && rhs.is_value() => {
                        Ok(self.deopt_always(index, state, "operand types"))
                    }
                    None => Err(self.refuse(
                        index,
                        format!(
                            "operator {} on {lhs} and {rhs}",
                            crate::opcode::BINARY_OPERATORS[arg as usize % 26]
                        ),
                    )),
                }
            }
            op::COMPARE_OP => {
                let operator = CmpOp::from_arg(arg)
                    .ok_or_else(|| self.refuse(index, format!("COMPARE_OP {arg}")))?;
                let rhs = self.pop(index, &mut out.stack)?;
                let lhs = self.pop(index, &mut out.stack)?;
                // Comparing a numpy float64 gives a numpy bool.
                out.stack.push(match numpy_of(&lhs).max(numpy_of(&rhs)) {
                    Numpy::No => Ty::Bool,
                    Numpy::Maybe => Ty::AnyBool,
                    Numpy::Yes => Ty::NpBool,
                });
                let flagged = matches!(lhs, Ty::AnyInt(_)) || matches!(rhs, Ty::AnyInt(_));
                let scalars = crate::numpy::is_scalar(&lhs) || crate::numpy::is_scalar(&rhs);
                let comparable = if flagged {
                    crate::numpy::flagged_int_comparable(&lhs, &rhs)
                } else if lhs == Ty::AnyFloat32 || rhs == Ty::AnyFloat32 {
                    crate::numpy::flagged_float32_result(BinOp::Sub, &lhs, &rhs).is_some()
                } else {
                    !scalars || crate::numpy::compare_dtype(&lhs, &rhs).is_some()
                };
                if is_numeric(&lhs) && is_numeric(&rhs) && comparable {
                    let deopt = self.resume_here(index, state, "comparison");
                    return Ok(simple(
                        Op::Compare {
                            op: operator,
                            deopt,
                        },
                        out,
                    ));
                }
                let equality = matches!(operator, CmpOp::Eq | CmpOp::Ne);
                let none_involved = lhs == Ty::None || rhs == Ty::None;
                if equality && none_involved && lhs.is_value() && rhs.is_value() {
                    let equal = lhs == Ty::None && rhs == Ty::None;
                    let result = if operator == CmpOp::Eq { equal } else { !equal };
                    return Ok(simple(Op::IsStatic { result }, out));
                }
                if lhs.is_value()
                    && rhs.is_value()
                    && !matches!((&lhs, &rhs), (Ty::Tuple(_), Ty::Tuple(_)))
                {
                    // Ordering with None or a tuple, or == between a number and a
                    // tuple: the interpreter raises or answers.
                    return Ok(self.deopt_always(index, state, "comparison of these types"));
                }
                Err(self.refuse(
                    index,
                    format!(
                        "comparison {} between {lhs} and {rhs}",
                        crate::opcode::COMPARISONS[arg as usize]
                    ),
                ))
            }
            op::IS_OP => {
                let rhs = self.pop(index, &mut out.stack)?;
                let lhs = self.pop(index, &mut out.stack)?;
                if (lhs == Ty::None || rhs == Ty::None) && lhs.is_value() && rhs.is_value() {
                    let same = lhs == Ty::None && rhs == Ty::None;
                    out.stack.push(Ty::Bool);
                    return Ok(simple(
                        Op::IsStatic {
                            result: if arg == 0 { same } else { !same },
                        },
                        out,
                    ));
                }
                Err(self.refuse(
                    index,
                    format!("'is' between {lhs} and {rhs} (only 'is None' is compiled)"),
                ))
            }
            op::UNARY_NEGATIVE | op::UNARY_POSITIVE | op::UNARY_INVERT | op::UNARY_NOT => {
                let operand = self.pop(index, &mut out.stack)?;
                let unary = match instr.opcode {
                    op::UNARY_NEGATIVE => UnaryOp::Negative,
                    op::UNARY_POSITIVE => UnaryOp::Positive,
                    op::UNARY_INVERT => UnaryOp::Invert,
                    _ => UnaryOp::Not,
                };
                let result = match (unary, &operand) {
                    (UnaryOp::Not, ty) if can_test_truth(ty) => Some(Ty::Bool),
                    (UnaryOp::Negative | UnaryOp::Positive, Ty::Int | Ty::Bool) => Some(Ty::Int),
                    (UnaryOp::Negative | UnaryOp::Positive, Ty::Float) => Some(Ty::Float),
                    (
                        UnaryOp::Negative | UnaryOp::Positive,
                        Ty::NpFloat
                        | Ty::AnyFloat
                        | Ty::NpScalar(_)
                        | Ty::AnyInt(_)
                        | Ty::AnyFloat32,
                    ) => Some(operand.clone()),
                    (UnaryOp::Invert, Ty::Int | Ty::Bool) => Some(Ty::Int),
                    _ => None,
                };
                match result {
                    Some(result) => {
                        let deopt = self.resume_here(index, state, "unary operation");
                        out.stack.push(result.clone());
                        Ok(simple(
                            Op::Unary {
                                op: unary,
                                result,
                                deopt,
                            },
                            out,
                        ))
                    }
                    None if operand.is_value() => {
                        Ok(self.deopt_always(index, state, "operand type"))
                    }
                    None => Err(self.refuse(index, format!("unary operator on a {operand}"))),
                }
            }
            op::POP_JUMP_FORWARD_IF_FALSE
            | op::POP_JUMP_FORWARD_IF_TRUE
            | op::POP_JUMP_BACKWARD_IF_FALSE
            | op::POP_JUMP_BACKWARD_IF_TRUE
            | op::POP_JUMP_FORWARD_IF_NONE
            | op::POP_JUMP_FORWARD_IF_NOT_NONE
            | op::POP_JUMP_BACKWARD_IF_NONE
            | op::POP_JUMP_BACKWARD_IF_NOT_NONE => {
                let target = self.target_index(index)?;
                let backward = target <= index;
                let operand = self.pop(index, &mut out.stack)?;
                let (test, jump_if) = match instr.opcode {
                    op::POP_JUMP_FORWARD_IF_FALSE | op::POP_JUMP_BACKWARD_IF_FALSE => {
                        (Test::Truth, false)
                    }
                    op::POP_JUMP_FORWARD_IF_TRUE | op::POP_JUMP_BACKWARD_IF_TRUE => {
                        (Test::Truth, true)
                    }
                    op::POP_JUMP_FORWARD_IF_NONE | op::POP_JUMP_BACKWARD_IF_NONE => {
                        (Test::IsNone, true)
                    }
                    _ => (Test::IsNone, false),
                };
                let known = match test {
                    Test::Truth if !can_test_truth(&operand) => {
                        return Err(self.refuse(index, format!("truth value of a {operand}")));
                    }
                    Test::Truth => static_truth(&operand),
                    Test::IsNone if operand.is_value() || operand == Ty::Null => {
                        Some(operand == Ty::None)
                    }
                    Test::IsNone => Some(false),
                };
                let poll = backward.then(|| self.resume_here(index, state, REASON_EVAL_BREAKER));
                let successors = match known {
                    Some(value) if value == jump_if => vec![(target, out)],
                    Some(_) => vec![(next, out)],
                    None => vec![(next, out.clone()), (target, out)],
                };
                Ok(Transfer {
                    op: Op::Branch {
                        test,
                        jump_if,
                        target: target as u32,
                        poll,
                    },
                    successors,
                    returns: None,
                })
            }
            op::JUMP_IF_FALSE_OR_POP | op::JUMP_IF_TRUE_OR_POP => {
                let target = self.target_index(index)?;
                let operand = out
                    .stack
                    .last()
                    .cloned()
                    .ok_or_else(|| self.refuse(index, "value stack underflow".to_owned()))?;
                if !can_test_truth(&operand) {
                    return Err(self.refuse(index, format!("truth value of a {operand}")));
                }
                let jump_if = instr.opcode == op::JUMP_IF_TRUE_OR_POP;
                let kept = out.clone();
                out.stack.pop();
                let successors = match static_truth(&operand) {
                    Some(value) if value == jump_if => vec![(target, kept)],
                    Some(_) => vec![(next, out)],
                    None => vec![(next, out), (target, kept)],
                };
                Ok(Transfer {
                    op: Op::BranchOrPop {
                        jump_if,
                        target: target as u32,
                    },
                    successors,
                    returns: None,
                })
            }
            op::JUMP_FORWARD | op::JUMP_BACKWARD | op::JUMP_BACKWARD_NO_INTERRUPT => {
                let target = self.target_index(index)?;
                let poll = (instr.opcode == op::JUMP_BACKWARD)
                    .then(|| self.resume_here(index, state, REASON_EVAL_BREAKER));
                Ok(Transfer {
                    op: Op::Jump {
                        target: target as u32,
                        poll,
                    },
                    successors: vec![(target, out)],
                    returns: None,
                })
            }
            op::GET_ITER => {
                let iterable = self.pop(index, &mut out.stack)?;
                let Some(iterator) = iterable.iterator() else {
                    return Err(self.refuse(
                        index,
                        format!(
                            "iteration over a {iterable} (range(), lists, arrays, tuples of \
                             one type, enumerate(), zip() and reversed() are compiled)"
                        ),
                    ));
                };
                // A range becomes its iterator in place; an iterator is its own.
                let op = if matches!(
                    iterable,
                    Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) | Ty::Tuple(_)
                ) {
                    Op::IterSeq
                } else {
                    Op::Nop
                };
                out.stack.push(iterator);
                Ok(simple(op, out))
            }
            op::FOR_ITER => {
                let exit = self.target_index(index)?;
                let mut done = out.clone();
                done.stack.pop();
                let op = match out.stack.last().cloned() {
                    Some(Ty::RangeIter) => {
                        out.stack.push(Ty::Int);
                        Op::ForRange { exit: exit as u32 }
                    }
                    Some(iterator) if iterator.next_item().is_some() => {
                        let item = iterator.next_item().expect("checked");
                        let deopt = self.resume_here(index, state, "list item of another type");
                        out.stack.push(item.clone());
                        Op::ForIter {
                            exit: exit as u32,
                            item,
                            deopt,
                        }
                    }
                    _ => return Err(self.refuse(index, "iteration over a non-range".to_owned())),
                };
                Ok(Transfer {
                    op,
                    successors: vec![(next, out), (exit, done)],
                    returns: None,
                })
            }
            op::STORE_SUBSCR => {
                let subscript = self.pop(index, &mut out.stack)?;
                let container = self.pop(index, &mut out.stack)?;
                let value = self.pop(index, &mut out.stack)?;
                // Arrays of ints take ints only (a float raises TypeError).
                let storable = match &container {
                    Ty::NdArray(_, ndim) => {
                        (is_numeric(&value) || value == Ty::NpBool)
                            && array_index(*ndim, &subscript)
                    }
                    Ty::List(_) => value.is_number(),
                    Ty::Array(kind) => {
                        is_intlike(&value) || (kind.item() == Ty::Float && value.is_number())
                    }
                    _ => false,
                };
                match container {
                    Ty::NdArray(..) if storable => {
                        let deopt = self.resume_here(index, state, "item store");
                        Ok(simple(Op::ItemSet { deopt }, out))
                    }
                    Ty::List(_) | Ty::Array(_) if is_index(&subscript) && storable => {
                        let deopt = self.resume_here(index, state, "item store");
                        Ok(simple(Op::ItemSet { deopt }, out))
                    }
                    Ty::List(_) | Ty::Array(_) if subscript.is_value() && value.is_value() => {
                        Ok(self.deopt_always(index, state, "item store of these types"))
                    }
                    other => Err(self.refuse(index, format!("storing an item into a {other}"))),
                }
            }
            op::CALL => self.transfer_call(index, state, out),
            // The names are read by the CALL (`keyword_names`); a deoptimization there
            // resumes here, where the interpreter sets them again.
            op::KW_NAMES if self.keyword_call(index).is_some() => Ok(simple(Op::Nop, out)),
            op::KW_NAMES => Err(self.refuse(index, "keyword arguments in calls".to_owned())),
            // `x in a` (`not in`: arg 1) of an int in a list (of numbers, checked when
            // it runs). Not of a float: a NaN is found by identity, which an unboxed
            // float has lost.
            op::CONTAINS_OP => {
                let container = self.pop(index, &mut out.stack)?;
                let value = self.pop(index, &mut out.stack)?;
                if !matches!(container, Ty::List(_)) || !matches!(value, Ty::Int | Ty::Bool) {
                    return Err(self.refuse(
                        index,
                        format!(
                            "`in` of a {value} in a {container} (an int in a list is compiled)"
                        ),
                    ));
                }
                out.stack.push(Ty::Bool);
                let deopt = self.resume_here(index, state, "`in` of a list with other objects");
                Ok(simple(
                    Op::ListContains {
                        negate: arg == 1,
                        deopt,
                    },
                    out,
                ))
            }
            op::BUILD_LIST => {
                let items = self.pop_n(index, &mut out.stack, arg as usize)?;
                let item_kind = |t: &&Ty| matches!(t, Ty::Int | Ty::Float | Ty::Bool | Ty::List(_));
                if let Some(bad) = items.iter().find(|t| !item_kind(t)) {
                    return Err(self.refuse(
                        index,
                        format!(
                            "a list holding a {bad} (lists of ints, floats, bools and lists \
                             are made)"
                        ),
                    ));
                }
                // Items are read as the first one's type, checked at every read (an
                // empty list's as floats or as what the plan appends, see
                // `infer_plan`), as for lists passed in (`snapshot::type_of`).
                let item = items
                    .first()
                    .cloned()
                    .unwrap_or_else(|| self.empty_list_item.clone());
                let list = Ty::List(Box::new(item));
                out.stack.push(list.clone());
                let deopt = self.resume_here(index, state, "many objects made");
                Ok(simple(
                    Op::BuildList {
                        count: arg,
                        list,
                        deopt,
                    },
                    out,
                ))
            }
            // `[1.0, 2.0, 3.0]`: BUILD_LIST 0, LOAD_CONST (1.0, 2.0, 3.0), LIST_EXTEND 1.
            op::LIST_EXTEND
                if arg == 1
                    && index >= 2
                    && self.instrs[index - 2].opcode == op::BUILD_LIST
                    && self.instrs[index - 2].arg == 0
                    && self.instrs[index - 1].opcode == op::LOAD_CONST =>
            {
                let items = self.pop(index, &mut out.stack)?;
                let Ty::Tuple(items) = items else {
                    return Err(self.refuse(index, format!("a list of a constant {items}")));
                };
                if let Some(bad) = items
                    .iter()
                    .find(|t| !matches!(t, Ty::Int | Ty::Float | Ty::Bool))
                {
                    return Err(self.refuse(
                        index,
                        format!(
                            "a list holding a {bad} (lists of ints, floats and bools are made)"
                        ),
                    ));
                }
                // Read as the first item's type, as BUILD_LIST's lists are.
                let list = Ty::List(Box::new(items.first().cloned().unwrap_or(Ty::Float)));
                self.pop(index, &mut out.stack)?;
                out.stack.push(list.clone());
                let deopt = self.resume_here(index, state, "out of memory");
                Ok(simple(Op::ListExtendConst { list, deopt }, out))
            }
            op::BUILD_TUPLE => {
                let items = self.pop_n(index, &mut out.stack, arg as usize)?;
                // (An item that is Python's or numpy's by a flag keeps its flag.)
                if let Some(bad) = items.iter().find(|t| !t.is_value()) {
                    return Err(self.refuse(index, format!("a tuple holding a {bad}")));
                }
                out.stack.push(Ty::Tuple(items));
                Ok(simple(Op::BuildTuple(arg), out))
            }
            op::UNPACK_SEQUENCE => {
                let sequence = self.pop(index, &mut out.stack)?;
                match sequence {
                    Ty::Tuple(items) if items.len() == arg as usize => {
                        out.stack.extend(items.into_iter().rev());
                        let deopt = self.resume_here(index, state, "unpack");
                        Ok(simple(Op::UnpackTuple { count: arg, deopt }, out))
                    }
                    Ty::Tuple(_) | Ty::Int | Ty::Float | Ty::Bool | Ty::None => {
                        Ok(self.deopt_always(index, state, "unpacking"))
                    }
                    // A list or an array of the right length (checked when it runs).
                    sequence @ (Ty::List(_) | Ty::Array(_)) => {
                        let item = sequence.item().expect("a sequence");
                        out.stack
                            .extend(std::iter::repeat_n(item.clone(), arg as usize));
                        let deopt = self.resume_here(index, state, "unpacking a sequence");
                        Ok(simple(
                            Op::UnpackSeq {
                                count: arg,
                                item,
                                deopt,
                            },
                            out,
                        ))
                    }
                    other => Err(self.refuse(index, format!("unpacking a {other}"))),
                }
            }
            op::BINARY_SUBSCR => {
                let subscript = self.pop(index, &mut out.stack)?;
                let container = self.pop(index, &mut out.stack)?;
                if let Ty::NdArray(dtype, ndim) = container {
                    // One int per dimension; fewer make a view (not compiled).
                    if !array_index(ndim, &subscript) {
                        return Err(self.refuse(
                            index,
                            format!("indexing a {ndim}-d array with {subscript} (one int per dimension is compiled)"),
                        ));
                    }
                    let deopt = self.resume_here(index, state, "index out of range");
                    let item = dtype.scalar();
                    out.stack.push(item.clone());
                    return Ok(simple(Op::ItemGet { item, deopt }, out));
                }
                if let Some(item) = container.item() {
                    if !is_index(&subscript) {
                        // Slices and other keys: the interpreter.
                        return Ok(self.deopt_always(index, state, "index type"));
                    }
                    let deopt = self.resume_here(index, state, "index or item type");
                    out.stack.push(item.clone());
                    return Ok(simple(Op::ItemGet { item, deopt }, out));
                }
                let Ty::Tuple(items) = container else {
                    return Err(self.refuse(index, format!("indexing a {container}")));
                };
                if !is_intlike(&subscript) {
                    return Ok(self.deopt_always(index, state, "tuple index type"));
                }
                let constant = self.constant_index(index);
                let result = match constant {
                    Some(i) => {
                        let len = items.len() as i64;
                        let position = if i < 0 { i + len } else { i };
                        if position < 0 || position >= len {
                            return Ok(self.deopt_always(index, state, "index out of range"));
                        }
                        items[position as usize].clone()
                    }
                    None => match items.first() {
                        Some(first) if items.iter().all(|t| t == first) => first.clone(),
                        Some(_) => {
                            return Err(self.refuse(
                                index,
                                "indexing a tuple of mixed types with a variable".to_owned(),
                            ));
                        }
                        None => return Ok(self.deopt_always(index, state, "empty tuple")),
                    },
                };
                let deopt = self.resume_here(index, state, "index out of range");
                out.stack.push(result.clone());
                Ok(simple(
                    Op::Subscript {
                        constant,
                        result,
                        deopt,
                    },
                    out,
                ))
            }
            op::RETURN_VALUE => {
                let value = self.pop(index, &mut out.stack)?;
                if !value.is_value() {
                    return Err(self.refuse(index, format!("returning a {value}")));
                }
                if self.osr {
                    // The running frame returns: the interpreter does it, with the
                    // locals and the value written back.
                    return Ok(self.deopt_always(index, state, REASON_RETURN));
                }
                Ok(Transfer {
                    op: Op::Return,
                    successors: Vec::new(),
                    returns: Some(value),
                })
            }
            other => Err(self.refuse(
                index,
                format!("the {} instruction", crate::opcode::name(other)),
            )),
        }
    }

    /// The value of a `LOAD_CONST` directly before this instruction, if that is what
    /// pushed the top of the stack.
    fn constant_index(&self, index: usize) -> Option<i64> {
        if index == 0 || self.jump_targets.contains(&index) {
            return None;
        }
        let previous = self.instrs[index - 1];
        if previous.opcode != op::LOAD_CONST {
            return None;
        }
        match self.code.consts.get(previous.arg as usize) {
            Some(Const::Int(i)) => Some(*i),
            Some(Const::Bool(b)) => Some(i64::from(*b)),
            _ => None,
        }
    }

    fn value_of(&self, index: usize, constant: &Const) -> Result<Value, Refusal> {
        Ok(match constant {
            Const::None => Value::None,
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(i) => Value::Int(*i),
            Const::Float(f) => Value::Float(*f),
            Const::Tuple(items) => Value::Tuple(
                items
                    .iter()
                    .map(|c| self.value_of(index, c))
                    .collect::<Result<_, _>>()?,
            ),
            Const::BigInt => {
                return Err(self.refuse(index, "an int constant beyond 64 bits".to_owned()));
            }
            Const::Str(_) => return Err(self.refuse(index, "a str constant".to_owned())),
            Const::Other(kind) => return Err(self.refuse(index, format!("a {kind} constant"))),
        })
    }

    /// Pushes the global `name_index` (after a NULL when `null`), as the snapshot bound it.
    fn load_global(
        &mut self,
        index: usize,
        state: &State,
        out: State,
        name_index: u32,
        null: bool,
        what: &str,
    ) -> Result<Transfer, Refusal> {
        let binding = self.code.globals.get(name_index as usize).cloned();
        let mut transfer = self.push_binding(index, state, out, binding, name_index, what)?;
        if !matches!(transfer.op, Op::Deopt(_)) {
            let value = std::mem::replace(&mut transfer.op, Op::Nop);
            transfer.op = Op::LoadGlobal {
                null,
                value: Box::new(value),
            };
        }
        Ok(transfer)
    }

    fn load_local(
        &mut self,
        index: usize,
        state: &State,
        mut out: State,
        local: u32,
    ) -> Result<Transfer, Refusal> {
        self.check_not_kept(index, local)?;
        let check = match state.locals.get(local as usize) {
            Some(Local::Bound(ty)) => {
                out.stack.push(ty.clone());
                None
            }
            Some(Local::MaybeBound(ty)) => {
                out.stack.push(ty.clone());
                Some(self.resume_here(index, state, "local may be unbound"))
            }
            Some(Local::Unbound) => {
                return Ok(self.deopt_always(index, state, "unbound local"));
            }
            None => return Err(self.refuse(index, format!("local #{local}"))),
        };
        Ok(Transfer {
            op: Op::LoadLocal { local, check },
            successors: vec![(index + 1, out)],
            returns: None,
        })
    }

    fn store_local(
        &mut self,
        index: usize,
        state: &State,
        mut out: State,
        local: u32,
    ) -> Result<Transfer, Refusal> {
        self.check_not_kept(index, local)?;
        if self.module_names.is_some()
            && !matches!(state.locals.get(local as usize), Some(Local::Bound(_)))
        {
            // A new module variable: the interpreter adds it to the dict, in the
            // program's order.
            return Ok(self.deopt_always(index, state, "a new module variable"));
        }
        let ty = self.pop(index, &mut out.stack)?;
        if !ty.is_value() {
            return Err(self.refuse(index, format!("storing a {ty} in a local")));
        }
        let Some(slot) = out.locals.get_mut(local as usize) else {
            return Err(self.refuse(index, format!("local #{local}")));
        };
        *slot = Local::Bound(ty);
        Ok(Transfer {
            op: Op::StoreLocal { local },
            successors: vec![(index + 1, out)],
            returns: None,
        })
    }

    /// A module body's plan calling `function`: the name of a module variable the loop
    /// keeps in a local that some function of the unit reads as a global (it would read
    /// a stale value), if any.
    fn stale_module_name(&self) -> Option<String> {
        let names = self.module_names.as_ref()?;
        let held: HashSet<&str> = names
            .iter()
            .filter_map(|&n| self.code.names.get(n as usize).map(String::as_str))
            .collect();
        self.request.functions.iter().skip(1).find_map(|code| {
            let instrs = bytecode::decode(&code.code).ok()?;
            instrs.iter().find_map(|i| {
                let name = match i.opcode {
                    op::LOAD_GLOBAL => code.names.get((i.arg >> 1) as usize),
                    op::LOAD_NAME => code.names.get(i.arg as usize),
                    _ => None,
                }?;
                held.contains(name.as_str()).then(|| name.clone())
            })
        })
    }

    fn push_binding(
        &mut self,
        index: usize,
        state: &State,
        mut out: State,
        binding: Option<Binding>,
        name_index: u32,
        what: &str,
    ) -> Result<Transfer, Refusal> {
        let name = self
            .code
            .names
            .get(name_index as usize)
            .cloned()
            .unwrap_or_default();
        let next = index + 1;
        let ty = match binding {
            Some(Binding::Value(constant)) => {
                let value = self.value_of(index, &constant)?;
                out.stack.push(value.ty());
                return Ok(Transfer {
                    op: Op::Const(value),
                    successors: vec![(next, out)],
                    returns: None,
                });
            }
            Some(
                Binding::Function { object, .. }
                | Binding::Module { object, .. }
                | Binding::Builtin { object, .. }
                | Binding::Math { object, .. }
                | Binding::Random { object, .. }
                | Binding::NumpyRandom { object, .. }
                | Binding::NumpyUfunc { object, .. }
                | Binding::NumpyDot { object }
                | Binding::NumpyReduce { object, .. }
                | Binding::NumpyMaker { object, .. }
                | Binding::NumpyScalarType { object, .. },
            ) => Ty::Object(object),
            Some(Binding::Missing) | None => {
                return Ok(self.deopt_always(index, state, "name not defined"));
            }
            Some(Binding::Unsupported(description)) => {
                return Err(self.refuse(index, format!("{what} '{name}' is {description}")));
            }
        };
        out.stack.push(ty.clone());
        Ok(Transfer {
            op: Op::PushMarker(ty),
            successors: vec![(next, out)],
            returns: None,
        })
    }

    fn transfer_call(
        &mut self,
        index: usize,
        state: &State,
        mut out: State,
    ) -> Result<Transfer, Refusal> {
        let nargs = self.instrs[index].arg as usize;
        let args = self.pop_n(index, &mut out.stack, nargs)?;
        let callee = self.pop(index, &mut out.stack)?;
        let marker = self.pop(index, &mut out.stack)?;
        // Only numpy's array makers take keywords here (`numpy_call`); the methods
        // below take none (a keyword is python3's TypeError or another meaning).
        if let Ty::Method(method) = &marker
            && self.keyword_names(index).is_some()
        {
            return Err(self.refuse(
                index,
                format!("keyword arguments to {}", Ty::Method(*method)),
            ));
        }
        if let (Ty::Method(MethodKind::ListAppend), Ty::List(_)) = (&marker, &callee) {
            // A list holds boxed numbers (numpy scalars are not boxed here yet) and
            // lists.
            return match args.as_slice() {
                [value] if value.is_number() || matches!(value, Ty::List(_)) => {
                    self.unit.appended.push(value.clone());
                    let deopt = self.resume_here(index, state, "list.append");
                    out.stack.push(Ty::None);
                    Ok(Transfer {
                        op: Op::ListAppend { deopt },
                        successors: vec![(index + 1, out)],
                        returns: None,
                    })
                }
                _ => Err(self.refuse(
                    index,
                    format!(
                        "list.append of {} (one int, float, bool or list is compiled)",
                        types::signature(&args)
                    ),
                )),
            };
        }
        if let (Ty::Method(MethodKind::List(method)), Ty::List(_)) = (&marker, &callee) {
            let method = *method;
            let item_kind = |t: &Ty| t.is_number() || matches!(t, Ty::List(_));
            let fits = match (method, args.as_slice()) {
                (ListMethod::Insert, [Ty::Int | Ty::Bool, value]) => item_kind(value),
                (ListMethod::Extend, [Ty::List(_)]) => true,
                (
                    ListMethod::Reverse | ListMethod::Clear | ListMethod::Copy | ListMethod::Sort,
                    [],
                ) => true,
                // Not of floats: a NaN is found by identity, which an unboxed float
                // has lost.
                (ListMethod::Index | ListMethod::Count | ListMethod::Contains, [value]) => {
                    matches!(value, Ty::Int | Ty::Bool)
                }
                _ => false,
            };
            if !fits {
                return Err(self.refuse(
                    index,
                    format!(
                        "list.{} of {} (insert(i, number or list), extend(list), reverse(), \
                         clear(), copy(), sort(), and index(x), count(x) of an int are \
                         compiled)",
                        method.name(),
                        types::signature(&args)
                    ),
                ));
            }
            let deopt = self.resume_here(index, state, "list method");
            out.stack.push(method.result(&callee));
            return Ok(Transfer {
                op: Op::ListMethod {
                    method,
                    nargs: args.len() as u32,
                    deopt,
                },
                successors: vec![(index + 1, out)],
                returns: None,
            });
        }
        if let (Ty::Method(MethodKind::ListPop), Ty::List(item)) = (&marker, &callee) {
            return match args.as_slice() {
                [] | [Ty::Int | Ty::Bool] if item.is_number() || matches!(**item, Ty::List(_)) => {
                    let deopt = self.resume_here(index, state, "list.pop");
                    out.stack.push((**item).clone());
                    Ok(Transfer {
                        op: Op::ListPop {
                            has_index: !args.is_empty(),
                            item: (**item).clone(),
                            deopt,
                        },
                        successors: vec![(index + 1, out)],
                        returns: None,
                    })
                }
                _ => Err(self.refuse(
                    index,
                    format!(
                        "list.pop of {} on a {callee} (pop() and pop(i) of lists of numbers or \
                         lists are compiled)",
                        types::signature(&args)
                    ),
                )),
            };
        }
        if let (Ty::Method(MethodKind::ArrayReduce(reduction)), Ty::NdArray(dtype, _)) =
            (&marker, &callee)
        {
            if !args.is_empty() {
                return Err(self.refuse(index, format!("{}() with arguments", reduction.name())));
            }
            return self.array_reduce(index, state, out, (*reduction, *dtype), false);
        }
        if marker != Ty::Null {
            return Err(self.refuse(index, "calling a method of an object".to_owned()));
        }
        let Ty::Object(id) = callee else {
            return Err(self.refuse(index, format!("calling a {callee}")));
        };
        let Some(kind) = self.unit.objects.get(&id).cloned() else {
            return Err(self.refuse(index, "calling an unknown object".to_owned()));
        };
        let next = index + 1;
        let makes_array = match &kind {
            ObjKind::NumpyMaker(maker) => Some(NumpyCallee::Maker(*maker)),
            // With a size (or dimensions) numpy's draws make arrays.
            ObjKind::NumpyRandom { kind: draw, .. }
                if self.keyword_names(index).is_some()
                    || match draw {
                        NumpyDraw::Double => nargs > 0,
                        NumpyDraw::Randint => nargs > 2,
                    } =>
            {
                Some(NumpyCallee::Draw(*draw))
            }
            _ => None,
        };
        if let Some(callee) = makes_array {
            let (op, ty) = self.numpy_call(index, state, id, callee, args)?;
            out.stack.push(ty);
            return Ok(Transfer {
                op,
                successors: vec![(next, out)],
                returns: None,
            });
        }
        if self.keyword_names(index).is_some() {
            return Err(self.refuse(index, "keyword arguments in calls".to_owned()));
        }
        if let ObjKind::NumpyReduce(reduction) = kind {
            let [Ty::NdArray(dtype, _)] = args.as_slice() else {
                return Err(self.refuse(
                    index,
                    format!(
                        "numpy.{} of {} (one array is compiled)",
                        reduction.name(),
                        types::signature(&args)
                    ),
                ));
            };
            return self.array_reduce(index, state, out, (reduction, *dtype), true);
        }
        if let ObjKind::Builtin(
            function @ (BuiltinFn::Enumerate | BuiltinFn::Zip | BuiltinFn::Reversed),
        ) = kind
        {
            let Some(iterator) = types::iterator_call(function, &args) else {
                return Err(self.refuse(
                    index,
                    format!("{}() of {}", function.name(), types::signature(&args)),
                ));
            };
            let deopt = self.resume_here(index, state, "reversed() of this range");
            out.stack.push(iterator);
            return Ok(Transfer {
                op: Op::MakeIterator {
                    function,
                    nargs: nargs as u32,
                    deopt,
                },
                successors: vec![(next, out)],
                returns: None,
            });
        }
        let all_values = args.iter().all(Ty::is_value);
        if !all_values {
            return Err(self.refuse(index, "passing a non-value argument".to_owned()));
        }
        let numbers = args.iter().all(Ty::is_number);
        let ints = args.iter().all(is_intlike);
        let result: Option<(Op, Ty)> = match kind {
            ObjKind::Builtin(BuiltinFn::Range) => {
                if (1..=3).contains(&nargs) && ints {
                    let deopt = self.resume_here(index, state, "range() arguments");
                    Some((
                        Op::CallRange {
                            nargs: nargs as u32,
                            deopt,
                        },
                        Ty::Range,
                    ))
                } else {
                    None
                }
            }
            ObjKind::Builtin(function) => self.builtin_result(function, &args).map(|result| {
                let deopt = self.resume_here(index, state, "builtin call");
                (
                    Op::CallBuiltin {
                        function,
                        args: args.clone(),
                        result: result.clone(),
                        deopt,
                    },
                    result,
                )
            }),
            ObjKind::Math(function) => math_result(function, &args, ints).map(|result| {
                let deopt = self.resume_here(index, state, "math domain or range");
                (
                    Op::CallMath {
                        function,
                        args: args.clone(),
                        result: result.clone(),
                        deopt,
                    },
                    result,
                )
            }),
            ObjKind::Random(function, generator) => {
                let result = match function {
                    RandomFn::Random if nargs == 0 => Some(Ty::Float),
                    RandomFn::Uniform if nargs == 2 && numbers => Some(Ty::Float),
                    RandomFn::Randint if nargs == 2 && ints => Some(Ty::Int),
                    _ => None,
                };
                result.map(|result| {
                    let deopt = self.resume_here(index, state, "random arguments");
                    (
                        Op::CallRandom {
                            function,
                            generator,
                            args: args.clone(),
                            deopt,
                        },
                        result,
                    )
                })
            }
            ObjKind::Function(function) => {
                if let Some(name) = self.stale_module_name() {
                    return Err(self.refuse(
                        index,
                        format!(
                            "a call of a function that reads module variable '{name}', \
                             which the loop keeps updating"
                        ),
                    ));
                }
                let code = &self.request.functions[function as usize];
                if code.argcount as usize != nargs {
                    None
                } else {
                    let plan = self.unit.plan_for(function, args.clone());
                    let Some(result) = self.unit.results[plan].clone() else {
                        // The callee's result type is not known yet: this path waits for
                        // the next round of unit inference.
                        return Ok(Transfer {
                            op: Op::Nop,
                            successors: Vec::new(),
                            returns: None,
                        });
                    };
                    let raised = self.add_deopt(DeoptPoint {
                        kind: DeoptKind::Throw {
                            offset: self.instrs[index].offset,
                        },
                        locals: state.locals.clone(),
                        reason: "callee raised".to_owned(),
                        line: self.line(index),
                    });
                    let mut after: Vec<StackSlot> =
                        out.stack.iter().cloned().map(StackSlot::Typed).collect();
                    after.push(StackSlot::Boxed);
                    let boxed = self.add_deopt(DeoptPoint {
                        kind: DeoptKind::Resume {
                            offset: self.instrs[index].next,
                            stack: after,
                        },
                        locals: state.locals.clone(),
                        reason: "callee result of another type".to_owned(),
                        line: self.line(index),
                    });
                    Some((
                        Op::CallPlan {
                            plan: plan as u32,
                            nargs: nargs as u32,
                            boxed,
                            raised,
                        },
                        result,
                    ))
                }
            }
            ObjKind::NumpyRandom {
                kind,
                capsule,
                lock,
                reentrant,
            } => {
                // randint(high) or randint(low, high) of ints gives a Python int.
                let fits = match kind {
                    NumpyDraw::Double => nargs == 0,
                    NumpyDraw::Randint => (1..=2).contains(&nargs) && ints,
                };
                fits.then(|| {
                    let deopt = self.resume_here(
                        index,
                        state,
                        "numpy's random lock is held, or randint's bounds are empty",
                    );
                    let result = match kind {
                        NumpyDraw::Double => Ty::Float,
                        NumpyDraw::Randint => Ty::Int,
                    };
                    (
                        Op::CallNumpyRandom {
                            kind,
                            nargs: nargs as u32,
                            capsule,
                            lock,
                            reentrant,
                            deopt,
                        },
                        result,
                    )
                })
            }
            ObjKind::NumpyUfunc { name, loops } => {
                match crate::numpy::float64_loop(&loops, &args) {
                    Some(loop_index) => {
                        let deopt = self.resume_here(index, state, "numpy floating-point warning");
                        Some((
                            Op::CallUfunc {
                                ufunc: id,
                                name,
                                loop_index,
                                nargs: nargs as u32,
                                deopt,
                            },
                            Ty::NpFloat,
                        ))
                    }
                    None => {
                        return Err(self.refuse(
                            index,
                            format!(
                                "numpy.{name} of {} (compiled: numpy's float64 loop, for \
                                 Python and numpy floats and int64/int32 ints)",
                                types::signature(&args)
                            ),
                        ));
                    }
                }
            }
            ObjKind::NumpyScalarType(dtype) => match args.as_slice() {
                [] => Some((
                    Op::NumpyCast {
                        dtype,
                        nargs: 0,
                        deopt: self.resume_here(index, state, "numpy cast"),
                    },
                    dtype.scalar(),
                )),
                [x] if is_numeric(x) || matches!(x, Ty::NpBool | Ty::AnyBool) => Some((
                    Op::NumpyCast {
                        dtype,
                        nargs: 1,
                        deopt: self.resume_here(index, state, "numpy cast"),
                    },
                    dtype.scalar(),
                )),
                _ => {
                    return Err(self.refuse(
                        index,
                        format!(
                            "numpy.{} of {} (one number is compiled)",
                            dtype.name(),
                            types::signature(&args)
                        ),
                    ));
                }
            },
            ObjKind::NumpyDot => match args.as_slice() {
                [Ty::NdArray(Dtype::F64, 1), Ty::NdArray(Dtype::F64, 1)] => {
                    let deopt = self.resume_here(index, state, "numpy.dot");
                    Some((Op::CallNumpyDot { deopt }, Ty::NpFloat))
                }
                _ => {
                    return Err(self.refuse(
                        index,
                        format!(
                            "numpy.dot of {} (two 1-d float64 arrays are compiled)",
                            types::signature(&args)
                        ),
                    ));
                }
            },
            ObjKind::Module(_) => {
                return Err(self.refuse(index, "calling a module".to_owned()));
            }
            // Handled above.
            ObjKind::NumpyReduce(reduction) => {
                return Err(self.refuse(index, format!("numpy.{}", reduction.name())));
            }
            // Handled above.
            ObjKind::NumpyMaker(maker) => {
                return Err(self.refuse(index, format!("numpy.{}", maker.name())));
            }
        };
        match result {
            Some((op, ty)) => {
                out.stack.push(ty);
                Ok(Transfer {
                    op,
                    successors: vec![(next, out)],
                    returns: None,
                })
            }
            None => Ok(self.deopt_always(index, state, "call arguments")),
        }
    }

    /// `array.sum()`, `.max()` or `.min()` (`call`: `numpy.sum(array)`, which computes
    /// the same for an ndarray) of an array of `dtype`.
    fn array_reduce(
        &mut self,
        index: usize,
        state: &State,
        mut out: State,
        (reduction, dtype): (Reduction, Dtype),
        call: bool,
    ) -> Result<Transfer, Refusal> {
        if !reduction.compiled_for(dtype) {
            return Err(self.refuse(
                index,
                format!(
                    "{} of a {} array (sums of float64, float32, int64, int32, int8 and bool \
                     arrays, means of float arrays are compiled)",
                    reduction.name(),
                    dtype.name()
                ),
            ));
        }
        let deopt = self.resume_here(index, state, "numpy warning or error in a reduction");
        out.stack.push(reduction.result(dtype));
        Ok(Transfer {
            op: Op::ArrayReduce {
                reduction,
                dtype,
                call,
                deopt,
            },
            successors: vec![(index + 1, out)],
            returns: None,
        })
    }

    /// The CALL that the KW_NAMES at `index` names arguments of (CPython 3.11 emits
    /// KW_NAMES, PRECALL, CALL).
    fn keyword_call(&self, index: usize) -> Option<usize> {
        let precall = self.instrs.get(index + 1)?;
        let call = self.instrs.get(index + 2)?;
        (precall.opcode == op::PRECALL && call.opcode == op::CALL).then_some(index + 2)
    }

    /// The KW_NAMES instruction of the CALL at `index` and the names it gives the last
    /// arguments, if the call has keywords.
    fn keyword_names(&self, index: usize) -> Option<(usize, Vec<String>)> {
        let at = index.checked_sub(2)?;
        let instr = self.instrs.get(at)?;
        if instr.opcode != op::KW_NAMES || self.keyword_call(at) != Some(index) {
            return None;
        }
        let names = match self.code.consts.get(instr.arg as usize) {
            Some(Const::Tuple(names)) => names
                .iter()
                .map(|n| match n {
                    Const::Str(s) => s.clone(),
                    _ => String::new(),
                })
                .collect(),
            _ => vec![String::new()],
        };
        Some((at, names))
    }

    /// A call of a numpy function that makes an array: `numpy.zeros(shape, dtype)`,
    /// `.ones`, `.empty` (the shape an int or a tuple of one to three ints),
    /// `numpy.arange(...)` of one to three ints or floats, `numpy.random.random(size)`
    /// and `.rand(d0, ..)`, `numpy.random.randint(low, high, size, dtype)`; `dtype` a
    /// numpy scalar type or `float`, `int` or `bool`, positional or keyword.
    fn numpy_call(
        &mut self,
        index: usize,
        state: &State,
        function: ObjectId,
        callee: NumpyCallee,
        args: Vec<Ty>,
    ) -> Result<(Op, Ty), Refusal> {
        let name = match callee {
            NumpyCallee::Maker(maker) => maker.name(),
            NumpyCallee::Draw(NumpyDraw::Double) => "random.random",
            NumpyCallee::Draw(NumpyDraw::Randint) => "random.randint",
        };
        let nargs = args.len() as u32;
        let keywords = self.keyword_names(index);
        let names = keywords.as_ref().map(|(_, n)| n.as_slice()).unwrap_or(&[]);
        let positional = args.len() - names.len().min(args.len());
        let refuse = |this: &Self, what: String| {
            this.refuse(
                index,
                format!(
                    "numpy.{name}({what}) (compiled: shapes and sizes of one to three ints, \
                     numbers for arange and randint; dtype a numpy scalar type, float, int \
                     or bool)"
                ),
            )
        };
        let keyword = |wanted: &str| {
            names
                .iter()
                .position(|n| n == wanted)
                .map(|at| positional + at)
        };
        let allowed: &[&str] = match callee {
            NumpyCallee::Maker(_) => &["dtype"],
            NumpyCallee::Draw(NumpyDraw::Double) => &["size"],
            NumpyCallee::Draw(NumpyDraw::Randint) => &["size", "dtype"],
        };
        if let Some(other) = names.iter().find(|n| !allowed.contains(&n.as_str())) {
            return Err(refuse(self, format!("{other}=")));
        }
        // The dtype: by keyword, or after the shape of zeros, ones and empty.
        let dtype_at = keyword("dtype").or_else(|| {
            matches!(callee, NumpyCallee::Maker(m) if m != NumpyMaker::Arange && positional == 2)
                .then_some(1)
        });
        let size_at = keyword("size");
        let numbers: Vec<Ty> = args[..positional]
            .iter()
            .enumerate()
            .filter(|(at, _)| Some(*at) != dtype_at)
            .map(|(_, t)| t.clone())
            .collect();
        let (dtype, dtype_object) = match dtype_at.map(|at| &args[at]) {
            None | Some(Ty::None) => (None, None),
            Some(Ty::Object(id)) => match self.unit.objects.get(id) {
                Some(ObjKind::NumpyScalarType(dtype)) => (Some(*dtype), Some(*id)),
                Some(ObjKind::Builtin(BuiltinFn::Float)) => (Some(Dtype::F64), Some(*id)),
                Some(ObjKind::Builtin(BuiltinFn::Int)) => (Some(Dtype::I64), Some(*id)),
                Some(ObjKind::Builtin(BuiltinFn::Bool)) => (Some(Dtype::Bool), Some(*id)),
                _ => return Err(refuse(self, "dtype=this object".to_owned())),
            },
            Some(other) => return Err(refuse(self, format!("dtype={other}"))),
        };
        // The dimensions a shape or a size gives.
        let dims = |t: &Ty| match t {
            Ty::Int => Some(1),
            Ty::Tuple(items)
                if (1..=3).contains(&items.len()) && items.iter().all(|t| *t == Ty::Int) =>
            {
                Some(items.len() as u8)
            }
            _ => None,
        };
        let ints = numbers.iter().all(|t| *t == Ty::Int);
        let shaped = match callee {
            NumpyCallee::Maker(NumpyMaker::Arange) => ((1..=3).contains(&numbers.len())
                && numbers.iter().all(|t| matches!(t, Ty::Int | Ty::Float)))
            .then(|| {
                let floats = numbers.contains(&Ty::Float);
                (
                    dtype.unwrap_or(if floats { Dtype::F64 } else { Dtype::I64 }),
                    1,
                )
            }),
            NumpyCallee::Maker(_) => match numbers.as_slice() {
                [shape] => dims(shape).map(|n| (dtype.unwrap_or(Dtype::F64), n)),
                _ => None,
            },
            // random(n), random((n, m)), rand(n, m), random(size=..).
            NumpyCallee::Draw(NumpyDraw::Double) => match (numbers.as_slice(), size_at) {
                ([], Some(at)) => dims(&args[at]),
                ([shape], None) => dims(shape),
                (dims_given, None) if (2..=3).contains(&dims_given.len()) && ints => {
                    Some(dims_given.len() as u8)
                }
                _ => None,
            }
            .map(|n| (Dtype::F64, n)),
            // randint(low, high, size) or randint(low[, high], size=..).
            NumpyCallee::Draw(NumpyDraw::Randint) => match (numbers.as_slice(), size_at) {
                ([Ty::Int, Ty::Int, size], None) => dims(size),
                ([Ty::Int] | [Ty::Int, Ty::Int], Some(at)) => dims(&args[at]),
                _ => None,
            }
            .map(|n| (dtype.unwrap_or(Dtype::I64), n)),
        };
        let Some((dtype, ndim)) = shaped else {
            return Err(refuse(self, types::signature(&args)));
        };
        // With keywords the interpreter must run KW_NAMES again.
        let at = keywords.map_or(index, |(at, _)| at);
        let deopt = self.resume_here(at, state, "numpy raised, or many objects made");
        let result = Ty::NdArray(dtype, ndim);
        Ok((
            Op::NumpyCall {
                function,
                ones: callee == NumpyCallee::Maker(NumpyMaker::Ones),
                args: numbers,
                size_at: size_at.map(|at| at as u32),
                dtype: dtype_object,
                nargs,
                result: result.clone(),
                deopt,
            },
            result,
        ))
    }

    fn builtin_result(&self, function: BuiltinFn, args: &[Ty]) -> Option<Ty> {
        let one = |f: &dyn Fn(&Ty) -> Option<Ty>| match args {
            [arg] => f(arg),
            _ => None,
        };
        match function {
            BuiltinFn::Range => None,
            BuiltinFn::Abs => one(&|t| match t {
                Ty::Int | Ty::Bool => Some(Ty::Int),
                Ty::Float => Some(Ty::Float),
                Ty::NpFloat | Ty::AnyFloat | Ty::NpScalar(_) | Ty::AnyInt(_) | Ty::AnyFloat32 => {
                    Some(t.clone())
                }
                _ => None,
            }),
            // Of a list of ints or floats: CPython's own function, read back as the
            // items' type (checked; a list of numbers only, checked when it runs).
            BuiltinFn::Min | BuiltinFn::Max | BuiltinFn::Sum if matches!(args, [Ty::List(item)] if matches!(**item, Ty::Int | Ty::Float)) => {
                args[0].item()
            }
            BuiltinFn::Min | BuiltinFn::Max => match args.first() {
                Some(first)
                    if args.len() >= 2 && first.is_number() && args.iter().all(|t| t == first) =>
                {
                    Some(first.clone())
                }
                _ => None,
            },
            BuiltinFn::Sum => None,
            BuiltinFn::Int => one(&|t| {
                (t.is_number() || matches!(t, Ty::NpScalar(_) | Ty::AnyInt(_))).then_some(Ty::Int)
            }),
            BuiltinFn::Float => one(&|t| is_numeric(t).then_some(Ty::Float)),
            BuiltinFn::Bool => one(&|t| can_test_truth(t).then_some(Ty::Bool)),
            BuiltinFn::Round => match args {
                [x] if x.is_number() => Some(Ty::Int),
                [Ty::Float, n] if is_intlike(n) => Some(Ty::Float),
                [x, n] if is_intlike(x) && is_intlike(n) => Some(Ty::Int),
                _ => None,
            },
            BuiltinFn::Divmod => match args {
                [a, b] if a.is_number() && b.is_number() => {
                    let part = if is_intlike(a) && is_intlike(b) {
                        Ty::Int
                    } else {
                        Ty::Float
                    };
                    Some(Ty::Tuple(vec![part.clone(), part]))
                }
                _ => None,
            },
            BuiltinFn::Len => one(&|t| {
                (matches!(t, Ty::Tuple(_) | Ty::NdArray(..)) || t.item().is_some())
                    .then_some(Ty::Int)
            }),
            // Made by `iterator_call` (an `Op::MakeIterator`).
            BuiltinFn::Enumerate | BuiltinFn::Zip | BuiltinFn::Reversed => None,
        }
    }
}

/// `math` functions read numpy float64 arguments as floats (except those that call the
/// argument's own `__floor__`, `__ceil__` or `__trunc__`).
fn math_result(function: MathFn, args: &[Ty], ints: bool) -> Option<Ty> {
    let numpy = args.iter().any(|t| numpy_of(t) != Numpy::No);
    if !args.iter().all(is_numeric)
        || numpy && matches!(function, MathFn::Floor | MathFn::Ceil | MathFn::Trunc)
    {
        return None;
    }
    let n = args.len();
    match function {
        MathFn::Sqrt
        | MathFn::Exp
        | MathFn::Log2
        | MathFn::Log10
        | MathFn::Sin
        | MathFn::Cos
        | MathFn::Tan
        | MathFn::Asin
        | MathFn::Acos
        | MathFn::Atan
        | MathFn::Sinh
        | MathFn::Cosh
        | MathFn::Tanh
        | MathFn::Fabs => (n == 1).then_some(Ty::Float),
        MathFn::Log => (n == 1 || n == 2).then_some(Ty::Float),
        MathFn::Floor | MathFn::Ceil | MathFn::Trunc => (n == 1).then_some(Ty::Int),
        MathFn::Isnan | MathFn::Isinf | MathFn::Isfinite => (n == 1).then_some(Ty::Bool),
        MathFn::Atan2 | MathFn::Copysign | MathFn::Pow | MathFn::Fmod => {
            (n == 2).then_some(Ty::Float)
        }
        MathFn::Hypot => (1..=3).contains(&n).then_some(Ty::Float),
        MathFn::Gcd => (n == 2 && ints).then_some(Ty::Int),
    }
}

/// Formats a plan's signature for messages: `name(int, float)`.
pub fn describe(request: &CompileRequest) -> String {
    let name = request
        .functions
        .first()
        .map_or("<none>", |f| f.qualname.as_str());
    match &request.osr {
        Some(osr) => format!("{name}@{}", osr.offset),
        None => format!("{name}{}", types::signature(&request.arg_types)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::LineRange;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A code object as CPython 3.11 compiled it: `code` is `co_code.hex()` and `lines`
    /// is `co_lines()`.
    fn snapshot(name: &str, varnames: &[&str], argcount: u32, code: &str) -> CodeSnapshot {
        CodeSnapshot {
            name: name.to_owned(),
            qualname: name.to_owned(),
            filename: "t.py".to_owned(),
            first_line: 1,
            argcount,
            posonlyargcount: 0,
            kwonlyargcount: 0,
            flags: 0x3,
            stacksize: 4,
            varnames: varnames.iter().map(|v| (*v).to_owned()).collect(),
            ncellvars: 0,
            nfreevars: 0,
            code: hex(code),
            exception_table: Vec::new(),
            consts: vec![Const::None],
            names: Vec::new(),
            lines: Vec::new(),
            globals: Vec::new(),
            module_attributes: Vec::new(),
        }
    }

    fn lines(ranges: &[(u32, u32, u32)]) -> Vec<LineRange> {
        ranges
            .iter()
            .map(|&(start, end, line)| LineRange {
                start,
                end,
                line: Some(line),
            })
            .collect()
    }

    fn request(functions: Vec<CodeSnapshot>, arg_types: Vec<Ty>) -> CompileRequest {
        CompileRequest {
            functions,
            objects: 1,
            arg_types,
            fastmath: false,
            osr: None,
        }
    }

    /// def add(a, b): return a + b            (line 2)
    fn add() -> CodeSnapshot {
        let mut code = snapshot("add", &["a", "b"], 2, "97007c007c017a0000005300");
        code.lines = lines(&[(0, 2, 1), (2, 12, 2)]);
        code
    }

    /// def fib(n):                            (line 1)
    ///     if n < 2: return n                 (lines 2, 3)
    ///     return fib(n - 1) + fib(n - 2)     (line 4)
    fn fib() -> CodeSnapshot {
        let mut code = snapshot(
            "fib",
            &["n"],
            1,
            "97007c0064016b000000000072027c0053007401000000000000000000007c0064027a0a0000\
             a6010000ab0100000000000000007401000000000000000000007c0064017a0a0000a6010000\
             ab0100000000000000007a0000005300",
        );
        code.consts = vec![Const::None, Const::Int(2), Const::Int(1)];
        code.names = vec!["fib".to_owned()];
        code.globals = vec![Binding::Function {
            object: 0,
            function: 0,
        }];
        code.lines = lines(&[(0, 2, 1), (2, 14, 2), (14, 18, 3), (18, 92, 4)]);
        code
    }

    #[test]
    fn arithmetic_result_types_follow_python_promotion() {
        let cases = [
            (vec![Ty::Int, Ty::Int], Ty::Int),
            (vec![Ty::Int, Ty::Float], Ty::Float),
            (vec![Ty::Float, Ty::Int], Ty::Float),
            (vec![Ty::Bool, Ty::Bool], Ty::Int),
            (vec![Ty::Bool, Ty::Float], Ty::Float),
        ];
        for (args, result) in cases {
            let unit = plan_unit(&request(vec![add()], args.clone())).unwrap();
            assert_eq!(unit.plans[0].result, result, "add{args:?}");
        }
    }

    #[test]
    fn recursive_result_type_is_found_by_the_fixpoint() {
        for (arg, result) in [(Ty::Int, Ty::Int), (Ty::Float, Ty::Float)] {
            let unit = plan_unit(&request(vec![fib()], vec![arg])).unwrap();
            assert_eq!(unit.plans.len(), 1, "the recursive calls reuse plan 0");
            assert_eq!(unit.plans[0].result, result);
        }
    }

    #[test]
    fn non_value_arguments_are_refused() {
        let refused = plan_unit(&request(vec![add()], vec![Ty::Range, Ty::Int])).unwrap_err();
        assert_eq!(refused.function, "add");
        assert!(refused.construct.contains("range"), "{refused}");
    }

    #[test]
    fn exception_handlers_are_refused_naming_the_construct() {
        let mut code = add();
        code.exception_table = vec![0x82, 0x04, 0x06, 0x00];
        let refused = plan_unit(&request(vec![code], vec![Ty::Int, Ty::Int])).unwrap_err();
        assert!(refused.construct.contains("try"), "{refused}");
    }

    #[test]
    fn an_unsupported_global_is_refused_with_its_line() {
        let mut code = fib();
        code.globals = vec![Binding::Unsupported("a list".to_owned())];
        let refused = plan_unit(&request(vec![code], vec![Ty::Int])).unwrap_err();
        assert_eq!(refused.line, Some(4), "{refused}");
        assert!(
            refused.to_string().starts_with("fib (t.py:4): "),
            "{refused}"
        );
    }

    #[test]
    fn lists_of_numbers_are_made_and_others_refused_with_their_line() {
        // def h(a):  x = [a]  (line 2);  return a  (line 3)
        let mut code = snapshot("h", &["a", "x"], 1, "97007c0067017d017c005300");
        code.lines = lines(&[(0, 2, 1), (2, 8, 2), (8, 12, 3)]);
        let unit = plan_unit(&request(vec![code.clone()], vec![Ty::Float])).unwrap();
        let build = &unit.plans[0].steps[2];
        assert!(
            matches!(build.op, Op::BuildList { count: 1, .. }),
            "{:?}",
            build.op
        );
        let refused = plan_unit(&request(vec![code], vec![Ty::None])).unwrap_err();
        assert_eq!(refused.line, Some(2), "{refused}");
        assert!(
            refused.construct.contains("a list holding a None"),
            "{refused}"
        );
    }

    /// def count(n, data):                    (line 2)
    ///     s = 0                              (line 3)
    ///     while s < n:                       (line 4)
    ///         s += 1   (or `s += data`)      (line 5)
    ///     return s                           (line 6)
    fn counting_loop(reads_data: bool) -> CodeSnapshot {
        let body = if reads_data { "7c01" } else { "6402" };
        let mut code = snapshot(
            "count",
            &["n", "data", "s"],
            2,
            &format!(
                "970064017d027c027c006b0000000000720b7c02{body}7a0d00007d027c027c006b0000000000\
                 b00b7c025300"
            ),
        );
        code.consts = vec![Const::None, Const::Int(0), Const::Int(1)];
        code.lines = lines(&[
            (0, 2, 2),
            (2, 6, 3),
            (6, 18, 4),
            (18, 28, 5),
            (28, 40, 4),
            (40, 44, 6),
        ]);
        code
    }

    fn osr_request(code: CodeSnapshot, offset: u32) -> CompileRequest {
        let mut request = request(vec![code], Vec::new());
        request.osr = Some(crate::snapshot::OsrRequest {
            offset,
            locals: vec![
                OsrLocal::Value(Ty::Int),
                OsrLocal::Kept("list".to_owned()),
                OsrLocal::Value(Ty::Int),
            ],
            stack: Vec::new(),
            module_names: None,
        });
        request
    }

    #[test]
    fn a_running_loop_is_entered_at_its_header_and_returns_through_its_frame() {
        let unit = plan_unit(&osr_request(counting_loop(false), 18)).unwrap();
        let plan = &unit.plans[0];
        let osr = plan.osr.as_ref().expect("an on-stack-replacement plan");
        // The loop body's first instruction (offset 18) is step 8.
        assert_eq!(plan.steps[osr.step as usize].start, 18);
        assert_eq!(osr.locals, vec![Some(Ty::Int), None, Some(Ty::Int)]);
        // Parameters: the bound locals (n, s); `data` stays in the frame.
        assert_eq!(plan.params, vec![Ty::Int, Ty::Int]);
        // Code before the header is not reached; the return is a hand-over to the frame
        // with the value on its stack.
        assert!(plan.steps[1].before.is_none());
        let Op::Deopt(point) = plan.steps.last().unwrap().op else {
            panic!("the return must hand over to the interpreter");
        };
        let record = &plan.deopts[point as usize];
        assert_eq!(record.reason, "return");
        assert_eq!(
            record.kind,
            DeoptKind::Resume {
                offset: 42,
                stack: vec![StackSlot::Typed(Ty::Int)],
            }
        );
    }

    #[test]
    fn a_loop_using_a_local_compiled_code_cannot_hold_is_refused_by_name() {
        let refused = plan_unit(&osr_request(counting_loop(true), 18)).unwrap_err();
        assert_eq!(refused.line, Some(5), "{refused}");
        assert!(refused.construct.contains("'data'"), "{refused}");
        assert!(refused.construct.contains("list"), "{refused}");
    }

    /// A module body (line 1 is the `try`):
    ///     try:
    ///         import q
    ///     except ImportError:
    ///         q = None
    ///     s = 0
    ///     for i in range(n):                 (line 7; header FOR_ITER at 66)
    ///         s += i                         (line 8)
    ///     t = s                              (line 9)
    fn module_body() -> CodeSnapshot {
        let mut code = snapshot(
            "<module>",
            &[],
            0,
            "97000900640064016c005a006e0d2300650124007205010064015a0059006e04770078035900770164\
             005a02020065036504a6010000ab01000000000000000044005d075a05650265057a0d00005a028c08\
             65025a0664015300",
        );
        code.flags = 0;
        code.exception_table = hex("820407008707110390011103");
        code.consts = vec![Const::Int(0), Const::None];
        code.names = ["q", "ImportError", "s", "range", "n", "i", "t"]
            .map(str::to_owned)
            .to_vec();
        code.globals = vec![Binding::Missing; 7];
        code.lines = lines(&[(0, 44, 2), (44, 70, 7), (70, 82, 8), (82, 90, 9)]);
        code
    }

    /// Enters `module_body` at its loop holding `held` (co_names indices) with `locals`.
    fn module_request(held: Vec<u32>, locals: Vec<OsrLocal>) -> CompileRequest {
        let mut code = module_body();
        code.varnames = held
            .iter()
            .map(|&n| code.names[n as usize].clone())
            .collect();
        let mut request = request(vec![code], Vec::new());
        request.osr = Some(crate::snapshot::OsrRequest {
            offset: 66,
            locals,
            stack: vec![Ty::RangeIter],
            module_names: Some(held),
        });
        request
    }

    fn step_at(plan: &FunctionPlan, start: u32) -> &Step {
        plan.steps.iter().find(|s| s.start == start).unwrap()
    }

    #[test]
    fn a_module_body_loop_keeps_its_variables_in_locals_and_hands_back_after_it() {
        let locals = vec![OsrLocal::Value(Ty::Int), OsrLocal::Value(Ty::Int)];
        let unit = plan_unit(&module_request(vec![2, 5], locals)).unwrap();
        let plan = &unit.plans[0];
        assert_eq!(plan.params, vec![Ty::Int, Ty::Int, Ty::RangeIter]);
        // `s += i`: both names are locals (s is local 0, i local 1).
        assert!(matches!(
            step_at(plan, 70).op,
            Op::LoadLocal { local: 0, .. }
        ));
        assert!(matches!(
            step_at(plan, 72).op,
            Op::LoadLocal { local: 1, .. }
        ));
        assert!(matches!(step_at(plan, 78).op, Op::StoreLocal { local: 0 }));
        // After the loop (and its handlers elsewhere) the interpreter carries on.
        let Op::Deopt(point) = step_at(plan, 82).op else {
            panic!("the code after the loop must hand back");
        };
        assert_eq!(plan.deopts[point as usize].reason, REASON_LOOP_DONE);
    }

    #[test]
    fn a_module_variable_first_bound_in_the_loop_is_bound_by_the_interpreter() {
        let locals = vec![OsrLocal::Value(Ty::Int), OsrLocal::Unbound];
        let unit = plan_unit(&module_request(vec![2, 5], locals)).unwrap();
        let plan = &unit.plans[0];
        let Op::Deopt(point) = step_at(plan, 68).op else {
            panic!("storing the unbound `i` must hand back");
        };
        assert_eq!(plan.deopts[point as usize].reason, "a new module variable");
    }

    #[test]
    fn a_module_body_loop_storing_a_variable_it_does_not_hold_is_refused() {
        let mut request = module_request(vec![5], vec![OsrLocal::Value(Ty::Int)]);
        // `s` read like a global, then stored: never what pyopt asks for (it holds what
        // the loop stores), refused if it were.
        request.functions[0].globals[2] = Binding::Value(Const::Int(5));
        let refused = plan_unit(&request).unwrap_err();
        assert_eq!(refused.line, Some(8), "{refused}");
        assert!(refused.construct.contains("'s'"), "{refused}");
    }

    #[test]
    fn a_loop_inside_try_is_not_entered() {
        // s = 0
        // try:
        //     for i in range(n):   (header FOR_ITER at 30)
        //         s += i
        // except ValueError:
        //     pass
        let mut code = snapshot(
            "<module>",
            &["s", "i"],
            0,
            "970064005a000900020065016502a6010000ab01000000000000000044005d075a03650065037a0d\
             00005a008c0864015300230065042400720401005900640153007700780359007701",
        );
        code.flags = 0;
        code.exception_table = hex("8413190099052203a1012203");
        code.consts = vec![Const::Int(0), Const::None];
        code.names = ["s", "range", "n", "i", "ValueError"]
            .map(str::to_owned)
            .to_vec();
        code.globals = vec![Binding::Missing; 5];
        let mut request = request(vec![code], Vec::new());
        request.osr = Some(crate::snapshot::OsrRequest {
            offset: 30,
            locals: vec![OsrLocal::Value(Ty::Int), OsrLocal::Value(Ty::Int)],
            stack: vec![Ty::RangeIter],
            module_names: Some(vec![0, 3]),
        });
        let refused = plan_unit(&request).unwrap_err();
        assert!(refused.construct.contains("inside try"), "{refused}");
    }

    /// def f(a, i):
    ///     s = 0.0
    ///     for x in a:          (GET_ITER at 8, FOR_ITER at 10)
    ///         s += x
    ///     a[i] = s             (STORE_SUBSCR at 32)
    ///     return a[i]          (BINARY_SUBSCR at 40)
    #[test]
    fn lists_are_iterated_indexed_and_stored_into_in_place() {
        let mut code = snapshot(
            "f",
            &["a", "i", "s", "x"],
            2,
            "970064017d027c0044005d077d037c027c037a0d00007d028c087c027c007c013c0000007c007c\
             01190000000000000000005300",
        );
        code.consts = vec![Const::None, Const::Float(0.0)];
        let floats = Ty::List(Box::new(Ty::Float));
        let unit = plan_unit(&request(vec![code], vec![floats.clone(), Ty::Int])).unwrap();
        let plan = &unit.plans[0];
        assert_eq!(plan.result, Ty::Float);
        assert!(matches!(step_at(plan, 8).op, Op::IterSeq));
        let Op::ForIter { item, deopt, .. } = &step_at(plan, 10).op else {
            panic!("FOR_ITER over a list");
        };
        assert_eq!(*item, Ty::Float);
        // An item of another type: the interpreter redoes FOR_ITER from the iterator.
        assert_eq!(
            plan.deopts[*deopt as usize].kind,
            DeoptKind::Resume {
                offset: 10,
                stack: vec![StackSlot::Typed(Ty::SeqIter(Box::new(floats.clone())))],
            }
        );
        assert!(matches!(step_at(plan, 32).op, Op::ItemSet { .. }));
        assert!(matches!(&step_at(plan, 40).op, Op::ItemGet { item, .. } if *item == Ty::Float));
    }

    #[test]
    fn only_loop_headers_are_entered() {
        let refused = plan_unit(&osr_request(counting_loop(false), 20)).unwrap_err();
        assert!(refused.construct.contains("not a loop header"), "{refused}");
    }
}
