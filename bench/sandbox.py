"""Sandbox start-up benchmark: what one sample's sandbox costs to bring up and tear down.

Usage: python bench/sandbox.py [--rounds 20]. Alternating rounds in one run (the machine's speed drifts, so
only figures from the same run are compared):
- baseline: a bare `bwrap --unshare-all ... /bin/true` (namespaces and a read-only /usr, nothing else);
- sandbox: `BwrapSandboxEnvironment.start()` until its command server answers (cgroup, seccomp, tmpfs mounts,
  control socket), plus `stop()` (kill, cgroup removal, directory removal), timed separately;
- with service: the same for a sample whose flag holder (web-sqli's server) runs in a sandbox of its own,
  up to the service answering on the shared loopback.
Target: sandbox start under 300 ms per sample (median) on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

import anyio

TARGET_START_SECONDS = 0.300


def _bare(bwrap: str) -> float:
    # as the sandbox launches it: dropped to an unprivileged host uid first when root, in a user namespace
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] if os.geteuid() == 0 else []
    started = time.perf_counter()
    subprocess.run(
        [*drop, bwrap, "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib64",
         "/lib64", "--symlink", "usr/lib", "/lib", "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


async def _sandbox(with_service: bool) -> tuple[float, float]:
    from clearinghouse.evals.ctf import FlagKey, instances
    from clearinghouse.evals.ctf.tasks import to_sample
    from clearinghouse.evals.sandbox import BwrapSandboxEnvironment

    started = time.perf_counter()
    if with_service:
        (instance,) = instances(0, FlagKey.generate(), "web-sqli")
        envs = await BwrapSandboxEnvironment.sample_init("bench", None, dict(to_sample(instance).metadata or {}))
        env = envs["default"].as_type(BwrapSandboxEnvironment)
    else:
        env = await BwrapSandboxEnvironment.start()
    ready = time.perf_counter() - started
    started = time.perf_counter()
    await env.stop()
    return ready, time.perf_counter() - started


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[max(int(len(ordered) * 0.9) - 1, 0)]
    return f"{name:28} median {statistics.median(values) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    from clearinghouse.evals.sandbox import require_bwrap

    bwrap = require_bwrap()
    bare: list[float] = []
    start: list[float] = []
    stop: list[float] = []
    service_start: list[float] = []
    service_stop: list[float] = []
    anyio.run(_sandbox, False)  # warm caches (seccomp compilation, dpkg, imports) outside the figures
    for _ in range(args.rounds):
        bare.append(_bare(bwrap))
        ready, gone = anyio.run(_sandbox, False)
        start.append(ready)
        stop.append(gone)
        ready, gone = anyio.run(_sandbox, True)
        service_start.append(ready)
        service_stop.append(gone)
    print(_summary("baseline: bare bwrap /bin/true", bare))
    print(_summary("sandbox start (to ready)", start))
    print(_summary("sandbox stop", stop))
    print(_summary("with service: start", service_start))
    print(_summary("with service: stop", service_stop))
    median = statistics.median(start)
    print(
        f"sandbox start {median * 1000:.0f} ms = {median / statistics.median(bare):.1f}x the bare bwrap baseline "
        f"(target < {TARGET_START_SECONDS * 1000:.0f} ms): {'PASS' if median < TARGET_START_SECONDS else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
