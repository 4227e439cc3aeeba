/* The one C file that sees CPython 3.11 internals (Py_BUILD_CORE): interpreter frames,
 * the eval-frame hook, co_extra, the recursion counter and the eval breaker. Everything
 * else in pyopt uses the public C API through pyo3. Each function is a small accessor;
 * the Rust side (hooks/src/ffi.rs) documents when each may be called. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include "internal/pycore_ceval.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

typedef PyObject *(*pyopt_eval_fn)(PyThreadState *, _PyInterpreterFrame *, int);

/* Mirrors the co_extra holder private to Objects/codeobject.c (3.11). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} pyopt_code_extra;

/* The hook is the main interpreter's only, whichever interpreter is running: pyopt
 * never runs in subinterpreters. */
void pyopt_shim_set_eval_frame(pyopt_eval_fn hook) {
    _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Main(),
                                         hook ? hook : _PyEval_EvalFrameDefault);
}

/* Queues `func` for the main interpreter. Py_AddPendingCall would queue it for the
 * interpreter running at that moment, a subinterpreter perhaps (3.11 picks the thread
 * state holding the GIL), where pyopt's callbacks must not run. */
int pyopt_shim_add_pending_call_main(int (*func)(void *)) {
    return _PyEval_AddPendingCall(PyInterpreterState_Main(), func, NULL);
}

int pyopt_shim_in_main_interpreter(void) {
    return PyInterpreterState_Get() == PyInterpreterState_Main();
}

/* Whether this thread's current thread state is the one PyGILState knows for it (false
 * in a subinterpreter, or for a thread state made without PyGILState): only then may
 * code holding the GIL call PyGILState_Ensure (pyo3's attach) without deadlocking. */
int pyopt_shim_gilstate_consistent(void) {
    return PyGILState_GetThisThreadState() == _PyThreadState_GET();
}

PyObject *pyopt_shim_eval_default(PyThreadState *tstate, _PyInterpreterFrame *frame,
                                  int throwflag) {
    return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
}

PyCodeObject *pyopt_shim_frame_code(_PyInterpreterFrame *frame) { return frame->f_code; }

PyObject *pyopt_shim_frame_function(_PyInterpreterFrame *frame) {
    return (PyObject *)frame->f_func;
}

PyObject **pyopt_shim_frame_localsplus(_PyInterpreterFrame *frame) {
    return frame->localsplus;
}

/* A frame owned by this thread that has not started executing. */
int pyopt_shim_frame_is_fresh(_PyInterpreterFrame *frame) {
    return frame->owner == FRAME_OWNED_BY_THREAD &&
           frame->prev_instr == _PyCode_CODE(frame->f_code) - 1;
}

int pyopt_shim_code_flags(PyCodeObject *code) { return code->co_flags; }
int pyopt_shim_code_argcount(PyCodeObject *code) { return code->co_argcount; }
int pyopt_shim_code_nlocalsplus(PyCodeObject *code) { return code->co_nlocalsplus; }
PyObject *pyopt_shim_code_qualname(PyCodeObject *code) { return code->co_qualname; }
PyObject *pyopt_shim_code_filename(PyCodeObject *code) { return code->co_filename; }
int pyopt_shim_code_firstlineno(PyCodeObject *code) { return code->co_firstlineno; }

/* co_extra[index] without the function call _PyCode_GetExtra makes. */
void *pyopt_shim_code_extra(PyCodeObject *code, Py_ssize_t index) {
    pyopt_code_extra *extra = (pyopt_code_extra *)code->co_extra;
    if (extra == NULL || index >= extra->ce_size) {
        return NULL;
    }
    return extra->ce_extras[index];
}

int pyopt_shim_use_tracing(PyThreadState *tstate) { return tstate->cframe->use_tracing; }

int *pyopt_shim_recursion_remaining(PyThreadState *tstate) {
    return &tstate->recursion_remaining;
}

/* The interpreter's eval breaker: non-zero when signals, pending calls, a GIL drop
 * request or an async exception wait. Read with a plain load (it is an aligned int). */
int *pyopt_shim_eval_breaker(PyThreadState *tstate) {
    return (int *)&tstate->interp->ceval.eval_breaker._value;
}

