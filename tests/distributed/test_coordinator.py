"""python_optimizer.distributed: DistributedCoordinator on worker processes gives
list(map(...))'s results and exceptions, survives dying workers with a clear error,
retries, times out, and seeds workers' random streams independently."""

from pyopt_testing import PYOPT, run
from pyopt_testing import write_script as write


def run_script(tmp_path, source, *args, timeout=120):
    script = write(tmp_path, "job.py", source)
    done = run(PYOPT, [script, *map(str, args)], cwd=tmp_path, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_map_equals_list_map_in_order_with_any_chunksize(tmp_path):
    out = run_script(tmp_path, """
        import os
        from python_optimizer.distributed import (BackendType, DistributedCoordinator,
                                                  get_backend)

        def slow_square(x):
            s = 0
            for i in range(1000 * (x % 7)):  # uneven tasks
                s += 1
            return x * x

        offset = 3
        with DistributedCoordinator(num_workers=2) as c:
            items = list(range(101))
            expected = [slow_square(x) for x in items]
            print(c.map(slow_square, items) == expected)
            print(c.map(slow_square, items, chunksize=1) == expected)
            print(c.map(slow_square, items, chunksize=1000) == expected)
            print(c.map(lambda x: x + offset, [1, 2]))          # closures travel too
            print(c.map(os.getpid, []))
            print(c.submit_batch(pow, [(2, 3), (3, 2)]))
            print(c.reduce(slow_square, range(5), lambda a, b: a + b))
            print(c.reduce(slow_square, [], lambda a, b: a + b, initial=7))
            pids = set(c.map(lambda _: os.getpid(), range(40), chunksize=1))
            print(len(pids) <= 2, os.getpid() not in pids)
            stats = c.get_stats()
        print(get_backend() is BackendType.MULTIPROCESSING)
        print(stats["backend"], stats["workers"], stats["calls"], stats["tasks"])
    """)
    assert out.splitlines() == [
        "True", "True", "True", "[4, 5]", "[]", "[8, 9]", "30", "7", "True True",
        "True", "multiprocessing 2 9 352",
    ]


def test_a_task_exception_is_raised_with_the_remote_traceback(tmp_path):
    out = run_script(tmp_path, """
        import traceback
        from python_optimizer.distributed import DistributedCoordinator

        def check(x):
            if x in (13, 57):
                raise ValueError(f"bad item {x}")
            return x

        with DistributedCoordinator(num_workers=2) as c:
            try:
                c.map(check, range(100), chunksize=5)
            except ValueError as e:
                print("raised:", e)
                print("check" in "".join(traceback.format_exception(e)))
                print(type(e.__cause__).__name__.endswith("RemoteTraceback"))
            # The coordinator still works afterwards.
            print(c.map(check, [1, 2]))
    """)
    lines = out.splitlines()
    # The earliest failing item is raised, as list(map(...)) would.
    assert lines[0] == "raised: bad item 13"
    assert lines[1] == "True" and lines[2] == "True"
    assert lines[3] == "[1, 2]"


def test_a_dying_worker_is_an_error_not_a_hang_and_retries_recover(tmp_path):
    out = run_script(tmp_path, """
        import os, sys
        from python_optimizer.distributed import DistributedCoordinator, WorkerDiedError

        marker = sys.argv[1]

        def die_once(x):
            if x == 3 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(9)
            return x * 2

        with DistributedCoordinator(num_workers=2) as c:
            try:
                c.map(lambda x: os._exit(1) if x == 3 else x, range(8), chunksize=1)
            except WorkerDiedError as e:
                print("died:", e)
            print(c.map(abs, [-1, -2]))  # workers started again
        with DistributedCoordinator(num_workers=2, retries=1) as c:
            print(c.map(die_once, range(8), chunksize=1))
            print(c.get_stats()["worker_deaths"], c.get_stats()["retried_chunks"] >= 1)
    """, "marker", timeout=60)
    lines = out.splitlines()
    assert lines[0].startswith("died: a worker process died while running <lambda> on "
                               "items 4..4 of 8"), lines[0]
    assert lines[1] == "[1, 2]"
    assert lines[2] == "[0, 2, 4, 6, 8, 10, 12, 14]"
    assert lines[3] == "1 True"


def test_timeouts_stop_the_workers(tmp_path):
    out = run_script(tmp_path, """
        import time
        from python_optimizer.distributed import DistributedCoordinator

        with DistributedCoordinator(num_workers=2, timeout=0.5) as c:
            started = time.monotonic()
            try:
                c.map(time.sleep, [30, 30, 30])
            except TimeoutError as e:
                print("timeout:", e)
            print(time.monotonic() - started < 10)
            print(c.map(abs, [-3]))
    """, timeout=60)
    lines = out.splitlines()
    assert lines[0].startswith("timeout: ") and "were not done after 0.5 s" in lines[0]
    assert lines[1:] == ["True", "[3]"]


def test_workers_draw_independent_reproducible_streams(tmp_path):
    out = run_script(tmp_path, """
        import os, random, time
        import numpy as np
        from python_optimizer.distributed import DistributedCoordinator

        def draws(_):
            time.sleep(0.05)  # every worker gets a task
            return os.getpid(), random.random(), float(np.random.random())

        def streams(seed):
            with DistributedCoordinator(num_workers=2, seed=seed) as c:
                by_worker = {}
                for pid, a, b in c.map(draws, range(8), chunksize=1):
                    by_worker.setdefault(pid, []).append((a, b))
                return sorted(v[0] for v in by_worker.values())

        first, again, other = streams(1), streams(1), streams(2)
        print(len(first), first[0] != first[1])       # two workers, different streams
        print(first == again, first != other)         # the seed decides them
        parent = random.random()
        print(all(parent != a for a, _ in first))
    """)
    assert out.splitlines() == ["2 True", "True True", "True"]


def test_backends_say_what_they_can_do(tmp_path):
    out = run_script(tmp_path, """
        from python_optimizer import distributed as d

        print(sorted(b.value for b, ok in d.check_backend_availability().items() if ok))
        for name in ("mpi",):
            try:
                d.set_backend(name)
            except RuntimeError as e:
                print(e)
        try:
            d.set_backend("spark")
        except ValueError as e:
            print(e)
        d.set_backend("multiprocessing")
        for bad in ({"num_workers": 0}, {"retries": -1}, {"timeout": 0}):
            try:
                d.DistributedCoordinator(**bad)
            except ValueError as e:
                print(e)
    """)
    lines = out.splitlines()
    assert lines[0] == "['dask', 'multiprocessing', 'ray']"
    assert lines[1].startswith("cannot use BackendType.MPI: this process was not started "
                               "by an MPI launcher")
    assert lines[2] == "unknown backend 'spark'; known: multiprocessing, mpi, ray, dask"
    assert lines[3:] == ["num_workers must be a positive int, not 0",
                         "retries must be an int >= 0, not -1",
                         "timeout must be a number of seconds > 0, not 0"]


def test_traced_hand_offs_are_flows_into_worker_spans(tmp_path):
    from perfetto_check import BEGIN, load

    script = write(tmp_path, "job.py", """
        from python_optimizer.distributed import DistributedCoordinator
        def square(x):
            return x * x
        with DistributedCoordinator(num_workers=2) as c:
            print(sum(c.map(square, range(40), chunksize=10)))
    """)
    done = run(PYOPT, [script], env={"PYOPT_TRACE": "out.pftrace"}, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "20540\n"), done.stderr
    files = sorted(map(str, tmp_path.glob("out*.pftrace")))
    assert len(files) == 3, files  # the caller and its two workers
    merged = tmp_path / "merged.pftrace"
    done = run(PYOPT, ["-m", "python_optimizer", "trace", "merge", *files, "-o", str(merged)])
    assert done.returncode == 0, done.stderr
    tracks, events = load(merged)  # checks, among the rest, that every flow ends
    spans = [e for e in events if e[0] == BEGIN and e[1].startswith("square [")]
    assert sorted(e[1] for e in spans) == ["square [0..9]", "square [10..19]",
                                           "square [20..29]", "square [30..39]"]
    pid_of = {u: t.thread.pid for u, t in tracks.items() if t.HasField("thread")}
    caller_tracks, _ = load(tmp_path / "out.pftrace", flows_closed=False)
    caller = {t.process.pid for t in caller_tracks.values() if t.HasField("process")}
    workers = {pid_of[e[4]] for e in spans}
    assert workers and not workers & caller  # the chunks ran in the workers
