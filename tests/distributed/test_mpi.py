"""MPI ranks under `mpirun -n N pyopt-python` (issue 8 items 1 and 2, MPI part): the
collectives of python_optimizer.distributed, numpy arrays as raw buffers, jobs that end
(never hang) when a rank raises or dies, mpi4py scripts, and the collective
`DistributedCoordinator.map` with dynamic load balancing. Real Open MPI, real ranks."""

import pytest

from pyopt_testing import PYOPT, mpirun, run, write_script

COLLECTIVES = """
    import numpy as np
    from python_optimizer import distributed as d

    r, n = d.rank(), d.size()
    assert d.get_backend() is (d.BackendType.MPI if n > 1 else d.BackendType.MULTIPROCESSING)

    def arrays(seed):
        rng = np.random.default_rng(seed)
        out = {}
        for dtype in ("float64", "float32", "int64", "int32", "int8", "uint8", "bool"):
            out[dtype] = (rng.random((3, 4, 5)) * 100).astype(dtype)
        out["fortran"] = np.asfortranarray(rng.random((6, 7)))
        out["strided"] = rng.random((8, 9))[::2, 1::3]
        out["empty"] = np.zeros((0, 3))
        return out

    def same(a, b):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b)

    # bcast: objects and arrays; arrays arrive on the received buffer (no copy out of
    # a pickle), aligned and writable.
    sent = {"arrays": arrays(0), "text": "héllo", "nested": [1, (2.5, None)]} if r == 0 else None
    got = d.bcast(sent, root=0)
    want = arrays(0)
    for key, array in want.items():
        same(got["arrays"][key], array)
        if r != 0 and array.size and key != "strided":
            received = got["arrays"][key]
            assert not received.flags.owndata and received.flags.aligned, key
            assert received.flags.writeable, key
    assert got["text"] == "héllo" and got["nested"] == [1, (2.5, None)]
    last = d.bcast(r * 7, root=n - 1)
    assert last == (n - 1) * 7

    # gather / allgather: every rank's object, in rank order.
    mine = (r, arrays(r)["float64"] * r)
    gathered = d.gather(mine, root=0)
    if r == 0:
        assert [g[0] for g in gathered] == list(range(n))
        for q, (_, array) in enumerate(gathered):
            same(array, arrays(q)["float64"] * q)
    else:
        assert gathered is None
    everyone = d.allgather({"rank": r, "ints": np.arange(r, dtype=np.int32)})
    assert [e["rank"] for e in everyone] == list(range(n))
    for q, e in enumerate(everyone):
        same(e["ints"], np.arange(q, dtype=np.int32))

    # scatter, reduce, allreduce.
    part = d.scatter([np.full(q + 1, q) for q in range(n)] if r == 1 % n else None, root=1 % n)
    same(part, np.full(r + 1, r))
    total = d.reduce(np.ones(4) * (r + 1), op="sum", root=0)
    if r == 0:
        same(total, np.ones(4) * (n * (n + 1) / 2))
    assert d.allreduce(r, op="max") == n - 1
    assert d.allreduce([r], op=lambda a, b: a + b) == list(range(n))
    d.barrier()
    print(f"ok {r} of {n}")
"""


@pytest.mark.parametrize("ranks", [2, 4])
def test_collectives_on_every_rank(tmp_path, ranks):
    script = write_script(tmp_path, "collectives.py", COLLECTIVES)
    done = mpirun(ranks, PYOPT, [script])
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.split("\n")[:-1]) == [f"ok {r} of {ranks}" for r in range(ranks)]


def test_without_a_launcher_the_process_is_rank_0_of_1_and_never_loads_mpi(tmp_path):
    script = write_script(tmp_path, "single.py", COLLECTIVES + """
    maps = open("/proc/self/maps").read()
    assert "libmpi" not in maps, "MPI was loaded without a launcher"
    availability = d.check_backend_availability()
    assert availability[d.BackendType.MPI] is False
    try:
        d.set_backend("mpi")
    except RuntimeError as error:
        assert "mpirun -n N pyopt-python" in str(error), error
    else:
        raise AssertionError("the MPI backend was accepted without mpirun")
    """)
    done = run(PYOPT, [script])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok 0 of 1\n"


def test_an_uncaught_exception_on_one_rank_ends_the_job_with_its_traceback(tmp_path):
    script = write_script(tmp_path, "raises.py", """
        from python_optimizer import distributed as d

        def compute():
            raise ValueError("bad input on rank 1")

        if d.rank() == 1:
            compute()
        d.barrier()  # rank 0 would wait here forever
        print("not reached")
    """)
    done = mpirun(2, PYOPT, [script], timeout=60)
    assert done.returncode != 0
    assert "not reached" not in done.stdout
    assert "ValueError: bad input on rank 1" in done.stderr, done.stderr
    assert 'line 4, in compute' in done.stderr
    assert "rank 1 of 2 raised an uncaught exception" in done.stderr


