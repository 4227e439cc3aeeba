"""The examples in examples/ run unchanged (issue 8 item 5)."""

import math
import pathlib

from pyopt_testing import PYOPT, mpirun, run

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_montecarlo_pi_over_four_workers():
    done = run(PYOPT, [str(EXAMPLES / "montecarlo_pi.py"), "50000"])
    assert done.returncode == 0, done.stderr
    estimate = float(done.stdout.split("~")[1])
    assert abs(estimate - math.pi) < 0.02
    assert "16 tasks on 4 workers" in done.stderr
    # Seeded tasks: the same estimate every run.
    again = run(PYOPT, [str(EXAMPLES / "montecarlo_pi.py"), "50000"])
    assert again.stdout == done.stdout


def test_genetic_search_finds_the_best_region():
    done = run(PYOPT, [str(EXAMPLES / "genetic_search.py")], timeout=300)
    assert done.returncode == 0, done.stderr
    assert "layers=4 activation=tanh" in done.stdout, done.stdout
    assert "in 30 generations" in done.stdout


def test_profiling_run_writes_every_export(tmp_path):
    done = run(PYOPT, [str(EXAMPLES / "profiling_run.py"), str(tmp_path)])
    assert done.returncode == 0, done.stderr
    assert "job calls: 3" in done.stdout
    for name in ("profile.pftrace", "profile.json", "profile.folded", "profile.svg"):
        assert (tmp_path / name).stat().st_size > 0, name


# Under `mpirun -n 2`, unchanged: the ranks are the workers; rank 0 prints.


def test_montecarlo_pi_on_two_mpi_ranks_gives_the_same_estimate():
    alone = run(PYOPT, [str(EXAMPLES / "montecarlo_pi.py"), "50000"])
    ranks = mpirun(2, PYOPT, [str(EXAMPLES / "montecarlo_pi.py"), "50000"])
    assert ranks.returncode == 0, ranks.stderr
    assert ranks.stdout == alone.stdout
    assert "16 tasks on 2 workers" in ranks.stderr


def test_genetic_search_on_two_mpi_ranks_gives_the_same_result():
    alone = run(PYOPT, [str(EXAMPLES / "genetic_search.py")], timeout=300)
    ranks = mpirun(2, PYOPT, [str(EXAMPLES / "genetic_search.py")], timeout=300)
    assert ranks.returncode == 0, ranks.stderr
    assert ranks.stdout == alone.stdout, (ranks.stdout, alone.stdout)


def test_profiling_run_on_two_mpi_ranks_writes_each_ranks_exports(tmp_path):
    done = mpirun(2, PYOPT, [str(EXAMPLES / "profiling_run.py"), str(tmp_path)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("job calls: 3") == 1
    for rank in (0, 1):
        for ext in ("pftrace", "json", "folded", "svg"):
            assert (tmp_path / f"profile.rank{rank}.{ext}").stat().st_size > 0, (rank, ext)
