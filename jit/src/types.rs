//! The types compiled code works with, and how values of each type are laid out as
//! 64-bit slots (arguments, deoptimization records).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::snapshot::ObjectId;

/// The type of a local or a value-stack entry at one point of a specialization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ty {
    /// A Python int known to fit in 64 bits (an `i64`; leaving the range deoptimizes).
    Int,
    /// A Python float (an `f64`).
    Float,
    /// A Python bool (an `i1`).
    Bool,
    /// `None` (no machine value).
    None,
    /// A tuple of these, element by element.
    Tuple(Vec<Ty>),
    /// A `range` object with 64-bit start, step and length.
    Range,
    /// An iterator over a `range`, in the same representation.
    RangeIter,
    /// A `list` whose items compiled code reads as this type (a number, a list, or a
    /// tuple of these: `Ty::is_list_item`); every read checks the item, and another
    /// type hands over. One slot: the
    /// object, borrowed (the caller's arguments or the running frame hold it; compiled
    /// code never makes a list, so it never holds the only reference).
    List(Box<Ty>),
    /// An `array.array` of this item kind, borrowed like a list (one slot); its items
    /// are machine numbers, read and written in place.
    Array(ArrayKind),
    /// A numpy `float64` scalar (an `f64`, like `Float`, boxed as `numpy.float64`): what
    /// reading a float64 array gives, with numpy's arithmetic (whose floating-point
    /// warnings compiled code leaves to the interpreter).
    NpFloat,
    /// A numpy `bool_` (an `i1`): what comparing a `float64` gives.
    NpBool,
    /// A float that is a Python float on some paths and a numpy float64 on others (an
    /// `f64` and a flag saying which: two slots), as `s = 0.0` is before and after
    /// `s += a[i]`.
    AnyFloat,
    /// A bool or a numpy bool, likewise.
    AnyBool,
    /// A Python int or a numpy scalar of this integer dtype, likewise (`s = 0` before
    /// and after `s += a[i]` over an int64 array): an `i64` and the flag.
    AnyInt(Dtype),
    /// A Python float or a numpy float32, likewise (`s = 0.0` before and after
    /// `s += a[i]` over a float32 array): an `f64` and the flag.
    AnyFloat32,
    /// A numpy scalar of one of the other dtypes (`float32`, `int64`, `int32`, `int8`,
    /// `uint8`; float64 is `NpFloat` and bool `NpBool`): an `i64` holding the value for
    /// the integer dtypes, an `f64` holding a float32's exact value; numpy's arithmetic
    /// (NEP 50 promotion, integer overflow and float warnings left to the interpreter).
    NpScalar(Dtype),
    /// A numpy `ndarray` of this dtype with this many dimensions (1 to 3), aligned and
    /// in native byte order, borrowed like a list (one slot); any strides.
    NdArray(Dtype, u8),
    /// An iterator over a list or an array (the sequence's type): the sequence and the
    /// next index (two slots).
    SeqIter(Box<Ty>),
    /// `reversed()` of a list or an array: the sequence and the next index, counting
    /// down (two slots).
    SeqRevIter(Box<Ty>),
    /// An iterator over a tuple whose items share one type (the tuple's type): the
    /// tuple's slots, then the next index.
    TupleIter(Box<Ty>),
    /// `enumerate()` of an iterator of these: the count, then the iterator's slots.
    Enumerate(Box<Ty>),
    /// `zip()` of iterators of these, their slots in order.
    Zip(Vec<Ty>),
    /// The NULL CPython pushes before some callables.
    Null,
    /// The method LOAD_METHOD pushes before its object (a method descriptor of the
    /// object's type); no machine value.
    Method(MethodKind),
    /// A specific object resolved at snapshot time (a function, a module, a builtin).
    Object(ObjectId),
}

impl Ty {
    /// How many 64-bit slots a value of this type takes in argument and deoptimization
    /// records: ints, floats and bools one each (floats as their bits), tuples the sum
    /// of their elements, ranges three (start, step, length), the rest none.
    pub fn slots(&self) -> usize {
        match self {
            Ty::Int | Ty::Float | Ty::Bool => 1,
            Ty::Tuple(items) => items.iter().map(Ty::slots).sum(),
            Ty::Range | Ty::RangeIter => 3,
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(..) => 1,
            Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => 1,
            Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => 2,
            Ty::SeqIter(_) | Ty::SeqRevIter(_) => 2,
            Ty::TupleIter(tuple) => tuple.slots() + 1,
            Ty::Enumerate(inner) => 1 + inner.slots(),
            Ty::Zip(inners) => inners.iter().map(Ty::slots).sum(),
            Ty::None | Ty::Null | Ty::Object(_) | Ty::Method(_) => 0,
        }
    }

