"""Lists of numbers inside compiled code (issue 5): reading items by index and by
iteration, `len`, truth, writing items (visible to the caller), lists passed to compiled
callees and returned; items of another type, ints beyond 60 bits, indices out of range
and mutation while iterating hand over to the interpreter, so results and exceptions
are python3's."""

DIGIT = 2**30


def total(a):
    s = 0
    for x in a:
        s += x
    return s


def total_float(a):
    s = 0.0
    for x in a:
        s += x * x
    return s


def item(a, i):
    return a[i]


def item_plus_one(a, i):
    return a[i] + 1


def length_and_truth(a):
    n = len(a)
    if a:
        return n * 2
    return -1


def store(a, i, v):
    a[i] = v
    return a


def scale(a, k):
    for i in range(len(a)):
        a[i] = a[i] * k
    return a


def augmented(a):
    for i in range(len(a)):
        a[i] += 1.5
    return a


def reverse_diff(a):
    t = 0
    for i in range(len(a)):
        t += a[-1 - i] - a[i]
    return t


def dot(a, b):
    s = 0.0
    for i in range(min(len(a), len(b))):
        s += a[i] * b[i]
    return s


def gather(a, idx):
    s = 0.0
    for j in idx:
        s += a[j]
    return s


def count_true(flags):
    n = 0
    for f in flags:
        if f:
            n += 1
    return n


def writes_while_iterating(a):
    seen = 0.0
    for x in a:
        seen += x
        a[len(a) - 1] = seen
    return seen


def element(a, i):
    return item(a, i) * 2


def passes_through(a):
    b = a
    return b


def same_object(a):
    return passes_through(a) is a


def slice_sum(a):
    s = 0.0
    for x in a[1:]:
        s += x
    return s


def accumulate_into(src, dst):
    # With src and dst the same list, each store is seen by the next read.
    for i in range(1, len(src)):
        dst[i] = dst[i - 1] + src[i]
    return dst


class Floats(list):
    pass


def collect(a, out):
    # list.append of numbers into a list the caller holds.
    for x in a:
        if x > 1.0:
            out.append(x * 2)
    return len(out), out


def grow_while_iterating(a):
    # The list grows inside the loop that iterates it, as python3 sees it.
    n = 0
    for x in a:
        if x < 10:
            a.append(x + 5)
        n += 1
    return n, a


def append_kinds(out, k):
    out.append(k)
    out.append(k * 0.5)
    out.append(k > 2)
    out.append(k * k)  # overflowing 64 bits: the interpreter appends the big int
    return out


def append_to_itself(a):
    for i in range(3):
        a.append(a[i] + a[-1])
    return a


def other_list_methods(a):
    a.sort(reverse=True)
    return a


def sorted_in_place(a):
    a.sort()
    return a


def find(a, x):
    # index/count/in of an int: lists of numbers only (others hand over); a missing
    # value's ValueError is the interpreter's.
    hits = 0
    if x in a:
        hits += a.count(x)
    if x not in a:
        hits -= 1
    return hits, a.index(x)


def membership_loop(a, n):
    found = 0
    for i in range(n):
        if i in a:
            found += 1
    return found


def builtin_reductions(a):
    # CPython's own sum, min and max of a list of numbers (sum of floats adds in
    # order, as 3.11 does); an empty min/max's ValueError, an int sum of a float list
    # and other items are the interpreter's.
    return sum(a), min(a), max(a)


def normalized(a):
    total = sum(a)
    biggest = max(a)
    out = []
    for x in a:
        out.append(x / total - biggest)
    return out


def keyword_to_method(a, x):
    # python3's TypeError (list methods take no keywords): not compiled.
    a.append(value=x)
    return a


def float_membership(a, x):
    # Not compiled: a NaN is found by identity.
    return x in a


def insert_everywhere(a, x):
    # list.insert clamps its index as python3 does (negative from the end).
    a.insert(0, x)
    a.insert(-1, x + 1)
    a.insert(100, x * 2)
    a.insert(-100, True)
    return a


def extend_and_copy(a, b):
    c = a.copy()
    c.extend(b)
    c.extend(c)
    c.reverse()
    return c, a, len(c)


def clear_numbers(a):
    n = len(a)
    a.clear()
    a.append(n)
    return a


def rows_copied(rows):
    out = []
    for row in rows:
        r = row.copy()
        r.reverse()
        out.append(r)
    rows.clear()
    return out, rows


def many_copies(a, n):
    t = 0
    for i in range(n):
        c = a.copy()
        t += len(c)
    return t


def drain(a):
    # pop() until empty: items read as the list's type, checked; an empty list's pop
    # raises the interpreter's IndexError.
    s = 0
    while a:
        s += a.pop()
    return s, a


def pop_at(a, i):
    x = a.pop(i)
    return x, a


def pop_empty(a):
    return a.pop()


def stack_machine(n):
    stack = []
    for i in range(n):
        stack.append(i)
        if i % 3 == 2:
            b = stack.pop()
            c = stack.pop()
            stack.append(b * c - i)
    return stack


def pop_rows(rows):
    total = 0.0
    while rows:
        row = rows.pop(0)
        for x in row:
            total += x
    return total


def pop_many_rows(n):
    rows = [[1.0, 2.0]] * n
    rows = rows * 1
    total = 0.0
    while rows:
        row = rows.pop()
        total += row[1]
    return total


SHARED = [1.0, 2.0, 3.0, 4.0]


