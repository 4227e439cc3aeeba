//! numpy's rules for scalars of the dtypes other than float64 and bool (`Ty::NpScalar`):
//! which dtype an operation computes in (numpy 2's NEP 50 promotion, where Python ints
//! and floats are "weak" and take the numpy operand's dtype) and what it gives.
//!
//! Only what compiled code computes exactly as numpy does is answered; everything else
//! is `None` and left to the interpreter. Integer overflow, division by zero and
//! floating-point warnings are checked by the generated code, which hands over before
//! numpy would warn or raise.

use crate::plan::BinOp;
use crate::types::{Dtype, Ty};

/// One operand of a numpy scalar operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A Python int or bool: takes the other operand's dtype (it must fit in it).
    WeakInt,
    /// A Python float: takes a float dtype, or makes an integer one float64.
    WeakFloat,
    /// A numpy scalar of this dtype.
    Strong(Dtype),
}

impl Operand {
    pub fn of(ty: &Ty) -> Option<Operand> {
        Some(match ty {
            Ty::Int | Ty::Bool => Operand::WeakInt,
            Ty::Float => Operand::WeakFloat,
            Ty::NpFloat => Operand::Strong(Dtype::F64),
            Ty::NpBool => Operand::Strong(Dtype::Bool),
            Ty::NpScalar(dtype) => Operand::Strong(*dtype),
            _ => return None,
        })
    }
}

/// Whether `ty` is one of the numpy scalars these rules are for.
pub fn is_scalar(ty: &Ty) -> bool {
    matches!(ty, Ty::NpScalar(_))
}

/// The dtype numpy computes `a op b` in (`numpy.result_type` of the operands), when it
/// is one compiled code has.
pub fn promote(a: Operand, b: Operand) -> Option<Dtype> {
    use Dtype::*;
    match (a, b) {
        (Operand::Strong(x), Operand::Strong(y)) => promote_strong(x, y),
        (Operand::Strong(x), weak) | (weak, Operand::Strong(x)) => match (x, weak) {
            // bool with a Python number is numpy's default int or float: not ours.
            (Bool, _) => None,
            (_, Operand::WeakInt) => Some(x),
            (F64 | F32, Operand::WeakFloat) => Some(x),
            (_, Operand::WeakFloat) => Some(F64),
            (_, Operand::Strong(_)) => None,
        },
        _ => None,
    }
}

fn promote_strong(x: Dtype, y: Dtype) -> Option<Dtype> {
    use Dtype::*;
    if x == y {
        return Some(x);
    }
    let rank = |d: Dtype| match d {
        Bool => 0,
        I8 | U8 => 1,
        I32 => 2,
        I64 => 3,
        F32 => 4,
        F64 => 5,
    };
    let (low, high) = if rank(x) <= rank(y) { (x, y) } else { (y, x) };
    match (low, high) {
        (Bool, other) => Some(other),
        // int8 with uint8 is int16.
        (I8, U8) | (U8, I8) => None,
        (I8 | U8, I32 | I64 | F32 | F64) => Some(high),
        (I32, I64 | F64) => Some(high),
        (I32 | I64, F32) => Some(F64),
        (I64 | F32, F64) => Some(F64),
        _ => None,
    }
}

/// The result of `lhs op rhs` when one operand is a `Ty::NpScalar` (None: left to the
/// interpreter).
pub fn binary_result(op: BinOp, lhs: &Ty, rhs: &Ty) -> Option<Ty> {
    let dtype = promote(Operand::of(lhs)?, Operand::of(rhs)?)?;
    if dtype == Dtype::Bool {
        // (Not reached: one operand is of another dtype.)
        return None;
    }
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul => Some(dtype.scalar()),
        // Integers divide as float64.
        BinOp::TrueDiv if dtype.is_float() => Some(dtype.scalar()),
        BinOp::TrueDiv => Some(Ty::NpFloat),
        // Python's floor division and remainder, which numpy's float dtypes follow too.
        BinOp::FloorDiv | BinOp::Mod => Some(dtype.scalar()),
        _ => None,
    }
}

/// The dtype a comparison involving a `Ty::NpScalar` compares in.
pub fn compare_dtype(lhs: &Ty, rhs: &Ty) -> Option<Dtype> {
    let (a, b) = (Operand::of(lhs)?, Operand::of(rhs)?);
    promote(a, b).or(match (a, b) {
        // int8 with uint8 compares in int16: exactly, as the values held as i64 do.
        (Operand::Strong(x), Operand::Strong(y))
            if x.int_range().is_some() && y.int_range().is_some() =>
        {
            Some(Dtype::I64)
        }
        _ => None,
    })
}

