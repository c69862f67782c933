"""`python3 -m kfp.dsl.executor_main ...` in a task: ask the environment's warm executor to run it.

Started by the task environment's `python3` front as `<interpreter> -I -S warm_client.py <argv>` (so it
starts in ~7 ms: no site, and `_socket`/`_signal` rather than `socket`/`signal`, whose `enum` import would
double that).
It hands its argv, environment, working directory and fds 0-2 to warm_server.py at
$SLUICE_WARM_SOCKET, waits for the forked child's wait status and ends the same way. When the server
is not there or answers "C" (cold), it execs the interpreter with the same argv instead; any other end
of the conversation fails the command, since the child may have run.
"""

import _signal  # type: ignore[import-not-found]  # no stubs; `signal` would import enum (~2 ms)
import _socket
import os
import sys


def _cold() -> None:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])


def _end(status: int) -> None:
    """End as the child did: by its signal (so that the shell sees 128+N), or with its exit code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (_signal.SIGKILL, _signal.SIGSTOP):  # those two have no handler to reset
            _signal.signal(sig, _signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal whose default is not to end the process
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main() -> None:
    """Run warm if the server takes the request, cold otherwise."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect("\0" + os.environ["SLUICE_WARM_SOCKET"].removeprefix("@"))  # an abstract address
    except (KeyError, OSError):
        _cold()
    args = [os.fsencode(a) for a in sys.argv[1:]]
    payload = b"\0".join([b"%d" % len(args), *args, *(k + b"=" + v for k, v in os.environb.items())])
    cwd = os.open(".", os.O_RDONLY)
    fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2, cwd))
    sock.sendmsg([len(payload).to_bytes(8, "big")], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    sock.sendall(payload)
    os.close(cwd)
    reply = sock.recv(64)
    if reply == b"C":  # declined before anything ran
        sock.close()
        _cold()
    if reply.startswith(b"W"):
        # The child runs in this task's process group: signals sent to the group reach it, and it ends
        # the way it handles them. This process only waits for that end and passes it on.
        for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(sig, _signal.SIG_IGN)
        while chunk := sock.recv(4096):  # the server closes after the last line
            reply += chunk
    lines = reply[1:].split(b"\n")  # the child's pid, then its wait status when it ended
    if not reply.startswith(b"W") or len(lines) < 3:
        sys.stderr.write("sluice: the warm executor stopped before the task ended\n")
        os._exit(1)
    _end(int(lines[1]))


if __name__ == "__main__":
    main()