/* Address of a dict's PEP 509 version tag (changes on every modification). */
uint64_t *pyopt_shim_dict_version(PyObject *dict) {
    return &((PyDictObject *)dict)->ma_version_tag;
}

/* Continue a fresh frame of `frame->f_code` at byte offset `offset`: its locals become
 * `locals[0..nlocals]` (new references or NULL, stolen), its value stack
 * `stack[0..nstack]` (stolen), and the interpreter runs from the instruction at
 * `offset`; with `throwflag`, the exception already set is raised there instead. */
PyObject *pyopt_shim_resume(PyThreadState *tstate, _PyInterpreterFrame *frame, int offset,
                            PyObject **locals, int nlocals, PyObject **stack, int nstack,
                            int throwflag) {
    PyCodeObject *code = frame->f_code;
    for (int i = 0; i < nlocals && i < code->co_nlocalsplus; i++) {
        Py_XSETREF(frame->localsplus[i], locals[i]);
    }
    frame->stacktop = code->co_nlocalsplus;
    for (int i = 0; i < nstack; i++) {
        frame->localsplus[frame->stacktop++] = stack[i];
    }
    frame->prev_instr = _PyCode_CODE(code) + offset / 2 - 1;
    if (throwflag) {
        /* The interpreter reports the instruction at prev_instr as the one raising. */
        frame->prev_instr = _PyCode_CODE(code) + offset / 2;
    }
    return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
}

size_t pyopt_shim_frame_stack_capacity(_PyInterpreterFrame *frame) {
    return (size_t)frame->f_code->co_stacksize;
}

PyObject *pyopt_shim_frame_globals(_PyInterpreterFrame *frame) { return frame->f_globals; }
PyObject *pyopt_shim_frame_builtins(_PyInterpreterFrame *frame) { return frame->f_builtins; }

#include "internal/pycore_runtime.h"

/* What the eval breaker is set for, as bits: 1 a signal or an asynchronous exception
 * (the interpreter must handle them), 2 pending calls this thread can run (the main
 * thread), 4 another thread asking for the GIL. */
int pyopt_shim_breaker_reasons(PyThreadState *tstate) {
    PyInterpreterState *interp = tstate->interp;
    int reasons = 0;
    if (_Py_atomic_load_relaxed(&_PyRuntime.ceval.signals_pending) ||
        interp->ceval.pending.async_exc) {
        reasons |= 1;
    }
    if (_Py_atomic_load_relaxed(&interp->ceval.pending.calls_to_do) && _Py_IsMainThread() &&
        _Py_IsMainInterpreter(interp)) {
        reasons |= 2;
    }
    if (_Py_atomic_load_relaxed(&interp->ceval.gil_drop_request)) {
        reasons |= 4;
    }
    return reasons;
}

/* ---- Trampolines: compiled functions entered without the eval-frame hook ----------
 *
 * A compiled function's `__code__` is swapped for a trampoline: a code object with the
 * same signature, name, file and first line whose bytecode only calls its constant, a
 * `pyopt_entry` object, with the arguments and returns the result. The trampoline has
 * no RESUME instruction, so CPython treats its frame as never started ("incomplete"):
 * tracebacks, `sys._getframe`, `f_back` and trace functions skip it, and it emits no
 * trace events. The entry object is called through vectorcall, which (unlike a builtin
 * function) adds no recursion-depth check of its own. */

#include "opcode.h"
#include "internal/pycore_code.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    void *target;       /* owned by Rust, released with `entry_free` */
    PyObject *original; /* the original code object (strong) */
} pyopt_entry;

static void (*entry_free)(void *);

static void entry_dealloc(PyObject *self) {
    pyopt_entry *entry = (pyopt_entry *)self;
    if (entry->target != NULL && entry_free != NULL) {
        entry_free(entry->target);
    }
    Py_XDECREF(entry->original);
    PyObject_Free(self);
}

static PyTypeObject pyopt_entry_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyopt.entry",
    .tp_doc = "pyopt's entry into a compiled function (called by its trampoline)",
    .tp_basicsize = sizeof(pyopt_entry),
    .tp_dealloc = entry_dealloc,
    .tp_vectorcall_offset = offsetof(pyopt_entry, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
};

static vectorcallfunc entry_call;

