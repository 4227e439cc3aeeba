"""Compiled functions entered through trampolines, and discovery windows.

A compiled function's `__code__` is swapped for a trampoline that calls its native code
without the eval-frame hook (which is only installed in short discovery windows, or all
the time in compile-on-first-call mode). Everything a program can see must stay as
under python3: results, tracebacks, frames, signatures, recursion limits, debuggers."""

from pyopt_testing import PYOPT, assert_same, run, run_both
from pyopt_testing import write_script as write

FIRST_CALL = ["-X", "pyopt.jit_threshold=0"]


def test_calls_through_trampolines_look_like_python3(tmp_path):
    script = write(tmp_path, "looks.py", """
        import inspect
        import sys
        import traceback

        def div(a, b=2):
            return a // b

        def caller_name():
            return sys._getframe(1).f_code.co_name

        def outer(x):
            return div(x) + div(x, b=3) + div(b=5, a=x)

        for value in (7, 7.5, True, 2**62, -9):
            print(outer(value))
        try:
            div(1, 0)
        except ZeroDivisionError:
            traceback.print_exc(file=sys.stdout)
        try:
            div(2**70, 3)  # arguments no specialization takes
            div("a", 1)
        except TypeError:
            traceback.print_exc(file=sys.stdout)
        try:
            div()
        except TypeError as e:
            print("TypeError:", e)
        print(inspect.signature(div), inspect.getsourcelines(div)[1], div.__name__)
        print(div.__defaults__, div.__qualname__, div.__module__)
        stack = []

        def scale(x):
            return x * 3
        print(scale(4), scale(1.5))

        def where():
            return [f.function for f in inspect.stack()[:3]]
        print(where())
    """)
    reference, pyopt = run_both([*FIRST_CALL, script])
    assert_same(reference, pyopt)


def test_recursion_limit_is_python3s_through_trampolines(tmp_path):
    script = write(tmp_path, "depth.py", """
        import sys

        def depth(n):
            return 0 if n == 0 else 1 + depth(n - 1)

        def total(n):
            return 0.0 if n == 0 else 0.5 + total(n - 1)

        depth(3)
        total(3)
        sys.setrecursionlimit(120)
        for n in range(100, 125):
            for f in (depth, total):
                try:
                    print(n, f.__name__, f(n))
                except RecursionError as e:
                    print(n, f.__name__, "RecursionError", e)
    """)
    reference, pyopt = run_both([*FIRST_CALL, script])
    assert_same(reference, pyopt)


def test_deoptimizing_through_a_trampoline_resumes_the_original_code(tmp_path):
    script = write(tmp_path, "deopt.py", """
        import traceback

        def grow(x, n):
            for i in range(n):
                x = x * 3 + i
            return x

        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)

        print(grow(1, 5), grow(1, 60), grow(2, 3))
        print(fact(5), fact(25), fact(20))
        LIMIT = 3

        def uses_global(x):
            return x + LIMIT
        print(uses_global(1))
        LIMIT = 2.5
        print(uses_global(1))

        def fails(n):
            total = 0
            for i in range(n, -1, -1):
                total += 100 // i
            return total
        try:
            fails(4)
        except ZeroDivisionError:
            traceback.print_exc()
    """)
    reference, pyopt = run_both([*FIRST_CALL, script])
    assert_same(reference, pyopt)


def test_pdb_steps_through_a_function_that_was_compiled(tmp_path):
    script = write(tmp_path, "stepped.py", """
        def poly(x):
            y = 3 * x
            y = y + 1
            return y

        for i in range(5):
            poly(i)  # compiled (and trampolined) under pyopt-python
        import pdb
        pdb.Pdb(nosigint=True, readrc=False).runcall(poly, 7)
        print("after", poly(8), poly.__code__.co_code == poly.__code__.co_code)
    """)
    commands = "step\nnext\nnext\np y\nnext\ncontinue\n"
    reference, pyopt = run_both([*FIRST_CALL, script], stdin=commands)
    assert_same(reference, pyopt)
    assert "-> y = y + 1" in pyopt.stdout


def test_tracers_see_the_original_code_object(tmp_path):
    script = write(tmp_path, "traced.py", """
        import sys

        def add_up(n):
            s = 0
            for i in range(n):
                s += i
            return s

        add_up(3)
        add_up(4)
        lines = []

        def tracer(frame, event, arg):
            if frame.f_code is add_up.__code__:
                lines.append((event, frame.f_lineno))
            return tracer

        sys.settrace(tracer)
        add_up(2)
        sys.settrace(None)
        print(lines)
        calls = []
        sys.setprofile(lambda frame, event, arg: calls.append((event, frame.f_code.co_name)))
        add_up(2)
        sys.setprofile(None)
        print([c for c in calls if c[1] == "add_up"])
    """)
    reference, pyopt = run_both([*FIRST_CALL, script])
    assert_same(reference, pyopt)


