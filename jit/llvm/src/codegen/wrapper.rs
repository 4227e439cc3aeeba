//! Entry wrappers: what `hooks` calls for a specialization.

use super::*;

impl<'c> Gen<'c> {
    /// `<prefix>_entry_<i>(ctx, env, frame, *const u64 args) -> Ret`: what `hooks`
    /// calls. Checks the unit's guards (returns `GUARD_FAILED` if a name it depends
    /// on changed), reads the arguments from slots, and boxes a tuple result.
    pub(super) fn emit_wrapper(&mut self, index: usize) -> Res<()> {
        let plan = &self.unit.plans[index];
        let p = self.ptrt;
        let (i64t, i32t) = (self.i64t, self.i32t);
        let f = self.module.add_function(
            &symbol(&self.prefix, "entry", index),
            self.ret_t
                .fn_type(&[p.into(), p.into(), p.into(), p.into()], false),
            Some(Linkage::External),
        );
        let b = &self.builder;
        let entry = self.ctx.append_basic_block(f, "entry");
        let header = self.ctx.append_basic_block(f, "guard_loop");
        let body = self.ctx.append_basic_block(f, "guard_body");
        let changed = self.ctx.append_basic_block(f, "guard_changed");
        let failed = self.ctx.append_basic_block(f, "guard_failed");
        let run = self.ctx.append_basic_block(f, "run");
        let env = f.get_nth_param(1).unwrap().into_pointer_value();
        b.position_at_end(entry);
        let result_slots = i64t.array_type(plan.result.slots().max(1) as u32);
        let out = b.build_alloca(result_slots, "result").map_err(err)?;
        let counter = b.build_alloca(i64t, "i").map_err(err)?;
        b.build_store(counter, i64t.const_zero()).map_err(err)?;
        let watches_field = b.build_struct_gep(self.env_t, env, 1, "").map_err(err)?;
        let watches = b
            .build_load(p, watches_field, "")
            .map_err(err)?
            .into_pointer_value();
        let count_field = b.build_struct_gep(self.env_t, env, 2, "").map_err(err)?;
        let count = b
            .build_load(i64t, count_field, "")
            .map_err(err)?
            .into_int_value();
        b.build_unconditional_branch(header).map_err(err)?;
        // for each watched dict: version == expected?
        b.position_at_end(header);
        let i = b
            .build_load(i64t, counter, "")
            .map_err(err)?
            .into_int_value();
        let more = b
            .build_int_compare(IntPredicate::ULT, i, count, "")
            .map_err(err)?;
        b.build_conditional_branch(more, body, run).map_err(err)?;
        b.position_at_end(body);
        // SAFETY: `i < nwatches`, the length of the array hooks allocated.
        let watch = unsafe {
            b.build_in_bounds_gep(self.watch_t, watches, &[i], "")
                .map_err(err)?
        };
        let version_field = b
            .build_struct_gep(self.watch_t, watch, 0, "")
            .map_err(err)?;
        let version_ptr = b
            .build_load(p, version_field, "")
            .map_err(err)?
            .into_pointer_value();
        let version = b
            .build_load(i64t, version_ptr, "")
            .map_err(err)?
            .into_int_value();
        let expected_field = b
            .build_struct_gep(self.watch_t, watch, 1, "")
            .map_err(err)?;
        let expected = b
            .build_load(i64t, expected_field, "")
            .map_err(err)?
            .into_int_value();
        let next = b
            .build_int_add(i, i64t.const_int(1, false), "")
            .map_err(err)?;
        b.build_store(counter, next).map_err(err)?;
        let same = b
            .build_int_compare(IntPredicate::EQ, version, expected, "")
            .map_err(err)?;
        b.build_conditional_branch(same, header, changed)
            .map_err(err)?;
        b.position_at_end(changed);
        let guards = *self
            .helpers
            .get(helper::GUARDS)
            .ok_or("internal: guards helper")?;
        let verdict = b
            .build_call(guards, &[env.into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_int_value();
        let invalid = b
            .build_int_compare(IntPredicate::NE, verdict, i32t.const_zero(), "")
            .map_err(err)?;
        b.build_conditional_branch(invalid, failed, run)
            .map_err(err)?;
        b.position_at_end(failed);
        let ret = self.ret_t.const_named_struct(&[
            i64t.const_zero().into(),
            i64t.const_int(pyopt_jit::abi::GUARD_FAILED, false).into(),
        ]);
        b.build_return(Some(&ret)).map_err(err)?;

        b.position_at_end(run);
        let ctx = f.get_nth_param(0).unwrap().into_pointer_value();
        let budget_field = b.build_struct_gep(self.ctx_t, ctx, 0, "").map_err(err)?;
        let budget_ptr = b
            .build_load(p, budget_field, "")
            .map_err(err)?
            .into_pointer_value();
        let budget = b
            .build_load(i32t, budget_ptr, "")
            .map_err(err)?
            .into_int_value();
        let args_ptr = f.get_nth_param(3).unwrap().into_pointer_value();
        // This call's interpreter frame, for a deoptimization of the plan it enters
        // (nested compiled calls have none); the previous pair is put back after, for
        // compiled code further up this thread's stack.
        let frame = f.get_nth_param(2).unwrap().into_pointer_value();
        let frame_field = b.build_struct_gep(self.ctx_t, ctx, 4, "").map_err(err)?;
        let out_field = b.build_struct_gep(self.ctx_t, ctx, 5, "").map_err(err)?;
        let env_field = b.build_struct_gep(self.ctx_t, ctx, 6, "").map_err(err)?;
        let saved_frame = b.build_load(p, frame_field, "").map_err(err)?;
        let saved_out = b.build_load(p, out_field, "").map_err(err)?;
        let saved_env = b.build_load(p, env_field, "").map_err(err)?;
        b.build_store(frame_field, frame).map_err(err)?;
        b.build_store(out_field, out).map_err(err)?;
        b.build_store(env_field, env).map_err(err)?;
        let mut call_args: Vec<BasicMetadataValueEnum<'c>> = vec![ctx.into()];
        call_args.push(out.into());
        call_args.push(budget.into());
        let mut flat = Vec::new();
        for ty in &plan.params {
            self.flat_types(ty, &mut flat);
        }
        for (slot, ty) in flat.iter().enumerate() {
            // SAFETY: the caller passes one slot per flattened parameter.
            let address = unsafe {
                b.build_in_bounds_gep(i64t, args_ptr, &[i64t.const_int(slot as u64, false)], "")
                    .map_err(err)?
            };
            let value: BasicValueEnum<'c> = match ty {
                BasicMetadataTypeEnum::FloatType(t) => {
                    b.build_load(*t, address, "").map_err(err)?
                }
                BasicMetadataTypeEnum::PointerType(t) => {
                    let object = b.build_load(*t, address, "").map_err(err)?;
                    self.carry_dereferenceable(index, slot as u32 + 3, object)?;
                    object
                }
                _ => b.build_load(i64t, address, "").map_err(err)?,
            };
            call_args.push(value.into());
        }
        let status = b
            .build_call(self.plans[index], &call_args, "")
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_int_value();
        // Frames below may have written their budgets; the caller's is this one.
        b.build_store(budget_ptr, budget).map_err(err)?;
        b.build_store(frame_field, saved_frame).map_err(err)?;
        b.build_store(out_field, saved_out).map_err(err)?;
        b.build_store(env_field, saved_env).map_err(err)?;
        // The value (a number's bits, or the object a deoptimization produced) is in
        // the first slot.
        let first = b.build_load(i64t, out, "").map_err(err)?.into_int_value();
        let passed_on = b
            .build_insert_value(self.ret_t.get_undef(), first, 0, "")
            .map_err(err)?;
        let passed_on = b
            .build_insert_value(passed_on, status, 1, "")
            .map_err(err)?
            .into_struct_value();
        if !matches!(plan.result, Ty::Tuple(_)) && plan.result.flagged_parts().is_none() {
            b.build_return(Some(&passed_on)).map_err(err)?;
            return Ok(());
        }
        // A tuple result arrives in slots: box it.
        let ok = b
            .build_int_compare(IntPredicate::EQ, status, i64t.const_zero(), "")
            .map_err(err)?;
        let boxing = self.ctx.append_basic_block(f, "box");
        let passthrough = self.ctx.append_basic_block(f, "passthrough");
        b.build_conditional_branch(ok, boxing, passthrough)
            .map_err(err)?;
        b.position_at_end(passthrough);
        b.build_return(Some(&passed_on)).map_err(err)?;
        b.position_at_end(boxing);
        let box_result = *self
            .helpers
            .get(helper::BOX_RESULT)
            .ok_or("internal: box helper")?;
        let object = b
            .build_call(
                box_result,
                &[
                    env.into(),
                    i32t.const_int(index as u64, false).into(),
                    out.into(),
                ],
                "",
            )
            .map_err(err)?
            .try_as_basic_value()
            .unwrap_basic()
            .into_pointer_value();
        let null = b.build_is_null(object, "").map_err(err)?;
        let status = b
            .build_select(
                null,
                i64t.const_int(pyopt_jit::abi::ERROR, false),
                i64t.const_zero(),
                "",
            )
            .map_err(err)?;
        let value = b.build_ptr_to_int(object, i64t, "").map_err(err)?;
        let ret = b
            .build_insert_value(self.ret_t.get_undef(), value, 0, "")
            .map_err(err)?;
        let ret = b.build_insert_value(ret, status, 1, "").map_err(err)?;
        b.build_return(Some(&ret.into_struct_value()))
            .map_err(err)?;
        Ok(())
    }
}
