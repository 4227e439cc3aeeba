"""test_multiprocessing_spawn, the threads part (see mp_spawn_support)."""

from mp_spawn_support import install

install(globals(), only_type="threads")
