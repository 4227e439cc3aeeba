"""Sharing work between processes. This release provides the compiled-code cache that
every process (and MPI rank) pointing at one directory shares; process pools, MPI, Ray
and Dask arrive with issue 8.

    from python_optimizer.distributed import get_distributed_jit_cache
    cache = get_distributed_jit_cache()
    cache.path, cache.stats(), cache.entries(), cache.verify(), cache.clear()

``get_distributed_spec_cache()`` gives the warm-start records kept next to it: the
argument signatures each function was compiled for, so a later process compiles (loads
from the cache) a function the first time it sees it called.
"""

from python_optimizer import _native

__all__ = ["JitCache", "SpecCache", "get_distributed_jit_cache",
           "get_distributed_spec_cache"]


class JitCache:
    """The compiled-code cache: object files of compiled functions, keyed by everything
    that determines their code, loaded by every process instead of compiling again.

    Its directory is ``PYOPT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pyopt`` or
    ``~/.cache/pyopt``); ``PYOPT_CACHE=0`` turns it off and ``PYOPT_CACHE_SIZE`` (MiB)
    bounds it.
    """

    @property
    def path(self):
        """The cache directory, or None when the cache is off."""
        return _native.cache_path()

    def stats(self):
        """A dict: ``path``, ``enabled``, ``problem`` (why the directory cannot be used, or
        None), ``limit_bytes``, ``entries`` and ``bytes`` in the directory, and this
        process's ``hits``, ``misses``, ``hit_rate``, ``skipped`` (damaged, foreign or
        unsafe entries passed over), ``stored``, ``load_ms`` and ``compile_ms``."""
        return _native.cache_stats()

    def entries(self):
        """Every entry, most recently used first: dicts with ``function``, ``signature``,
        ``bytes``, ``hits``, ``idle_seconds``, ``created``, ``key``, ``path`` and
        ``problem`` (None for a usable entry). Raises RuntimeError when the cache is off
        or its directory cannot be used."""
        return _native.cache_entries()

    def verify(self):
        """Checks every entry (owner, mode, format, checksum, key): a list of
        ``(path, problem)``, problem None for a good entry."""
        return _native.cache_verify()

    def clear(self):
        """Removes every entry (processes that loaded one keep running it); returns how
        many were removed."""
        return _native.cache_clear()

    def __repr__(self):
        return f"<JitCache {self.path!r}>"


def get_distributed_jit_cache():
    """The compiled-code cache this process uses."""
    return JitCache()


class SpecCache:
    """Warm-start records: for each function an earlier process compiled, the argument
    signatures it was compiled for. A function with a record is compiled the first time
    pyopt sees it called instead of after the hotness threshold (``PYOPT_JIT_THRESHOLD``),
    and its code comes from the compiled-code cache. Kept in the same directory."""

    @property
    def path(self):
        """The cache directory, or None when the cache is off."""
        return _native.cache_path()

    def stats(self):
        """A dict: ``path``, ``enabled``, ``problem``, ``functions`` and ``bytes``
        recorded in the directory, and this process's ``hits`` (functions seen for the
        first time that had a record), ``misses``, ``hit_rate`` and ``recorded``
        (signatures it added)."""
        return _native.spec_cache_stats()

    def clear(self):
        """Removes every record; returns how many functions had one."""
        return _native.spec_cache_clear()

    def __repr__(self):
        return f"<SpecCache {self.path!r}>"


def get_distributed_spec_cache():
    """The warm-start records this process uses."""
    return SpecCache()
