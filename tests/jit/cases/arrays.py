"""`array.array`s inside compiled code (issue 5): items read by index and iteration
as Python reads them (floats from 'd' and 'f', ints from 'q', 'l', 'i', 'b', 'B'),
`len`, truth, items written in place (visible to the caller; 'f' rounds to float32,
ints beyond an item's range raise OverflowError in the interpreter, floats into an int
array raise TypeError), arrays passed to compiled callees and returned."""

import array

# The sequence-generic functions are the list cases' own (a separate process runs each
# case module, so they are compiled for arrays here).
from lists import dot, item, length_and_truth, scale, store, total, total_float


def store_int(a, i, v):
    a[i] = v
    return a


def increment(a):
    for i in range(len(a)):
        a[i] += 1
    return a


def through_callee(a, i):
    return item(a, i) + 1


def prefix_sums(a, out):
    s = 0.0
    for i in range(len(a)):
        s += a[i]
        out[i] = s
    return out


def shift_into(src, dst):
    # With src and dst the same array, each store is seen by the next read.
    for i in range(1, len(src)):
        dst[i] = src[i - 1] * 2.0
    return dst


def arr(code, values):
    return array.array(code, values)


SHARED = arr("d", [1.0, 2.0, 3.0, 4.0])


CASES = [
    (total, [(arr("q", [1, 2, 2**62, -(2**62)]),), (arr("q", [2**63 - 1, 1]),), (arr("i", [-5, 7]),),
             (arr("b", [-128, 127, 1]),), (arr("B", [255, 0, 3]),), (arr("l", []),), (arr("d", [0.5, 1]),)]),
    (total_float, [(arr("d", [1.5, -2.0, 1e308]),), (arr("f", [0.1, 3.4e38]),), (arr("d", []),),
                   (arr("q", [3, 4]),)]),
    (item, [(arr("d", [1.5, 2.5]), -1), (arr("d", [1.5]), 1), (arr("f", [0.1]), 0), (arr("B", [200]), 0),
            (arr("b", [-3]), -1), (arr("i", [1]), -2), (arr("q", [5]), True)]),
    (length_and_truth, [(arr("d", []),), (arr("i", [1, 2, 3]),)]),
    (store, [(arr("d", [0.0, 0.0]), 1, 2.5), (arr("d", [0.0]), 0, 2**53 + 1), (arr("d", [0.0]), 0, True),
             (arr("f", [0.0]), 0, 0.1), (arr("f", [0.0]), 0, 1e300), (arr("d", [0.0]), 1, 1.0)]),
    (store_int, [(arr("i", [0]), 0, 2**31), (arr("i", [0]), 0, -(2**31)), (arr("b", [0]), 0, -129),
                 (arr("b", [0]), 0, 127), (arr("B", [0]), 0, 255), (arr("B", [0]), 0, 256),
                 (arr("B", [0]), 0, -1), (arr("q", [0]), 5, 1), (arr("q", [0]), -1, 2**63 - 1),
                 (arr("q", [0]), 0, True)]),
    (scale, [(arr("d", [1.0, 2.0, 3.0]), 0.5), (arr("f", [1.0, 3.0]), 1.1), (arr("i", [1, 2]), 3),
             (arr("b", [100, 1]), 2)]),
    (increment, [(arr("B", [1, 254, 255]),), (arr("q", [2**63 - 2, 2**63 - 1]),), (arr("d", [0.5]),)]),
    (dot, [(arr("d", [1.0, 2.0]), arr("d", [3.0, 4.0])), (arr("d", [1.0, 2.0]), arr("d", [3.0])),
           (arr("f", [1.5]), arr("i", [2]))]),
    (through_callee, [(arr("d", [1.0, 2.0]), 1), (arr("d", [1.0]), 3)]),
    (prefix_sums, [(arr("d", [1.0, 2.0, 3.5]), arr("d", [0.0, 0.0, 0.0])),
                   (arr("d", [1.0, 2.0]), arr("f", [0.0, 0.0])), (SHARED, SHARED)]),
    (shift_into, [(arr("d", [1.0, 2.0, 3.0]), arr("d", [0.0, 0.0, 0.0])), (SHARED, SHARED)]),
]
