#!/usr/bin/env python3
"""A one-shot seccomp notify agent for `linux.seccomp.listenerPath` (SCMP_ACT_NOTIFY).

Node cannot receive fds over a unix socket (SCM_RIGHTS), so the integration tests use this.

    seccomp-agent.py SOCKET_PATH REPORT_PATH --errno N [--connections C] [--timeout SECONDS]

Listens on SOCKET_PATH and prints "listening" on stderr once it does. Accepts C connections
(default 1: the init's; an exec or a startContainer hook brings one more each), one after the
other, and receives each runtime message: the container process state (JSON) with a listener fd
attached. Then answers every notification on those fds with errno N (the syscall fails with it
in the container), until the last process of every filter is gone (POLLHUP) or the timeout.
Writes REPORT_PATH: {"state": <the first JSON received>, "states": [<each JSON>], "fdCount":
<fds received with the first>, "notifications": [{"pid", "nr"}...]}. Exit code 0; 2 when a
message came without an fd, 3 on timeout.
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
    ap.add_argument('--connections', type=int, default=1)
    ap.add_argument('--timeout', type=float, default=20.0)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.path)
    server.listen(args.connections)
    print('listening', file=sys.stderr, flush=True)
    report = {'state': None, 'states': [], 'fdCount': 0, 'notifications': []}

    def write_report() -> None:
        with open(args.report + '.tmp', 'w') as f:
            json.dump(report, f)
        os.rename(args.report + '.tmp', args.report)

    listeners = []
    code = 0
    for _ in range(args.connections):
        left = deadline - time.monotonic()
        if left <= 0:
            code = 3
            break
        server.settimeout(left)
        try:
            conn, _ = server.accept()
        except socket.timeout:
            code = 3
            break
        payload, fds = receive(conn)
        state = json.loads(payload.decode())
        if report['state'] is None:
            report['state'] = state
            report['fdCount'] = len(fds)
        report['states'].append(state)
        if len(fds) == 0:
            code = 2
            break
        listeners.append(fds[0])
        for extra in fds[1:]:
            os.close(extra)
    server.close()
    os.unlink(args.path)
    if code != 0:
        write_report()
        return code

    poller = select.poll()
    for listener in listeners:
        poller.register(listener, select.POLLIN)
    open_listeners = len(listeners)
    while open_listeners > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            code = 3
            break
        events = poller.poll(int(left * 1000))
        for listener, mask in events:
            if mask & select.POLLIN:
                answer(listener, args.errno, report)
            elif mask & (select.POLLHUP | select.POLLERR):
                poller.unregister(listener)  # no process uses this filter any more
                open_listeners -= 1
    for listener in listeners:
        os.close(listener)
    write_report()
    return code


def receive(conn: socket.socket) -> tuple:
    """The runtime's one message on a connection: its payload and the fds attached."""
    fds = array.array('i')
    msg, ancdata, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(8 * fds.itemsize))
    payload = msg
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
    return payload, list(fds)


def answer(listener: int, errno: int, report: dict) -> None:
    """Receives one notification and fails its syscall with errno."""
    notif = bytearray(NOTIF_SIZE)
    try:
        fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif, True)
    except OSError:
        return  # the caller went away meanwhile (ENOENT)
    notif_id, pid, _nflags, nr = struct.unpack_from('=QIIi', notif, 0)
    report['notifications'].append({'pid': pid, 'nr': nr})
    resp = bytearray(struct.pack('=QqiI', notif_id, 0, -errno, 0))
    try:
        fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
    except OSError:
        pass


if __name__ == '__main__':
    sys.exit(main())
