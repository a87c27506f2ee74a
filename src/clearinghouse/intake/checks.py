"""Quality checks that catch low-quality reports and say why. Each is a signal with an explanation; together
they make the credibility score. Nothing is closed automatically: a low score only lowers the priority.

The checks are pure: the pipeline gathers the facts they need from the store (`KnownFacts`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clearinghouse.errors import InvalidVersion, UnknownEcosystem
from clearinghouse.intake.findings import Finding
from clearinghouse.intake.triage import Signal
from clearinghouse.records.versions import parse_version

# Largest CWE id in the CWE list (4.16 tops out under 1,500); anything past that is invented.
MAX_CWE_ID = 1500
_SOURCE_PATH = re.compile(r"^(?!/)(?!.*\.\./)[\w.\-/@+]+\.[A-Za-z0-9]{1,8}(?::\d+)?$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.:$<>]*(\(\))?$")


@dataclass(frozen=True)
class KnownFacts:
    packages_known: dict[str, bool] = field(default_factory=dict)  # "ecosystem/name" -> in known data
    ai_generated: bool = False
    human_verified: bool = False
    reproduction: Mapping[str, Any] | None = None  # the latest reproduction's verdict and reason (issue 17)


def run_checks(finding: Finding, facts: KnownFacts) -> list[Signal]:
    return [
        _package_known(finding, facts),
        _versions_plausible(finding),
        _cwe_valid(finding),
        _cvss_parses(finding),
        _proof_present(finding),
        _locations_plausible(finding),
        _human_verified(facts),
        _reproduced(facts),
    ]


def _package_known(finding: Finding, facts: KnownFacts) -> Signal:
    checked = {key: known for key, known in facts.packages_known.items()}
    if not checked:
        return Signal("package-known", None, 2.0, "no package with an ecosystem to look up")
    unknown = [key for key, known in checked.items() if not known]
    if unknown:
        return Signal("package-known", False, 2.0, f"not in any known advisory data: {', '.join(unknown)}")
    return Signal("package-known", True, 2.0, f"known package: {', '.join(checked)}")


def _versions_plausible(finding: Finding) -> Signal:
    claims = [(p.ecosystem, v) for p in finding.packages if p.ecosystem for v in p.versions]
    if not claims:
        return Signal("versions-plausible", None, 1.0, "no versions claimed")
    bad = []
    for ecosystem, version in claims:
        try:
            parse_version(ecosystem or "", version)
        except (InvalidVersion, UnknownEcosystem) as exc:
            bad.append(exc.message)
    if bad:
        return Signal("versions-plausible", False, 1.0, "; ".join(bad[:3]))
    return Signal("versions-plausible", True, 1.0, f"{len(claims)} claimed versions parse under their ecosystems")


def _cwe_valid(finding: Finding) -> Signal:
    if not finding.cwes:
        return Signal("cwe-valid", None, 0.5, "no CWE given")
    invented = [c for c in finding.cwes if int(c.removeprefix("CWE-")) > MAX_CWE_ID]
    if invented:
        return Signal("cwe-valid", False, 0.5, f"no such CWE: {', '.join(invented)}")
    return Signal("cwe-valid", True, 0.5, f"CWE ids in range: {', '.join(finding.cwes)}")


def _cvss_parses(finding: Finding) -> Signal:
    if not finding.cvss_vectors:
        return Signal("cvss-parses", None, 0.5, "no CVSS vector given")
    # Vectors are parsed when the report is accepted; reaching here means they parsed.
    return Signal("cvss-parses", True, 0.5, f"{len(finding.cvss_vectors)} CVSS vector(s) parse")


def _proof_present(finding: Finding) -> Signal:
    if finding.proof_of_concept and len(finding.proof_of_concept.strip()) >= 20:
        return Signal("proof-of-concept", True, 2.0, "a proof of concept is included")
    if finding.attachments:
        return Signal("proof-of-concept", True, 2.0, f"{len(finding.attachments)} attachment(s) included")
    if finding.kind in {"sarif", "osv"}:
        return Signal("proof-of-concept", None, 2.0, f"{finding.kind} input carries no proof of concept")
    return Signal("proof-of-concept", False, 2.0, "no proof of concept: the report cannot be reproduced as sent")


def _locations_plausible(finding: Finding) -> Signal:
    if not finding.locations:
        return Signal("locations-plausible", None, 1.0, "no file or function named")
    odd = [loc for loc in finding.locations if not (_SOURCE_PATH.match(loc) or _FUNCTION.match(loc))]
    if odd:
        return Signal("locations-plausible", False, 1.0, f"implausible code locations: {', '.join(odd[:3])}")
    return Signal("locations-plausible", True, 1.0, f"{len(finding.locations)} plausible code location(s)")


def _human_verified(facts: KnownFacts) -> Signal:
    if not facts.ai_generated:
        return Signal("human-verified", True, 1.5, "found by a person")
    if facts.human_verified:
        return Signal("human-verified", True, 1.5, "AI-generated, verified by a person")
    return Signal("human-verified", False, 1.5, "AI-generated and not verified by a person")


def _reproduced(facts: KnownFacts) -> Signal:
    """The harness ran the proof of concept in the sandbox: the strongest signal there is, either way."""
    verdict = (facts.reproduction or {}).get("verdict")
    reason = (facts.reproduction or {}).get("reason", "")
    if verdict in {"reproduced", "reproduced_not_fixed"}:
        return Signal("reproduced", True, 4.0, f"reproduced in the sandbox ({verdict}): {reason}")
    if verdict == "not_reproduced":
        return Signal("reproduced", False, 4.0, f"the proof of concept did not reproduce in the sandbox: {reason}")
    if verdict == "error":
        return Signal("reproduced", None, 4.0, f"the reproduction could not run: {reason}")
    return Signal("reproduced", None, 4.0, "not reproduced yet")
