"""On-stack replacement: a call that runs long in a loop continues in compiled code.

Each script calls its functions once, with loops long enough (seconds under python3) for
the running call to be noticed, its loop compiled in the background and entered at a
loop header. Everything the program sees must be python3's: results, the locals after
the loop, exceptions and tracebacks raised inside the compiled loop, signals. Each
script also prints whether pyopt entered the loop (python3 prints the same answer), so
a run where on-stack replacement silently stopped working fails."""

from pyopt_testing import assert_same, run_both
from pyopt_testing import write_script as write

# Prints, for each function, whether its running call continued in a compiled loop
# (under python3, where there is no JIT, the expected answer).
ENTERED = """
def entered(*functions):
    try:
        import python_optimizer
    except ImportError:
        return [True] * len(functions)
    return [python_optimizer.jit_info(f)["loop_entries"] > 0 for f in functions]
"""


def test_long_loops_continue_in_compiled_code_with_python3s_results(tmp_path):
    script = write(tmp_path, "loops.py", ENTERED + """
import random

def simulate(steps):
    x, v = 1.0, 0.0
    total = 0
    for i in range(steps):
        a = -x * 0.01
        v += a
        x += v * 0.01
        total += i % 7
    return x, v, total, i

def nested(n):
    s = 0
    for i in range(n):
        for j in range(3):
            s += i ^ j
    k = 0
    while k < 5:
        k += 1
    return s, i, j, k

def countdown(n):
    f = 1.0
    while n > 0:
        n -= 1
        f = f * 1.0000001
        if n % 1000 == 0:
            f = -f
    return n, f

def first_square_above(n):
    for i in range(10 ** 12):
        if i * i > n:
            return i
    return -1

def monte_carlo(n):
    inside = 0
    for _ in range(n):
        x = random.random()
        y = random.random()
        if x * x + y * y <= 1.0:
            inside += 1
    return 4.0 * inside / n

def keeps_objects(n):
    data = [1, 2, 3]       # compiled code cannot hold these: they stay in the frame
    label = "total"
    acc = 0.0
    for i in range(n):
        acc += i * 0.25
    data.append(acc)
    return label, data, i

def guarded(n):
    # Exception handlers before and after the loop stay the interpreter's.
    try:
        scale = float("2.5")
    except ValueError:
        scale = 1.0
    acc = 0.0
    for i in range(n):
        acc += i * scale
    try:
        return acc / (n - n)
    except ZeroDivisionError:
        return acc, i

def over_lists(n):
    # Loops over a list (its iterator on the stack) and indexing one, items written.
    data = [0.5 * k for k in range(1000)]
    counts = [0, 0, 0]
    acc = 0.0
    for rep in range(n):
        for x in data:
            acc += x * x
        counts[rep % 3] += 1
        data[rep % 1000] = acc * 1e-9
    return acc, counts, data[:3], rep, x

def over_iterators(n):
    # enumerate(), zip() and reversed() running: entered with their state.
    data = [0.5 * k for k in range(1000)]
    other = [1.0 + k for k in range(1000)]
    acc = 0.0
    for rep in range(n):
        for i, x in enumerate(data):
            acc += i * x
        for x, y in zip(data, other):
            acc -= x * y
        for x in reversed(other):
            acc = acc * 0.5 + x
    return acc, rep, i, x, y

def over_numpy(n):
    # A loop over a float64 array (numpy's sequence iterator), items numpy float64.
    import numpy as np
    a = np.linspace(0.0, 1.0, 1000)
    count = 0
    for rep in range(n):
        for x in a:
            if x > 0.5:
                count += 1
    return count, x

random.seed(7)
print(over_numpy(6_000))
print(over_lists(12_000))
print(over_iterators(3_000))
print(simulate(12_000_000))
print(nested(3_000_000))
print(countdown(12_000_000))
print(first_square_above(10 ** 14))
print(monte_carlo(5_000_000), random.random())
print(keeps_objects(12_000_000))
print(guarded(12_000_000))
print(entered(simulate, nested, countdown, first_square_above, monte_carlo, keeps_objects,
              guarded, over_lists, over_iterators, over_numpy))
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)


def test_leaving_a_compiled_loop_midway_gives_python3s_state_and_tracebacks(tmp_path):
    script = write(tmp_path, "leaving.py", ENTERED + """
import sys
import traceback

def overflows_late(n):
    x = 1
    acc = 0.0
    for i in range(n):
        acc += i * 0.5
        if i == n - 3:
            x = x * (2 ** 62) * 8   # beyond 64 bits: the interpreter goes on
        x += 1
    return x, acc, i

def divides_by_zero(n):
    t = 0
    for i in range(n):
        t += i
        if i == n - 2:
            t = t // (i - i)
    return t

def step(a, i, n):
    return a * 0.5 + 1.0 / (i - (n - 10))

def callee_raises(n):
    acc = 0.0
    for i in range(n):
        acc = step(acc, i, n)
    return acc

def unbound_at_the_end(n):
    for i in range(n):
        if i == n - 1:
            z = i
    del i
    return z, sorted(locals())

print(overflows_late(12_000_000))
for function, n in ((divides_by_zero, 12_000_000), (callee_raises, 6_000_000)):
    try:
        function(n)
    except ZeroDivisionError:
        traceback.print_exc(file=sys.stdout)
print(unbound_at_the_end(12_000_000))
print(entered(overflows_late, divides_by_zero, callee_raises, unbound_at_the_end))
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)