/// The result of `lhs op rhs` when an operand is a `Ty::AnyInt(d)`: a Python int on
/// some paths, numpy's `d` on others. Computed when both cases give the same value:
/// with Python ints (a Python int in `d`'s range on the numpy paths), `d` itself,
/// floats, or numpy float64s.
pub fn flagged_int_result(op: BinOp, lhs: &Ty, rhs: &Ty) -> Option<Ty> {
    let (dtype, other) = match (lhs, rhs) {
        (Ty::AnyInt(x), Ty::AnyInt(y)) if x == y => (*x, lhs),
        (Ty::AnyInt(d), other) | (other, Ty::AnyInt(d)) => (*d, other),
        _ => return None,
    };
    let arithmetic = matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul);
    match other {
        Ty::Int | Ty::Bool | Ty::AnyInt(_) => match op {
            _ if arithmetic || matches!(op, BinOp::FloorDiv | BinOp::Mod) => {
                Some(Ty::AnyInt(dtype))
            }
            BinOp::TrueDiv => Some(Ty::AnyFloat),
            _ => None,
        },
        // A Python int is weak: numpy's dtype either way.
        Ty::NpScalar(d) if *d == dtype => binary_result(op, other, other),
        Ty::Float if arithmetic || op == BinOp::TrueDiv => Some(Ty::AnyFloat),
        Ty::NpFloat if arithmetic || op == BinOp::TrueDiv => Some(Ty::NpFloat),
        _ => None,
    }
}

/// The result of `lhs op rhs` (`+ - * /`) when an operand is a `Ty::AnyFloat32`: a
/// Python float on some paths (Python's arithmetic there), numpy's float32 on others
/// (a Python number is weak and becomes float32).
pub fn flagged_float32_result(op: BinOp, lhs: &Ty, rhs: &Ty) -> Option<Ty> {
    if !matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::TrueDiv) {
        return None;
    }
    let other = if *lhs == Ty::AnyFloat32 { rhs } else { lhs };
    match other {
        Ty::Int | Ty::Bool | Ty::Float | Ty::AnyFloat32 => Some(Ty::AnyFloat32),
        Ty::NpScalar(Dtype::F32) => Some(Ty::NpScalar(Dtype::F32)),
        Ty::NpFloat => Some(Ty::NpFloat),
        _ => None,
    }
}

/// Whether a comparison with a `Ty::AnyInt` is computed: with ints of any kind (exact
/// in both cases) and with floats (exactly for Python's ints, through float64 for
/// numpy's).
pub fn flagged_int_comparable(lhs: &Ty, rhs: &Ty) -> bool {
    let fits = |t: &Ty| match t {
        Ty::Int | Ty::Bool | Ty::AnyInt(_) | Ty::Float | Ty::NpFloat | Ty::AnyFloat => true,
        Ty::NpScalar(d) => !d.is_float(),
        _ => false,
    };
    fits(lhs) && fits(rhs)
}

/// numpy's type character of an argument of type `ty`, as its ufunc loop search sees
/// it (a Python int as the default int64).
fn type_char(ty: &Ty) -> Option<char> {
    Some(match ty {
        Ty::Float | Ty::NpFloat | Ty::AnyFloat => 'd',
        Ty::Int | Ty::NpScalar(Dtype::I64) => 'l',
        Ty::NpScalar(Dtype::I32) => 'i',
        _ => return None,
    })
}

/// Whether numpy casts type character `from` to `to` safely.
fn safe_cast(from: char, to: char) -> bool {
    match from {
        'd' => matches!(to, 'd' | 'g' | 'D' | 'G' | 'O'),
        'l' => matches!(to, 'l' | 'q' | 'd' | 'g' | 'D' | 'G' | 'O'),
        'i' => matches!(to, 'i' | 'l' | 'q' | 'd' | 'g' | 'D' | 'G' | 'O'),
        _ => false,
    }
}