    /// Whether a value of this type can be a function argument or result (a Python
    /// object the guards and boxing code handle).
    pub fn is_value(&self) -> bool {
        match self {
            Ty::Int | Ty::Float | Ty::Bool | Ty::None => true,
            Ty::Tuple(items) => items.iter().all(Ty::is_value),
            Ty::List(item) => item.is_list_item(),
            Ty::Array(_) | Ty::NdArray(..) | Ty::NpFloat | Ty::NpBool | Ty::NpScalar(_) => true,
            Ty::AnyFloat | Ty::AnyBool | Ty::AnyInt(_) | Ty::AnyFloat32 => true,
            _ => false,
        }
    }

    /// Whether compiled code reads list items as this type (checking each read): a
    /// number, a list of these, or a tuple of these.
    pub fn is_list_item(&self) -> bool {
        match self {
            Ty::List(item) => item.is_list_item(),
            Ty::Tuple(items) => !items.is_empty() && items.iter().all(Ty::is_list_item),
            other => other.is_number(),
        }
    }

    /// Whether a value of this type holds a numpy array (itself, or inside a tuple or
    /// an iterator).
    pub fn holds_ndarray(&self) -> bool {
        match self {
            Ty::NdArray(..) => true,
            Ty::SeqIter(seq) | Ty::SeqRevIter(seq) | Ty::TupleIter(seq) | Ty::Enumerate(seq) => {
                seq.holds_ndarray()
            }
            Ty::Tuple(items) | Ty::Zip(items) => items.iter().any(Ty::holds_ndarray),
            _ => false,
        }
    }

    /// The type items of this sequence (a list or an array) are read as.
    pub fn item(&self) -> Option<Ty> {
        match self {
            Ty::List(item) => Some((**item).clone()),
            Ty::Array(kind) => Some(kind.item()),
            Ty::NdArray(dtype, 1) => Some(dtype.scalar()),
            _ => None,
        }
    }

    /// The iterator GET_ITER makes of a value of this type (an iterator is its own).
    pub fn iterator(&self) -> Option<Ty> {
        match self {
            Ty::Range => Some(Ty::RangeIter),
            Ty::List(_) | Ty::Array(_) | Ty::NdArray(_, 1) => {
                Some(Ty::SeqIter(Box::new(self.clone())))
            }
            Ty::Tuple(items) if !items.is_empty() && items.iter().all(|t| *t == items[0]) => {
                Some(Ty::TupleIter(Box::new(self.clone())))
            }
            _ if self.next_item().is_some() => Some(self.clone()),
            _ => None,
        }
    }

    /// What FOR_ITER pushes for an iterator of this type.
    pub fn next_item(&self) -> Option<Ty> {
        match self {
            Ty::RangeIter => Some(Ty::Int),
            Ty::SeqIter(sequence) | Ty::SeqRevIter(sequence) => sequence.item(),
            Ty::TupleIter(tuple) => match &**tuple {
                Ty::Tuple(items) => items.first().cloned(),
                _ => None,
            },
            Ty::Enumerate(inner) => Some(Ty::Tuple(vec![Ty::Int, inner.next_item()?])),
            Ty::Zip(inners) => inners
                .iter()
                .map(Ty::next_item)
                .collect::<Option<Vec<_>>>()
                .map(Ty::Tuple),
            _ => None,
        }
    }

    /// For a type that is Python's number on some paths and numpy's scalar on others
    /// (held with a flag saying which): the two types.
    pub fn flagged_parts(&self) -> Option<(Ty, Ty)> {
        match self {
            Ty::AnyFloat => Some((Ty::Float, Ty::NpFloat)),
            Ty::AnyBool => Some((Ty::Bool, Ty::NpBool)),
            Ty::AnyInt(dtype) => Some((Ty::Int, Ty::NpScalar(*dtype))),
            Ty::AnyFloat32 => Some((Ty::Float, Ty::NpScalar(Dtype::F32))),
            _ => None,
        }
    }

