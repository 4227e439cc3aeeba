"""numpy ufuncs on scalars inside compiled code (issue 5, item 2): `np.exp(x)`,
`np.arctan2(y, x)` and the others run numpy's own float64 inner loop, so every value
is numpy's bit for bit (numpy's exp, log, tan... differ from the C library's in the
last bit on some inputs), the result is a numpy float64, and whatever numpy warns about
(overflow, invalid, divide by zero) or raises under `np.errstate` comes from the
interpreter. Integer arguments (Python's, int64, int32) run the float64 loop only where
numpy picks it; other loops are not compiled."""

import math
import warnings

import numpy as np
from numpy import cos, hypot

warnings.simplefilter("always")  # every numpy warning is printed, so each is compared

VALUES = [0.0, -0.0, 0.5, -0.5, 1.0, 2.0, -3.25, 7.0, 100.0, -745.5, 709.9, 710.0,
          1e-310, 1e300, math.inf, -math.inf, math.nan]

UNARY = ["sqrt", "exp", "log", "log2", "log10", "log1p", "expm1", "exp2", "sin", "cos",
         "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
         "arctanh", "cbrt", "absolute", "fabs", "floor", "ceil", "trunc", "rint",
         "negative", "square", "reciprocal", "sign", "deg2rad", "rad2deg", "spacing"]
BINARY = ["arctan2", "hypot", "power", "fmod", "maximum", "minimum", "fmax", "fmin",
          "copysign", "logaddexp", "logaddexp2", "nextafter", "heaviside"]


def unary(name):
    # One function per ufunc (a global per name, so each is its own binding).
    source = f"def u_{name}(x):\n    return np.{name}(x)\n"
    namespace = {"np": np}
    exec(compile(source, "<numpy_ufuncs>", "exec"), namespace)
    return namespace[f"u_{name}"]


def binary(name):
    source = f"def b_{name}(x, y):\n    return np.{name}(x, y)\n"
    namespace = {"np": np}
    exec(compile(source, "<numpy_ufuncs>", "exec"), namespace)
    return namespace[f"b_{name}"]


def series(a):
    s = 0.0
    for x in a:
        s += np.exp(-x * x) * cos(x) + np.sqrt(np.abs(x))
    return s


def distances(xs, ys):
    out = 0.0
    for i in range(len(xs)):
        out += hypot(xs[i], ys[i])
    return out


def int_arguments(n, k):
    return np.sqrt(n), np.exp(k), np.arctan2(n, 2.0)


def int_array_items(a):
    s = 0.0
    for x in a:
        s += np.sqrt(x)
    return s


def int_accumulator(a):
    s = 0
    for x in a:
        s += x
    return np.log(s)


def ints_pick_an_int_loop(n):
    # np.power of two ints runs numpy's int64 loop: not compiled.
    return np.power(n, 2)


def float32_loop(a):
    # A float32 argument runs numpy's float32 loop: not compiled.
    return np.sqrt(a[0])


def raising(x):
    with np.errstate(all="raise"):
        return unary_log(x)


def ignoring(x):
    with np.errstate(all="ignore"):
        return unary_log(x)


def unary_log(x):
    return np.log(x)


def patched(x):
    # Replacing np.exp makes compiled callers use the new function.
    original = np.exp
    np.exp = np.negative
    try:
        return unary_exp(x)
    finally:
        np.exp = original


def unary_exp(x):
    return np.exp(x)


CASES = (
    [(unary(name), [(x,) for x in VALUES] + [(np.float64(1.5),), (3,), (np.int64(4),)]) for name in UNARY]
    + [(binary(name), [(x, y) for x in VALUES[::2] for y in VALUES[1::3]] + [(2.0, 3), (np.float64(2.5), -1.5)])
       for name in BINARY]
    + [
        (series, [(np.linspace(-3, 3, 7),), (np.array([np.nan]),), (np.array([]),)]),
        (distances, [(np.array([3.0, 1e308]), np.array([4.0, 1e308])), (np.array([1.0]), np.array([np.inf]))]),
        (int_arguments, [(4, 1), (np.int64(9), np.int32(2)), (-1, 1000), (2**62, 0)]),
        (int_array_items, [(np.array([1, 4, 9], np.int64),), (np.array([4, -1], np.int32),), (np.array([], np.int64),)]),
        (int_accumulator, [(np.array([1, 2], np.int64),), (np.array([], np.int64),), (np.array([-5], np.int32),)]),
        (ints_pick_an_int_loop, [(3,)], {"expect": "refused"}),
        (float32_loop, [(np.array([2.0], np.float32),)], {"expect": "refused"}),
        (unary_log, [(2.0,), (0.0,), (-1.0,)]),
        (raising, [(2.0,), (0.0,), (-1.0,)], {"expect": "any"}),
        (ignoring, [(0.0,), (-1.0,)], {"expect": "any"}),
        (unary_exp, [(1.0,), (1000.0,)]),
        (patched, [(1.0,), (2.0,)], {"expect": "any"}),
        (unary_exp, [(1.0,)]),
    ]
)
