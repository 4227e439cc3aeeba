//! Rewrites after LLVM's O3 pipeline that it does not do itself.
//!
//! Guard hoisting lets LLVM turn a branchy arm (`if m % 2 == 0: m //= 2 else: m = 3 * m
//! + 1`) into selects.
//!
//! An arm that checks something before going on (`3 * m` must fit in 64 bits) ends in a
//! branch to a deoptimization block, and LLVM never if-converts a block with a branch
//! in it: the loop keeps an unpredictable branch where Numba, which checks nothing, has
//! a `cmov`. When the arm up to its check only computes (no memory, no calls but
//! arithmetic intrinsics), the check can be made before the branch that enters the arm
//! instead: `if entering && check fails: deoptimize`, the same record (it only refers
//! to values computed before the check), the same instruction to resume at. The arm is
//! then straight-line code, and the usual passes fold it into selects.

use std::collections::HashMap;

use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::values::{
    AsValueRef, CallSiteValue, FunctionValue, InstructionOpcode, InstructionValue, IntValue,
    Operand,
};
use llvm_sys::core::{LLVMBasicBlockAsValue, LLVMReplaceAllUsesWith, LLVMSetOperand};

/// Most instructions an arm may compute before its check for the check to move (they
/// run on the other path too).
const MAX_PREFIX: usize = 8;

/// Intrinsics that only compute and may run where they were not meant to.
const SPECULATABLE_INTRINSICS: &[&str] = &[
    "llvm.smul.with.overflow.",
    "llvm.sadd.with.overflow.",
    "llvm.ssub.with.overflow.",
    "llvm.fabs.",
    "llvm.smax.",
    "llvm.smin.",
    "llvm.abs.",
    "llvm.sqrt.",
    "llvm.copysign.",
];

/// Rewrites `llvm.smul.with.overflow(x, c)` for a constant `c >= 2` as a plain
/// multiplication and a range check on `x` (`x * c` overflows exactly when `x` is
/// outside `[i64::MIN / c, i64::MAX / c]`): the product no longer waits for the
/// overflow flag, and `3 * x + 1` becomes one `lea`. Returns whether anything changed.
pub fn split_constant_multiplications(context: &Context, module: &Module<'_>) -> bool {
    let builder = context.create_builder();
    let i64t = context.i64_type();
    let mut calls = Vec::new();
    let mut function = module.get_first_function();
    while let Some(f) = function {
        for block in f.get_basic_blocks() {
            let mut instruction = block.get_first_instruction();
            while let Some(i) = instruction {
                if i.get_opcode() == InstructionOpcode::Call
                    && called_name(i).is_some_and(|n| n == "llvm.smul.with.overflow.i64")
                {
                    calls.push(i);
                }
                instruction = i.get_next_instruction();
            }
        }
        function = f.get_next_function();
    }
    let mut changed = false;
    for call in calls {
        let operand = |index| match call.get_operand(index) {
            Some(Operand::Value(v)) if v.is_int_value() => Some(v.into_int_value()),
            _ => None,
        };
        let (Some(a), Some(b)) = (operand(0), operand(1)) else {
            continue;
        };
        let as_factor = |v: IntValue<'_>| v.get_sign_extended_constant().filter(|c| *c >= 2);
        let (x, c) = match (as_factor(a), as_factor(b)) {
            (_, Some(c)) => (a, c),
            (Some(c), _) => (b, c),
            _ => continue,
        };
        builder.position_before(&call);
        let rewritten = (|| {
            let (low, high) = (i64::MIN / c, i64::MAX / c);
            let shifted = builder.build_int_sub(x, i64t.const_int(low as u64, true), "")?;
            let overflow = builder.build_int_compare(
                inkwell::IntPredicate::UGT,
                shifted,
                i64t.const_int(high.wrapping_sub(low) as u64, false),
                "",
            )?;
            // Wrapping, like the intrinsic's value: code LLVM already moved above the
            // overflow check sees the same value as before.
            let product = builder.build_int_mul(x, i64t.const_int(c as u64, true), "")?;
            let pair = call.get_type().into_struct_type().get_undef();
            let pair = builder.build_insert_value(pair, product, 0, "")?;
            let pair = builder.build_insert_value(pair, overflow, 1, "")?;
            Ok::<_, inkwell::builder::BuilderError>(pair.into_struct_value())
        })();
        let Ok(pair) = rewritten else { continue };
        let Some(replacement) = pair.as_instruction() else {
            continue;
        };
        call.replace_all_uses_with(&replacement);
        call.erase_from_basic_block();
        changed = true;
    }
    changed
}

