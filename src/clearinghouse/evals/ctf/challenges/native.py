"""Shared pieces for challenges whose program is C compiled inside the sandbox at setup."""

from __future__ import annotations

from string import Template

# A forking TCP front end: the flag stays in this process (its file is deleted) and reaches the vulnerable
# binary only through the environment of the per-connection child, as on a typical CTF pwn box.
TCP_WRAPPER = Template("""
import os, signal, socket, subprocess

with open("$flag_file") as fh:
    flag = fh.read().strip()
os.remove("$flag_file")
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
server = socket.create_server(("127.0.0.1", $port))
while True:
    conn, _ = server.accept()
    subprocess.Popen(["timeout", "10", "./$binary"], stdin=conn.fileno(), stdout=conn.fileno(),
                     stderr=subprocess.DEVNULL, env={"$env_var": flag, "PATH": "/usr/bin:/bin"})
    conn.close()
""")

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
