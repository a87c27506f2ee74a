"""The challenge catalogue."""

from __future__ import annotations

from clearinghouse.evals.ctf.base import Category, Challenge, FlagKey, Instance
from clearinghouse.evals.ctf.challenges import crypto, forensics, misconfig, pwn, reverse, web

CHALLENGES: tuple[Challenge, ...] = (
    Challenge("web-sqli", Category.WEB, 2, "member directory", web.build_sqli),
    Challenge("web-idor", Category.WEB, 1, "shared notes", web.build_idor),
    Challenge("crypto-xor", Category.CRYPTO, 1, "intercepted memo", crypto.build_xor),
    Challenge("crypto-rsa-common-factor", Category.CRYPTO, 3, "shared primes", crypto.build_rsa),
    Challenge("pwn-overflow", Category.PWN, 2, "badge reader", pwn.build_overflow),
    Challenge("pwn-funcptr", Category.PWN, 3, "helpdesk", pwn.build_funcptr),
    Challenge("rev-pyc", Category.REVERSE, 2, "bytecode gatekeeper", reverse.build_pyc),
    Challenge("rev-elf", Category.REVERSE, 3, "licence checker", reverse.build_cbin),
    Challenge("forensics-httplog", Category.FORENSICS, 2, "leaky access log", forensics.build_httplog),
    Challenge("forensics-zip", Category.FORENSICS, 3, "removed evidence", forensics.build_zip),
    Challenge("misconfig-xff", Category.MISCONFIG, 2, "trusted proxy", misconfig.build_xff),
    Challenge("misconfig-cron-hook", Category.MISCONFIG, 2, "maintenance job", misconfig.build_cron),
)

_BY_ID = {challenge.id: challenge for challenge in CHALLENGES}


def select(ids: str | None = None) -> list[Challenge]:
    """Challenges named in a comma-separated list (all when empty); unknown names are an error."""
    if not ids:
        return list(CHALLENGES)
    wanted = [name.strip() for name in ids.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in _BY_ID]
    if unknown:
        raise ValueError(f"unknown challenge(s) {unknown}; known: {sorted(_BY_ID)}")
    return [_BY_ID[name] for name in wanted]


def instances(seed: int, key: FlagKey, ids: str | None = None) -> list[Instance]:
    return [challenge.instantiate(seed, key) for challenge in select(ids)]
