//! The front end's output: for each function of a compile unit, its instructions with
//! the types of every local and stack entry before each one, the typed operation each
//! performs, and the points where compiled code hands over to the interpreter.
//!
//! The back end translates a plan to machine code one instruction at a time; `hooks`
//! uses the deoptimization points to rebuild interpreter frames.

use serde::{Deserialize, Serialize};

use crate::snapshot::{BuiltinFn, MathFn, NumpyDraw, ObjectId, RandomFn};
use crate::types::{Dtype, ListMethod, MethodKind, Reduction, Ty};

/// The state of one local before an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Local {
    Unbound,
    Bound(Ty),
    /// Bound on some paths only: compiled code keeps a flag beside the value.
    MaybeBound(Ty),
}

impl Local {
    pub fn ty(&self) -> Option<&Ty> {
        match self {
            Local::Unbound => None,
            Local::Bound(ty) | Local::MaybeBound(ty) => Some(ty),
        }
    }
}

/// Types of every local and stack entry at one point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub locals: Vec<Local>,
    pub stack: Vec<Ty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    And,
    FloorDiv,
    LShift,
    MatMul,
    Mul,
    Mod,
    Or,
    Pow,
    RShift,
    Sub,
    TrueDiv,
    Xor,
}

impl BinOp {
    /// `BINARY_OP`'s argument (in-place forms map to the plain operator: for the types
    /// compiled code handles they compute the same thing).
    pub fn from_arg(arg: u32) -> Option<BinOp> {
        const ORDER: [BinOp; 13] = [
            BinOp::Add,
            BinOp::And,
            BinOp::FloorDiv,
            BinOp::LShift,
            BinOp::MatMul,
            BinOp::Mul,
            BinOp::Mod,
            BinOp::Or,
            BinOp::Pow,
            BinOp::RShift,
            BinOp::Sub,
            BinOp::TrueDiv,
            BinOp::Xor,
        ];
        ORDER.get(arg as usize % 13).copied().filter(|_| arg < 26)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Lt,
    Le,
    Eq,
    Ne,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn from_arg(arg: u32) -> Option<CmpOp> {
        [
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Gt,
            CmpOp::Ge,
        ]
        .get(arg as usize)
        .copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    Negative,
    Positive,
    Invert,
    Not,
}

/// How a conditional jump tests its operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    /// Truth value (`if x:`).
    Truth,
    /// `x is None`.
    IsNone,
}

/// A constant the back end materializes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<Value>),
}

impl Value {
    pub fn ty(&self) -> Ty {
        match self {
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Bool(_) => Ty::Bool,
            Value::None => Ty::None,
            Value::Tuple(items) => Ty::Tuple(items.iter().map(Value::ty).collect()),
        }
    }
}

/// Index of a deoptimization point in [`FunctionPlan::deopts`].
pub type DeoptId = u32;