def test_a_loop_the_jit_cannot_compile_is_reported_and_runs_as_in_python3(tmp_path):
    script = write(tmp_path, "refused.py", """
def sums_a_dict(n):
    data = {0: 1.5, 1: 2.5}
    acc = 0.0
    for i in range(n):
        acc += data[i % 2]
    return acc

def shares_an_iterator(n):
    # The enumerate's iterator is also used after the loop: never taken over.
    data = [0.5 * k for k in range(1000)]
    acc = 0.0
    for rep in range(n):
        it = iter(data)
        for i, x in enumerate(it):
            acc += x
            if i == 500:
                break
        acc += next(it)
    return acc

print(sums_a_dict(6_000_000))
print(shares_an_iterator(9_000))
try:
    import python_optimizer
except ImportError:
    print("refused: True")
    print("not taken over: True")
else:
    info = python_optimizer.jit_info(sums_a_dict)
    reasons = [r["reason"] for r in info["refusals"]] if info else []
    print("refused:", info is not None and info["loop_entries"] == 0
          and any("'data'" in r and "dict" in r for r in reasons))
    info = python_optimizer.jit_info(shares_an_iterator)
    print("not taken over:", info is None or info["loop_entries"] == 0)
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)


def test_a_signal_interrupts_a_compiled_loop_as_it_interrupts_python3(tmp_path):
    # The alarm fires after the loop was entered (about 0.2 s in): the compiled loop
    # hands the frame back at its eval-breaker check and the handler raises there.
    script = write(tmp_path, "alarm.py", ENTERED + """
import signal
import sys
import traceback

class Timeout(Exception):
    pass

def on_alarm(signum, frame):
    raise Timeout()

def spin():
    k = 0
    while True:
        k += 1

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 2.0)
try:
    spin()
except Timeout:
    traceback.print_exc(file=sys.stdout)
print(entered(spin))
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)


# Module bodies: a script's top-level loop runs once, in the module's frame, with the
# module's globals as its variables.
MODULE_ENTERED = """
def module_loops_entered(*marks):
    # Whether pyopt entered the loops whose header line ends with "# loop <mark>".
    try:
        import python_optimizer
    except ImportError:
        return [True] * len(marks)
    with open(__file__) as source:
        text = source.read().splitlines()
    lines = [n for mark in marks for n, line in enumerate(text, 1)
             if line.endswith("# loop " + mark)]
    for s in python_optimizer.jit_stats():
        if s["function"] == "<module>" and s["file"] == __file__:
            return [s["loop_entries"] > 0 and line in s["loops"] for line in lines]
    return [False] * len(marks)
"""


def test_a_module_body_loop_runs_compiled_with_python3s_globals(tmp_path):
    script = write(tmp_path, "module_loops.py", MODULE_ENTERED + """
import math
import random
try:
    import not_a_module_anywhere
except ImportError:
    not_a_module_anywhere = None

def square(v):            # reads no variable the loops update: called natively
    return v * v

random.seed(11)
N = 4_000_000
N_id = id(N)              # held by the loop, never stored: the same object after it
inside = 0
total = 0.0
for i in range(N):                                  # loop A
    x = random.random()
    y = random.random()
    if square(x) + square(y) <= 1.0:
        inside += 1
    total += math.sqrt(i) * 0.5
print(4.0 * inside / N, total, i, x, y, id(N) == N_id)

s = 0
for j in range(400_000):
    for k in range(10):     # the outer counter is held # loop B
        s += (j ^ k) & 7
print(s, j, k)

n = 9_000_000
f = 1.0
while n > 0:
    n -= 1                  # a while loop's header is its body's first line # loop C
    f = f * 1.0000001
    if n % 1000 == 0:
        f = -f
print(n, f)
print(sorted(name for name in globals() if not name.startswith("__")))
print(module_loops_entered("A", "B", "C"))
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)


def test_leaving_a_module_body_loop_midway_gives_python3s_globals_and_traceback(tmp_path):
    script = write(tmp_path, "module_leaving.py", MODULE_ENTERED + """
import sys

def peek():               # reads a variable the loop updates: the loop is not compiled
    return acc

acc = 0.0
for i in range(3_000_000):                          # loop A
    acc += peek() * 0.0 + 1.0
print(acc, i)

x = 1
t = 0.0
for i in range(8_000_000):                          # loop B
    t += i * 0.5
    if i == 7_999_990:
        x = x * (2 ** 62) * 8                       # beyond 64 bits
    x += 1
print(x, t, i)
try:
    import python_optimizer
except ImportError:
    refused = True
else:
    refused = any("'acc'" in r["reason"] for s in python_optimizer.jit_stats()
                  if s["function"] == "<module>" and s["file"] == __file__
                  for r in s["refusals"])
print(module_loops_entered("B"), "refused:", refused, file=sys.stderr)
total = 0
for i in range(8_000_000):                          # loop C
    total += i
    if i == 7_999_998:
        total = total // (i - i)
print("not reached")
""")
    reference, pyopt = run_both([script], timeout=600)
    assert reference.returncode == 1
    assert_same(reference, pyopt)


def test_signals_and_threads_see_a_module_body_loops_variables(tmp_path):
    # The alarm's handler sets a global the loop reads; a thread waits for a global
    # the loop updates. The compiled loop hands back whenever either needs to run.
    script = write(tmp_path, "module_signals.py", MODULE_ENTERED + """
import signal
import threading
import time

stop = False

def on_alarm(signum, frame):
    global stop
    stop = True

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 1.5)
k = 0
while not stop:
    k += 1                                          # loop A
print("stopped", k > 0)

seen = []
def watch():
    while counter < 3_000_000:
        time.sleep(0.001)
    seen.append(counter >= 3_000_000)

counter = 0
thread = threading.Thread(target=watch)
thread.start()
for m in range(12_000_000):                         # loop B
    counter += 1
thread.join()
print(seen, counter)
print(module_loops_entered("A", "B"))
""")
    reference, pyopt = run_both([script], timeout=600)
    assert_same(reference, pyopt)
