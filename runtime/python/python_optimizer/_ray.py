"""The Ray backend of ``python_optimizer.distributed`` (issue 8).

Chunks of items are Ray tasks: on a local Ray instance with ``num_workers`` CPUs that
the coordinator starts (and shuts down), on the Ray instance this process already
joined, or on the cluster at ``address``. Ray's workers run pyopt-python (the driver's
executable). Tasks are not retried by Ray (``max_retries=0``): the coordinator's own
``retries`` decide, and a worker that dies is reported as a dead worker. Ray reuses
worker processes across tasks and has no per-worker start hook here, so each worker
seeds ``random`` (and numpy, if imported) from the coordinator's seed and its process
id the first time it runs a chunk: independent streams, not reproducible ones.
"""

import concurrent.futures
import os

from python_optimizer._workers import (RemoteTraceback, WorkerLost, _run_chunk, seed_streams,
                                       settles)

_seeded_with = None


def _seeded_chunk(seed, pickled, digest, items, star, flow):
    global _seeded_with
    if _seeded_with != seed:
        seed_streams(seed, os.getpid())
        _seeded_with = seed
    return _run_chunk(pickled, digest, items, star, flow)


class RayBackend:
    name = "ray"

    def __init__(self, num_workers, seed, address=None):
        self.num_workers = num_workers
        self.seed = seed
        self.address = address
        self._remote = None
        self._owns_ray = False
        self._in_flight = set()

    def _connect(self):
        if self._remote is None:
            import ray

            if not ray.is_initialized():
                if self.address is None:
                    ray.init(num_cpus=self.num_workers, include_dashboard=False,
                             log_to_driver=True, logging_level="ERROR")
                else:
                    ray.init(address=self.address, logging_level="ERROR")
                self._owns_ray = True
            self._remote = ray.remote(max_retries=0, num_cpus=1)(_seeded_chunk)
        return self._remote

    def submit(self, pickled, digest, items, star, flow=None):
        import ray.exceptions as errors

        ref = self._connect().remote(self.seed, pickled, digest, items, star, flow)
        self._in_flight.add(ref)
        future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()

        def settle(ray_future):
            self._in_flight.discard(ref)
            error = ray_future.exception()
            if error is None:
                future.set_result(ray_future.result())
            elif isinstance(error, (errors.WorkerCrashedError, errors.NodeDiedError,
                                    errors.TaskCancelledError)):
                future.set_exception(WorkerLost(str(error)))
            elif isinstance(error, errors.RayTaskError) and error.cause is not None:
                # Ray's error is a subclass of both RayTaskError and the task's own
                # exception's class; its text is the worker's traceback.
                cause = error.cause
                cause.__cause__ = RemoteTraceback(f"\n{error}")
                future.set_exception(cause)
            else:
                future.set_exception(error)

        ref.future().add_done_callback(settles(future, settle))
        return future

    def check(self):
        """Ray notices dead workers itself."""

    def discard(self):
        """Cancels (and kills) the tasks in flight, after a timeout or a dead worker."""
        import ray

        in_flight, self._in_flight = list(self._in_flight), set()
        for ref in in_flight:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or gone
                pass

    def close(self):
        if self._remote is not None and self._owns_ray:
            import ray

            ray.shutdown()
        self._remote = None
        self._owns_ray = False
