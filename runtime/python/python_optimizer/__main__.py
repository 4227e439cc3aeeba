"""``pyopt-python -m python_optimizer``: information about this pyopt installation."""

import argparse
import sys

import python_optimizer


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


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pyopt-python -m python_optimizer",
        description="Show information about this pyopt-python installation.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("info", help="version, build and resolved options (the default)")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        return _info()
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks choices
    return 2


if __name__ == "__main__":
    sys.exit(main())
