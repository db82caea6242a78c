"""A fork server for the bundle tests' ``python -m monai.bundle`` commands (used by ``bundle_checks.run_bundle``).

``python -m monai.bundle ...`` spends ~10 s of each run importing torch and MONAI before it reads its configs; the
bundle tests run ~30 such commands. This script pays that once: it imports what ``python -m monai.bundle`` itself
imports before parsing its arguments (``monai.bundle.scripts`` and ``fire``; nothing of ``mammo_monai``, which the
configs' ``imports`` must still bring in), then for each request forks a child that runs
``runpy.run_module("monai.bundle", run_name="__main__")`` with the request's ``sys.argv``, working directory and
``sys.path[0]``, stdout and stderr on a log file, as its own process: nothing one command does (TorchScript's
compiled classes, logging handlers, imported modules, random state) is seen by the next, and a crash kills only
that child. The children of one request run side by side (``env`` sets e.g. ``RANK``/``WORLD_SIZE`` for DDP ranks).

Protocol, one JSON object a line: ``{"ready": true}`` once imported; then per request
``{"jobs": [{"argv", "cwd", "log", "env"?}, ...]}`` on stdin, the replies ``{"pids": [...]}`` once
the children are forked and ``{"rcs": [...]}`` (exit status, ``-N`` for a signal, as :mod:`subprocess` reports
it). Exits on EOF. Start it with the environment the commands need at interpreter start (``PYTHONHASHSEED``,
``OMP_NUM_THREADS``, ``CUDA_VISIBLE_DEVICES``): the children inherit it.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import sys
import traceback


def _child(job: dict, proto_fds: tuple[int, int]) -> None:
    """In the forked child: become ``python -m monai.bundle ARGV`` run from ``cwd``, output on ``log``; no return."""
    code = 1
    try:
        for fd in proto_fds:
            os.close(fd)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(job["cwd"])
        os.environ.update(job.get("env") or {})
        sys.path[0] = os.getcwd()  # what ``python -m`` puts first
        sys.argv = ["monai.bundle", *job["argv"]]  # run_module sets argv[0] to the module's file, as ``-m`` does
        try:
            runpy.run_module("monai.bundle", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:  # what the interpreter does with it
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()  # as at a normal interpreter exit (logging.shutdown, ...)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _status(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main() -> None:
    import fire  # noqa: F401  (what monai/bundle/__main__.py imports, before it parses anything)
    import monai.bundle.scripts  # noqa: F401

    # the protocol on its own descriptors; fd 0/1 of this process are /dev/null and stderr, so a child's
    # inherited stdio buffers can never hold protocol bytes
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    reader, writer = os.fdopen(proto_in, "r"), os.fdopen(proto_out, "w")

    def reply(message: dict) -> None:
        writer.write(json.dumps(message) + "\n")
        writer.flush()

    reply({"ready": True})
    for line in reader:
        if not line.strip():
            continue
        jobs = json.loads(line)["jobs"]
        sys.stdout.flush()
        sys.stderr.flush()
        pids = []
        for job in jobs:
            pid = os.fork()
            if pid == 0:
                _child(job, (proto_in, proto_out))
            pids.append(pid)
        reply({"pids": pids})
        reply({"rcs": [_status(os.waitpid(pid, 0)[1]) for pid in pids]})


if __name__ == "__main__":
    main()
