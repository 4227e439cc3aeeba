"""pyopt's Python API, shipped inside the pyopt-python binary.

``import python_optimizer`` works under ``pyopt-python`` with no files on disk. This
release provides the version, pyopt's resolved options and build facts; the JIT API
(``optimize``), ``distributed``, ``genetic`` and ``profiling`` are added as they land.
"""

from python_optimizer import _native

__version__ = _native.__version__

__all__ = ["__version__", "build_info", "config", "config_details"]


def config():
    """pyopt's options as resolved at start-up, as ``{key: value}``.

    Values are bools, ints or path strings; ``None`` means a path left to its computed
    default. Options are set with ``PYOPT_<KEY>`` environment variables or
    ``-X pyopt.<key>`` flags (see ``pyopt-python -X pyopt.help``).
    """
    return {option["key"]: option["value"] for option in _native.options()}


def config_details():
    """Every option with its value, where it came from and whether it is active yet.

    A list of dicts with keys ``key``, ``value``, ``source`` ("default",
    "environment" or "command line"), ``active``, ``env``, ``xoption`` and ``help``.
    """
    return _native.options()


def build_info():
    """Facts about this pyopt-python build: version, target, profile, libpython dir."""
    return _native.build_info()