    /// Whether this is a number (int, float or bool) for arithmetic.
    pub fn is_number(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Bool)
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Int => write!(f, "int"),
            Ty::Float => write!(f, "float"),
            Ty::Bool => write!(f, "bool"),
            Ty::None => write!(f, "None"),
            Ty::Tuple(items) => {
                write!(f, "tuple[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                if items.is_empty() {
                    write!(f, "()")?;
                }
                write!(f, "]")
            }
            Ty::Range => write!(f, "range"),
            Ty::RangeIter => write!(f, "range_iterator"),
            Ty::List(item) => write!(f, "list[{item}]"),
            Ty::Array(kind) => write!(f, "array('{}')", kind.typecode()),
            Ty::NpFloat => write!(f, "numpy.float64"),
            Ty::NpBool => write!(f, "numpy.bool"),
            Ty::NpScalar(dtype) => write!(f, "numpy.{dtype}"),
            Ty::AnyFloat => write!(f, "float or numpy.float64"),
            Ty::AnyBool => write!(f, "bool or numpy.bool"),
            Ty::AnyInt(dtype) => write!(f, "int or numpy.{dtype}"),
            Ty::AnyFloat32 => write!(f, "float or numpy.float32"),
            Ty::NdArray(dtype, ndim) => write!(f, "ndarray[{dtype}, {ndim}d]"),
            Ty::SeqIter(sequence) => write!(f, "iterator[{sequence}]"),
            Ty::SeqRevIter(sequence) => write!(f, "reversed[{sequence}]"),
            Ty::TupleIter(tuple) => write!(f, "iterator[{tuple}]"),
            Ty::Enumerate(inner) => write!(f, "enumerate[{inner}]"),
            Ty::Zip(inners) => {
                let names: Vec<String> = inners.iter().map(Ty::to_string).collect();
                write!(f, "zip[{}]", names.join(", "))
            }
            Ty::Null => write!(f, "NULL"),
            Ty::Method(MethodKind::ListAppend) => write!(f, "list.append"),
            Ty::Method(MethodKind::ListPop) => write!(f, "list.pop"),
            Ty::Method(MethodKind::List(method)) => write!(f, "list.{}", method.name()),
            Ty::Method(MethodKind::ArrayReduce(reduction)) => {
                write!(f, "ndarray.{}", reduction.name())
            }
            Ty::Object(id) => write!(f, "object#{id}"),
        }
    }
}

/// The iterator `enumerate`, `zip` or `reversed` makes of arguments of types `args`,
/// if compiled code can run it.
pub fn iterator_call(function: crate::snapshot::BuiltinFn, args: &[Ty]) -> Option<Ty> {
    use crate::snapshot::BuiltinFn;
    // Iterators the call makes of its arguments (an iterator held elsewhere would be
    // shared with its holder: not compiled).
    let fresh = |t: &Ty| match t {
        Ty::Range | Ty::List(_) | Ty::Array(_) | Ty::NdArray(_, 1) | Ty::Tuple(_) => t.iterator(),
        Ty::Enumerate(_) | Ty::Zip(_) | Ty::SeqRevIter(_) => Some(t.clone()),
        _ => None,
    };
    match (function, args) {
        (BuiltinFn::Enumerate, [iterable]) => Some(Ty::Enumerate(Box::new(fresh(iterable)?))),
        (BuiltinFn::Enumerate, [iterable, Ty::Int | Ty::Bool]) => {
            Some(Ty::Enumerate(Box::new(fresh(iterable)?)))
        }
        (BuiltinFn::Zip, iterables) if (1..=4).contains(&iterables.len()) => iterables
            .iter()
            .map(fresh)
            .collect::<Option<Vec<_>>>()
            .map(Ty::Zip),
        (BuiltinFn::Reversed, [Ty::Range]) => Some(Ty::RangeIter),
        (BuiltinFn::Reversed, [sequence @ (Ty::List(_) | Ty::Array(_))]) => {
            Some(Ty::SeqRevIter(Box::new(sequence.clone())))
        }
        _ => None,
    }
}

/// The item type of an `array.array`, by its typecode ('l' is 'q' on 64-bit Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArrayKind {
    F64,
    F32,
    I64,
    I32,
    I8,
    U8,
}

impl ArrayKind {
    pub fn from_typecode(code: char) -> Option<ArrayKind> {
        Some(match code {
            'd' => ArrayKind::F64,
            'f' => ArrayKind::F32,
            'q' | 'l' => ArrayKind::I64,
            'i' => ArrayKind::I32,
            'b' => ArrayKind::I8,
            'B' => ArrayKind::U8,
            _ => return None,
        })
    }

    pub fn typecode(self) -> char {
        match self {
            ArrayKind::F64 => 'd',
            ArrayKind::F32 => 'f',
            ArrayKind::I64 => 'q',
            ArrayKind::I32 => 'i',
            ArrayKind::I8 => 'b',
            ArrayKind::U8 => 'B',
        }
    }

