//! Decoding CPython 3.11 bytecode: instructions with `EXTENDED_ARG` folded in and
//! inline `CACHE` entries skipped, jump targets, and the exception table.

use crate::opcode::{self, op};

/// One decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instr {
    /// Byte offset of the first `EXTENDED_ARG` prefix, or of the opcode if none: where
    /// execution of this instruction starts (jump targets and resume points).
    pub start: u32,
    /// Byte offset of the opcode itself (what `dis` shows).
    pub offset: u32,
    pub opcode: u8,
    /// The argument with every `EXTENDED_ARG` prefix applied.
    pub arg: u32,
    /// Byte offset of the next instruction, after this one's inline caches.
    pub next: u32,
}

/// Bytecode the decoder rejects (never produced by CPython's compiler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: u32,
    pub message: String,
}

impl Instr {
    /// Where control goes when this jump is taken, or `None` if it is not a jump.
    pub fn jump_target(&self) -> Option<u32> {
        let distance = self.arg * 2;
        match self.opcode {
            op::JUMP_FORWARD
            | op::POP_JUMP_FORWARD_IF_FALSE
            | op::POP_JUMP_FORWARD_IF_TRUE
            | op::POP_JUMP_FORWARD_IF_NONE
            | op::POP_JUMP_FORWARD_IF_NOT_NONE
            | op::JUMP_IF_FALSE_OR_POP
            | op::JUMP_IF_TRUE_OR_POP
            | op::FOR_ITER
            | op::SEND => Some(self.next + distance),
            op::JUMP_BACKWARD
            | op::JUMP_BACKWARD_NO_INTERRUPT
            | op::POP_JUMP_BACKWARD_IF_FALSE
            | op::POP_JUMP_BACKWARD_IF_TRUE
            | op::POP_JUMP_BACKWARD_IF_NONE
            | op::POP_JUMP_BACKWARD_IF_NOT_NONE => self.next.checked_sub(distance),
            _ => None,
        }
    }

    /// Whether control never falls through to the next instruction.
    pub fn ends_flow(&self) -> bool {
        matches!(
            self.opcode,
            op::JUMP_FORWARD
                | op::JUMP_BACKWARD
                | op::JUMP_BACKWARD_NO_INTERRUPT
                | op::RETURN_VALUE
                | op::RAISE_VARARGS
                | op::RERAISE
        )
    }

    pub fn name(&self) -> String {
        opcode::name(self.opcode)
    }
}

/// Decodes `co_code` into instructions.
pub fn decode(code: &[u8]) -> Result<Vec<Instr>, DecodeError> {
    if !code.len().is_multiple_of(2) {
        return Err(DecodeError {
            offset: 0,
            message: format!("bytecode has an odd length ({} bytes)", code.len()),
        });
    }
    let mut instrs = Vec::new();
    let mut pos = 0usize;
    let mut prefix_start: Option<u32> = None;
    let mut extended: u32 = 0;
    while pos < code.len() {
        let offset = pos as u32;
        let number = code[pos];
        let raw_arg = u32::from(code[pos + 1]);
        let Some((_, caches)) = opcode::info(number) else {
            return Err(DecodeError {
                offset,
                message: format!("unknown opcode {number}"),
            });
        };
        if number == op::CACHE {
            return Err(DecodeError {
                offset,
                message: "CACHE entry where an instruction was expected".to_owned(),
            });
        }
        let arg = (extended << 8) | raw_arg;
        if number == op::EXTENDED_ARG {
            prefix_start.get_or_insert(offset);
            extended = arg;
            pos += 2;
            continue;
        }
        let next = offset + 2 + 2 * u32::from(caches);
        if next as usize > code.len() {
            return Err(DecodeError {
                offset,
                message: format!("{} runs past the end of the code", opcode::name(number)),
            });
        }
        instrs.push(Instr {
            start: prefix_start.take().unwrap_or(offset),
            offset,
            opcode: number,
            arg,
            next,
        });
        extended = 0;
        pos = next as usize;
    }
    if prefix_start.is_some() {
        return Err(DecodeError {
            offset: code.len() as u32,
            message: "EXTENDED_ARG at the end of the code".to_owned(),
        });
    }
    Ok(instrs)
}

/// The end (byte offset after its last backward jump) of the loop whose header starts
/// at `header`: the loop's instructions are those starting in `header..end`.
pub fn loop_end(instrs: &[Instr], header: u32) -> u32 {
    instrs
        .iter()
        .filter(|i| i.start >= header && i.jump_target() == Some(header))
        .map(|i| i.next)
        .max()
        .unwrap_or(header)
}