def test_windows_find_hot_functions_without_a_permanent_hook(tmp_path):
    # The default settings: the hook is only installed in discovery windows; a hot
    # function is found in one, compiled, and then runs through its trampoline. One
    # defined late in the run is found too.
    script = write(tmp_path, "windows.py", """
        import time
        import python_optimizer

        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def spin_until(f, arg, seconds):
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                f(arg)
                info = python_optimizer.jit_info(f)
                if info and info["specializations"]:
                    return True
            return False

        print("fib found:", spin_until(fib, 15, 20.0))
        print(type(fib.__code__.co_consts[0]).__name__, fib(20))
        exec('''
        def late(n):
            s = 0.0
            for i in range(n):
                s += i * 0.5
            return s
        ''')
        print("late found:", spin_until(late, 50, 20.0), late(10))
    """)
    done = run(PYOPT, [script], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "fib found: True", "entry 6765", "late found: True 22.5"]


def test_forked_children_end_like_python3s(tmp_path):
    # A child forked by a thread other than the main one ends when that thread ends;
    # the JIT's discovery timer must not keep it alive. One forked by the main thread
    # keeps finding hot functions.
    script = write(tmp_path, "forks.py", """
        import os
        import threading
        import time

        def from_thread():
            pid = os.fork()
            if pid == 0:
                print("child of a thread", flush=True)
            else:
                _, status = os.waitpid(pid, 0)
                print("thread's child exited", os.waitstatus_to_exitcode(status), flush=True)

        thread = threading.Thread(target=from_thread)
        thread.start()
        thread.join()

        def square_sum(n):
            s = 0
            for i in range(n):
                s += i * i
            return s

        pid = os.fork()
        if pid == 0:
            deadline = time.perf_counter() + 2
            while time.perf_counter() < deadline:
                square_sum(100)
            print("main's child done", square_sum(100), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent done")
    """)
    reference, pyopt = run_both([script], timeout=60)
    assert_same(reference, pyopt)


def test_coverage_reports_the_same_lines_for_a_compiled_function(tmp_path):
    script = write(tmp_path, "covered.py", """
        import coverage

        def poly(x):
            y = 3 * x
            if y > 10:
                y -= 1
            else:
                y += 1
            return y

        for i in range(5):
            poly(i)  # compiled (and trampolined) under pyopt-python
        cov = coverage.Coverage(data_file=None, branch=True)
        cov.start()
        print(poly(7), poly(1))
        cov.stop()
        data = cov.get_data()
        print(sorted(data.lines(__file__)))
        print(sorted(data.arcs(__file__)))
    """)
    reference, pyopt = run_both([*FIRST_CALL, script])
    assert_same(reference, pyopt)
    assert "[4, 5, 6, 8, 9]" in pyopt.stdout


def test_a_long_call_gets_its_function_compiled_for_the_next_call(tmp_path):
    # Called only a few times, each call running long: the windows see the same frame
    # twice, compile the function in the background, and its later calls run natively.
    script = write(tmp_path, "long_calls.py", """
        def simulate(n, dt):
            x, v = 1.0, 0.0
            for i in range(n):
                a = -x * 0.5 - v * 0.01
                v += a * dt
                x += v * dt
            return x, v

        results = [simulate(2_000_000, 0.001) for _ in range(5)]
        print(results[0], len(set(results)))
        try:
            import python_optimizer
            print(python_optimizer.jit_info(simulate)["specializations"])
        except ImportError:
            print(['(int, float)'])
    """)
    reference, pyopt = run_both([script], timeout=300)
    assert_same(reference, pyopt)


def test_signals_blocked_by_the_main_thread_stay_pending(tmp_path):
    # pyopt's own threads (the discovery timer, the compile pool) block signals, so a
    # signal the main thread blocks stays pending, as in python3 with no other thread.
    script = write(tmp_path, "pending.py", """
        import os
        import signal
        import time

        def work(n):
            s = 0
            for i in range(n):
                s += i % 7
            return s

        deadline = time.perf_counter() + 0.5
        while time.perf_counter() < deadline:  # long enough to compile in the background
            work(1000)
        caught = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: caught.append(signum))
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.2)
        print(signal.sigpending() == {signal.SIGUSR1}, caught)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
        print(caught)
    """)
    reference, pyopt = run_both([script])
    assert_same(reference, pyopt)
    assert pyopt.stdout.splitlines()[0] == "True []"
