#!/usr/bin/env python3
"""Sends raw bytes to a unix stream socket and reports the ttrpc frames that come back.

    raw-socket.py --socket PATH --replies N --close-timeout S [--timeout S] < BYTES

Connects, sends the bytes read from stdin (a peer that closes meanwhile ends the sending: EPIPE
and ECONNRESET are expected), reads frames until N have arrived or the peer closed, then shuts
down its writing side and waits up to --close-timeout seconds (0: not at all) for the peer to
close. Unlike a Node socket, which is destroyed at a failed write with what the peer sent before
closing still unread, this blocking reader gets everything the peer sent.
Prints one JSON object: {"frames": [{"streamId": n, "type": n, "payload": hex}], "closed": bool,
"sendFailed": bool}.
"""
import argparse
import json
import socket
import struct
import sys

HEADER = struct.Struct('>IIBB')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--socket', required=True)
    ap.add_argument('--replies', type=int, required=True)
    ap.add_argument('--close-timeout', type=float, required=True)
    ap.add_argument('--timeout', type=float, default=30.0)
    args = ap.parse_args()
    data = sys.stdin.buffer.read()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    s.connect(args.socket)
    send_failed = False
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        send_failed = True

    buf = b''
    frames = []
    closed = False

    def receive() -> bool:
        """Reads once; False at the peer's close."""
        nonlocal buf
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        buf += chunk
        while len(buf) >= HEADER.size:
            length, stream_id, kind, _flags = HEADER.unpack_from(buf)
            if len(buf) < HEADER.size + length:
                break
            payload = buf[HEADER.size:HEADER.size + length]
            frames.append({'streamId': stream_id, 'type': kind, 'payload': payload.hex()})
            buf = buf[HEADER.size + length:]
        return True

    while len(frames) < args.replies:
        if not receive():
            closed = True
            break
    if not closed:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if args.close_timeout > 0:
            s.settimeout(args.close_timeout)
            try:
                while receive():
                    pass
                closed = True
            except socket.timeout:
                pass
    s.close()
    json.dump({'frames': frames, 'closed': closed, 'sendFailed': send_failed}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
