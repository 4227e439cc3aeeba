//! CPython 3.11 opcodes: numbers, names and inline-cache sizes, as in 3.11's `opcode.py`
//! (a test in `hooks` checks this table against the running interpreter's `opcode` module).

/// Opcodes below this take no argument.
pub const HAVE_ARGUMENT: u8 = 90;

/// (number, name, inline cache entries) for every opcode 3.11 defines.
pub static OPCODES: &[(u8, &str, u8)] = &[
    (0, "CACHE", 0),
    (1, "POP_TOP", 0),
    (2, "PUSH_NULL", 0),
    (9, "NOP", 0),
    (10, "UNARY_POSITIVE", 0),
    (11, "UNARY_NEGATIVE", 0),
    (12, "UNARY_NOT", 0),
    (15, "UNARY_INVERT", 0),
    (25, "BINARY_SUBSCR", 4),
    (30, "GET_LEN", 0),
    (31, "MATCH_MAPPING", 0),
    (32, "MATCH_SEQUENCE", 0),
    (33, "MATCH_KEYS", 0),
    (35, "PUSH_EXC_INFO", 0),
    (36, "CHECK_EXC_MATCH", 0),
    (37, "CHECK_EG_MATCH", 0),
    (49, "WITH_EXCEPT_START", 0),
    (50, "GET_AITER", 0),
    (51, "GET_ANEXT", 0),
    (52, "BEFORE_ASYNC_WITH", 0),
    (53, "BEFORE_WITH", 0),
    (54, "END_ASYNC_FOR", 0),
    (60, "STORE_SUBSCR", 1),
    (61, "DELETE_SUBSCR", 0),
    (68, "GET_ITER", 0),
    (69, "GET_YIELD_FROM_ITER", 0),
    (70, "PRINT_EXPR", 0),
    (71, "LOAD_BUILD_CLASS", 0),
    (74, "LOAD_ASSERTION_ERROR", 0),
    (75, "RETURN_GENERATOR", 0),
    (82, "LIST_TO_TUPLE", 0),
    (83, "RETURN_VALUE", 0),
    (84, "IMPORT_STAR", 0),
    (85, "SETUP_ANNOTATIONS", 0),
    (86, "YIELD_VALUE", 0),
    (87, "ASYNC_GEN_WRAP", 0),
    (88, "PREP_RERAISE_STAR", 0),
    (89, "POP_EXCEPT", 0),
    (90, "STORE_NAME", 0),
    (91, "DELETE_NAME", 0),
    (92, "UNPACK_SEQUENCE", 1),
    (93, "FOR_ITER", 0),
    (94, "UNPACK_EX", 0),
    (95, "STORE_ATTR", 4),
    (96, "DELETE_ATTR", 0),
    (97, "STORE_GLOBAL", 0),
    (98, "DELETE_GLOBAL", 0),
    (99, "SWAP", 0),
    (100, "LOAD_CONST", 0),
    (101, "LOAD_NAME", 0),
    (102, "BUILD_TUPLE", 0),
    (103, "BUILD_LIST", 0),
    (104, "BUILD_SET", 0),
    (105, "BUILD_MAP", 0),
    (106, "LOAD_ATTR", 4),
    (107, "COMPARE_OP", 2),
    (108, "IMPORT_NAME", 0),
    (109, "IMPORT_FROM", 0),
    (110, "JUMP_FORWARD", 0),
    (111, "JUMP_IF_FALSE_OR_POP", 0),
    (112, "JUMP_IF_TRUE_OR_POP", 0),
    (114, "POP_JUMP_FORWARD_IF_FALSE", 0),
    (115, "POP_JUMP_FORWARD_IF_TRUE", 0),
    (116, "LOAD_GLOBAL", 5),
    (117, "IS_OP", 0),
    (118, "CONTAINS_OP", 0),
    (119, "RERAISE", 0),
    (120, "COPY", 0),
    (122, "BINARY_OP", 1),
    (123, "SEND", 0),
    (124, "LOAD_FAST", 0),
    (125, "STORE_FAST", 0),
    (126, "DELETE_FAST", 0),
    (128, "POP_JUMP_FORWARD_IF_NOT_NONE", 0),
    (129, "POP_JUMP_FORWARD_IF_NONE", 0),
    (130, "RAISE_VARARGS", 0),
    (131, "GET_AWAITABLE", 0),
    (132, "MAKE_FUNCTION", 0),
    (133, "BUILD_SLICE", 0),
    (134, "JUMP_BACKWARD_NO_INTERRUPT", 0),
    (135, "MAKE_CELL", 0),
    (136, "LOAD_CLOSURE", 0),
    (137, "LOAD_DEREF", 0),
    (138, "STORE_DEREF", 0),
    (139, "DELETE_DEREF", 0),
    (140, "JUMP_BACKWARD", 0),
    (142, "CALL_FUNCTION_EX", 0),
    (144, "EXTENDED_ARG", 0),
    (145, "LIST_APPEND", 0),
    (146, "SET_ADD", 0),
    (147, "MAP_ADD", 0),
    (148, "LOAD_CLASSDEREF", 0),
    (149, "COPY_FREE_VARS", 0),
    (151, "RESUME", 0),
    (152, "MATCH_CLASS", 0),
    (155, "FORMAT_VALUE", 0),
    (156, "BUILD_CONST_KEY_MAP", 0),
    (157, "BUILD_STRING", 0),
    (160, "LOAD_METHOD", 10),
    (162, "LIST_EXTEND", 0),
    (163, "SET_UPDATE", 0),
    (164, "DICT_MERGE", 0),
    (165, "DICT_UPDATE", 0),
    (166, "PRECALL", 1),
    (171, "CALL", 4),
    (172, "KW_NAMES", 0),
    (173, "POP_JUMP_BACKWARD_IF_NOT_NONE", 0),
    (174, "POP_JUMP_BACKWARD_IF_NONE", 0),
    (175, "POP_JUMP_BACKWARD_IF_FALSE", 0),
    (176, "POP_JUMP_BACKWARD_IF_TRUE", 0),
];