/* Readies the entry type; `call` runs a call, `free` releases a target. 0 or -1. */
int pyopt_shim_entry_init(vectorcallfunc call, void (*free)(void *)) {
    entry_call = call;
    entry_free = free;
    return PyType_Ready(&pyopt_entry_type);
}

/* A new entry owning `target` and a reference to `original`. */
PyObject *pyopt_shim_entry_new(void *target, PyObject *original) {
    pyopt_entry *entry = PyObject_New(pyopt_entry, &pyopt_entry_type);
    if (entry == NULL) {
        return NULL;
    }
    entry->vectorcall = entry_call;
    entry->target = target;
    Py_INCREF(original);
    entry->original = original;
    return (PyObject *)entry;
}

void *pyopt_shim_entry_target(PyObject *entry) { return ((pyopt_entry *)entry)->target; }
PyObject *pyopt_shim_entry_original(PyObject *entry) { return ((pyopt_entry *)entry)->original; }

/* The entry of a trampoline code object (borrowed), or NULL for any other code. */
PyObject *pyopt_shim_trampoline_entry(PyCodeObject *code) {
    PyObject *consts = code->co_consts;
    if (PyTuple_GET_SIZE(consts) == 0) {
        return NULL;
    }
    PyObject *first = PyTuple_GET_ITEM(consts, 0);
    return Py_IS_TYPE(first, &pyopt_entry_type) ? first : NULL;
}

/* The function whose trampoline frame is running `entry`'s call on this thread
 * (borrowed), or NULL when `entry` was called some other way. */
PyObject *pyopt_shim_calling_function(PyThreadState *tstate, PyObject *entry) {
    _PyInterpreterFrame *frame = tstate->cframe->current_frame;
    if (frame == NULL || pyopt_shim_trampoline_entry(frame->f_code) != entry) {
        return NULL;
    }
    return (PyObject *)frame->f_func;
}

/* A trampoline for `original` calling `entry` (new reference), or NULL with an
 * exception. `original` takes positional-or-keyword parameters only and has no cell or
 * free variables (the caller checks). */
PyObject *pyopt_shim_make_trampoline(PyCodeObject *original, PyObject *entry) {
    int nargs = original->co_argcount;
    int ncodeunits = 2 + nargs + 1 + INLINE_CACHE_ENTRIES_PRECALL + 1 +
                     INLINE_CACHE_ENTRIES_CALL + 1;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ncodeunits * 2);
    if (bytes == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(bytes);
    memset(out, 0, (size_t)ncodeunits * 2); /* CACHE entries are zero */
    int at = 0;
#define EMIT(op, arg) (out[at] = (op), out[at + 1] = (unsigned char)(arg), at += 2)
    EMIT(PUSH_NULL, 0);
    EMIT(LOAD_CONST, 0);
    for (int i = 0; i < nargs; i++) {
        if (i > 255) {
            Py_DECREF(bytes);
            PyErr_SetString(PyExc_ValueError, "pyopt: too many parameters for a trampoline");
            return NULL;
        }
        EMIT(LOAD_FAST, i);
    }
    EMIT(PRECALL, nargs);
    at += 2 * INLINE_CACHE_ENTRIES_PRECALL;
    EMIT(CALL, nargs);
    at += 2 * INLINE_CACHE_ENTRIES_CALL;
    EMIT(RETURN_VALUE, 0);
#undef EMIT
    PyObject *consts = PyTuple_Pack(1, entry);
    PyObject *names = PyTuple_New(0);
    PyObject *varnames = PyCode_GetVarnames(original);
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
    PyObject *result = NULL;
    if (consts != NULL && names != NULL && varnames != NULL && empty != NULL) {
        result = (PyObject *)PyCode_NewWithPosOnlyArgs(
            nargs, original->co_posonlyargcount, 0, original->co_nlocals, nargs + 2,
            original->co_flags, bytes, consts, names, varnames, names, names,
            original->co_filename, original->co_name, original->co_qualname,
            original->co_firstlineno, empty, empty);
    }
    Py_DECREF(bytes);
    Py_XDECREF(consts);
    Py_XDECREF(names);
    Py_XDECREF(varnames);
    Py_XDECREF(empty);
    return result;
}

/* Whether `code` can have a trampoline: parameters that are positional or keyword
 * (no *args, **kwargs or keyword-only), no cells or free variables. */
