"""`greenh2ctl`: talk to a running greenh2 through its control socket.

    greenh2ctl [-s PATH | --pid FILE] [--json] status | stats | reload [tls] | reopen | stop |
               workers +N|-N

The socket is found with ``-s``, else through the PID file (the unix socket that process
listens on, read from /proc), else at the default path. Human output by default, ``--json``
prints the server's answer as one JSON object. When no server answers: one line, exit 1.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

from greenh2.ops.control import resolve_path
from greenh2.ops.pidfile import read_pid

EXIT_FAIL = 1


class CtlError(Exception):
    pass


def request(path: str, command: str, args: list[str], timeout: float = 10.0) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(json.dumps({"command": command, "args": args}).encode() + b"\n")
        with sock.makefile("rb") as reader:
            line = reader.readline(1 << 24)
    except OSError as exc:
        raise CtlError(f"no server answers at {path}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if not line:
        raise CtlError(f"no server answers at {path}: connection closed")
    answer: dict[str, Any] = json.loads(line)
    return answer


def socket_of_pid(pid: int) -> str:
    """The control socket process `pid` listens on (Linux /proc: its fds, /proc/net/unix)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")}
        with open("/proc/net/unix", encoding="utf-8") as fh:
            rows = [line.split() for line in fh.readlines()[1:]]
    except OSError as exc:
        raise CtlError(f"no server answers: process {pid}: {exc.strerror}") from None
    paths = [r[7] for r in rows if len(r) >= 8 and r[6] in inodes and r[5] == "01"]
    paths.sort(key=lambda p: not p.endswith(".ctl"))
    if not paths:
        raise CtlError(f"no server answers: process {pid} has no control socket")
    return paths[0]


def find_socket(opts: argparse.Namespace) -> str:
    if opts.socket:
        return str(opts.socket)
    if opts.pid:
        pid = read_pid(opts.pid)
        if not pid:
            raise CtlError(f"no server answers: cannot read a pid from {opts.pid}")
        return socket_of_pid(pid)
    return resolve_path(os.environ.get("GREENH2_CONTROL_SOCKET", ""))


def human(command: str, data: dict[str, Any]) -> str:
    if command != "status":
        return json.dumps(data, indent=2, sort_keys=True)
    lines = [f"greenh2 {data['version']}  pid {data['pid']}  up {data['uptime']:.1f}s  "
             f"mode {data['mode']}{'  (reloading)' if data.get('reloading') else ''}",
             f"listeners: {', '.join(data['listeners']) or '-'}",
             f"connections {data['connections']}  streams {data['streams']}  "
             f"requests {data['requests']}"]
    for w in data["workers"]:
        state = "retiring" if w["retiring"] else "ready" if w["ready"] else "starting"
        lines.append(f"  worker {w['pid']}  {state}  connections {w['connections']}  "
                     f"streams {w['streams']}  requests {w['requests']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenh2ctl", description="Control a running greenh2.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-s", "--socket", metavar="PATH", help="control socket path")
    where.add_argument("--pid", metavar="FILE", help="find the server through its PID file")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (10)")
    parser.add_argument("command", choices=("status", "stats", "reload", "reopen", "stop",
                                            "workers"))
    parser.add_argument("args", nargs="*", help="reload: tls; workers: +N or -N")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "workers" in argv:  # `workers -1` is an argument, not an option
        at = argv.index("workers")
        argv = [*argv[:at + 1], "--", *argv[at + 1:]]
    opts = build_parser().parse_args(argv)
    try:
        answer = request(find_socket(opts), opts.command, opts.args, opts.timeout)
    except CtlError as exc:
        print(f"greenh2ctl: {exc}", file=sys.stderr)
        sys.exit(EXIT_FAIL)
    if not answer.get("ok"):
        print(f"greenh2ctl: {answer.get('error', 'failed')}", file=sys.stderr)
        sys.exit(EXIT_FAIL)
    print(json.dumps(answer["data"]) if opts.json else human(opts.command, answer["data"]))


if __name__ == "__main__":
    main()
