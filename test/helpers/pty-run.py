#!/usr/bin/env python3
"""Runs a command on a fresh pty, as a user at a terminal would, and reports what happened.

    pty-run.py --rows R --cols C --marker TEXT --resize R2 C2 --input TEXT [--timeout S] -- CMD...

The command gets the pty as its controlling terminal and stdio, with window size R x C. Once its
output contains TEXT (the first time), the helper records the terminal's modes (is it raw?),
resizes the window to R2 x C2 (the kernel sends SIGWINCH to the foreground process group) and
types --input. When the command exits it records the modes again. Prints one JSON object:
{"exit": code or 128+signal, "output": all output, "rawWhileRunning": bool,
 "restored": bool (modes after == modes before), "timedOut": bool}.
"""
import argparse
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios
import time


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, required=True)
    ap.add_argument('--cols', type=int, required=True)
    ap.add_argument('--marker', required=True)
    ap.add_argument('--resize', type=int, nargs=2, required=True)
    ap.add_argument('--input', required=True)
    ap.add_argument('--timeout', type=float, default=20.0)
    ap.add_argument('cmd', nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == '--' else args.cmd

    master, slave = pty.openpty()
    set_size(slave, args.rows, args.cols)
    before = termios.tcgetattr(slave)
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        os.execvp(cmd[0], cmd)

    output = b''
    raw_while_running = None
    deadline = time.monotonic() + args.timeout
    status = None
    timed_out = False
    while status is None:
        if time.monotonic() > deadline:
            timed_out = True
            os.kill(pid, 9)
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b''
            output += chunk
            if raw_while_running is None and args.marker.encode() in output:
                lflag = termios.tcgetattr(slave)[3]
                raw_while_running = (lflag & (termios.ICANON | termios.ECHO)) == 0
                set_size(master, args.resize[0], args.resize[1])
                time.sleep(0.2)  # the runtime forwards the new size on SIGWINCH
                os.write(master, args.input.encode())
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    # What is still buffered on the master.
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    after = termios.tcgetattr(slave)
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({
        'exit': code if code >= 0 else 128 - code,
        'output': output.decode(errors='replace'),
        'rawWhileRunning': bool(raw_while_running),
        'restored': after == before,
        'timedOut': timed_out,
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