int pyopt_shim_trampoline_fits(PyCodeObject *code) {
    return !(code->co_flags & (CO_VARARGS | CO_VARKEYWORDS)) && code->co_kwonlyargcount == 0 &&
           code->co_nfreevars == 0 && code->co_ncellvars == 0 && code->co_argcount <= 255;
}

PyObject *pyopt_shim_function_code(PyObject *function) {
    return ((PyFunctionObject *)function)->func_code;
}

/* Sets a function's code as `f.__code__ = code` does, without the attribute access
 * (which raises an audit event python3 would not). */
void pyopt_shim_function_set_code(PyObject *function, PyObject *code) {
    PyFunctionObject *f = (PyFunctionObject *)function;
    Py_INCREF(code);
    Py_SETREF(f->func_code, code);
    f->func_version = 0;
}

/* A function running `code` with `function`'s globals, builtins and name (for running
 * a trampolined function's original code). Arguments are always passed positionally
 * in full, so defaults are not needed. */
PyObject *pyopt_shim_original_function(PyObject *function, PyObject *code) {
    PyFunctionObject *f = (PyFunctionObject *)function;
    PyObject *result = PyFunction_NewWithQualName(code, f->func_globals, f->func_qualname);
    if (result != NULL) {
        Py_XINCREF(f->func_name);
        Py_XSETREF(((PyFunctionObject *)result)->func_name, f->func_name);
    }
    return result;
}

/* Makes the main thread look at its pending calls soon. Py_AddPendingCall from a
 * thread other than the main one does not set the eval breaker in 3.11 (it computes
 * "can this thread handle pending calls" for the calling thread), so the call would
 * wait until something else trips the breaker. CPython's own signal handler sets the
 * breaker the same way, without the GIL. */
void pyopt_shim_wake_main_interpreter(void) {
    _Py_atomic_store_relaxed(&PyInterpreterState_Main()->ceval.eval_breaker, 1);
}

/* Up to `max` of this thread's innermost frames that run a function (not a generator
 * or coroutine) and have started, innermost first; returns how many. */
/* Whether `frame` runs a module body: code without fast locals whose variables are its
 * globals, a plain dict (class bodies and exec with separate locals are not). */
int pyopt_shim_frame_is_module(_PyInterpreterFrame *frame) {
    return !(frame->f_code->co_flags & CO_OPTIMIZED) && frame->f_locals != NULL &&
           frame->f_locals == frame->f_globals && PyDict_CheckExact(frame->f_globals) &&
           frame->f_code->co_nlocalsplus == 0;
}

int pyopt_shim_running_frames(PyThreadState *tstate, _PyInterpreterFrame **out, int max) {
    int n = 0;
    for (_PyInterpreterFrame *frame = tstate->cframe->current_frame; frame != NULL && n < max;
         frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD || frame->f_func == NULL ||
            _PyFrame_IsIncomplete(frame) ||
            (frame->f_code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR |
                                        CO_ITERABLE_COROUTINE)) ||
            !((frame->f_code->co_flags & CO_OPTIMIZED) || pyopt_shim_frame_is_module(frame))) {
            continue;
        }
        out[n++] = frame;
    }
    return n;
}

/* ---- On-stack replacement: entering compiled code in a running frame ---------------
 *
 * A C trace function is set on the thread, directly in its fields (PyEval_SetTrace
 * would raise an audit event python3 does not raise), for as long as it takes the
 * running frame to reach a loop header. The interpreter calls it there with the frame's
 * stack pointer saved, and after it returns re-reads the stack pointer and continues at
 * `frame->prev_instr`: so the trace function can run the loop natively and leave the
 * frame as the compiled code left it. `sys.gettrace()` stays None (no trace object). */

int pyopt_shim_osr_arm(PyThreadState *tstate, Py_tracefunc func) {
    if (tstate->c_tracefunc != NULL || tstate->c_profilefunc != NULL || tstate->tracing) {
        return 0;
    }
    tstate->c_tracefunc = func;
    tstate->c_traceobj = NULL;
    _PyThreadState_UpdateTracingState(tstate);
    return 1;
}

void pyopt_shim_osr_disarm(PyThreadState *tstate, Py_tracefunc func) {
    if (tstate->c_tracefunc == func) {
        tstate->c_tracefunc = NULL;
        tstate->c_traceobj = NULL;
        _PyThreadState_UpdateTracingState(tstate);
    }
}