def test_an_mpi4py_script_whose_rank_raises_ends_too(tmp_path):
    # Under python3 this job hangs: rank 0 waits in the barrier for ever. pyopt-python
    # installs its excepthook at start-up under a launcher, so plain mpi4py scripts
    # get it too.
    script = write_script(tmp_path, "raises4py.py", """
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        if comm.rank == 1:
            raise ZeroDivisionError("rank 1 divided by zero")
        comm.barrier()
        print("not reached")
    """)
    done = mpirun(2, PYOPT, [script], timeout=60)
    assert done.returncode != 0
    assert "not reached" not in done.stdout
    assert "ZeroDivisionError: rank 1 divided by zero" in done.stderr, done.stderr


def test_a_rank_that_dies_ends_the_job(tmp_path):
    script = write_script(tmp_path, "dies.py", """
        import os, signal
        from python_optimizer import distributed as d

        if d.rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        d.barrier()
        print("not reached")
    """)
    done = mpirun(2, PYOPT, [script], timeout=60)
    assert done.returncode != 0
    assert "not reached" not in done.stdout
    assert "signal 9" in done.stderr, done.stderr


@pytest.mark.parametrize("order", ["mpi4py first", "pyopt first"])
def test_mpi4py_scripts_keep_working(tmp_path, order):
    first, second = ("from mpi4py import MPI", "from python_optimizer import distributed as d")
    if order == "pyopt first":
        first, second = second + "; d.rank()", first
    script = write_script(tmp_path, "both.py", f"""
        {first}
        {second}
        import numpy as np

        comm = MPI.COMM_WORLD
        assert MPI.Is_initialized() and (comm.Get_rank(), comm.Get_size()) == (d.rank(), d.size())
        # Interleaved traffic: mpi4py's messages and pyopt's never meet.
        if comm.rank == 0:
            comm.send("from mpi4py", dest=1, tag=1)
        got = d.bcast(np.arange(5) if d.rank() == 0 else None)
        if comm.rank == 1:
            assert comm.recv(source=0, tag=MPI.ANY_TAG) == "from mpi4py"
        assert got.tolist() == [0, 1, 2, 3, 4]
        assert comm.allreduce(comm.rank) == d.allreduce(d.rank()) == 1
        print("ok", comm.rank)
    """)
    done = mpirun(2, PYOPT, [script], timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.split()) == ["0", "1", "ok", "ok"]


MAP = """
    import os, time
    from python_optimizer import distributed as d
    from python_optimizer.distributed import DistributedCoordinator

    def uneven(i):
        time.sleep(0.5 if i == 0 else 0.0)  # one slow item
        return i * i

    def fails(i):
        if i in (13, 29):
            raise KeyError(f"item {i}")
        return i

    r, n = d.rank(), d.size()
    with DistributedCoordinator() as coordinator:
        assert coordinator.backend_type is d.BackendType.MPI and coordinator.num_workers == n
        assert coordinator.map(uneven, range(40), chunksize=1) == [i * i for i in range(40)]
        stats = coordinator.get_stats()
        done_here = d.allgather(stats["tasks"])
        # Balanced: while one rank runs the slow item, the others run the rest.
        assert sum(done_here) == 40 and min(done_here) <= 3, done_here
        assert coordinator.submit_batch(pow, [(2, k) for k in range(10)]) == [2**k for k in range(10)]
        assert coordinator.reduce(abs, range(-5, 5), lambda a, b: a + b) == 25
        assert coordinator.map(abs, []) == []
        try:
            coordinator.map(fails, range(40), chunksize=3)
        except KeyError as error:
            assert str(error) == "'item 13'", error
            assert "in fails" in str(error.__cause__), error.__cause__
        else:
            raise AssertionError("no exception")
    # Independent, reproducible streams per rank inside tasks; the program's own are
    # left as they were.
    import random
    random.seed(5)
    before = random.random()
    random.seed(5)
    draws = DistributedCoordinator(seed=11).map(lambda _: (d.rank(), random.random()),
                                                range(4 * n), chunksize=1)
    assert random.random() == before, "the program's random stream was moved"
    by_rank = {}
    for rank, value in draws:
        by_rank.setdefault(rank, []).append(value)
    firsts = [values[0] for values in by_rank.values()]
    assert len(set(firsts)) == len(firsts), "two ranks drew the same stream"
    print("ok", r)
"""


@pytest.mark.parametrize("ranks", [2, 4])
def test_map_is_collective_ordered_and_balanced(tmp_path, ranks):
    script = write_script(tmp_path, "map.py", MAP)
    done = mpirun(ranks, PYOPT, [script], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.split("\n")[:-1]) == [f"ok {r}" for r in range(ranks)]


