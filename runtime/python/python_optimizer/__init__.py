"""pyopt's Python API, shipped inside the pyopt-python binary.

``import python_optimizer`` works under ``pyopt-python`` with no files on disk. This
release provides the version, pyopt's resolved options and build facts, the JIT's
decorator (``optimize``) and statistics (``jit_stats``, ``jit_info``), and
``distributed`` (the compiled-code cache; ``DistributedCoordinator`` on worker
processes, with MPI, Ray and Dask to come), ``genetic`` (a seeded genetic optimizer,
``distributed.DistributedGeneticOptimizer`` spreading its evaluations) and
``profiling`` (spans, instants, counters, flows and trace exports).
"""

from python_optimizer import _native

__version__ = _native.__version__

__all__ = [
    "__version__",
    "build_info",
    "config",
    "config_details",
    "jit_enabled",
    "jit_info",
    "jit_stats",
    "optimize",
]


def config():
    """pyopt's options as resolved at start-up, as ``{key: value}``.

    Values are bools, ints or path strings; ``None`` means a path left to its computed
    default. Options are set with ``PYOPT_<KEY>`` environment variables or
    ``-X pyopt.<key>`` flags (see ``pyopt-python -X pyopt.help``).
    """
    return {option["key"]: option["value"] for option in _native.options()}


def config_details():
    """Every option with its value, where it came from and whether it is active yet.

    A list of dicts with keys ``key``, ``value``, ``source`` ("default",
    "environment" or "command line"), ``active``, ``env``, ``xoption`` and ``help``.
    """
    return _native.options()


def jit_enabled():
    """Whether the JIT is on in this process (``PYOPT_JIT=0`` turns it off)."""
    return _native.jit_enabled()


def jit_stats():
    """What the JIT did, one dict per function it compiled or refused.

    Keys: ``function`` (qualified name), ``file``, ``line``, ``calls`` (calls seen),
    ``specializations`` (signatures with compiled code, e.g. ``"(int, float)"``),
    ``compiles`` (each with ``signature``, ``milliseconds``, ``phases_ms``,
    ``object_bytes`` and ``from_cache``: loaded from the compiled-code cache, its IR,
    optimize and codegen phases then 0), ``deopts`` (hand-overs to the interpreter), ``refusals`` (each
    with ``signature`` and ``reason``), ``not_compiled`` (why, when nothing compiled),
    ``disabled`` (the JIT gave up on the function), ``loops`` (source lines of loops
    compiled for a call already running, entered at their header: on-stack
    replacement) and ``loop_entries`` (times a running call continued in one).
    """
    return _native.jit_stats()


def jit_info(function):
    """``jit_stats()``'s entry for one function (or code object), or ``None``."""
    return _native.jit_info(function)


def build_info():
    """Facts about this pyopt-python build: version, target, profile, libpython dir."""
    return _native.build_info()


def optimize(function=None, *, jit=True, specialize=True, fastmath=False, cache=True):
    """Asks the JIT to compile a function now rather than when it gets hot.

    Use it bare (``@optimize``) or with arguments (``@optimize(fastmath=True)``). The
    function is returned itself, unchanged for the caller; its first call compiles it
    for that call's argument types (waiting for the compiler, once) and later calls
    with those types run native code. What cannot be compiled runs in the interpreter,
    exactly as without the decorator, and ``jit_info(function)`` says why.

    - ``jit=False``: never compile this function.
    - ``specialize=False``: compile for the first call's argument types only (other
      types run in the interpreter); by default up to four sets of types get code.
    - ``fastmath=True``: relaxed float arithmetic for this function (reassociation,
      contraction, vectorized reductions): results may differ from python3 in the last
      bits, as with ``PYOPT_JIT_FASTMATH=1``.
    - ``cache``: whether the compiled code may be shared through the on-disk cache;
      accepted, but not yet used: every function's code goes through the cache unless
      ``PYOPT_CACHE=0``.

    Under ``PYOPT_JIT=0`` the decorator changes nothing. Functions with keyword-only
    parameters, ``*args``/``**kwargs`` or closures are not compiled yet (``jit_info``
    says so); ``optimize`` raises TypeError for anything but a Python function.
    """
    for name, value in (("jit", jit), ("specialize", specialize), ("fastmath", fastmath),
                        ("cache", cache)):
        if not isinstance(value, bool):
            raise TypeError(f"optimize(): {name} must be True or False, "
                            f"not {type(value).__name__}")

    def decorate(f):
        _native.optimize_function(f, jit, specialize, fastmath)
        return f

    if function is None:
        return decorate
    return decorate(function)
