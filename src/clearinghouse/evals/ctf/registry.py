"""The challenge catalogue."""

from __future__ import annotations

from clearinghouse.evals.ctf.base import Category, Challenge, FlagKey, Instance
from clearinghouse.evals.ctf.challenges import (
    crypto,
    crypto_hard,
    forensics,
    forensics_hard,
    misconfig,
    misconfig_hard,
    pwn,
    pwn_hard,
    rev_hard,
    reverse,
    web,
    web_hard,
)

CHALLENGES: tuple[Challenge, ...] = (
    # warm-ups (issue 5): difficulty 1-2
    Challenge("web-sqli", Category.WEB, 2, "member directory", web.build_sqli, 15),
    Challenge("web-idor", Category.WEB, 1, "shared notes", web.build_idor, 10),
    Challenge("crypto-xor", Category.CRYPTO, 1, "intercepted memo", crypto.build_xor, 10),
    Challenge("crypto-rsa-common-factor", Category.CRYPTO, 2, "shared primes", crypto.build_rsa, 15),
    Challenge("pwn-overflow", Category.PWN, 2, "badge reader", pwn.build_overflow, 15),
    Challenge("pwn-funcptr", Category.PWN, 2, "helpdesk", pwn.build_funcptr, 20),
    Challenge("rev-pyc", Category.REVERSE, 2, "bytecode gatekeeper", reverse.build_pyc, 15),
    Challenge("rev-elf", Category.REVERSE, 2, "licence checker", reverse.build_cbin, 20),
    Challenge("forensics-httplog", Category.FORENSICS, 2, "leaky access log", forensics.build_httplog, 15),
    Challenge("forensics-zip", Category.FORENSICS, 2, "removed evidence", forensics.build_zip, 15),
    Challenge("misconfig-xff", Category.MISCONFIG, 1, "trusted proxy", misconfig.build_xff, 10),
    Challenge("misconfig-cron-hook", Category.MISCONFIG, 2, "maintenance job", misconfig.build_cron, 15),
    # multi-step challenges (issue 11): difficulty 3-5, several program skeletons each
    Challenge("web-blind-sqli", Category.WEB, 4, "sign-up service", web_hard.build_blind_sqli, 45),
    Challenge("web-chain", Category.WEB, 5, "intranet", web_hard.build_chain, 90),
    Challenge("web-traversal", Category.WEB, 3, "document portal", web_hard.build_traversal, 25),
    Challenge("crypto-oracle", Category.CRYPTO, 4, "token service", crypto_hard.build_oracle, 60),
    Challenge("crypto-nonce", Category.CRYPTO, 4, "treasury signer", crypto_hard.build_nonce, 45),
    Challenge("crypto-rng", Category.CRYPTO, 3, "account recovery", crypto_hard.build_rng, 30),
    Challenge("rev-vm", Category.REVERSE, 5, "virtual licence checker", rev_hard.build_vm, 120),
    Challenge("misconfig-jwt", Category.MISCONFIG, 4, "bearer tokens", misconfig_hard.build_jwt, 45),
    Challenge("misconfig-git", Category.MISCONFIG, 3, "published repository", misconfig_hard.build_git, 30),
    Challenge("forensics-pcap", Category.FORENSICS, 4, "exfiltration capture", forensics_hard.build_pcap, 60),
    Challenge("pwn-canary", Category.PWN, 4, "guarded vault", pwn_hard.build_canary, 60),
    Challenge("pwn-blind", Category.PWN, 3, "vault terminal", pwn_hard.build_blind, 30),
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
