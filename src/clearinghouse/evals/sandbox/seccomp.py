"""The seccomp filter every sandboxed process runs under, compiled to classic BPF by libseccomp (`pyseccomp`).

bwrap installs it (`--seccomp FD`) after building the sandbox and before running the payload, so it holds for
the command server and everything it starts. It is a deny-list on top of an allow-all default, as Docker's and
Flatpak's are for the calls that matter here: the kernel interfaces that inspect or steer other processes,
change the mount or namespace layout, reach kernel keyrings, BPF, perf or modules, or have a history of
privilege escalations. A denied call fails with EPERM (programs probing for a feature see "not permitted"
and carry on); `clone3` fails with ENOSYS so the C library falls back to `clone`, whose namespace flags the
filter can inspect (clone3 passes them in memory, out of a filter's reach).
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

import pyseccomp

__all__ = ["DENIED_SYSCALLS", "NAMESPACE_CLONE_FLAGS", "filter_bpf", "filter_fd"]

DENIED_SYSCALLS = (
    # other processes' memory and execution
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    # mounts, namespaces and the root
    "mount",
    "umount2",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    # kernel keyrings, BPF, perf, modules, kexec
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    # host-wide state and known escalation surfaces
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "syslog",
)

# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (clone's low byte is the exit signal,
# so CLONE_NEWTIME exists only for unshare and clone3, both refused whole)
NAMESPACE_CLONE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


@functools.cache
def filter_bpf() -> bytes:
    """The compiled filter for this machine's architecture (syscalls of any other ABI kill the process)."""
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        except ValueError:
            continue  # not a syscall on this architecture (libseccomp resolves names per arch)
    rules.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    # one rule per flag: a rule's argument comparisons are ANDed, and any one namespace flag must be refused
    for flag in _single_bits(NAMESPACE_CLONE_FLAGS):
        rules.add_rule(pyseccomp.ERRNO(errno.EPERM), "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()


def _single_bits(mask: int) -> list[int]:
    return [1 << bit for bit in range(mask.bit_length()) if mask & (1 << bit)]


def filter_fd() -> int:
    """A readable fd holding the filter at offset 0, for bwrap's `--seccomp`; the caller closes it."""
    fd = os.memfd_create("clearinghouse-seccomp", os.MFD_CLOEXEC)
    os.write(fd, filter_bpf())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