/// Opcode numbers by name.
#[allow(dead_code)]
pub mod op {
    pub const CACHE: u8 = 0;
    pub const POP_TOP: u8 = 1;
    pub const PUSH_NULL: u8 = 2;
    pub const NOP: u8 = 9;
    pub const UNARY_POSITIVE: u8 = 10;
    pub const UNARY_NEGATIVE: u8 = 11;
    pub const UNARY_NOT: u8 = 12;
    pub const UNARY_INVERT: u8 = 15;
    pub const BINARY_SUBSCR: u8 = 25;
    pub const GET_LEN: u8 = 30;
    pub const MATCH_MAPPING: u8 = 31;
    pub const MATCH_SEQUENCE: u8 = 32;
    pub const MATCH_KEYS: u8 = 33;
    pub const PUSH_EXC_INFO: u8 = 35;
    pub const CHECK_EXC_MATCH: u8 = 36;
    pub const CHECK_EG_MATCH: u8 = 37;
    pub const WITH_EXCEPT_START: u8 = 49;
    pub const GET_AITER: u8 = 50;
    pub const GET_ANEXT: u8 = 51;
    pub const BEFORE_ASYNC_WITH: u8 = 52;
    pub const BEFORE_WITH: u8 = 53;
    pub const END_ASYNC_FOR: u8 = 54;
    pub const STORE_SUBSCR: u8 = 60;
    pub const DELETE_SUBSCR: u8 = 61;
    pub const GET_ITER: u8 = 68;
    pub const GET_YIELD_FROM_ITER: u8 = 69;
    pub const PRINT_EXPR: u8 = 70;
    pub const LOAD_BUILD_CLASS: u8 = 71;
    pub const LOAD_ASSERTION_ERROR: u8 = 74;
    pub const RETURN_GENERATOR: u8 = 75;
    pub const LIST_TO_TUPLE: u8 = 82;
    pub const RETURN_VALUE: u8 = 83;
    pub const IMPORT_STAR: u8 = 84;
    pub const SETUP_ANNOTATIONS: u8 = 85;
    pub const YIELD_VALUE: u8 = 86;
    pub const ASYNC_GEN_WRAP: u8 = 87;
    pub const PREP_RERAISE_STAR: u8 = 88;
    pub const POP_EXCEPT: u8 = 89;
    pub const STORE_NAME: u8 = 90;
    pub const DELETE_NAME: u8 = 91;
    pub const UNPACK_SEQUENCE: u8 = 92;
    pub const FOR_ITER: u8 = 93;
    pub const UNPACK_EX: u8 = 94;
    pub const STORE_ATTR: u8 = 95;
    pub const DELETE_ATTR: u8 = 96;
    pub const STORE_GLOBAL: u8 = 97;
    pub const DELETE_GLOBAL: u8 = 98;
    pub const SWAP: u8 = 99;
    pub const LOAD_CONST: u8 = 100;
    pub const LOAD_NAME: u8 = 101;
    pub const BUILD_TUPLE: u8 = 102;
    pub const BUILD_LIST: u8 = 103;
    pub const BUILD_SET: u8 = 104;
    pub const BUILD_MAP: u8 = 105;
    pub const LOAD_ATTR: u8 = 106;
    pub const COMPARE_OP: u8 = 107;
    pub const IMPORT_NAME: u8 = 108;
    pub const IMPORT_FROM: u8 = 109;
    pub const JUMP_FORWARD: u8 = 110;
    pub const JUMP_IF_FALSE_OR_POP: u8 = 111;
    pub const JUMP_IF_TRUE_OR_POP: u8 = 112;
    pub const POP_JUMP_FORWARD_IF_FALSE: u8 = 114;
    pub const POP_JUMP_FORWARD_IF_TRUE: u8 = 115;
    pub const LOAD_GLOBAL: u8 = 116;
    pub const IS_OP: u8 = 117;
    pub const CONTAINS_OP: u8 = 118;
    pub const RERAISE: u8 = 119;
    pub const COPY: u8 = 120;
    pub const BINARY_OP: u8 = 122;
    pub const SEND: u8 = 123;
    pub const LOAD_FAST: u8 = 124;
    pub const STORE_FAST: u8 = 125;
    pub const DELETE_FAST: u8 = 126;
    pub const POP_JUMP_FORWARD_IF_NOT_NONE: u8 = 128;
    pub const POP_JUMP_FORWARD_IF_NONE: u8 = 129;
    pub const RAISE_VARARGS: u8 = 130;
    pub const GET_AWAITABLE: u8 = 131;
    pub const MAKE_FUNCTION: u8 = 132;
    pub const BUILD_SLICE: u8 = 133;
    pub const JUMP_BACKWARD_NO_INTERRUPT: u8 = 134;
    pub const MAKE_CELL: u8 = 135;
    pub const LOAD_CLOSURE: u8 = 136;
    pub const LOAD_DEREF: u8 = 137;
    pub const STORE_DEREF: u8 = 138;
    pub const DELETE_DEREF: u8 = 139;
    pub const JUMP_BACKWARD: u8 = 140;
    pub const CALL_FUNCTION_EX: u8 = 142;
    pub const EXTENDED_ARG: u8 = 144;
    pub const LIST_APPEND: u8 = 145;
    pub const SET_ADD: u8 = 146;
    pub const MAP_ADD: u8 = 147;
    pub const LOAD_CLASSDEREF: u8 = 148;
    pub const COPY_FREE_VARS: u8 = 149;
    pub const RESUME: u8 = 151;
    pub const MATCH_CLASS: u8 = 152;
    pub const FORMAT_VALUE: u8 = 155;
    pub const BUILD_CONST_KEY_MAP: u8 = 156;
    pub const BUILD_STRING: u8 = 157;
    pub const LOAD_METHOD: u8 = 160;
    pub const LIST_EXTEND: u8 = 162;
    pub const SET_UPDATE: u8 = 163;
    pub const DICT_MERGE: u8 = 164;
    pub const DICT_UPDATE: u8 = 165;
    pub const PRECALL: u8 = 166;
    pub const CALL: u8 = 171;
    pub const KW_NAMES: u8 = 172;
    pub const POP_JUMP_BACKWARD_IF_NOT_NONE: u8 = 173;
    pub const POP_JUMP_BACKWARD_IF_NONE: u8 = 174;
    pub const POP_JUMP_BACKWARD_IF_FALSE: u8 = 175;
    pub const POP_JUMP_BACKWARD_IF_TRUE: u8 = 176;
}

/// The entry for an opcode number, if 3.11 defines it.
pub fn info(number: u8) -> Option<(&'static str, u8)> {
    OPCODES
        .iter()
        .find(|(n, _, _)| *n == number)
        .map(|(_, name, caches)| (*name, *caches))
}

/// The opcode's name, or `<opcode N>` for numbers 3.11 does not define.
pub fn name(number: u8) -> String {
    info(number).map_or_else(|| format!("<opcode {number}>"), |(n, _)| n.to_owned())
}

/// Binary operators of `BINARY_OP`, indexed by its argument (`NB_*` in 3.11).
pub static BINARY_OPERATORS: [&str; 26] = [
    "+", "&", "//", "<<", "@", "*", "%", "|", "**", ">>", "-", "/", "^", "+=", "&=", "//=", "<<=",
    "@=", "*=", "%=", "|=", "**=", ">>=", "-=", "/=", "^=",
];

/// Comparison operators of `COMPARE_OP`, indexed by its argument.
pub static COMPARISONS: [&str; 6] = ["<", "<=", "==", "!=", ">", ">="];
