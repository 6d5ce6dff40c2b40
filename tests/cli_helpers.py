"""Helpers for tests: run commands in-process (CliRunner) or as real subprocesses; wait for a
condition (worker processes starting)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--C", "4", "--layers", "3", "--resolution", "8"]
FAST = ["--rounds", "2", "--round-ms", "3"]
ONE_PASS = ["--visits", "1"]  # profile/retime: the default (auto) waits 30 s between a network's passes


def invoke(*args: str):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=True)


def invoke_json(*args: str) -> dict:
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def assert_clean_failure(res, needle: str, *more: str) -> None:
    """Non-zero exit, no Python traceback, and a message holding every (non-blank) needle."""
    needles = (needle, *more)
    assert all(n.strip() for n in needles), "a blank needle matches any output"
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for n in needles:
        assert n.lower() in res.output.lower(), res.output


def spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, timeout_s: float = 120.0) -> bool:
    """Poll ``condition`` until it holds (True), failing the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return True
