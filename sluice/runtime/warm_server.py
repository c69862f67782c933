"""The warm executor: a task environment's interpreter with kfp's executor already imported, forked per task.

A lightweight component ends in `python3 -m kfp.dsl.executor_main ...`. Started cold, that is ~45-55 ms
of interpreter start and imports for a function that runs in microseconds. This server is started once
per task environment, by that environment's own interpreter, with `kfp.dsl.executor_main` imported;
each such `python3 -m kfp.dsl.executor_main` of a task is then a fork of it that runs the module as
`python3 -m` would: the task's argv, environment, working directory and stdin/stdout/stderr (passed
over the socket as file descriptors), in the task's process group so that cancelling the task reaches
it. When the request cannot be served exactly like that (other interpreter settings in the task's
environment), the answer is "cold" and the client execs the interpreter as usual.

Run as `<env python> warm_server.py <address>`; only the standard library may be used here (this file
runs in the task environment's interpreter, not in Sluice's). The protocol, one connection per request:

    client -> server: 8-byte length, then `argc \\0 argv... \\0 KEY=VALUE...` (NUL-separated), with the
                      client's fds 0, 1, 2 and its working directory attached (SCM_RIGHTS)
    server -> client: b"C" (run cold) or b"W" + child pid + b"\\n", then the wait status + b"\\n"
"""

import atexit
import contextlib
import gc
import importlib
import io
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

MODULE = "kfp.dsl.executor_main"
# Variables read when an interpreter starts. A request whose values differ from this server's is run cold,
# except those a fork can apply exactly (PYTHONPATH, PYTHONUNBUFFERED, PYTHONDONTWRITEBYTECODE).
_APPLIED = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
_STARTUP = ("LANG", "LC_ALL", "LC_CTYPE", "_KFP_RUNTIME", "LD_LIBRARY_PATH", "LD_PRELOAD", "GLIBC_TUNABLES")
_BASE_PATH = sys.path[1:]  # sys.path[0] is this file's directory: not the task's
_HEADER = struct.Struct("!Q")


def _startup_settings(env: dict[str, str]) -> tuple[tuple[str, str | None], ...]:
    python = {k: v for k, v in env.items() if k.startswith(("PYTHON", "MALLOC_")) and k not in _APPLIED}
    return tuple(sorted(python.items())) + tuple((k, env.get(k)) for k in _STARTUP)


_OWN = _startup_settings(dict(os.environ))


def _decode(payload: bytes) -> tuple[list[str], dict[str, str]]:
    fields = payload.split(b"\0")
    argc = int(fields[0])
    argv = [os.fsdecode(a) for a in fields[1:1 + argc]]
    env: dict[str, str] = {}
    for item in fields[1 + argc:]:
        key, sep, value = item.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return argv, env


def _stdio(unbuffered: bool) -> None:
    """sys.stdin/stdout/stderr over the task's fds, configured as a fresh interpreter would make them."""
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    errors = (sys.stdout.errors if sys.stdout is not None else None) or "strict"

    def text(fd: int, mode: str, errs: str, line: bool) -> io.TextIOWrapper:
        buffering = 0 if unbuffered and mode == "w" else -1
        raw = open(fd, mode + "b", buffering=buffering, closefd=False)  # noqa: SIM115 - lives as long as the process
        return io.TextIOWrapper(raw, encoding=encoding, errors=errs, line_buffering=line,
                                write_through=unbuffered and mode == "w")

    streams = {"stdin": text(0, "r", errors, False), "stdout": text(1, "w", errors, os.isatty(1)),
               "stderr": text(2, "w", "backslashreplace", True)}
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_child(argv: list[str], env: dict[str, str], cwd_fd: int) -> int:
    """In the forked child: become `python3 <argv>` for the task, run the module, return the exit code."""
    os.fchdir(cwd_fd)
    os.close(cwd_fd)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    if "tempfile" in sys.modules:
        setattr(sys.modules["tempfile"], "tempdir", None)  # noqa: B010 - found again from the task's TMPDIR
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    _stdio(bool(env.get("PYTHONUNBUFFERED")))
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *extra, *_BASE_PATH]
    importlib.invalidate_caches()
    sys.argv = ["-m", *argv[2:]]  # runpy puts the module's path in argv[0], as `-m` does
    sys.orig_argv = [sys.executable, *argv]
    del sys.modules[argv[1]]  # imported by the server for its imports; runpy runs it afresh as __main__
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 128 + signal.SIGINT
    except BaseException:  # what the interpreter does with an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()  # wait for non-daemon threads, then atexit, as at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # the interpreter's status when flushing stdout fails
    return code


def _imported_modules() -> frozenset[str]:
    """Top-level modules this server imported (kfp and the standard library's), other than built-in ones."""
    return frozenset(name.partition(".")[0] for name in sys.modules) - set(sys.builtin_module_names)


