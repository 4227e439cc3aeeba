/* The one C file that sees CPython 3.11 internals (Py_BUILD_CORE): interpreter frames,
 * the eval-frame hook, co_extra, the recursion counter and the eval breaker. Everything
 * else in pyopt uses the public C API through pyo3. Each function is a small accessor;
 * the Rust side (hooks/src/ffi.rs) documents when each may be called. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

typedef PyObject *(*pyopt_eval_fn)(PyThreadState *, _PyInterpreterFrame *, int);

/* Mirrors the co_extra holder private to Objects/codeobject.c (3.11). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} pyopt_code_extra;

void pyopt_shim_set_eval_frame(pyopt_eval_fn hook) {
    _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(),
                                         hook ? hook : _PyEval_EvalFrameDefault);
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

/* Whether the eval breaker can only mean another thread asking for the GIL: no
 * signal, pending call or asynchronous exception waits to be handled. */
int pyopt_shim_breaker_is_gil_request(PyThreadState *tstate) {
    PyInterpreterState *interp = tstate->interp;
    return !_Py_atomic_load_relaxed(&_PyRuntime.ceval.signals_pending) &&
           !_Py_atomic_load_relaxed(&interp->ceval.pending.calls_to_do) &&
           !interp->ceval.pending.async_exc;
}
