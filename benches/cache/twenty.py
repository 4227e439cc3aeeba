"""Twenty hot numeric functions (for benches/cache_warm_start.py), with the
compiled-code cache's statistics over their calls.

    twenty.py          each called once: the time to the first result of all twenty
                       (run with -X pyopt.jit_threshold=0, compile on first call)
    twenty.py --until-compiled
                       called over and over until all twenty run compiled (at most
                       20 s): the time that takes with pyopt's default threshold
"""

import json
import sys
import time

try:
    from python_optimizer.distributed import get_distributed_jit_cache
except ImportError:  # python3
    get_distributed_jit_cache = None

KEYS = ("hits", "misses", "stored", "skipped", "load_ms", "compile_ms")

SOURCE = """
def kernel_{k}(n, x):
    s = 0.0
    for i in range(n):
        s += (i * {k} + x) % 17 * 0.5
    return s
"""

for k in range(20):
    exec(SOURCE.format(k=k + 1))
KERNELS = [globals()[f"kernel_{k + 1}"] for k in range(20)]


def stats():
    if get_distributed_jit_cache is None:
        return dict.fromkeys(KEYS, 0)
    return get_distributed_jit_cache().stats()


def all_compiled():
    import python_optimizer

    infos = [python_optimizer.jit_info(kernel) for kernel in KERNELS]
    return all(info and info["specializations"] for info in infos)


before = stats()
start = time.perf_counter()
results = [kernel(1000, 3.0) for kernel in KERNELS]
if "--until-compiled" in sys.argv:
    while not all_compiled() and time.perf_counter() - start < 20:
        results = [kernel(1000, 3.0) for kernel in KERNELS]
elapsed = time.perf_counter() - start
after = stats()
print(sum(results))
print(f"BENCH_SECONDS={elapsed}")
print("BENCH_CACHE=" + json.dumps({key: after[key] - before[key] for key in KEYS}))