def test_map_with_different_items_on_different_ranks_is_refused(tmp_path):
    script = write_script(tmp_path, "mismatch.py", """
        from python_optimizer import distributed as d
        from python_optimizer.distributed import DistributedCoordinator

        try:
            DistributedCoordinator().map(abs, range(3 + d.rank()))
        except ValueError as error:
            print("refused", d.rank(), "[3, 4]" in str(error))
    """)
    done = mpirun(2, PYOPT, [script], timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\n")[:-1]) == ["refused 0 True", "refused 1 True"]


def test_each_rank_writes_its_trace_and_messages_are_flows_between_ranks(tmp_path):
    from perfetto_check import BEGIN, load

    script = write_script(tmp_path, "traced.py", """
        import numpy as np
        from python_optimizer import distributed as d
        from python_optimizer.distributed import DistributedCoordinator

        data = d.bcast(np.arange(1000.0) if d.rank() == 0 else None)
        total = d.allreduce(float(data[d.rank()::d.size()].sum()))
        squares = DistributedCoordinator().map(lambda x: x * x, range(20), chunksize=2)
        if d.rank() == 0:
            print(total, sum(squares))
    """)
    done = mpirun(2, PYOPT, [script], env={"PYOPT_TRACE": "out.pftrace"}, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "499500.0 2470\n"), done.stderr
    files = sorted(map(str, tmp_path.glob("out*.pftrace")))
    assert [f.rsplit("/", 1)[1] for f in files] == ["out.rank0.pftrace", "out.rank1.pftrace"]
    merged = tmp_path / "merged.pftrace"
    done = run(PYOPT, ["-m", "python_optimizer", "trace", "merge", *files, "-o", str(merged)])
    assert done.returncode == 0, done.stderr
    tracks, events = load(merged)  # every flow that starts on one rank ends on the other
    names = {t.process.process_name for t in tracks.values() if t.HasField("process")}
    assert names == {"rank 0 of 2", "rank 1 of 2"}, names
    slices = {e[1] for e in events if e[0] == BEGIN}
    assert {"mpi.bcast", "mpi.gather", "mpi.allgather", "mpi.chunk"} <= slices, slices
    flows = 0
    for path in files:  # within one rank's file the flows go out to the other
        one_rank = perfetto_flows(path)
        assert one_rank["started"] and one_rank["ended"], path
        flows += len(one_rank["started"])
    assert flows >= 4


def perfetto_flows(path):
    import pathlib

    from perfetto_check import perfetto

    trace = perfetto.Trace()
    trace.ParseFromString(pathlib.Path(path).read_bytes())
    started, ended = [], []
    for packet in trace.packet:
        if packet.HasField("track_event"):
            started += packet.track_event.flow_ids
            ended += packet.track_event.terminating_flow_ids
    return {"started": started, "ended": ended}


def test_ranks_compile_each_specialization_once_and_load_it_elsewhere(tmp_path):
    # Issue 8 item 3: four ranks reach the same hot functions at once; through the
    # shared cache directory one compiles each specialization and the others load it.
    script = write_script(tmp_path, "share.py", """
        import python_optimizer as po
        from python_optimizer import distributed as d

        @po.optimize
        def kernel(n):
            s = 0
            for i in range(n):
                s += i * i % 7
            return s

        @po.optimize
        def mean(xs):
            t = 0.0
            for x in xs:
                t += x
            return t / len(xs)

        d.barrier()  # the ranks reach the first calls together
        results = (kernel(50), kernel(60), mean([1.0, 2.5]), mean([1, 2]))
        mine = [(s["function"], c["signature"], c["from_cache"])
                for s in po.jit_stats() for c in s["compiles"]]
        everyone = d.gather((results, mine))
        if d.rank() == 0:
            assert len({r for r, _ in everyone}) == 1, everyone
            for compiled in (False, True):
                print(sorted((f, sig) for _, rank in everyone
                             for f, sig, cached in rank if cached is compiled))
    """)
    done = mpirun(4, PYOPT, [script], env={"PYOPT_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    compiled, loaded = done.stdout.splitlines()
    specializations = [("kernel", "(int)"), ("mean", "(list[float])"), ("mean", "(list[int])")]
    assert compiled == str(specializations)
    assert loaded == str(sorted(specializations * 3))


def test_processes_a_rank_starts_are_not_ranks(tmp_path):
    # A rank's multiprocessing workers (forked or spawned) inherit the launcher's
    # environment but are processes of their own: rank 0 of 1, MPI never touched.
    script = write_script(tmp_path, "children.py", """
        import multiprocessing
        from python_optimizer import distributed as d

        def where(_):
            import sys
            from python_optimizer import distributed
            try:
                raise RuntimeError("uncaught in a forked child")
            except RuntimeError:
                sys.excepthook(*sys.exc_info())  # must not end the MPI job
            return (distributed.rank(), distributed.size(), distributed.get_backend().value)

        if __name__ == "__main__":
            me = d.rank()
            seen = []
            for method in ("fork", "spawn"):
                with multiprocessing.get_context(method).Pool(1) as pool:
                    seen.append(pool.map(where, [0])[0])
            d.barrier()
            print(me, d.size(), seen)
    """)
    done = mpirun(2, PYOPT, [script], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    want = "[(0, 1, 'multiprocessing'), (0, 1, 'multiprocessing')]"
    assert sorted(done.stdout.splitlines()) == [f"0 2 {want}", f"1 2 {want}"]
    assert "uncaught in a forked child" in done.stderr