/* Whether a trace or profile function other than `ours` is set on the thread. */
int pyopt_shim_foreign_tracing(PyThreadState *tstate, Py_tracefunc ours) {
    return tstate->c_profilefunc != NULL ||
           (tstate->c_tracefunc != NULL && tstate->c_tracefunc != ours);
}

_PyInterpreterFrame *pyopt_shim_frame_of(PyFrameObject *frame) { return frame->f_frame; }

/* Byte offset of the instruction a trace function is called for. */
int pyopt_shim_frame_offset(_PyInterpreterFrame *frame) {
    return _PyInterpreterFrame_LASTI(frame) * (int)sizeof(_Py_CODEUNIT);
}

int pyopt_shim_code_nlocals(PyCodeObject *code) { return code->co_nlocals; }

/* The value stack of a frame whose stack pointer is saved (in a trace function):
 * its base, and its depth as the result. */
int pyopt_shim_frame_stack(_PyInterpreterFrame *frame, PyObject ***base) {
    *base = frame->localsplus + frame->f_code->co_nlocalsplus;
    return frame->stacktop - frame->f_code->co_nlocalsplus;
}

/* Mirrors the range iterator private to Objects/rangeobject.c (3.11). */
typedef struct {
    PyObject_HEAD
    long index;
    long start;
    long step;
    long len;
} pyopt_range_iter;

/* A range iterator nothing else refers to, as (next value, step, remaining). */
int pyopt_shim_range_iter(PyObject *object, int64_t out[3]) {
    if (Py_TYPE(object) != &PyRangeIter_Type || Py_REFCNT(object) != 1) {
        return 0;
    }
    pyopt_range_iter *it = (pyopt_range_iter *)object;
    /* As rangeiter_next computes it: unsigned, so no overflow. */
    out[0] = (int64_t)((unsigned long)it->start + (unsigned long)it->index * it->step);
    out[1] = it->step;
    out[2] = it->len - it->index;
    return 1;
}

/* Leaves a running frame (in a trace function) as compiled code handed it over: locals
 * `locals[i]` for each i not kept (stolen, NULL for unbound; kept ones stay), the value
 * stack `stack[0..nstack]` (stolen; with nstack < 0 the stack stays), and the
 * interpreter continues at byte offset `offset`. The objects replaced are numbers and
 * range and list iterators, whose release runs no code (a list iterator's list is held
 * by the iterator replacing it). */
void pyopt_shim_osr_leave(_PyInterpreterFrame *frame, int offset, PyObject **locals,
                          const unsigned char *keep, int nlocals, PyObject **stack,
                          int nstack) {
    PyCodeObject *code = frame->f_code;
    for (int i = 0; i < nlocals && i < code->co_nlocals; i++) {
        if (keep[i]) {
            Py_XDECREF(locals[i]);
        } else {
            Py_XSETREF(frame->localsplus[i], locals[i]);
        }
    }
    if (nstack >= 0) {
        PyObject **base = frame->localsplus + code->co_nlocalsplus;
        int old = frame->stacktop - code->co_nlocalsplus;
        for (int i = 0; i < old; i++) {
            Py_XDECREF(base[i]);
        }
        for (int i = 0; i < nstack; i++) {
            base[i] = stack[i];
        }
        frame->stacktop = code->co_nlocalsplus + nstack;
    }
    frame->prev_instr = _PyCode_CODE(code) + offset / 2;
}

/* Forgets the trailing empty slots of a code object's co_extra. _PyCode_SetExtra sizes
 * the holder for every registered user, and code_dealloc calls every user's free
 * function for each slot the holder has, set or not: without trimming, a code object
 * pyopt attaches state to would call another user's free function (even a Python one,
 * as CPython's test_code registers) when it is freed, possibly during finalization.
 * A later _PyCode_SetExtra by that user grows the holder again. */
void pyopt_shim_trim_code_extra(PyCodeObject *code) {
    pyopt_code_extra *extra = (pyopt_code_extra *)code->co_extra;
    if (extra == NULL) {
        return;
    }
    while (extra->ce_size > 0 && extra->ce_extras[extra->ce_size - 1] == NULL) {
        extra->ce_size--;
    }
}
