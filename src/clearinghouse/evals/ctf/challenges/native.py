"""Shared pieces for challenges whose program is C compiled inside the sandbox at setup."""

from __future__ import annotations

from string import Template

# A forking TCP front end, run in the service's own sandbox: the flag stays in this (not dumpable) process, its
# file deleted, and reaches the vulnerable binary of each connection on fd 3 (a pipe), never in its environment
# or arguments.
TCP_WRAPPER = Template("""
import ctypes, os, signal, socket, subprocess

ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
with open("$flag_file") as fh:
    flag = fh.read().strip()
os.remove("$flag_file")
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
server = socket.create_server(("127.0.0.1", $port))
while True:
    conn, _ = server.accept()
    flag_read, flag_write = os.pipe()
    os.write(flag_write, flag.encode())
    os.close(flag_write)
    subprocess.Popen(["sh", "-c", "exec timeout 10 ./$binary 3<&%d" % flag_read], stdin=conn.fileno(),
                     stdout=conn.fileno(), stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"},
                     pass_fds=(flag_read,))
    os.close(flag_read)
    conn.close()
""")

# The flag as the vulnerable binary gets it: on fd 3 from the front end (a statement list with no braces, so
# reference solutions can find the function that holds it by the `read(3` in its body).
READ_FLAG_C = "char flag[96]; ssize_t got = read(3, flag, sizeof flag - 1); flag[got > 0 ? got : 0] = 0;"


# Sends one payload to a service and prints everything it answers with.
SEND_PAYLOAD = """
def talk(port, payload):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.recv(4096)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
    return out.decode(errors="replace")
"""


def c_bytes(data: bytes) -> str:
    return ", ".join(f"0x{b:02x}" for b in data)