def _shadows(env: dict[str, str], modules: frozenset[str]) -> bool:
    """Whether the task's PYTHONPATH (its own installs) holds another copy of a module imported here."""
    for entry in (p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p):
        try:
            names = {name.partition(".")[0] for name in os.listdir(entry)}  # packages, .py, .so alike
        except OSError:
            continue
        if names & modules:
            return True
    return False


class Server:
    """Accepts requests on `address`, forks one child per request, reports each child's end."""

    def __init__(self, address: str) -> None:
        self.modules = _imported_modules()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind("\0" + address.removeprefix("@"))  # Linux's abstract namespace: no file to go stale
        self.listener.listen(128)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "parent")
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pidfd -> (client, pid)

    def serve(self) -> None:
        """Until Sluice closes our stdin (or dies); then without taking requests, until our children end."""
        accepting = True
        while accepting or self.children:
            for key, _ in self.selector.select():
                if key.data == "parent":
                    self.selector.unregister(sys.stdin)
                    self.selector.unregister(self.listener)
                    self.listener.close()  # new requests are refused: their clients run cold
                    accepting = False
                elif key.data == "accept" and accepting:
                    try:
                        conn, _ = self.listener.accept()
                    except OSError:
                        continue  # e.g. out of file descriptors for a moment: the client retries cold
                    self._request(conn)
                elif key.data == "child":
                    self._reap(key.fd)

    def _request(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            conn.settimeout(5)  # a client that stalls must not hold up everyone else's tasks
            peer_pid, peer_uid, _ = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if peer_uid != os.getuid():
                raise PermissionError("only the user that runs Sluice may have code run here")
            head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 4)
            if len(head) < _HEADER.size or len(fds) != 4:
                raise OSError("short request")
            (size,) = _HEADER.unpack(head)
            payload = bytearray()
            while len(payload) < size:
                chunk = conn.recv(min(size - len(payload), 1 << 20))
                if not chunk:
                    raise OSError("short request")
                payload += chunk
            argv, env = _decode(bytes(payload))
            conn.settimeout(None)
            if self._can_run(argv, env, peer_pid):
                self._fork(conn, argv, env, fds, os.getpgid(peer_pid))
            else:
                conn.sendall(b"C")
                conn.close()
        except (OSError, ValueError, IndexError, struct.error):
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _can_run(self, argv: list[str], env: dict[str, str], peer_pid: int) -> bool:
        """Whether a fork of this server is exactly what `python3 <argv>` in `env` would be."""
        return (argv[:2] == ["-m", MODULE] and _startup_settings(env) == _OWN
                and not _shadows(env, self.modules)
                and os.getsid(peer_pid) == os.getsid(0))  # another session's group cannot be joined

    def _fork(self, conn: socket.socket, argv: list[str], env: dict[str, str], fds: list[int], pgid: int) -> None:
        try:
            pid = os.fork()
        except OSError:
            conn.sendall(b"C")  # nothing runs: the client may run it cold
            conn.close()
            return
        if pid == 0:  # the child: nothing of the server's may survive into the task
            code = 1
            try:
                for fd, target in zip(fds[:3], (0, 1, 2), strict=True):
                    os.dup2(fd, target)
                cwd_fd = os.dup(fds[3])
                self._close_for_child(conn)
                for fd in fds:
                    os.close(fd)
                os.setpgid(0, pgid)  # the task's group: cancelling the task reaches this process too
                code = _run_child(argv, env, cwd_fd)
            except BaseException:  # reported in the task's log; the task fails
                os.write(2, f"sluice: the warm executor could not run the task: {traceback.format_exc()}".encode())
            finally:
                os._exit(code)
        try:
            # Also from this side, so that the group holds before the client hears the pid. An error means
            # the child moved already, or the task's group is gone and the child fails on its own.
            with contextlib.suppress(OSError):
                os.setpgid(pid, pgid)
            pidfd = os.pidfd_open(pid)
            self.children[pidfd] = (conn, pid)
            self.selector.register(pidfd, selectors.EVENT_READ, "child")
            conn.sendall(b"W%d\n" % pid)
        except BaseException:
            os.kill(pid, signal.SIGKILL)  # it must not run behind a client that was told nothing
            os.waitpid(pid, 0)
            raise

    def _close_for_child(self, conn: socket.socket) -> None:
        self.selector.close()
        self.listener.close()
        conn.close()
        for pidfd, (other, _) in self.children.items():
            other.close()
            os.close(pidfd)
        self.children.clear()
        gc.unfreeze()

    def _reap(self, pidfd: int) -> None:
        conn, pid = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):  # the client is gone: its task was killed
            conn.sendall(b"%d\n" % status)
        conn.close()


def main() -> None:
    """Import the executor, say so on stdout, serve."""
    del sys.path[0]
    importlib.import_module(MODULE)
    server = Server(sys.argv[1])
    gc.collect()
    gc.freeze()  # keep what was imported out of the collector's reach, so forks share its pages
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve()


if __name__ == "__main__":
    main()
