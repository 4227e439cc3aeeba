"""``pyopt-python -m python_optimizer``: information about this pyopt installation, its
compiled-code cache, and merging PYOPT_TRACE files."""

import argparse
import os
import sys
import time

import python_optimizer
from python_optimizer import _native


def _info():
    build = python_optimizer.build_info()
    print(f"pyopt {python_optimizer.__version__} ({build['profile']} build, {build['target']})")
    print(f"executable: {sys.executable}")
    print(f"python:     {sys.version.split()[0]} (libpython from {build['libpython_dir']})")
    print("options:")
    for option in python_optimizer.config_details():
        value = "<computed>" if option["value"] is None else option["value"]
        note = "" if option["active"] else ", not active yet"
        print(f"  {option['key']:<14} = {value!s:<12} ({option['source']}{note})")
    return 0


def _size(n):
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _age(seconds):
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds // length} {unit}"
    return f"{seconds} s"


def _cache(action):
    from python_optimizer.distributed import (get_distributed_jit_cache,
                                              get_distributed_spec_cache)

    cache = get_distributed_jit_cache()
    specs = get_distributed_spec_cache()
    stats = cache.stats()
    if not stats["enabled"]:
        print("the compiled-code cache is off (PYOPT_CACHE=0)")
        return 0 if action == "info" else 1
    if stats["problem"]:
        print(f"the compiled-code cache cannot be used: {stats['problem']}", file=sys.stderr)
        return 1
    if action == "info":
        print(f"path:    {stats['path']}")
        print(f"entries: {stats['entries']} ({_size(stats['bytes'])} of "
              f"{_size(stats['limit_bytes'])})")
        print(f"warm-start records: {specs.stats()['functions']} functions")
        return 0
    if action == "list":
        entries = cache.entries()
        if not entries:
            print("no entries")
        for entry in entries:
            if entry["problem"]:
                print(f"{entry['key'][:16]}  unusable: {entry['problem']}")
                continue
            created = max(0, int(time.time()) - entry["created"])
            print(f"{entry['function']}{entry['signature']}  {_size(entry['bytes'])}, "
                  f"created {_age(created)} ago, used {_age(entry['idle_seconds'])} ago, "
                  f"{entry['hits']} {'hit' if entry['hits'] == 1 else 'hits'}")
        return 0
    if action == "clear":
        print(f"removed {cache.clear()} entries and {specs.clear()} warm-start records "
              f"from {stats['path']}")
        return 0
    bad = [(path, problem) for path, problem in cache.verify() if problem]
    for path, problem in bad:
        print(f"{path}: {problem}")
    print(f"{stats['entries']} entries, {len(bad)} unusable")
    return 1 if bad else 0


def _merge(inputs, output):
    if os.path.abspath(output) in map(os.path.abspath, inputs):
        print(f"error: the output {output} is one of the inputs", file=sys.stderr)
        return 2
    try:
        count = _native.trace_merge(inputs, output)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"merged {count} traces into {output}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pyopt-python -m python_optimizer",
        description="Show information about this pyopt-python installation.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("info", help="version, build and resolved options (the default)")
    cache = commands.add_parser("cache", help="the compiled-code cache")
    cache.add_argument(
        "action", choices=["info", "list", "clear", "verify"],
        help="info: where and how big; list: each entry's function, signature, size, last "
             "use and hits; clear: remove every entry; verify: check every entry "
             "(exit status 1 if any is unusable)")
    trace = commands.add_parser("trace", help="PYOPT_TRACE files")
    actions = trace.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge", help="join the traces of several processes (out.pftrace and the "
                      "out.<pid>.pftrace files of the processes it started) into one "
                      "file, each process its own track, for ui.perfetto.dev")
    merge.add_argument("inputs", nargs="+", metavar="TRACE")
    merge.add_argument("-o", "--output", required=True, metavar="MERGED")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        return _info()
    if args.command == "cache":
        return _cache(args.action)
    if args.command == "trace":
        return _merge(args.inputs, args.output)
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks choices
    return 2


if __name__ == "__main__":
    sys.exit(main())
