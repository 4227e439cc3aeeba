"""Control flow: if/elif/else, while, for over range() with 1-3 arguments (negative,
zero and empty steps), break/continue, nested loops, ternaries, and/or, locals that
are bound on some paths only, del."""


def sign(x):
    if x > 0:
        return 1
    elif x < 0:
        return -1
    else:
        return 0


def fsign(x):
    if x > 0.0:
        return 1.0
    elif x < 0.0:
        return -1.0
    return 0.0


def count_down(n):
    total = 0
    while n > 0:
        total += n
        n -= 1
    return total


def sum_range1(n):
    s = 0
    for i in range(n):
        s += i
    return s


def sum_range2(a, b):
    s = 0
    for i in range(a, b):
        s += i * i
    return s


def sum_range3(a, b, c):
    s = 0
    count = 0
    for i in range(a, b, c):
        s += i
        count += 1
    return s, count


def float_range_sum(n):
    s = 0.0
    for i in range(n):
        s += i * 0.1
    return s


def first_multiple(n, k):
    for i in range(1, n):
        if i % k == 0:
            break
    else:
        return -1
    return i


def skip_odds(n):
    s = 0
    for i in range(n):
        if i % 2:
            continue
        s += i
    return s


def nested(n, m):
    s = 0
    for i in range(n):
        for j in range(m):
            if j > i:
                break
            s += i * j
    return s


def while_break(limit):
    i = 0
    while True:
        i += 3
        if i > limit:
            break
    return i


def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def ternary(a, b):
    return a if a > b else b


def and_or(a, b):
    return (a and b) or (a or b)


def and_or_float(a, b):
    return a and b or 0.5


def bool_logic(a, b, c):
    return (a or b) and not c


def loop_var_after(n):
    for i in range(n):
        pass
    return i


def maybe_bound(flag):
    if flag:
        value = 10
    return value


def delete_local(x):
    y = x + 1
    del y
    y = x * 2
    return y


def gcd_loop(a, b):
    while b:
        a, b = b, a % b
    return a


def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def count_primes(n):
    c = 0
    for k in range(n):
        if is_prime(k):
            c += 1
    return c


def none_checks(x):
    y = None
    if x > 0:
        return y is None
    return y is not None


def returns_none(x):
    x += 1


def bool_return(a, b):
    return a < b and b < 10


def harmonic(n):
    total = 0.0
    k = 1
    while k <= n:
        total += 1.0 / k
        k += 1
    return total


def power_loop(base, n):
    result = 1
    for _ in range(n):
        result *= base
    return result


def reverse_range(n):
    out = 0
    for i in range(n, -1, -1):
        out = out * 10 + i % 10
    return out


def collatz_arms(m, limit):
    # Both arms of the if compute; the odd one's check moves before the branch.
    steps = 0
    while m != 1 and steps < limit:
        if m % 2 == 0:
            m = m // 2
        else:
            m = 3 * m + 1
        steps += 1
    return m, steps


def else_arm_check(a, n):
    # The checked arm is the else arm; the overflow comes mid-loop.
    t = 0
    for i in range(n):
        if i % 3 == 0:
            t = t - 1
        else:
            t = t + a * 7
    return t


def two_checks_in_arm(a, b, n):
    total = 0
    for i in range(n):
        if i & 1:
            total = total + a * 5 - b * 3
        else:
            total -= 1
    return total


def step_overflow(a, b, c):
    n = 0
    for _ in range(a, b, c):
        n += 1
    return n


def float_while(x):
    steps = 0
    while x > 1.0:
        x /= 3.0
        steps += 1
    return steps, x


def nested_ternary(a):
    return "never" if False else (1 if a > 10 else (2 if a > 5 else 3))


def early_returns(a, b):
    if a == b:
        return 0
    if a > b:
        return a - b
    return b - a


def elif_chain(x):
    if x < -10.0:
        r = -2
    elif x < 0.0:
        r = -1
    elif x == 0.0:
        r = 0
    elif x < 10.0:
        r = 1
    else:
        r = 2
    return r


def float_countdown(x):
    n = 0
    while x >= 0.0:
        x -= 0.75
        n += 1
    return n


def not_not(a):
    return not (not a)


SPECIAL = float("nan")

CASES = [
    (sign, [(5,), (-3,), (0,), (2**63 - 1,)]),
    (fsign, [(2.5,), (-0.0,), (float("nan"),), (-1e-300,)]),
    (count_down, [(10,), (0,), (-5,), (100000,)]),
    (sum_range1, [(10,), (0,), (-3,), (1000000,), (7,)]),
    (sum_range2, [(0, 10), (10, 0), (-5, 5), (3, 3), (2**32, 2**32 + 3)]),
    (sum_range3, [(0, 10, 3), (10, 0, -3), (0, 10, -1), (5, 5, 1), (0, 5, 0),
                  (-(2**63), 2**63 - 1, 2**62), (10, -10, -7), (0, 1, 2**63 - 1)]),
    (float_range_sum, [(10,), (0,), (1000,)]),
    (first_multiple, [(10, 3), (10, 11), (100, 7)]),
    (skip_odds, [(10,), (11,), (0,)]),
    (nested, [(5, 5), (0, 3), (10, 2)]),
    (while_break, [(10,), (0,), (-5,), (1000,)]),
    (collatz_steps, [(27,), (1,), (97,), (871,)]),
    (ternary, [(1, 2), (2, 1), (3, 3)]),
    (and_or, [(0, 0), (0, 5), (3, 0), (3, 4)]),
    (and_or_float, [(0.0, 1.0), (2.0, 0.0), (2.0, 3.0), (SPECIAL, 1.0)]),
    (bool_logic, [(True, False, False), (False, False, True), (True, True, True)]),
    (loop_var_after, [(5,), (1,), (0,)]),
    (maybe_bound, [(True,), (False,)]),
    (delete_local, [(3,), (2**63 - 1,)]),
    (gcd_loop, [(48, 18), (17, 5), (0, 9), (2**62, 2**40)]),
    (count_primes, [(100,), (1000,), (2,)]),
    (none_checks, [(1,), (-1,)]),
    (returns_none, [(1,), (2**63 - 1,)]),
    (bool_return, [(1, 2), (5, 20), (3, 1)]),
    (harmonic, [(10,), (100000,), (0,)]),
    (power_loop, [(3, 10), (3, 40), (-2, 63), (7, 0)]),
    (reverse_range, [(9,), (0,), (25,)]),
    (float_while, [(100.0,), (0.5,), (1e300,)]),
    (nested_ternary, [(11,), (6,), (1,)]),
    (early_returns, [(3, 3), (5, 2), (2, 5), (-(2**63), 2**63 - 1)]),
    (elif_chain, [(-20.0,), (-1.0,), (0.0,), (-0.0,), (5.0,), (50.0,), (SPECIAL,)]),
    (float_countdown, [(10.0,), (-1.0,), (0.0,)]),
    (not_not, [(0,), (5,), (0.0,), (SPECIAL,)]),
    (collatz_arms, [(27, 1000), (2**62 + 1, 60), (2**61 + 3, 200), (-7, 30), (-(2**62) - 1, 40),
                    (1, 5), (6, 0)]),
    (else_arm_check, [(3, 10), (2**59, 12), (2**60, 40), (-(2**59), 30)]),
    (two_checks_in_arm, [(1, 2, 20), (2**60, 0, 9), (0, 2**61, 9), (-(2**60), 2**60, 9)]),
    (step_overflow, [(0, 2**63 - 1, 2**62), (2**63 - 2, 2**63 - 1, 5), (-10, 10, 2**63 - 1)]),
]