/// Hoists one guard per conditional branch in every function of `module`; returns
/// whether anything changed. `deopt` is the deoptimization helper's name.
pub fn hoist_guards(context: &Context, module: &Module<'_>, deopt: &str) -> bool {
    let builder = context.create_builder();
    let mut changed = false;
    let mut function = module.get_first_function();
    while let Some(f) = function {
        changed |= hoist_in(&builder, f, deopt);
        function = f.get_next_function();
    }
    changed
}

fn hoist_in<'c>(builder: &Builder<'c>, f: FunctionValue<'c>, deopt: &str) -> bool {
    let blocks = f.get_basic_blocks();
    let mut predecessors: HashMap<BasicBlock<'c>, usize> = HashMap::new();
    for block in &blocks {
        if let Some(terminator) = block.get_terminator() {
            for operand in terminator.get_operands().flatten() {
                if let Operand::Block(target) = operand {
                    *predecessors.entry(target).or_default() += 1;
                }
            }
        }
    }
    let mut changed = false;
    let weights = f.get_type().get_context().get_kind_id("prof");
    for block in blocks {
        let Some((cond, if_false, if_true)) = conditional_branch(block) else {
            continue;
        };
        // A weighted branch leads to a cold arm (codegen's `mark_unlikely_false`):
        // computing its check on the hot path would only slow that path down.
        if block
            .get_terminator()
            .is_some_and(|t| t.get_metadata(weights).is_some())
        {
            continue;
        }
        // A block that branches to itself (a loop of one block, as LLVM's vectorizer
        // makes) is left alone: replacing its uses would not rename the incoming block
        // of its own phis (LLVM renames the phis of the successors it finds through the
        // already-replaced branch).
        if if_false == if_true || if_false == block || if_true == block {
            continue;
        }
        for (arm, entered_when) in [(if_true, true), (if_false, false)] {
            if predecessors.get(&arm) != Some(&1) {
                continue;
            }
            if hoist_one(builder, block, cond, arm, entered_when, deopt) {
                changed = true;
                break;
            }
        }
    }
    changed
}

/// `br i1 cond, if_true, if_false` ending `block`, as (cond, if_false, if_true).
fn conditional_branch<'c>(
    block: BasicBlock<'c>,
) -> Option<(IntValue<'c>, BasicBlock<'c>, BasicBlock<'c>)> {
    let terminator = block.get_terminator()?;
    if terminator.get_opcode() != InstructionOpcode::Br || terminator.get_num_operands() != 3 {
        return None;
    }
    // LLVM keeps a conditional branch's operands as (condition, false, true).
    let cond = match terminator.get_operand(0)? {
        Operand::Value(v) if v.is_int_value() => v.into_int_value(),
        _ => return None,
    };
    let (Operand::Block(if_false), Operand::Block(if_true)) =
        (terminator.get_operand(1)?, terminator.get_operand(2)?)
    else {
        return None;
    };
    Some((cond, if_false, if_true))
}