/// One entry of a 3.11 exception table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceptionEntry {
    pub start: u32,
    pub end: u32,
    pub target: u32,
    pub depth: u32,
    pub lasti: bool,
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut byte = *bytes.get(*pos)?;
    *pos += 1;
    let mut value = u32::from(byte & 63);
    while byte & 64 != 0 {
        byte = *bytes.get(*pos)?;
        *pos += 1;
        value = (value << 6) | u32::from(byte & 63);
    }
    Some(value)
}

/// Parses `co_exceptiontable` (the format `dis` documents for 3.11).
pub fn exception_table(bytes: &[u8]) -> Result<Vec<ExceptionEntry>, DecodeError> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let entry = (|| {
            let start = read_varint(bytes, &mut pos)? * 2;
            let length = read_varint(bytes, &mut pos)? * 2;
            let target = read_varint(bytes, &mut pos)? * 2;
            let depth_lasti = read_varint(bytes, &mut pos)?;
            Some(ExceptionEntry {
                start,
                end: start + length,
                target,
                depth: depth_lasti >> 1,
                lasti: depth_lasti & 1 == 1,
            })
        })();
        entries.push(entry.ok_or(DecodeError {
            offset: pos as u32,
            message: "truncated exception table".to_owned(),
        })?);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(units: &[(u8, u8)]) -> Vec<u8> {
        units.iter().flat_map(|&(o, a)| [o, a]).collect()
    }

    #[test]
    fn caches_are_skipped_and_offsets_kept() {
        // RESUME 0; LOAD_FAST 0; LOAD_CONST 1; COMPARE_OP 0 (+2 caches); RETURN_VALUE
        let bytes = code(&[
            (op::RESUME, 0),
            (op::LOAD_FAST, 0),
            (op::LOAD_CONST, 1),
            (op::COMPARE_OP, 0),
            (op::CACHE, 0),
            (op::CACHE, 0),
            (op::RETURN_VALUE, 0),
        ]);
        let instrs = decode(&bytes).unwrap();
        let offsets: Vec<_> = instrs.iter().map(|i| (i.offset, i.opcode)).collect();
        assert_eq!(
            offsets,
            vec![
                (0, op::RESUME),
                (2, op::LOAD_FAST),
                (4, op::LOAD_CONST),
                (6, op::COMPARE_OP),
                (12, op::RETURN_VALUE)
            ]
        );
        assert_eq!(instrs[3].next, 12);
    }

    #[test]
    fn extended_arg_folds_and_keeps_its_start() {
        let bytes = code(&[
            (op::EXTENDED_ARG, 1),
            (op::EXTENDED_ARG, 2),
            (op::LOAD_CONST, 3),
            (op::RETURN_VALUE, 0),
        ]);
        let instrs = decode(&bytes).unwrap();
        assert_eq!(instrs[0].arg, (1 << 16) | (2 << 8) | 3);
        assert_eq!(instrs[0].start, 0);
        assert_eq!(instrs[0].offset, 4);
        assert_eq!(instrs[1].start, 6);
    }

    #[test]
    fn jump_targets_are_relative_to_the_next_instruction() {
        let bytes = code(&[
            (op::NOP, 0),
            (op::POP_JUMP_FORWARD_IF_FALSE, 2),
            (op::NOP, 0),
            (op::NOP, 0),
            (op::JUMP_BACKWARD, 4),
        ]);
        let instrs = decode(&bytes).unwrap();
        assert_eq!(instrs[1].jump_target(), Some(8));
        assert_eq!(instrs[4].jump_target(), Some(2));
        assert_eq!(instrs[0].jump_target(), None);
    }

    #[test]
    fn malformed_code_is_rejected() {
        assert!(decode(&[1]).is_err());
        assert!(decode(&code(&[(op::EXTENDED_ARG, 1)])).is_err());
        assert!(decode(&code(&[(op::COMPARE_OP, 0)])).is_err());
        assert!(decode(&code(&[(200, 0)])).is_err());
    }

    #[test]
    fn exception_table_varints() {
        // start 2 (unit 1), length 4 (2 units), target 20 (10 units), depth 1 + lasti
        let entries = exception_table(&[0x80 | 1, 2, 10, 3]).unwrap();
        assert_eq!(
            entries,
            vec![ExceptionEntry {
                start: 2,
                end: 6,
                target: 20,
                depth: 1,
                lasti: true
            }]
        );
        // a multi-byte varint: (1 << 6) | 5 = 69 units
        let entries = exception_table(&[64 | 1, 5, 0, 0, 0]).unwrap();
        assert_eq!(entries[0].start, 138);
        assert_eq!(entries[0].end, 138);
        assert!(exception_table(&[64 | 1]).is_err());
    }
}