/// The typed operation of one instruction. Operand types are in the instruction's
/// `before` state; results are pushed with the types given here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// No machine effect (RESUME, NOP, PRECALL, GET_ITER on a range).
    Nop,
    /// Push a local; `check` deopts (UnboundLocalError in the interpreter) when the
    /// local may be unbound.
    LoadLocal {
        local: u32,
        check: Option<DeoptId>,
    },
    StoreLocal {
        local: u32,
    },
    DeleteLocal {
        local: u32,
        check: Option<DeoptId>,
    },
    Const(Value),
    /// Push a value-less entry (a known object or NULL).
    PushMarker(Ty),
    /// LOAD_GLOBAL: push NULL first when `null`, then `value` (a `Const` or a
    /// `PushMarker`).
    LoadGlobal {
        null: bool,
        value: Box<Op>,
    },
    /// LOAD_ATTR / LOAD_METHOD on a module: pop the module, push NULL when `method`,
    /// then `value`.
    LoadAttribute {
        method: bool,
        value: Box<Op>,
    },
    /// LOAD_METHOD of a list's or an array's method: pop the object, push the method,
    /// push the object.
    LoadMethod(MethodKind),
    /// `list.append(value)` of a number (the method, the list and the value popped;
    /// None pushed); `deopt` when the list cannot grow (the interpreter raises
    /// MemoryError).
    ListAppend {
        deopt: DeoptId,
    },
    /// A numpy scalar type called with no argument (its zero) or one number (numpy's
    /// cast of it; `deopt` where numpy raises or warns).
    NumpyCast {
        dtype: Dtype,
        nargs: u32,
        deopt: DeoptId,
    },
    /// `numpy.dot(a, b)` of two 1-d float64 arrays: numpy's own float64 dot function;
    /// `deopt` for lengths that differ, strides numpy copies for, or a floating-point
    /// warning.
    CallNumpyDot {
        deopt: DeoptId,
    },
    /// A new array from a numpy function that makes one (`numpy.zeros`, `.ones`,
    /// `.empty`, `.arange`; `numpy.random.random(size)`, `.rand(d0, ..)`,
    /// `.randint(low, high, size)`), called by the helper with the same arguments:
    /// `args` (ints, floats, or tuples of one to three ints), `size=` the popped value
    /// at `size_at` when given by keyword, `dtype=` the object `dtype` when given
    /// (`nargs` counts the popped values). `ones`: made as numpy.empty filled with
    /// ones (`numpy.ones` is Python code). The array is the running call's (see
    /// `abi::helper::NUMPY_CALL`); `deopt` when numpy raises, gives another array than
    /// `result`, or the call made too many objects.
    NumpyCall {
        function: ObjectId,
        ones: bool,
        args: Vec<Ty>,
        size_at: Option<u32>,
        dtype: Option<ObjectId>,
        nargs: u32,
        /// The array made: `Ty::NdArray`.
        result: Ty,
        deopt: DeoptId,
    },
    /// `list.insert(i, x)`, `.extend(other)`, `.reverse()`, `.clear()`, `.copy()`,
    /// `.sort()`, `.index(x)`, `.count(x)` or `.__contains__(x)`: the method, the list
    /// and `nargs` arguments popped, the result (`ListMethod::result`; a copy is the
    /// running call's) pushed; `deopt` when the interpreter must do it (see
    /// `abi::helper::LIST_METHOD`).
    ListMethod {
        method: ListMethod,
        nargs: u32,
        deopt: DeoptId,
    },
    /// `x in list` (`not in` when `negate`): the number and the list popped, a bool
    /// pushed; `deopt` when the list holds other objects than numbers (comparing them
    /// could run Python code).
    ListContains {
        negate: bool,
        deopt: DeoptId,
    },
    /// `list.pop()` or `list.pop(i)` (`has_index`): the method, the list and the index
    /// popped, the item pushed, read as `item` (checked as every list read is); `deopt`
    /// when the list is empty, the index out of range or the item of another type. A
    /// list item becomes the running call's (see `abi::helper::LIST_DELETE`).
    ListPop {
        has_index: bool,
        item: Ty,
        deopt: DeoptId,
    },
    /// `array.sum()`, `.max()` or `.min()` of an array of `dtype` (the method and the
    /// array popped, the result pushed as numpy's scalar); `deopt` when numpy would
    /// warn (a float sum that overflowed or is invalid) or raise (the maximum of no
    /// items), or reduces in an order compiled code does not (an array of 2 or 3
    /// dimensions that is neither C- nor Fortran-contiguous).
    ArrayReduce {
        reduction: Reduction,
        dtype: Dtype,
        /// `numpy.sum(array)` (`.max`, `.min`): the NULL, the function and the array
        /// popped instead.
        call: bool,
        deopt: DeoptId,
    },
    /// `array.shape`, `array.size` or `array.ndim` of a numpy array (popped).
    ArrayAttribute(ArrayAttribute),
    Pop,
    Copy(u32),
    Swap(u32),
    Binary {
        op: BinOp,
        result: Ty,
        deopt: DeoptId,
    },
    Compare {
        op: CmpOp,
        deopt: DeoptId,
    },
    /// `is` / `is not` with a result known from the types.
    IsStatic {
        result: bool,
    },
    Unary {
        op: UnaryOp,
        result: Ty,
        deopt: DeoptId,
    },
    /// Pop the top and jump to `target` (an instruction index) when the test gives
    /// `jump_if`; backward jumps poll the eval breaker first (`poll`).
    Branch {
        test: Test,
        jump_if: bool,
        target: u32,
        poll: Option<DeoptId>,
    },
    /// JUMP_IF_TRUE_OR_POP / JUMP_IF_FALSE_OR_POP.
    BranchOrPop {
        jump_if: bool,
        target: u32,
    },
    /// Unconditional jump; backward jumps poll CPython's eval breaker.
    Jump {
        target: u32,
        poll: Option<DeoptId>,
    },
    /// Advance a range iterator: push the next int, or pop it and jump to `exit`.
    ForRange {
        exit: u32,
    },
    /// `range(...)` with 1-3 int arguments.
    CallRange {
        nargs: u32,
        deopt: DeoptId,
    },
    CallMath {
        function: MathFn,
        args: Vec<Ty>,
        result: Ty,
        deopt: DeoptId,
    },
    CallRandom {
        function: RandomFn,
        generator: ObjectId,
        args: Vec<Ty>,
        deopt: DeoptId,
    },
    /// `numpy.random.random()` (no arguments): a float drawn from numpy's global
    /// stream; `deopt` when another thread holds numpy's lock.
    CallNumpyRandom {
        /// `Randint` pops its one or two int arguments.
        kind: NumpyDraw,
        nargs: u32,
        capsule: ObjectId,
        lock: ObjectId,
        reentrant: bool,
        deopt: DeoptId,
    },
    /// A numpy ufunc on scalars through its own float64 inner loop (`loop_index` in its
    /// `functions` and `data`); `deopt` when the loop raised a floating-point flag
    /// numpy would act on (overflow, invalid, divide by zero).
    CallUfunc {
        ufunc: ObjectId,
        /// The ufunc's `__name__` (`sqrt` is computed inline: IEEE's square root is
        /// numpy's).
        name: String,
        loop_index: u32,
        nargs: u32,
        deopt: DeoptId,
    },
    CallBuiltin {
        function: BuiltinFn,
        args: Vec<Ty>,
        result: Ty,
        deopt: DeoptId,
    },
    /// A direct call of another plan of the unit.
    CallPlan {
        plan: u32,
        nargs: u32,
        /// Taken when the callee's result is not of its usual type (it was finished
        /// by the interpreter): the caller resumes after the call with the object.
        boxed: DeoptId,
        /// Taken when the callee raised: the caller adds itself to the traceback.
        raised: DeoptId,
    },
    BuildTuple(u32),
    /// A new list of the `count` numbers on the stack (the running call's, see
    /// `abi::helper::NEW_LIST`); `deopt` when the call made too many objects.
    BuildList {
        count: u32,
        /// The list's type (how its items are read).
        list: Ty,
        deopt: DeoptId,
    },
    /// `[a, b, c]` of constants: LIST_EXTEND of the list just built (the stack's second
    /// value, `list` its type after) by the constant tuple on top, whose numbers it
    /// appends; `deopt` when out of memory.
    ListExtendConst {
        list: Ty,
        deopt: DeoptId,
    },
    /// `list * n` (or `n * list` when `list_right`): a new list, the running call's;
    /// `deopt` when it cannot be made (too long: the interpreter raises MemoryError).
    ListRepeat {
        list_right: bool,
        deopt: DeoptId,
    },
    UnpackTuple {
        count: u32,
        deopt: DeoptId,
    },
    /// `tuple[index]`: a constant index (the LOAD_CONST before it), or a run-time index
    /// into a tuple whose items share one type.
    Subscript {
        constant: Option<i64>,
        result: Ty,
        deopt: DeoptId,
    },
    /// `sequence[index]` of a list or an array (an int index): out of range, or a
    /// list item that is not `item`, hands over before the instruction.
    ItemGet {
        item: Ty,
        deopt: DeoptId,
    },
    /// `sequence[index] = value` of a list (through a helper: boxing, and releasing the
    /// old item) or an array (in place); what cannot be done (out of range, an old item
    /// whose release could run Python code, an int the array cannot hold) hands over
    /// before the instruction.
    ItemSet {
        deopt: DeoptId,
    },
    /// UNPACK_SEQUENCE of a list or an array: another length, or a list item that is
    /// not `item`, hands over before the instruction.
    UnpackSeq {
        count: u32,
        item: Ty,
        deopt: DeoptId,
    },
    /// GET_ITER on a list, an array or a tuple: an iterator at index 0.
    IterSeq,
    /// FOR_ITER over an iterator other than a range's (a sequence's, `reversed`,
    /// `enumerate`, `zip`): the next item, or `exit` past the end; a list item that is
    /// not what the plan expects hands over before the instruction.
    ForIter {
        exit: u32,
        item: Ty,
        deopt: DeoptId,
    },
    /// `enumerate(iterable[, start])`, `zip(iterables...)` or `reversed(sequence)` of
    /// ranges, lists, arrays and tuples: the iterator, made in registers. `deopt`: a
    /// `reversed` range whose step cannot be negated.
    MakeIterator {
        function: crate::snapshot::BuiltinFn,
        nargs: u32,
        deopt: DeoptId,
    },
    Return,
    /// Always hand over to the interpreter here (an operation that raises for these
    /// types, or a name that is not defined).
    Deopt(DeoptId),
}