    /// The numpy dtype whose items are laid out as this kind's.
    pub fn dtype(self) -> Dtype {
        match self {
            ArrayKind::F64 => Dtype::F64,
            ArrayKind::F32 => Dtype::F32,
            ArrayKind::I64 => Dtype::I64,
            ArrayKind::I32 => Dtype::I32,
            ArrayKind::I8 => Dtype::I8,
            ArrayKind::U8 => Dtype::U8,
        }
    }

    /// What reading an item gives in Python: a float or an int.
    pub fn item(self) -> Ty {
        match self {
            ArrayKind::F64 | ArrayKind::F32 => Ty::Float,
            _ => Ty::Int,
        }
    }

    /// The range of the ints an item holds when it is narrower than an int64 (stores
    /// outside it raise OverflowError).
    pub fn int_range(self) -> Option<(i64, i64)> {
        self.dtype().int_range().filter(|_| self != ArrayKind::I64)
    }
}

/// A method of a builtin type compiled code calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MethodKind {
    ListAppend,
    ListPop,
    /// `list.insert`, `.extend`, `.reverse`, `.clear`, `.copy`, `.sort`, `.index`,
    /// `.count`, `.__contains__` (`helper::LIST_METHOD`).
    List(ListMethod),
    /// `ndarray.sum`, `.max` or `.min`.
    ArrayReduce(Reduction),
}

/// A reduction of all of an array's items (`helper::ARRAY_SUM`'s `reduction`: the index
/// in `Reduction::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reduction {
    Sum,
    Max,
    Min,
    /// Of float arrays only: numpy's sum, divided by the count in float64 (and rounded
    /// back to float32 for a float32 array), as `numpy._core._methods._mean` does.
    Mean,
}

impl Reduction {
    pub const ALL: [Reduction; 4] = [
        Reduction::Sum,
        Reduction::Max,
        Reduction::Min,
        Reduction::Mean,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Max => "max",
            Reduction::Min => "min",
            Reduction::Mean => "mean",
        }
    }

    /// The numpy ufunc whose loop reduces floats.
    pub fn ufunc(self) -> &'static str {
        match self {
            Reduction::Sum | Reduction::Mean => "add",
            Reduction::Max => "maximum",
            Reduction::Min => "minimum",
        }
    }

    /// Whether compiled code reduces arrays of `dtype` this way: numpy sums uint8 as
    /// uint64, and means ints through buffered float64 casts.
    pub fn compiled_for(self, dtype: Dtype) -> bool {
        match self {
            Reduction::Sum => dtype != Dtype::U8,
            Reduction::Max | Reduction::Min => true,
            Reduction::Mean => dtype.is_float(),
        }
    }

    pub fn code(self) -> u32 {
        Reduction::ALL.iter().position(|r| *r == self).unwrap_or(0) as u32
    }

    /// The numpy scalar type of the result over an array of `dtype`: a sum of ints and
    /// bools is an int64, a maximum or minimum has the array's dtype.
    pub fn result(self, dtype: Dtype) -> Ty {
        match (self, dtype) {
            (Reduction::Sum | Reduction::Mean, Dtype::F64 | Dtype::F32)
            | (Reduction::Max | Reduction::Min, _) => dtype.scalar(),
            (Reduction::Sum, _) => Ty::NpScalar(Dtype::I64),
            (Reduction::Mean, _) => Ty::NpFloat,
        }
    }
}

/// The list methods `helper::LIST_METHOD` runs (its `method` argument is the index in
/// `ListMethod::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListMethod {
    Insert,
    Extend,
    Reverse,
    Clear,
    Copy,
    /// These compare items: compiled only for lists of numbers (checked when they run),
    /// and an int or a bool (a float NaN is found by identity, which unboxing loses).
    Index,
    Count,
    Sort,
    /// `x in list` (CONTAINS_OP), or `list.__contains__(x)`.
    Contains,
}

