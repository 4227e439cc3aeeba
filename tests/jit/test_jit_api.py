"""`python_optimizer.optimize` and the statistics API, under the default settings
(discovery windows): a decorated function compiles on its first call."""

from pyopt_testing import PYOPT, assert_same, run, run_both
from pyopt_testing import write_script as write


def test_optimize_compiles_on_the_first_call(tmp_path):
    script = write(tmp_path, "decorated.py", """
        import python_optimizer
        from python_optimizer import optimize, jit_info

        @optimize
        def bare(n):
            s = 0
            for i in range(n):
                s += i * i
            return s

        @optimize(specialize=False)
        def single(x):
            return x * 2

        @optimize(jit=False)
        def never(x):
            return x + 1

        @optimize(fastmath=True)
        def total(n):
            s = 0.0
            for i in range(n):
                s += i * 0.1
            return s

        @optimize
        def keyword_only(*, x):
            return x

        print(bare(10), single(3), single(2.5), never(1), total(10) > 0, keyword_only(x=1))
        print(jit_info(bare)["specializations"], jit_info(bare)["calls"])
        print(jit_info(single)["specializations"])
        print(jit_info(never)["specializations"], jit_info(never)["refusals"])
        print(jit_info(total)["specializations"])
        print(jit_info(keyword_only)["refusals"][0]["reason"])
        print(python_optimizer.jit_stats()[0]["function"])
        for bad in (42, print, (lambda: 0).__code__):
            try:
                optimize(bad)
            except TypeError as e:
                print("TypeError:", e)
        try:
            optimize(fastmath=1)
        except TypeError as e:
            print("TypeError:", e)
    """)
    done = run(PYOPT, [script])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "285 6 5.0 2 True 1",
        "['(int)'] 1",
        "['(int)']",
        "[] [{'signature': '()', 'reason': '@optimize(jit=False)'}]",
        "['(int)']",
        "@optimize: functions with keyword-only parameters, *args, **kwargs or closures "
        "are not compiled yet",
        "bare",
        "TypeError: python_optimizer.optimize() takes a Python function (def or lambda), "
        "not int",
        "TypeError: python_optimizer.optimize() takes a Python function (def or lambda), "
        "not builtin_function_or_method",
        "TypeError: python_optimizer.optimize() takes a Python function (def or lambda), "
        "not code",
        "TypeError: optimize(): fastmath must be True or False, not int",
    ]


def test_optimized_functions_give_python3s_results(tmp_path):
    # The same script under python3 uses a stand-in decorator.
    script = write(tmp_path, "same.py", """
        try:
            from python_optimizer import optimize
        except ImportError:
            def optimize(f=None, **options):
                return f if f is not None else (lambda g: g)

        @optimize
        def collatz(n):
            steps = 0
            while n != 1:
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                steps += 1
            return steps

        @optimize(specialize=False)
        def mix(a, b):
            return a / b if b else -a

        print([collatz(n) for n in (1, 7, 27, 2**40 + 1)])
        print(mix(1, 3), mix(2.5, 0), mix(True, 2), mix(2**70, 3))
        try:
            mix(1, 0.0)
        except ZeroDivisionError as e:
            print("ZeroDivisionError", e)
    """)
    reference, pyopt = run_both([script])
    assert_same(reference, pyopt)


def test_jit_log_names_compiles_refusals_and_deopts(tmp_path):
    script = write(tmp_path, "logged.py", """
        from python_optimizer import optimize

        @optimize
        def grow(x):
            return x * 1000

        @optimize
        def text(s):
            return s + "!"

        grow(3)
        grow(2**62)
        text("a")
    """)
    done = run(PYOPT, ["-X", "pyopt.jit_log", script])
    assert done.returncode == 0, done.stderr
    assert f"pyopt: compiled grow ({script}:3) for (int) in " in done.stderr
    assert f"pyopt: deoptimized grow ({script}:5): " in done.stderr
    assert f"pyopt: not compiling text ({script}:7) for (str): argument 1 is a str" \
        in done.stderr