fn hoist_one<'c>(
    builder: &Builder<'c>,
    block: BasicBlock<'c>,
    cond: IntValue<'c>,
    arm: BasicBlock<'c>,
    entered_when: bool,
    deopt: &str,
) -> bool {
    let Some((check, check_false, check_true)) = conditional_branch(arm) else {
        return false;
    };
    let (deopt_block, go_on, fails_when) =
        match (is_deopt(check_true, deopt), is_deopt(check_false, deopt)) {
            (true, false) => (check_true, check_false, true),
            (false, true) => (check_false, check_true, false),
            _ => return false,
        };
    let mut prefix = Vec::new();
    let mut instruction = arm.get_first_instruction();
    let arm_terminator = arm.get_terminator();
    while let Some(i) = instruction {
        if Some(i) == arm_terminator {
            break;
        }
        if prefix.len() == MAX_PREFIX || !speculatable(i) {
            return false;
        }
        prefix.push(i);
        instruction = i.get_next_instruction();
    }
    let (Some(terminator), Some(arm_terminator)) = (block.get_terminator(), arm_terminator) else {
        return false;
    };
    // The arm's computations move up, then the combined check branches to the
    // deoptimization block or on to a new block holding the original branch.
    builder.position_before(&terminator);
    for i in &prefix {
        i.remove_from_basic_block();
        builder.insert_instruction(i, None);
    }
    let context = cond.get_type().get_context();
    let bad = (|| {
        let entering = if entered_when {
            cond
        } else {
            builder.build_not(cond, "")?
        };
        let fails = if fails_when {
            check
        } else {
            builder.build_not(check, "")?
        };
        // A select, not an `and`: on the other path `fails` may be poison.
        Ok::<_, inkwell::builder::BuilderError>(
            builder
                .build_select(entering, fails, context.bool_type().const_zero(), "")?
                .into_int_value(),
        )
    })();
    let Ok(bad) = bad else {
        // Nothing was replaced: the moved computations are merely early.
        return false;
    };
    let guarded = context.insert_basic_block_after(block, "guarded");
    move_out_edges(block, guarded);
    terminator.remove_from_basic_block();
    builder.position_at_end(guarded);
    builder.insert_instruction(&terminator, None);
    builder.position_at_end(block);
    let _ = builder.build_conditional_branch(bad, deopt_block, guarded);
    builder.position_before(&arm_terminator);
    let _ = builder.build_unconditional_branch(go_on);
    arm_terminator.erase_from_basic_block();
    true
}

/// Makes `to` the block the successors of `from` see as their predecessor (their phis
/// name it); `from`'s own predecessors still branch to `from`.
fn move_out_edges<'c>(from: BasicBlock<'c>, to: BasicBlock<'c>) {
    let Some(function) = from.get_parent() else {
        return;
    };
    // Every branch to `from`, to restore after replacing all uses.
    let mut branches = Vec::new();
    for block in function.get_basic_blocks() {
        if let Some(terminator) = block.get_terminator() {
            for (index, operand) in terminator.get_operands().enumerate() {
                if operand == Some(Operand::Block(from)) {
                    branches.push((terminator, index as u32));
                }
            }
        }
    }
    // SAFETY: both blocks belong to `function`; the uses of `from` are the branches
    // collected above (restored below) and the phis of its successors (meant to change).
    unsafe {
        let from_value = LLVMBasicBlockAsValue(from.as_mut_ptr());
        LLVMReplaceAllUsesWith(from_value, LLVMBasicBlockAsValue(to.as_mut_ptr()));
        for (terminator, index) in branches {
            LLVMSetOperand(terminator.as_value_ref(), index, from_value);
        }
    }
}

/// A block that hands over to the interpreter: calls the deoptimization helper and has
/// no phis (so it may gain a predecessor).
fn is_deopt(block: BasicBlock<'_>, deopt: &str) -> bool {
    let mut instruction = block.get_first_instruction();
    if instruction.is_some_and(|i| i.get_opcode() == InstructionOpcode::Phi) {
        return false;
    }
    while let Some(i) = instruction {
        if i.get_opcode() == InstructionOpcode::Call
            && called_name(i).is_some_and(|name| name == deopt)
        {
            return true;
        }
        instruction = i.get_next_instruction();
    }
    false
}

fn called_name(call: InstructionValue<'_>) -> Option<String> {
    let site = CallSiteValue::try_from(call).ok()?;
    let callee = site.get_called_fn_value()?;
    Some(callee.get_name().to_string_lossy().into_owned())
}

