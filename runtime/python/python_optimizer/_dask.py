"""The Dask backend of ``python_optimizer.distributed`` (issue 8).

Chunks of items are Dask tasks on a ``distributed.Client``: a ``LocalCluster`` of
pyopt-python worker processes made for the coordinator, or the cluster at ``address``.
Tasks are submitted with ``pure=False``, so equal chunks are never merged into one.
Workers are seeded like the worker-process backend's, by their place among the
cluster's workers when the client connects. A task whose workers keep dying fails with
Dask's ``KilledWorker``, reported as a dead worker.
"""

import concurrent.futures
import logging
import traceback

from python_optimizer._workers import (RemoteTraceback, WorkerLost, _run_chunk, seed_streams,
                                       settles)


def _seed_worker(seed, addresses, dask_worker=None):
    seed_streams(seed, addresses.index(dask_worker.address))


class DaskBackend:
    name = "dask"

    def __init__(self, num_workers, seed, address=None):
        self.num_workers = num_workers
        self.seed = seed
        self.address = address
        self._client = None
        self._cluster = None
        self._in_flight = set()

    def _connect(self):
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.address is None:
                self._cluster = LocalCluster(n_workers=self.num_workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None,
                                             silence_logs=logging.CRITICAL)
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.address)
            addresses = sorted(self._client.scheduler_info()["workers"])
            self._client.run(_seed_worker, self.seed, addresses)
        return self._client

    def workers(self):
        return len(self._connect().scheduler_info()["workers"])

    def submit(self, pickled, digest, items, star, flow=None):
        from distributed import KilledWorker

        task = self._connect().submit(_run_chunk, pickled, digest, items, star, flow,
                                      pure=False)
        future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        self._in_flight.add(task)

        def settle(task):
            self._in_flight.discard(task)
            if task.status == "finished":
                future.set_result(task.result())
                return
            if task.status == "cancelled":
                future.set_exception(WorkerLost("the task was cancelled"))
                return
            error = task.exception()
            if isinstance(error, KilledWorker):
                future.set_exception(WorkerLost(str(error)))
                return
            if error is None:
                # Dask gave up on the task without an exception of its own (its worker
                # went away while it ran: status "lost").
                future.set_exception(WorkerLost(f"the task ended as {task.status!r}"))
                return
            text = "".join(traceback.format_tb(task.traceback()))
            error.__cause__ = RemoteTraceback(f"\n\"\"\"\nTraceback (most recent call last):\n"
                                              f"{text}{type(error).__name__}: {error}\n\"\"\"")
            future.set_exception(error)

        task.add_done_callback(settles(future, settle))
        return future

    def check(self):
        """Dask notices dead workers itself (and reruns their tasks elsewhere)."""

    def discard(self):
        """Cancels the tasks in flight (after a timeout); a local cluster's workers are
        restarted, which stops tasks still running."""
        if self._client is None:
            return
        in_flight, self._in_flight = list(self._in_flight), set()
        self._client.cancel(in_flight, force=True)
        if self._cluster is not None:
            self._client.restart()
            addresses = sorted(self._client.scheduler_info()["workers"])
            self._client.run(_seed_worker, self.seed, addresses)

    def close(self):
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