/// The attributes of a numpy array compiled code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArrayAttribute {
    Shape,
    Size,
    Ndim,
}

/// How a deoptimization resumes the interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeoptKind {
    /// Run the function from its start with the original arguments (nothing has
    /// happened yet: a guard failed or the recursion limit was reached).
    Entry,
    /// Continue at `offset` with these locals and this value stack.
    Resume { offset: u32, stack: Vec<StackSlot> },
    /// An exception is set: continue at `offset` as if the instruction there raised it.
    Throw { offset: u32 },
}

/// A value-stack entry in a deoptimization record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StackSlot {
    Typed(Ty),
    /// An owned object reference (the result of a call the interpreter finished).
    Boxed,
}

impl StackSlot {
    pub fn slots(&self) -> usize {
        match self {
            StackSlot::Typed(ty) => ty.slots(),
            StackSlot::Boxed => 1,
        }
    }
}

/// One place compiled code can hand over to the interpreter. Its record is written to
/// 64-bit slots in this order: for each local in `locals`, a bound flag if the local is
/// `MaybeBound`, then the value's slots; then each stack entry's slots, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeoptPoint {
    pub kind: DeoptKind,
    pub locals: Vec<Local>,
    /// Why (for logs and statistics): "int overflow", "division by zero", ...
    pub reason: String,
    /// Source line of the instruction, if any.
    pub line: Option<u32>,
}