impl ListMethod {
    pub const ALL: [ListMethod; 9] = [
        ListMethod::Insert,
        ListMethod::Extend,
        ListMethod::Reverse,
        ListMethod::Clear,
        ListMethod::Copy,
        ListMethod::Index,
        ListMethod::Count,
        ListMethod::Sort,
        ListMethod::Contains,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ListMethod::Insert => "insert",
            ListMethod::Extend => "extend",
            ListMethod::Reverse => "reverse",
            ListMethod::Clear => "clear",
            ListMethod::Copy => "copy",
            ListMethod::Index => "index",
            ListMethod::Count => "count",
            ListMethod::Sort => "sort",
            ListMethod::Contains => "__contains__",
        }
    }

    /// The type of the result, for a list of type `list`.
    pub fn result(self, list: &Ty) -> Ty {
        match self {
            ListMethod::Copy => list.clone(),
            ListMethod::Index | ListMethod::Count => Ty::Int,
            ListMethod::Contains => Ty::Bool,
            _ => Ty::None,
        }
    }

    pub fn code(self) -> u32 {
        ListMethod::ALL.iter().position(|m| *m == self).unwrap_or(0) as u32
    }
}

/// The item type of a numpy array compiled code works with (native byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dtype {
    F64,
    F32,
    I64,
    I32,
    I8,
    U8,
    Bool,
}

impl Dtype {
    pub const ALL: [Dtype; 7] = [
        Dtype::F64,
        Dtype::F32,
        Dtype::I64,
        Dtype::I32,
        Dtype::I8,
        Dtype::U8,
        Dtype::Bool,
    ];

    /// numpy's `type_num` for it (`NPY_DOUBLE`, `NPY_FLOAT`, `NPY_LONG` (int64 on
    /// 64-bit Linux), `NPY_INT`, `NPY_BYTE`, `NPY_UBYTE`, `NPY_BOOL`).
    pub fn type_num(self) -> i32 {
        match self {
            Dtype::F64 => 12,
            Dtype::F32 => 11,
            Dtype::I64 => 7,
            Dtype::I32 => 5,
            Dtype::I8 => 1,
            Dtype::U8 => 2,
            Dtype::Bool => 0,
        }
    }

    pub fn from_type_num(type_num: i32) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.type_num() == type_num)
    }

    /// The size of an item in bytes.
    pub fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// numpy's name of the dtype (and of its scalar type in the `numpy` module).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "float64",
            Dtype::F32 => "float32",
            Dtype::I64 => "int64",
            Dtype::I32 => "int32",
            Dtype::I8 => "int8",
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
        }
    }

    /// The type of the scalar an item reads as.
    pub fn scalar(self) -> Ty {
        match self {
            Dtype::F64 => Ty::NpFloat,
            Dtype::Bool => Ty::NpBool,
            other => Ty::NpScalar(other),
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F64 | Dtype::F32)
    }

    /// The range of an integer dtype's values.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            Dtype::I64 => Some((i64::MIN, i64::MAX)),
            Dtype::I32 => Some((i32::MIN.into(), i32::MAX.into())),
            Dtype::I8 => Some((i8::MIN.into(), i8::MAX.into())),
            Dtype::U8 => Some((0, u8::MAX.into())),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Formats a signature like `(int, float)`.
pub fn signature(types: &[Ty]) -> String {
    let inner: Vec<String> = types.iter().map(Ty::to_string).collect();
    format!("({})", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts() {
        assert_eq!(Ty::Int.slots(), 1);
        assert_eq!(Ty::None.slots(), 0);
        assert_eq!(
            Ty::Tuple(vec![
                Ty::Int,
                Ty::Tuple(vec![Ty::Float, Ty::None]),
                Ty::Bool
            ])
            .slots(),
            3
        );
        assert_eq!(Ty::RangeIter.slots(), 3);
        assert_eq!(Ty::Object(3).slots(), 0);
        assert_eq!(Ty::List(Box::new(Ty::Float)).slots(), 1);
        assert_eq!(Ty::SeqIter(Box::new(Ty::Array(ArrayKind::U8))).slots(), 2);
    }

    #[test]
    fn display() {
        assert_eq!(
            signature(&[
                Ty::Int,
                Ty::Tuple(vec![Ty::Float, Ty::Bool]),
                Ty::Tuple(vec![])
            ]),
            "(int, tuple[float, bool], tuple[()])"
        );
    }

    #[test]
    fn values() {
        assert!(Ty::Tuple(vec![Ty::Int, Ty::None]).is_value());
        assert!(!Ty::Range.is_value());
        assert!(!Ty::Tuple(vec![Ty::Null]).is_value());
        assert!(Ty::List(Box::new(Ty::Float)).is_value());
        assert!(!Ty::SeqIter(Box::new(Ty::List(Box::new(Ty::Float)))).is_value());
        assert_eq!(Ty::Array(ArrayKind::F32).item(), Some(Ty::Float));
        assert_eq!(ArrayKind::from_typecode('l'), Some(ArrayKind::I64));
    }
}