/// The loop numpy's ufunc runs for scalar arguments of these types, when it is a
/// float64 loop (`"d->d"`, `"dd->d"`): the first loop of `loops` every argument casts
/// to safely (numpy's linear search). An int that may be Python's or numpy's
/// (`Ty::AnyInt`) must pick the same loop both ways.
pub fn float64_loop(loops: &[String], args: &[Ty]) -> Option<u32> {
    let python: Vec<Ty> = args
        .iter()
        .map(|t| match t {
            Ty::AnyInt(_) => Ty::Int,
            other => other.clone(),
        })
        .collect();
    let numpy: Vec<Ty> = args
        .iter()
        .map(|t| match t {
            Ty::AnyInt(d) => Ty::NpScalar(*d),
            other => other.clone(),
        })
        .collect();
    let mut choices = Vec::new();
    for variant in [python, numpy] {
        let chars = variant.iter().map(type_char).collect::<Option<Vec<_>>>()?;
        let found = loops.iter().position(|signature| {
            let Some((inputs, _)) = signature.split_once("->") else {
                return false;
            };
            inputs.len() == chars.len()
                && inputs
                    .chars()
                    .zip(&chars)
                    .all(|(to, from)| safe_cast(*from, to))
        })?;
        choices.push(found);
    }
    let index = choices[0];
    let float64 = |signature: &str| {
        signature
            .split_once("->")
            .is_some_and(|(inputs, output)| output == "d" && inputs.chars().all(|c| c == 'd'))
    };
    (choices.iter().all(|c| *c == index) && float64(&loops[index])).then_some(index as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_numpy() {
        use Dtype::*;
        let s = Operand::Strong;
        // Checked against numpy 2.4: type(np.X(1) + np.Y(1)).
        assert_eq!(promote(s(I8), s(I8)), Some(I8));
        assert_eq!(promote(s(U8), s(I32)), Some(I32));
        assert_eq!(promote(s(U8), s(I8)), None); // int16
        assert_eq!(promote(s(I32), s(F32)), Some(F64));
        assert_eq!(promote(s(I8), s(F32)), Some(F32));
        assert_eq!(promote(s(F32), s(F64)), Some(F64));
        assert_eq!(promote(s(Bool), s(I8)), Some(I8));
        assert_eq!(promote(s(I8), Operand::WeakInt), Some(I8));
        assert_eq!(promote(Operand::WeakFloat, s(I64)), Some(F64));
        assert_eq!(promote(s(F32), Operand::WeakFloat), Some(F32));
        assert_eq!(promote(s(Bool), Operand::WeakInt), None);
        assert_eq!(promote(Operand::WeakInt, Operand::WeakFloat), None);
    }

    #[test]
    fn results() {
        let i8 = Ty::NpScalar(Dtype::I8);
        assert_eq!(binary_result(BinOp::Add, &i8, &Ty::Int), Some(i8.clone()));
        assert_eq!(binary_result(BinOp::TrueDiv, &i8, &i8), Some(Ty::NpFloat));
        assert_eq!(
            binary_result(BinOp::Mul, &i8, &Ty::Float),
            Some(Ty::NpFloat)
        );
        let f32 = Ty::NpScalar(Dtype::F32);
        assert_eq!(
            binary_result(BinOp::FloorDiv, &f32, &f32),
            Some(f32.clone())
        );
        assert_eq!(binary_result(BinOp::TrueDiv, &f32, &Ty::Int), Some(f32));
        assert_eq!(binary_result(BinOp::Pow, &i8, &i8), None);
        let u8 = Ty::NpScalar(Dtype::U8);
        assert_eq!(binary_result(BinOp::Add, &i8, &u8), None);
        assert_eq!(compare_dtype(&i8, &u8), Some(Dtype::I64));
        let any = Ty::AnyInt(Dtype::I64);
        assert_eq!(
            flagged_int_result(BinOp::Add, &any, &Ty::Int),
            Some(any.clone())
        );
        let i64 = Ty::NpScalar(Dtype::I64);
        assert_eq!(flagged_int_result(BinOp::Add, &i64, &any), Some(i64));
        assert_eq!(flagged_int_result(BinOp::Add, &i8, &any), None);
        assert_eq!(
            flagged_int_result(BinOp::TrueDiv, &any, &any),
            Some(Ty::AnyFloat)
        );
        assert_eq!(flagged_int_result(BinOp::Pow, &any, &Ty::Int), None);
    }

    #[test]
    fn ufunc_loops() {
        let loops = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // np.sqrt: no integer loop, so ints run the float64 one.
        let sqrt = loops(&[
            "e->e", "f->f", "d->d", "g->g", "F->F", "D->D", "G->G", "O->O",
        ]);
        assert_eq!(float64_loop(&sqrt, &[Ty::Float]), Some(2));
        assert_eq!(float64_loop(&sqrt, &[Ty::Int]), Some(2));
        assert_eq!(float64_loop(&sqrt, &[Ty::Bool]), None);
        assert_eq!(float64_loop(&sqrt, &[Ty::NpScalar(Dtype::F32)]), None);
        // np.power: ints run the int64 loop (not float64's).
        let power = loops(&["bb->b", "ii->i", "ll->l", "ee->e", "ff->f", "dd->d"]);
        assert_eq!(float64_loop(&power, &[Ty::Int, Ty::Int]), None);
        assert_eq!(float64_loop(&power, &[Ty::Float, Ty::Int]), Some(5));
        let any64 = Ty::AnyInt(Dtype::I64);
        assert_eq!(float64_loop(&power, &[any64, Ty::Float]), Some(5));
        let any32 = Ty::AnyInt(Dtype::I32);
        assert_eq!(float64_loop(&power, &[any32, Ty::Float]), Some(5));
        // Two outputs (np.modf): no.
        assert_eq!(float64_loop(&loops(&["d->dd"]), &[Ty::Float]), None);
    }
}
