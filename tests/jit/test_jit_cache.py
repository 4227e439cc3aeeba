"""The compiled-code cache across processes: one compile per specialization however
many processes start together, damaged and unsafe entries never loaded, eviction while
others run, keys that change with everything that changes the code, and the CLI."""

import json
import os
import re
import subprocess
import textwrap

from pyopt_testing import PYOPT, PYTHON3, clean_environment, run

FIRST_CALL = ["-X", "pyopt.jit_threshold=0"]

# Three specializations of two hot functions. Prints the results, then this process's
# cache statistics over those calls as JSON (at the first call threshold, pyopt also
# compiles standard library functions at start-up).
SCRIPT = """
    import json, sys
    try:
        from python_optimizer.distributed import get_distributed_jit_cache
    except ImportError:
        get_distributed_jit_cache = None
    KEYS = ("hits", "misses", "stored", "skipped")

    def stats():
        if get_distributed_jit_cache is None:
            return dict.fromkeys(KEYS, 0)
        return get_distributed_jit_cache().stats()

    SCALE = 3

    def poly(x, n):
        s = 0.0
        for i in range(n):
            s += (x * i + SCALE) % 1000
        return s

    def norm(values):
        total = 0.0
        for v in values:
            total += v * v
        return total ** 0.5

    before = stats()
    results = poly(7, 1000), poly(2.5, 1000), norm([1.0, 2.0, 3.0])
    after = stats()
    print(*results)
    print(json.dumps({key: after[key] - before[key] for key in KEYS}))
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def cache_env(directory, **extra):
    return {"PYOPT_CACHE_DIR": str(directory), **extra}


def run_cached(script, directory, *args, env=None):
    done = run(PYOPT, [*FIRST_CALL, *args, script], env=cache_env(directory, **(env or {})))
    assert done.returncode == 0, done.stderr
    *output, stats = done.stdout.splitlines()
    return output, json.loads(stats), done.stderr


def reference_output(script):
    done = run(PYTHON3, [script])
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[:-1]


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    expected = reference_output(script)
    cache = tmp_path / "cache"
    output, first, _ = run_cached(script, cache)
    assert output == expected
    assert first == {"hits": 0, "misses": 3, "stored": 3, "skipped": 0}
    output, second, stderr = run_cached(script, cache)
    assert output == expected
    assert second == {"hits": 3, "misses": 0, "stored": 0, "skipped": 0}
    assert stderr == ""
    # jit_info says where each specialization's code came from.
    info = run(PYOPT, [*FIRST_CALL, "-c", textwrap.dedent("""
        import runpy, python_optimizer
        names = runpy.run_path(%r)
        print([c["from_cache"] for c in python_optimizer.jit_info(names["poly"])["compiles"]])
    """ % script)], env=cache_env(cache))
    assert info.stdout.splitlines()[-1] == "[True, True]", info.stdout + info.stderr
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"


def test_processes_starting_together_compile_each_specialization_once(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    expected = reference_output(script)
    cache = tmp_path / "cache"
    processes = [
        subprocess.Popen([PYOPT, *FIRST_CALL, script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=clean_environment(cache_env(cache)))
        for _ in range(8)
    ]
    totals = {"hits": 0, "misses": 0, "stored": 0, "skipped": 0}
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        *output, stats = stdout.splitlines()
        assert output == expected
        for key, value in json.loads(stats).items():
            totals[key] += value
    assert totals == {"hits": 21, "misses": 3, "stored": 3, "skipped": 0}, totals


def entry_files(cache):
    return sorted((cache / "objects-v1").glob("*.pyobj"))


def listed(cache, prefix):
    """`cache list` lines of the entries for functions whose names start with prefix."""
    listing = run(PYOPT, ["-m", "python_optimizer", "cache", "list"], env=cache_env(cache))
    assert listing.returncode == 0, listing.stderr
    return sorted(line for line in listing.stdout.splitlines() if line.startswith(prefix))


def test_the_cache_commands_compile_nothing_themselves(tmp_path):
    # Listing or verifying the cache neither loads entries (counting hits) nor, finding
    # one damaged, compiles it again and replaces it while it is being checked.
    script = write(tmp_path, "three.py", SCRIPT)
    cache = tmp_path / "cache"
    run_cached(script, cache)

    def hits():
        lines = listed(cache, "")
        return [(line.split("  ")[0], line.rsplit(", ", 1)[1]) for line in lines]

    first = hits()
    for action in ("verify", "info", "list"):
        done = run(PYOPT, ["-m", "python_optimizer", "cache", action], env=cache_env(cache))
        assert done.returncode == 0, done.stdout + done.stderr
    assert hits() == first
    assert len(first) >= 3, first


def test_damaged_entries_are_skipped_recompiled_and_reported(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    expected = reference_output(script)
    cache = tmp_path / "cache"
    run_cached(script, cache)
    entries = entry_files(cache)
    for n, entry in enumerate(entries):
        data = bytearray(entry.read_bytes())
        if n % 3 == 0:
            data = data[:100]  # truncated
        elif n % 3 == 1:
            data[len(data) // 2] ^= 0x10  # one bit flipped inside the object
        else:
            data = b"\x7fELF" + bytes(300)  # not an entry at all
        entry.write_bytes(bytes(data))
    verify = run(PYOPT, ["-m", "python_optimizer", "cache", "verify"], env=cache_env(cache))
    assert verify.returncode == 1
    assert verify.stdout.count(": truncated (100 bytes)") == len(entries[0::3])
    assert verify.stdout.count(": checksum mismatch") == len(entries[1::3])
    assert verify.stdout.count(": not a pyopt cache entry") == len(entries[2::3])
    assert verify.stdout.endswith(f"{len(entries)} entries, {len(entries)} unusable\n")
    output, stats, stderr = run_cached(script, cache)
    assert output == expected
    assert stats == {"hits": 0, "misses": 0, "stored": 3, "skipped": 3}
    # One warning for them all, naming what to run.
    assert stderr.count("pyopt: warning: skipping a compiled-code cache entry") == 1, stderr
    assert "cache verify" in stderr
    output, stats, stderr = run_cached(script, cache)
    assert (output, stats, stderr) == (expected, {"hits": 3, "misses": 0, "stored": 0,
                                                  "skipped": 0}, "")


def test_a_directory_others_can_write_is_not_used(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    expected = reference_output(script)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    output, stats, stderr = run_cached(script, cache)
    assert output == expected
    assert stats == {"hits": 0, "misses": 0, "stored": 0, "skipped": 0}
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, stderr
    assert "not using the compiled-code cache" in warnings[0]
    assert "writable by group or others" in warnings[0]
    assert not (cache / "objects-v1").exists()
    info = run(PYOPT, ["-m", "python_optimizer", "cache", "info"], env=cache_env(cache))
    assert info.returncode == 1
    assert "writable by group or others" in info.stderr


def test_entries_others_could_have_written_are_not_loaded(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    cache = tmp_path / "cache"
    expected = reference_output(script)
    run_cached(script, cache)
    for entry in entry_files(cache):
        os.chmod(entry, 0o666)
    output, stats, stderr = run_cached(script, cache)
    assert output == expected
    assert stats == {"hits": 0, "misses": 0, "stored": 3, "skipped": 3}, stats
    assert "writable by group or others" in stderr
    if os.geteuid() == 0:  # another user's entries (only root can make them here)
        for entry in entry_files(cache):
            os.chown(entry, 54321, -1)
        output, stats, stderr = run_cached(script, cache)
        assert output == expected
        assert stats == {"hits": 0, "misses": 0, "stored": 3, "skipped": 3}, stats
        assert "owned by user id 54321" in stderr


def test_eviction_keeps_the_cache_bounded_while_other_processes_run(tmp_path):
    # One process keeps calling its compiled functions while others write to a cache
    # limited to 0 MiB, so every write evicts everything (the runner's entries too);
    # everyone's results stay right.
    long_runner = write(tmp_path, "runner.py", """
        import sys, time
        def f(x, n):
            s = 0
            for i in range(n):
                s += (x * i) % 7
            return s
        print(f(3, 10), flush=True)
        sys.stdin.readline()  # until the others are done
        print(sum(f(3, 1000) for _ in range(200)))
    """)
    cache = tmp_path / "cache"
    env = clean_environment(cache_env(cache, PYOPT_CACHE_SIZE="0"))
    runner = subprocess.Popen([PYOPT, *FIRST_CALL, long_runner], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
    assert runner.stdout.readline() == "30\n"
    others = []
    for k in range(6):
        script = write(tmp_path, f"other{k}.py", f"""
            def g(x):
                return x * {k} + 1
            print(g(2), g(2.5))
        """)
        others.append(run(PYOPT, [*FIRST_CALL, script], env=cache_env(cache,
                                                                      PYOPT_CACHE_SIZE="0")))
    for k, done in enumerate(others):
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{2 * k + 1} {2.5 * k + 1}\n"
    stdout, stderr = runner.communicate("go\n", timeout=60)
    assert runner.returncode == 0, stderr
    assert stdout == "599800\n"
    # A limit of 0 MiB keeps nothing (entries go as soon as they are written).
    assert entry_files(cache) == []


def test_keys_change_with_constants_types_and_flags(tmp_path):
    script = write(tmp_path, "keys.py", """
        import sys
        def make(k):
            return eval(f"lambda x: x * {k} + 1")
        a, b, c = make(2), make(2), make(3)
        print(a(5), b(5), c(5), a(2.5))
    """)
    cache = tmp_path / "cache"
    done = run(PYOPT, [*FIRST_CALL, script], env=cache_env(cache))
    assert done.stdout == "11 11 16 6.0\n", done.stderr
    # a and b are the same code: one entry; c differs in a constant, a(2.5) in a type.
    assert len(listed(cache, "<lambda>(")) == 3
    done = run(PYOPT, [*FIRST_CALL, "-X", "pyopt.jit_fastmath=1", script],
               env=cache_env(cache))
    assert done.stdout == "11 11 16 6.0\n", done.stderr
    assert len(listed(cache, "<lambda>(")) == 6


def test_the_cache_can_be_switched_off(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    cache = tmp_path / "cache"
    output, stats, _ = run_cached(script, cache, env={"PYOPT_CACHE": "0"})
    assert output == reference_output(script)
    assert stats == {"hits": 0, "misses": 0, "stored": 0, "skipped": 0}
    assert not cache.exists()


def test_cache_commands_list_and_clear(tmp_path):
    script = write(tmp_path, "three.py", SCRIPT)
    cache = tmp_path / "cache"
    run_cached(script, cache)
    run_cached(script, cache)
    lines = listed(cache, "")
    ours = [line for line in lines if line.startswith(("norm(", "poly("))]
    assert [line.split("  ")[0] for line in ours] == [
        "norm(list[float])", "poly(float, int)", "poly(int, int)"], lines
    assert all(line.endswith(", 1 hit") for line in ours), lines
    info = run(PYOPT, ["-m", "python_optimizer", "cache", "info"], env=cache_env(cache))
    assert f"path:    {cache}\nentries: {len(lines)} (" in info.stdout, info.stdout
    cleared = run(PYOPT, ["-m", "python_optimizer", "cache", "clear"], env=cache_env(cache))
    assert re.fullmatch(rf"removed {len(lines)} entries and \d+ warm-start records from "
                        rf"{re.escape(str(cache))}\n", cleared.stdout), cleared.stdout
    assert entry_files(cache) == []
    relative = run(PYOPT, ["-m", "python_optimizer", "cache", "info"],
                   env={"PYOPT_CACHE_DIR": "cache"}, cwd=tmp_path)
    assert relative.stdout.startswith(f"path:    {cache}\n"), relative.stdout
    moved = run(PYOPT, ["-c", "import os; os.chdir('/'); from python_optimizer.distributed "
                              "import get_distributed_jit_cache as g; print(g().path)"],
                env={"PYOPT_CACHE_DIR": "cache"}, cwd=tmp_path)
    assert moved.stdout == f"{cache}\n", moved.stdout + moved.stderr
    off = run(PYOPT, ["-m", "python_optimizer", "cache", "list"], env={"PYOPT_CACHE": "0"})
    assert off.returncode == 1 and "off" in off.stdout


def test_a_function_compiled_before_is_compiled_at_its_first_call_seen(tmp_path):
    # Called every 5 ms, the function is seen at most once per discovery window (2 ms
    # every 50 ms): far from the ~40 calls seen that make a function hot. A process that
    # compiled it before left a record, so the next one compiles it at once (from the
    # cache) while a process without the record does not.
    script = write(tmp_path, "slow_calls.py", """
        import sys, time
        import python_optimizer
        from python_optimizer.distributed import get_distributed_spec_cache

        def step(x, n):
            s = 0
            for i in range(n):
                s += (x + i) % 5
            return s

        limit = float(sys.argv[1])
        start = time.perf_counter()
        total = 0
        while time.perf_counter() - start < limit:
            total += step(3, 100)
            if python_optimizer.jit_info(step) and python_optimizer.jit_info(step)["specializations"]:
                break
            time.sleep(0.005)
        info = python_optimizer.jit_info(step)
        print(bool(info and info["specializations"]), get_distributed_spec_cache().stats()["hits"])
    """)
    cache = tmp_path / "cache"
    cold = run(PYOPT, [script, "1.0"], env=cache_env(cache))
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.split()[0] == "False", cold.stdout
    # A run compiling on first call leaves the record (and the code).
    done = run(PYOPT, [*FIRST_CALL, script, "10"], env=cache_env(cache))
    assert done.returncode == 0 and done.stdout.startswith("True"), done.stdout + done.stderr
    # Given time (a loaded machine delays discovery windows), the next process compiles
    # it, and because of the record (hits counts functions made hot by one).
    warm = run(PYOPT, [script, "20"], env=cache_env(cache))
    assert warm.returncode == 0, warm.stderr
    compiled, hits = warm.stdout.split()
    assert compiled == "True" and int(hits) >= 1, warm.stdout
    stats = run(PYOPT, ["-c", "from python_optimizer.distributed import "
                              "get_distributed_spec_cache as g; print(g().stats()['functions'])"],
                env=cache_env(cache))
    assert int(stats.stdout) >= 1, stats.stdout + stats.stderr
