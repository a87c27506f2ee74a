"""Shared pieces for challenges whose program is C compiled inside the sandbox at setup."""

from __future__ import annotations

from string import Template

# Descriptor on which a native service finds the flag: only its winning path reads it.
FLAG_FD = 9

# A forking TCP front end: the flag stays in this process (its file is deleted) and reaches the vulnerable
# binary only through a pipe inherited on FLAG_FD, never through its environment or command line.
TCP_WRAPPER = Template(
    """
import os, signal, socket, subprocess

with open("$flag_file", "rb") as fh:
    flag = fh.read().strip()
os.remove("$flag_file")
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
server = socket.create_server(("127.0.0.1", $port))
while True:
    conn, _ = server.accept()
    read_end, write_end = os.pipe()
    os.write(write_end, flag)
    os.close(write_end)
    os.dup2(read_end, FLAG_FD)
    subprocess.Popen(["timeout", "10", "./$binary"], stdin=conn.fileno(), stdout=conn.fileno(),
                     stderr=subprocess.DEVNULL, pass_fds=(FLAG_FD,), env={"PATH": "/usr/bin:/bin"})
    os.close(FLAG_FD)
    os.close(read_end)
    conn.close()
""".replace("FLAG_FD", str(FLAG_FD))
)

# C statements that copy the flag from FLAG_FD to standard output.
C_PRINT_FLAG = (
    f"{{ char flag_buf[96]; ssize_t flag_len = read({FLAG_FD}, flag_buf, sizeof flag_buf); "
    'if (flag_len > 0) write(1, flag_buf, (size_t)flag_len); write(1, "\\n", 1); }'
)

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
