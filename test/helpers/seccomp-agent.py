#!/usr/bin/env python3
"""A one-shot seccomp notify agent for `linux.seccomp.listenerPath` (SCMP_ACT_NOTIFY).

Node cannot receive fds over a unix socket (SCM_RIGHTS), so the integration tests use this.

    seccomp-agent.py SOCKET_PATH REPORT_PATH --errno N [--timeout SECONDS]

Listens on SOCKET_PATH and prints "listening" on stderr once it does. Accepts one connection
and receives the runtime's message: the container process state (JSON) with the listener fd
attached. Then answers every notification on that fd with errno N (the syscall fails with it
in the container), until the last process of the filter is gone (POLLHUP) or the timeout.
Writes REPORT_PATH: {"state": <the JSON received>, "fdCount": <fds received>,
"notifications": [{"pid", "nr"}...]}. Exit code 0; 2 when no fd arrived, 3 on timeout.
"""
import argparse
import array
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time

# struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data {int nr; u32 arch;
# u64 instruction_pointer; u64 args[6];}}: 80 bytes. struct seccomp_notif_resp {u64 id;
# s64 val; s32 error; u32 flags;}: 24 bytes. _IOWR('!', nr, type) on x86_64.
NOTIF_SIZE = 80
RESP_SIZE = 24
SECCOMP_IOCTL_NOTIF_RECV = (3 << 30) | (NOTIF_SIZE << 16) | (ord('!') << 8) | 0
SECCOMP_IOCTL_NOTIF_SEND = (3 << 30) | (RESP_SIZE << 16) | (ord('!') << 8) | 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('path')
    ap.add_argument('report')
    ap.add_argument('--errno', type=int, required=True)
    ap.add_argument('--timeout', type=float, default=20.0)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.path)
    server.listen(1)
    print('listening', file=sys.stderr, flush=True)
    server.settimeout(args.timeout)
    conn, _ = server.accept()
    fds = array.array('i')
    payload = b''
    msg, ancdata, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(8 * fds.itemsize))
    payload += msg
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    # The runtime closes the connection after its one message.
    conn.settimeout(2)
    try:
        while True:
            more = conn.recv(65536)
            if not more:
                break
            payload += more
    except socket.timeout:
        pass
    conn.close()
    server.close()
    os.unlink(args.path)

    report = {'state': json.loads(payload.decode()), 'fdCount': len(fds), 'notifications': []}

    def write_report() -> None:
        with open(args.report + '.tmp', 'w') as f:
            json.dump(report, f)
        os.rename(args.report + '.tmp', args.report)

    if len(fds) == 0:
        write_report()
        return 2
    listener = fds[0]
    for extra in fds[1:]:
        os.close(extra)
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    code = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            code = 3
            break
        events = poller.poll(int(left * 1000))
        if not events:
            continue
        _, mask = events[0]
        if mask & select.POLLIN:
            notif = bytearray(NOTIF_SIZE)
            try:
                fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif, True)
            except OSError:
                continue  # the caller went away meanwhile (ENOENT)
            notif_id, pid, _nflags, nr = struct.unpack_from('=QIIi', notif, 0)
            report['notifications'].append({'pid': pid, 'nr': nr})
            resp = bytearray(struct.pack('=QqiI', notif_id, 0, -args.errno, 0))
            try:
                fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
            except OSError:
                pass
            continue
        if mask & (select.POLLHUP | select.POLLERR):
            break  # no process uses the filter any more
    os.close(listener)
    write_report()
    return code


if __name__ == '__main__':
    sys.exit(main())
