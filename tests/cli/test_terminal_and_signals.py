"""The interactive REPL on a terminal, and signals from outside, compared with python3."""

import os
import select
import signal
import subprocess
import time

import pytest

from pyopt_testing import PYOPT, PYTHON3, Outcome, assert_same, clean_environment


def read_until(fd, markers, timeout=30.0):
    """Reads from `fd` until one of `markers` has been seen, or EOF; returns the text."""
    if isinstance(markers, str):
        markers = (markers,)
    data = b""
    deadline = time.monotonic() + timeout
    while not any(marker.encode() in data for marker in markers):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {markers!r}; got {data!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def repl_session(executable, lines, args=(), interrupt_after=None):
    """Runs an interactive session on a pseudo-terminal, typing `lines` one per prompt.

    With `interrupt_after=i`, sends SIGINT once line i has printed "zzzz" (to interrupt
    a running statement). Returns the transcript and the exit status."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [executable, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=clean_environment({"TERM": "dumb", "COLUMNS": "80", "LINES": "24"}),
        start_new_session=True,
    )
    os.close(terminal)
    try:
        transcript = read_until(controller, ">>> ")
        for index, line in enumerate(lines):
            os.write(controller, line.encode() + b"\n")
            if interrupt_after == index:
                transcript += read_until(controller, "zzzz")
                process.send_signal(signal.SIGINT)
            last = index + 1 == len(lines)
            transcript += read_until(controller, "\0" if last else (">>> ", "... "))
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return Outcome(transcript, "", returncode).normalized(executable)


REPL_LINES = [
    "import sys; print(sys.flags.interactive, sys.stdin.isatty(), sys.executable)",
    "x = [i * i for i in range(5)]",
    "x",
    "def f(n):",
    "    return n + 1",
    "",
    "f(41)",
    "1 / 0",
    "exit()",
]


def test_repl_on_a_terminal_without_arguments():
    assert_same(repl_session(PYTHON3, REPL_LINES), repl_session(PYOPT, REPL_LINES))


def test_repl_on_a_terminal_with_dash_i_after_a_command():
    args = ["-i", "-c", "greeting = 'hi'"]
    lines = ["greeting * 2", "import sys; sys.exit(4)"]
    assert_same(repl_session(PYTHON3, lines, args), repl_session(PYOPT, lines, args))


def test_ctrl_c_in_the_repl_interrupts_the_statement_and_keeps_the_session():
    lines = ["import time; print('z' * 4); time.sleep(30)", "print('still here')", "exit()"]
    reference = repl_session(PYTHON3, lines, interrupt_after=0)
    pyopt = repl_session(PYOPT, lines, interrupt_after=0)
    assert "KeyboardInterrupt" in pyopt.stdout and "still here" in pyopt.stdout
    assert_same(reference, pyopt)


def interrupted_script(executable, tmp_path, signum):
    script = tmp_path / "sleeper.py"
    script.write_text(
        "import time\n"
        "def wait():\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "wait()\n"
    )
    process = subprocess.Popen(
        [executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    try:
        assert process.stdout.readline() == "ready\n"
        # Let it get into time.sleep(): a signal handled right after print() returns
        # would be raised on the print line, under either interpreter.
        time.sleep(0.3)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Outcome("ready\n" + stdout, stderr, process.returncode).normalized(executable)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_from_outside_ends_the_script_like_python3(tmp_path, signum):
    reference = interrupted_script(PYTHON3, tmp_path, signum)
    pyopt = interrupted_script(PYOPT, tmp_path, signum)
    assert pyopt.returncode == -signum
    assert_same(reference, pyopt)
