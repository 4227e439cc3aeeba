//! Loads and stores of Python objects' memory, tagged for LLVM's type-based alias
//! analysis: the fields of objects (headers, a list's item table, an array's data
//! pointer, dimensions and strides) are one kind of memory, the items of an array's
//! buffer another. A store into a buffer then leaves every field load of the loop free
//! to be hoisted out of it. Untagged accesses (stack slots, the frame) may alias both.
//!
//! Invariant: an array's buffer never overlaps an object's fields (a buffer is memory
//! numpy or `array` allocated for items, or memory some exporter handed out for items).

use inkwell::types::BasicType;
use inkwell::values::MetadataValue;

use super::*;

/// The size of the object behind a value of type `ty` that is passed as one pointer
/// (the fixed part of its C struct, which a live object always has).
pub(super) fn object_bytes(ty: &Ty) -> Option<u64> {
    match ty {
        // PyListObject: header, ob_size, ob_item, allocated.
        Ty::List(_) => Some(40),
        // arrayobject: header, ob_size, ob_item, allocated, ob_descr, weakreflist,
        // ob_exports.
        Ty::Array(_) => Some(64),
        // PyArrayObject_fields up to weakreflist (numpy 1.x; 2.x adds more).
        Ty::NdArray(..) => Some(80),
        _ => None,
    }
}

impl<'c> Gen<'c> {
    /// Puts the `dereferenceable` attribute of parameter `param` of plan `plan` on
    /// `object`, the load that passes it: the attribute goes when the plan is inlined
    /// into its wrapper, the load's metadata stays.
    pub(super) fn carry_dereferenceable(
        &self,
        plan: usize,
        param: u32,
        object: BasicValueEnum<'c>,
    ) -> Res<()> {
        let kind = Attribute::get_named_enum_kind_id("dereferenceable");
        let Some(attribute) = self.plans[plan].get_enum_attribute(AttributeLoc::Param(param), kind)
        else {
            return Ok(());
        };
        let load = object
            .as_instruction_value()
            .ok_or("internal: load is an instruction")?;
        self.mark_readable(load, attribute.get_enum_value())
    }

    /// Weights the conditional `branch` as almost always taking its first (true)
    /// successor: LLVM lays the other out of line and does not compute it
    /// speculatively, and `late::hoist_guards` leaves it alone.
    pub(super) fn mark_unlikely_false(&self, branch: InstructionValue<'c>) -> Res<()> {
        let i32t = self.ctx.i32_type();
        let weights = self.ctx.metadata_node(&[
            self.ctx.metadata_string("branch_weights").into(),
            i32t.const_int(1 << 20, false).into(),
            i32t.const_int(1, false).into(),
        ]);
        branch
            .set_metadata(weights, self.ctx.get_kind_id("prof"))
            .map_err(err)
    }

    /// Says that the pointer `load` reads points to `bytes` readable bytes, aligned
    /// like a pointer (objects and tables of `Py_ssize_t` are): LLVM may then load
    /// from it speculatively, out of a loop, even from under a branch.
    fn mark_readable(&self, load: InstructionValue<'c>, bytes: u64) -> Res<()> {
        let size = self
            .ctx
            .metadata_node(&[self.i64t.const_int(bytes, false).into()]);
        load.set_metadata(size, self.ctx.get_kind_id("dereferenceable"))
            .map_err(err)?;
        let align = self
            .ctx
            .metadata_node(&[self.i64t.const_int(8, false).into()]);
        load.set_metadata(align, self.ctx.get_kind_id("align"))
            .map_err(err)
    }
}

/// The alias tags of one module.
pub(super) struct AliasTags<'c> {
    kind: u32,
    field: MetadataValue<'c>,
    element: MetadataValue<'c>,
}

impl<'c> AliasTags<'c> {
    pub(super) fn new(ctx: &'c Context) -> Self {
        let root = ctx.metadata_node(&[ctx.metadata_string("pyopt alias tags").into()]);
        // A scalar type node and its access tag (struct-path TBAA: base, access, offset).
        let tag = |name: &str| {
            let scalar = ctx.metadata_node(&[
                ctx.metadata_string(name).into(),
                root.into(),
                ctx.i64_type().const_zero().into(),
            ]);
            ctx.metadata_node(&[
                scalar.into(),
                scalar.into(),
                ctx.i64_type().const_zero().into(),
            ])
        };
        AliasTags {
            kind: ctx.get_kind_id("tbaa"),
            field: tag("object field"),
            element: tag("buffer item"),
        }
    }
}

impl<'g, 'c> FnGen<'g, 'c> {
    fn tag(&self, instruction: InstructionValue<'c>, tag: MetadataValue<'c>) -> Res<()> {
        instruction.set_metadata(tag, self.g.tags.kind).map_err(err)
    }

    fn tagged_load(
        &self,
        ty: impl BasicType<'c>,
        ptr: PointerValue<'c>,
        tag: MetadataValue<'c>,
    ) -> Res<BasicValueEnum<'c>> {
        let value = self.b().build_load(ty, ptr, "").map_err(err)?;
        let instruction = value
            .as_instruction_value()
            .ok_or("internal: load is an instruction")?;
        self.tag(instruction, tag)?;
        Ok(value)
    }

    /// A field of an object, or an entry of a table an object's field points to.
    pub(super) fn load_field(
        &self,
        ty: impl BasicType<'c>,
        ptr: PointerValue<'c>,
    ) -> Res<BasicValueEnum<'c>> {
        self.tagged_load(ty, ptr, self.g.tags.field)
    }

    pub(super) fn load_field_ptr(&self, ptr: PointerValue<'c>) -> Res<PointerValue<'c>> {
        Ok(self.load_field(self.g.ptrt, ptr)?.into_pointer_value())
    }

    /// A field holding a pointer to at least `bytes` readable bytes (an array's
    /// dimensions or strides): loads through it may then be moved out of loops.
    pub(super) fn load_table_ptr(
        &self,
        ptr: PointerValue<'c>,
        bytes: u64,
    ) -> Res<PointerValue<'c>> {
        let value = self.load_field(self.g.ptrt, ptr)?;
        let instruction = value
            .as_instruction_value()
            .ok_or("internal: load is an instruction")?;
        self.g.mark_readable(instruction, bytes)?;
        Ok(value.into_pointer_value())
    }

    /// An item of an array's buffer.
    pub(super) fn load_item(
        &self,
        ty: impl BasicType<'c>,
        ptr: PointerValue<'c>,
    ) -> Res<BasicValueEnum<'c>> {
        self.tagged_load(ty, ptr, self.g.tags.element)
    }

    /// A store into an object's field (a float's value overwritten in place).
    pub(super) fn store_field(&self, ptr: PointerValue<'c>, value: BasicValueEnum<'c>) -> Res<()> {
        let store = self.b().build_store(ptr, value).map_err(err)?;
        self.tag(store, self.g.tags.field)
    }

    pub(super) fn store_item(&self, ptr: PointerValue<'c>, value: BasicValueEnum<'c>) -> Res<()> {
        let store = self.b().build_store(ptr, value).map_err(err)?;
        self.tag(store, self.g.tags.element)
    }
}