fn speculatable(i: InstructionValue<'_>) -> bool {
    use InstructionOpcode::*;
    match i.get_opcode() {
        Add | Sub | Mul | Shl | LShr | AShr | And | Or | Xor | ICmp | FCmp | Select
        | ExtractValue | ZExt | SExt | Trunc | BitCast | FAdd | FSub | FMul | FNeg | SIToFP
        | UIToFP | Freeze => true,
        Call => called_name(i).is_some_and(|name| {
            SPECULATABLE_INTRINSICS
                .iter()
                .any(|prefix| name.starts_with(prefix))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkwell::memory_buffer::MemoryBuffer;

    /// A loop body like Collatz's: the odd arm checks `3 * m` before going on.
    const ARM: &str = r#"
declare i64 @deopt(i64)
declare { i64, i1 } @llvm.smul.with.overflow.i64(i64, i64)

define i64 @step(i64 %m) {
entry:
  %odd = trunc i64 %m to i1
  br i1 %odd, label %arm, label %even
arm:
  %pair = call { i64, i1 } @llvm.smul.with.overflow.i64(i64 %m, i64 3)
  %over = extractvalue { i64, i1 } %pair, 1
  br i1 %over, label %bail, label %odd_ok
bail:
  %r = call i64 @deopt(i64 %m)
  ret i64 %r
odd_ok:
  %p = extractvalue { i64, i1 } %pair, 0
  %q = add i64 %p, 1
  br label %join
even:
  %h = ashr i64 %m, 1
  br label %join
join:
  %next = phi i64 [ %q, %odd_ok ], [ %h, %even ]
  ret i64 %next
}
"#;

    /// A loop of one block whose exit arm checks before going on (the shape of a
    /// vectorized loop's body and its middle block).
    const SELF_LOOP: &str = r#"
declare i64 @deopt(i64)

define i64 @step(i64 %n) {
entry:
  br label %body
body:
  %i = phi i64 [ 0, %entry ], [ %next, %body ]
  %next = add i64 %i, 1
  %more = icmp ult i64 %next, %n
  br i1 %more, label %body, label %middle
middle:
  %big = icmp ugt i64 %next, 1000
  br i1 %big, label %bail, label %done
bail:
  %r = call i64 @deopt(i64 %next)
  ret i64 %r
done:
  ret i64 %next
}
"#;

    #[test]
    fn a_block_that_loops_to_itself_is_left_valid() {
        let context = Context::create();
        let module = parse(&context, SELF_LOOP);
        assert!(!hoist_guards(&context, &module, "deopt"));
        assert!(module.verify().is_ok(), "{:?}", module.verify());
        assert_eq!(successors(&module, "body"), vec!["middle", "body"]);
    }

    fn parse<'c>(context: &'c Context, text: &str) -> Module<'c> {
        let buffer = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), "test");
        context.create_module_from_ir(buffer).expect("valid IR")
    }

    /// The names of the blocks `block` of `step` branches to.
    fn successors(module: &Module<'_>, block: &str) -> Vec<String> {
        let f = module.get_function("step").unwrap();
        let block = f
            .get_basic_blocks()
            .into_iter()
            .find(|b| b.get_name().to_str() == Ok(block))
            .unwrap();
        block
            .get_terminator()
            .unwrap()
            .get_operands()
            .flatten()
            .filter_map(|o| match o {
                Operand::Block(b) => Some(b.get_name().to_str().unwrap().to_owned()),
                Operand::Value(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_arm_check_moves_before_the_branch() {
        let context = Context::create();
        let module = parse(&context, ARM);
        assert!(hoist_guards(&context, &module, "deopt"));
        module.verify().expect("still valid IR");
        // The arm only computes now; the entry block decides about deoptimizing, and
        // the original branch moved to a block of its own.
        assert_eq!(successors(&module, "arm"), ["odd_ok"]);
        let entry = successors(&module, "entry");
        assert!(entry.contains(&"bail".to_owned()), "{entry:?}");
        assert!(
            !hoist_guards(&context, &module, "deopt"),
            "nothing left to move"
        );
    }

    #[test]
    fn arms_that_touch_memory_keep_their_check() {
        let text = ARM.replace(
            "  %over = extractvalue { i64, i1 } %pair, 1\n",
            "  %over = extractvalue { i64, i1 } %pair, 1\n  %v = load volatile i64, ptr null\n",
        );
        let context = Context::create();
        let module = parse(&context, &text);
        assert!(!hoist_guards(&context, &module, "deopt"));
        module.verify().expect("valid IR");
    }

    #[test]
    fn multiplication_by_a_constant_becomes_a_range_check() {
        let context = Context::create();
        let module = parse(&context, ARM);
        assert!(split_constant_multiplications(&context, &module));
        module.verify().expect("still valid IR");
        let text = module.print_to_string().to_string();
        assert!(!text.contains("call { i64, i1 } @llvm.smul"), "{text}");
        // 3 * x fits exactly for x in [i64::MIN / 3, i64::MAX / 3].
        let (low, high) = (i64::MIN / 3, i64::MAX / 3);
        assert!(text.contains(&format!("sub i64 %m, {low}")), "{text}");
        assert!(
            text.contains(&format!("icmp ugt i64 %1, {}", high - low))
                || text.contains(&format!(", {}", high - low)),
            "{text}"
        );
        assert!(text.contains("mul i64 %m, 3"), "{text}");
    }
}