/// Why an on-stack-replacement plan hands its frame back as planned (not a
/// deoptimization): the function returns; the entered loop is done.
pub const REASON_RETURN: &str = "return";
pub const REASON_LOOP_DONE: &str = "after the entered loop";
/// A backward jump found the eval breaker set.
pub const REASON_EVAL_BREAKER: &str = "eval breaker";

impl DeoptPoint {
    /// Whether handing back here is how a compiled loop normally ends (`module_body`: a
    /// module body's loop, which also hands back whenever the eval breaker is set).
    pub fn ends_loop(&self, module_body: bool) -> bool {
        self.reason == REASON_RETURN
            || self.reason == REASON_LOOP_DONE
            || (module_body && self.reason == REASON_EVAL_BREAKER)
    }

    pub fn slots(&self) -> usize {
        let locals: usize = self
            .locals
            .iter()
            .map(|local| match local {
                Local::Unbound => 0,
                Local::Bound(ty) => ty.slots(),
                Local::MaybeBound(ty) => 1 + ty.slots(),
            })
            .sum();
        let stack: usize = match &self.kind {
            DeoptKind::Resume { stack, .. } => stack.iter().map(StackSlot::slots).sum(),
            _ => 0,
        };
        locals + stack
    }
}

/// One instruction of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Byte offset where the instruction starts (its first EXTENDED_ARG).
    pub start: u32,
    /// Byte offset of the opcode.
    pub offset: u32,
    /// `None` when no path reaches the instruction.
    pub before: Option<State>,
    pub op: Op,
}

/// A function specialized for one signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionPlan {
    /// Index into the request's `functions`.
    pub function: u32,
    pub params: Vec<Ty>,
    pub result: Ty,
    pub steps: Vec<Step>,
    pub deopts: Vec<DeoptPoint>,
    /// The entry deoptimization point (recursion limit, failed guards).
    pub entry_deopt: DeoptId,
    /// Set for a plan entered in a running frame at a loop header (on-stack
    /// replacement): `params` are then the bound locals' types, then the stack's.
    pub osr: Option<OsrEntry>,
}

/// Where and how an on-stack-replacement plan starts. Every way out of it is a
/// deoptimization into the running frame (its `return` included, resumed at the
/// RETURN_VALUE), so the frame always ends in the interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsrEntry {
    /// Index of the loop header's step.
    pub step: u32,
    /// Each local's type at the header (`None`: unbound, or kept in the frame).
    pub locals: Vec<Option<Ty>>,
    /// The value stack at the header, bottom first.
    pub stack: Vec<Ty>,
}

impl FunctionPlan {
    /// The types every local takes anywhere in the plan (the back end keeps one storage
    /// location per local and type).
    pub fn local_types(&self, local: usize) -> Vec<Ty> {
        let mut types: Vec<Ty> = Vec::new();
        for step in &self.steps {
            if let Some(state) = &step.before
                && let Some(ty) = state.locals.get(local).and_then(Local::ty)
                && !types.contains(ty)
            {
                types.push(ty.clone());
            }
        }
        types
    }

    /// Whether some point has the local `MaybeBound` (it needs a bound flag).
    pub fn local_needs_flag(&self, local: usize) -> bool {
        self.steps.iter().any(|step| {
            step.before
                .as_ref()
                .is_some_and(|s| matches!(s.locals.get(local), Some(Local::MaybeBound(_))))
        })
    }

    /// The largest deoptimization record of the plan, in slots.
    pub fn max_deopt_slots(&self) -> usize {
        self.deopts.iter().map(DeoptPoint::slots).max().unwrap_or(0)
    }
}

/// What a compile request produces: plan 0 is the requested function; the others are
/// the callees it calls directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub plans: Vec<FunctionPlan>,
    pub fastmath: bool,
    /// Where the back end writes the unit's IR and assembly (`PYOPT_JIT_DUMP`), named
    /// after `name`.
    pub dump: Option<String>,
    pub name: String,
}

impl Unit {
    pub fn max_deopt_slots(&self) -> usize {
        self.plans
            .iter()
            .map(FunctionPlan::max_deopt_slots)
            .max()
            .unwrap_or(0)
    }
}
