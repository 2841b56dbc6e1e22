#!/usr/bin/env python3
"""A one-shot console socket server for `tsrunc create/run --console-socket`.

Node cannot receive fds over a unix socket (SCM_RIGHTS), so the integration tests use this.

    console-server.py SOCKET_PATH [--input TEXT [--wait-for MARKER]] [--timeout SECONDS]

Listens on SOCKET_PATH and prints "listening" on stderr once it does. Accepts one connection,
receives one message carrying the pty master fd (SCM_RIGHTS) and the pty name as its payload,
prints "pty <name>" on stderr, writes TEXT (if given) to the master (at once, or once the
container's output contains MARKER), then copies everything the
container prints on the master to stdout until the last peer fd closes (EIO) or the timeout.
Exit code 0; 2 when no fd arrived, 3 on timeout. Removes SOCKET_PATH when done.
"""
import argparse
import array
import os
import select
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('path')
    ap.add_argument('--input', default=None)
    ap.add_argument('--wait-for', default=None)
    ap.add_argument('--timeout', type=float, default=15.0)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(args.path)
        srv.listen(1)
        sys.stderr.write('listening\n')
        sys.stderr.flush()
        srv.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            sys.stderr.write('timeout waiting for a connection\n')
            return 3
        with conn:
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            fds = array.array('i')
            msg, ancdata, _flags, _addr = conn.recvmsg(1024, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            if len(fds) != 1:
                sys.stderr.write(f'expected 1 fd, got {len(fds)}\n')
                for fd in fds:
                    os.close(fd)
                return 2
        master = fds[0]
        sys.stderr.write(f'pty {msg.decode(errors="replace")}\n')
        sys.stderr.flush()
        pending = args.input.encode() if args.input is not None else None
        marker = args.wait_for.encode() if args.wait_for is not None else None
        if pending is not None and marker is None:
            os.write(master, pending)
            pending = None
        seen = b''
        out = sys.stdout.buffer
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.stderr.write('timeout reading the pty\n')
                    return 3
                ready, _, _ = select.select([master], [], [], left)
                if not ready:
                    continue
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: every peer fd is closed
                    break
                if not data:
                    break
                out.write(data)
                out.flush()
                if pending is not None:
                    seen += data
                    if marker in seen:
                        os.write(master, pending)
                        pending = None
        finally:
            os.close(master)
        return 0
    finally:
        srv.close()
        try:
            os.unlink(args.path)
        except FileNotFoundError:
            pass


if __name__ == '__main__':
    sys.exit(main())
