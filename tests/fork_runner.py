"""Runs Python snippets, each in a fresh forked process, after importing the heavy libraries once.

Used by ``test_docs.py``: the README's examples each need torch, scikit-learn and matplotlib, whose
imports cost more than the shortened examples themselves. This process imports them (and nothing of
vaekit, so an example that forgets an import still fails), then reads one JSON request per line,
``{"code": ..., "cwd": ..., "log": ..., "timeout": ...}``, runs the code in a forked child with an empty
namespace in ``cwd``, its output going to ``log``, and answers with the child's exit status.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402, F401
import optuna  # noqa: E402, F401
import pandas  # noqa: E402, F401
import sklearn.base  # noqa: E402, F401
import sklearn.datasets  # noqa: E402, F401
import torch  # noqa: E402, F401


def run_child(code: str, cwd: str, log: str, timeout: int) -> None:
    """In the forked child: never returns."""
    status = 1
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(cwd)
        signal.alarm(timeout)
        exec(compile(code, "<README example>", "exec"), {"__name__": "__main__"})
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request["code"], request["cwd"], request["log"], request["timeout"])
        _, wait_status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(wait_status)}), flush=True)


if __name__ == "__main__":
    main()
