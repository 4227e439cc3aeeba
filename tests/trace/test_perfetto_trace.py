"""PYOPT_TRACE: traces of real runs pass the schema and structure checks of
tests/perfetto_check.py; the JIT's compiles, cache lookups and deoptimizations are there,
every call with PYOPT_TRACE_CALLS; child processes write their own files, which merge."""

import os

from perfetto_check import BEGIN, COUNTER, INSTANT, load, protoc_decode
from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write

FIRST_CALL = ["-X", "pyopt.jit_threshold=0"]


SCRIPT = """
    import math, subprocess, sys

    def kernel(x, n):
        s = 0.0
        for i in range(n):
            s += math.sqrt(x * i)
        return s

    def first(values):
        return values[-1] * 2

    print(kernel(2.0, 1000))
    print(first([1.5, 2.5]), first([1.5, "x"]))  # the second hands over
    if len(sys.argv) > 1:
        subprocess.run([sys.executable, "-c", "print('child')"], check=True)
"""


def test_a_jit_run_traces_compiles_cache_lookups_and_deopts(tmp_path):
    script = write(tmp_path, "jit.py", SCRIPT)
    env = {"PYOPT_TRACE": "out.pftrace", "PYOPT_CACHE_DIR": str(tmp_path / "cache")}
    done = run(PYOPT, [*FIRST_CALL, script, "child"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tracks, events = load(tmp_path / "out.pftrace")
    protoc_decode(tmp_path / "out.pftrace")
    processes = [t for t in tracks.values() if t.HasField("process")]
    assert len(processes) == 1 and processes[0].process.pid > 0
    threads = [t for t in tracks.values() if t.HasField("thread")]
    assert any(t.thread.thread_name == "main" for t in threads)
    compiles = [e for e in events if e[0] == BEGIN and e[1] == "compile kernel"]
    assert [e[3]["signature"] for e in compiles] == ["(float, int)"]
    # Its phases nest inside it, LLVM's own inside "LLVM".
    depth = {e[1]: e[2] for e in events if e[0] == BEGIN}
    assert depth["compile kernel"] == 1
    assert [depth[p] for p in ("front end", "LLVM", "link")] == [2, 2, 2], depth
    assert [depth[p] for p in ("IR", "optimize", "codegen")] == [3, 3, 3], depth
    lookups = [(e[1], e[3].get("unit")) for e in events if e[0] == INSTANT]
    assert ("cache miss", "kernel(float, int)") in lookups
    deopts = [e for e in events if e[0] == INSTANT and e[1] == "deopt first"]
    assert deopts and "jit.py:" in deopts[0][3]["reason"], events
    assert any(e[0] == COUNTER for e in events)
    counters = {t.name for t in tracks.values() if t.HasField("counter")}
    assert {"compiled functions", "cache hit rate (%)", "RSS (MiB)"} <= counters, counters
    # The child wrote its own file, its own process.
    children = [p for p in tmp_path.glob("out.*.pftrace")]
    assert len(children) == 1, list(tmp_path.iterdir())
    child_tracks, _ = load(children[0])
    child_pid = [t.process.pid for t in child_tracks.values() if t.HasField("process")]
    assert child_pid and child_pid[0] != processes[0].process.pid
    assert children[0].name == f"out.{child_pid[0]}.pftrace"

    # A second run loads the code from the cache, and the trace says so.
    done = run(PYOPT, [*FIRST_CALL, script], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _, events = load(tmp_path / "out.pftrace")
    lookups = [(e[1], e[3].get("unit")) for e in events if e[0] == INSTANT]
    assert ("cache hit", "kernel(float, int)") in lookups


def test_a_forked_child_writes_its_own_trace_not_over_its_parents(tmp_path):
    script = write(tmp_path, "fork.py", """
        import os, sys
        def work(x, n):
            s = 0
            for i in range(n):
                s += x * i
            return s
        work(2, 100)
        pid = os.fork()
        if pid == 0:
            work(3.5, 100)  # a new specialization, compiled in the child
            sys.exit(0)
        os.waitpid(pid, 0)
        print("child", pid, flush=True)
    """)
    done = run(PYOPT, [*FIRST_CALL, script], env={"PYOPT_TRACE": "out.pftrace"},
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    child = done.stdout.split()[1]
    _, parent_events = load(tmp_path / "out.pftrace")
    _, child_events = load(tmp_path / f"out.{child}.pftrace")
    signatures = lambda events: [e[3]["signature"] for e in events
                                 if e[0] == BEGIN and e[1] == "compile work"]
    assert signatures(parent_events) == ["(int, int)"]
    assert signatures(child_events) == ["(float, int)"]


def test_no_trace_is_written_unless_asked(tmp_path):
    script = write(tmp_path, "jit.py", SCRIPT)
    done = run(PYOPT, [*FIRST_CALL, script], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob("*.pftrace"))


def test_an_unwritable_trace_path_is_a_warning_naming_it(tmp_path):
    script = write(tmp_path, "jit.py", SCRIPT)
    target = tmp_path / "missing-dir" / "out.pftrace"
    done = run(PYOPT, [*FIRST_CALL, script], env={"PYOPT_TRACE": str(target)})
    assert done.returncode == 0
    assert f"could not write the trace to {target} (PYOPT_TRACE)" in done.stderr
    assert os.path.exists(script)


CALLS = """
    import sys, threading

    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def fails():
        raise ValueError("traced")

    def in_thread():
        print("thread", fib(4))

    try:
        fails()
    except ValueError as e:
        print("caught", e)
    t = threading.Thread(target=in_thread, name="worker")
    t.start(); t.join()
    print(fib(int(sys.argv[1])))
"""


def call_slices(events, name):
    return [e for e in events if e[0] == BEGIN and e[1] == name]


def test_trace_calls_records_every_call_as_a_nested_slice(tmp_path):
    script = write(tmp_path, "calls.py", CALLS)
    expected = run("python3", [script, "6"])
    env = {"PYOPT_TRACE": "out.pftrace", "PYOPT_TRACE_CALLS": "1", "PYOPT_JIT": "0"}
    done = run(PYOPT, [script, "6"], env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, expected.stdout), done.stderr
    tracks, events = load(tmp_path / "out.pftrace")
    protoc_decode(tmp_path / "out.pftrace")
    names = {u: t.thread.thread_name for u, t in tracks.items() if t.HasField("thread")}
    fibs = call_slices(events, "fib")
    # fib(6) makes 25 calls on the main thread, fib(4) 9 on the worker's.
    by_thread = {}
    for e in fibs:
        by_thread[names[e[4]]] = by_thread.get(names[e[4]], 0) + 1
    assert by_thread == {"main": 25, "worker": 9}, by_thread
    main_fibs = [e for e in fibs if names[e[4]] == "main"]
    # The module body is the outermost slice; fib(6) recurses six deep below it.
    assert min(e[2] for e in main_fibs) == 2 and max(e[2] for e in main_fibs) == 7
    script_body = [e for e in call_slices(events, "<module>")
                   if e[3]["source"].endswith("calls.py:1")]
    assert [e[2] for e in script_body] == [1]
    assert main_fibs[0][3]["source"].endswith("calls.py:3")
    # A call that raised is a closed slice like any other.
    assert len(call_slices(events, "fails")) == 1


def test_trace_calls_with_the_jit_gives_python3s_results(tmp_path):
    script = write(tmp_path, "calls.py", CALLS)
    expected = run("python3", [script, "20"])
    env = {"PYOPT_TRACE": "out.pftrace", "PYOPT_TRACE_CALLS": "1"}
    done = run(PYOPT, [*FIRST_CALL, script, "20"], env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, expected.stdout), done.stderr
    _, events = load(tmp_path / "out.pftrace")
    # fib is compiled at its first call; a call running compiled code is one slice,
    # its recursion native.
    assert any(e[0] == BEGIN and e[1] == "compile fib" for e in events)
    assert 1 <= len(call_slices(events, "fib")) < 100


def test_without_trace_calls_no_call_is_recorded(tmp_path):
    script = write(tmp_path, "calls.py", CALLS)
    done = run(PYOPT, [script, "6"], env={"PYOPT_TRACE": "out.pftrace", "PYOPT_JIT": "0"},
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _, events = load(tmp_path / "out.pftrace")
    assert not call_slices(events, "fib")


POOL = """
    import multiprocessing as mp

    def work(x):
        s = 0
        for i in range(20000):
            s += i * x
        return s

    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            print(sum(pool.map(work, range(40), chunksize=1)))
"""


def test_a_terminated_worker_writes_its_trace_and_dies_of_sigterm(tmp_path):
    script = write(tmp_path, "term.py", """
        import multiprocessing as mp, time
        def sleep():
            time.sleep(60)
        if __name__ == "__main__":
            p = mp.get_context("fork").Process(target=sleep)
            p.start(); time.sleep(0.5); p.terminate(); p.join()
            print(p.exitcode, p.pid)
    """)
    done = run(PYOPT, [script], env={"PYOPT_TRACE": "out.pftrace"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    code, pid = done.stdout.split()
    assert code == "-15"  # as under python3
    load(tmp_path / f"out.{pid}.pftrace")


def test_fork_pool_workers_write_traces_that_merge_into_one(tmp_path):
    script = write(tmp_path, "pool.py", POOL)
    expected = run("python3", [script])
    done = run(PYOPT, [script], env={"PYOPT_TRACE": "out.pftrace"}, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, expected.stdout), done.stderr
    files = sorted(tmp_path.glob("out*.pftrace"))
    # The parent's and one per worker (they leave through os._exit).
    assert len(files) == 3, files
    for path in files:
        tracks, _ = load(path)
        # Every process puts its resident memory on a counter track.
        assert any(t.name == "RSS (MiB)" for t in tracks.values()), path
    merged = tmp_path / "merged.pftrace"
    done = run(PYOPT, ["-m", "python_optimizer", "trace", "merge", *map(str, files),
                       "-o", str(merged)])
    assert (done.returncode, done.stdout) == (0, f"merged 3 traces into {merged}\n"), \
        done.stderr
    tracks, _ = load(merged)
    assert protoc_decode(merged).count("process {") == 3
    pids = {t.process.pid for t in tracks.values() if t.HasField("process")}
    assert len(pids) == 3
    # A process twice, or the output among the inputs, is refused.
    done = run(PYOPT, ["-m", "python_optimizer", "trace", "merge", str(files[0]),
                       str(files[0]), "-o", str(tmp_path / "twice.pftrace")])
    assert done.returncode == 1 and "same process" in done.stderr, done.stderr
    done = run(PYOPT, ["-m", "python_optimizer", "trace", "merge", str(files[0]),
                       "-o", str(files[0])])
    assert done.returncode == 2 and "is one of the inputs" in done.stderr
