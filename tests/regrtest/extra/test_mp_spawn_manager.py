"""test_multiprocessing_spawn, the manager part (see mp_spawn_support)."""

from mp_spawn_support import install

install(globals(), only_type="manager")