CASES = [
    (total, [([1, 2, 3],), ([],), ([True, False, True],), ([1, 2.5],), ([1, 2**70, 3],),
             ([2**62, 2**62],), ([DIGIT - 1, DIGIT, -DIGIT, DIGIT * DIGIT - 1, -(DIGIT * DIGIT) + 1],),
             ([DIGIT * DIGIT, -(DIGIT * DIGIT)],), ([0, -0, -1, 1],), ([1.0, "a"],),
             (Floats([1.0, 2.0]),)]),
    (total_float, [([1.5, -2.0, 1e308],), ([float("nan"), 0.5],), ([],), ([0.5, 2],),
                   ([1.0, None],)]),
    (item, [([1.5, 2.5], 0), ([1.5, 2.5], -1), ([1.5, 2.5], 2), ([1.5, 2.5], -3),
            ([1.5, 2.5], True), ([7, 8], 1), ([7, 8], 1.0), ([True], 0), ([1, "x"], 1)]),
    (item_plus_one, [([2**63 - 1], 0), ([1.5], 0), ([5], -1)]),
    (length_and_truth, [([],), ([1.0, 2.0],), ([1, 2, 3],)]),
    (store, [([1.0, 2.0], 0, 5.5), ([1.0, 2.0], -1, 7), ([1, 2], 1, True), ([1, 2], 2, 3),
             (["s", 2], 0, 1.0), ([1.0], 0, 2**62 * 4)]),
    (scale, [([1.0, 2.0, 3.0], 0.5), ([1, 2, 3], 3), ([1, 2**61], 4), ([], 2.0)]),
    (augmented, [([1.0, -1.5],), ([1, 2],), ([None],)]),
    (reverse_diff, [([1, 5, 9, 2],), ([1.5, 2.5],), ([2**62, -(2**62)],)]),
    (dot, [([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), ([1.0], [2.0, 3.0]), ([1, 2], [3, 4])]),
    (gather, [([0.5, 1.5, 2.5], [2, 0, -1]), ([0.5, 1.5], [0, 2]), ([1.5], [])]),
    (count_true, [([True, False, True],), ([],), ([True, 1],)]),
    (writes_while_iterating, [([1.0, 2.0, 3.0],), ([0.5],)]),
    (element, [([1.5, 2.5], 1), ([1.5, 2.5], 5)]),
    (passes_through, [([1.0, 2.0],), ([],)]),
    (accumulate_into, [([1.0, 2.0, 3.0], [0.5, 0.0, 0.0]), (SHARED, SHARED)]),
    (same_object, [([1.0, 2.0],)], {"expect": "any"}),
    (slice_sum, [([1.0, 2.0, 3.0],)], {"expect": "any"}),
    (collect, [([0.5, 1.5, 2.5], []), ([2.0], [1.0, "kept"]), ([], []), ([3, 4], [])]),
    (grow_while_iterating, [([1, 2, 30],), ([],), ([9.5],)]),
    (append_kinds, [([], 3), ([1.0], -7), ([], 2**40), ([], 2**62)]),
    (append_to_itself, [([1, 2, 3],), ([0.5, 1.5, 2.5],), ([2**62, 2**62, 2**62],), ([1, 2],)]),
    (other_list_methods, [([2.0],)], {"expect": "refused"}),
    (sorted_in_place, [([3, 1, 2],), ([],), ([2.5, -1, True, 0.5],), ([float("nan"), 1.0, 0.5],),
                       ([1, "a"],), ([[2.0], [1.0]],)]),
    (find, [([1, 2, 3, 2], 2), ([1.0, 2.0], 1), ([5], 7), ([True, 1, 1.0], 1), ([1, "x"], 1),
            ([], 0), ([float("nan")], 0)]),
    (membership_loop, [([0, 3, 5, 9], 12), ([], 3), ([1.5, 2.0], 4)]),
    (builtin_reductions, [([1.5, 2.25, -0.5],), ([1, 2, 3],), ([0.1] * 10,), ([],), ([2**62, 2**62],),
                          ([1.0, 2],), ([True, 2],), ([1, "x"],), ([float("nan"), 1.0],),
                          ([1e308, 1e308],), ([-0.0, 0.0],)]),
    (normalized, [([1.0, 3.0, 4.0],), ([2, 2],), ([],)]),
    (keyword_to_method, [([1], 2)], {"expect": "refused"}),
    (float_membership, [([float("nan")], float("nan")), ([1.0], 1.0)], {"expect": "refused"}),
    (insert_everywhere, [([1, 2, 3], 5), ([], 7), ([0.5], 1.5), ([1, 2], 2**62)]),
    (extend_and_copy, [([1, 2], [3]), ([], []), ([0.5], [1.5, 2.5]), ([1], ["x"])]),
    (clear_numbers, [([1, 2, 3],), ([],), ([1.5, None],), ([1, "s"],)]),
    (rows_copied, [([[1.0, 2.0], [3.0]],), ([],)]),
    (many_copies, [([1, 2, 3], 10), ([1.0], 1000)]),
    (drain, [([1, 2, 3],), ([],), ([1.5, 2.5],), ([1, "x", 2],), ([2**62, 2**62],)]),
    (pop_at, [([1, 2, 3], 0), ([1, 2, 3], -1), ([1, 2, 3], 3), ([1, 2, 3], -4), ([5], True),
              ([0.5, 1.5], 1)]),
    (pop_empty, [([],), ([7],)]),
    (stack_machine, [(10,), (0,), (100,)]),
    (pop_rows, [([[1.0, 2.0], [3.0]],), ([],), ([[1.0], [2, 3]],), ([[1.0], "s"],)]),
    (pop_many_rows, [(10,), (1000,)]),
]
