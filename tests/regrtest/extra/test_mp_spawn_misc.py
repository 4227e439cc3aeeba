"""test_multiprocessing_spawn, the misc part (see mp_spawn_support)."""

from mp_spawn_support import install

install(globals(), exclude_types=True)
