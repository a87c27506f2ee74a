"""A duplicate fingerprint as plain data (issue 16): what one worker stores for the others' indexes reads back equal,
and a form this code did not write is refused rather than misread."""

from __future__ import annotations

import dataclasses

import orjson

from clearinghouse.data import sample_path
from clearinghouse.formats import osv
from clearinghouse.intake import dedup
from clearinghouse.intake.dedup_service import from_shared_form, shared_form
from tests.unit.test_dedup import fuzz_record


def sample_fingerprints() -> list[dedup.Fingerprint]:
    lines = sample_path("osv-sample.jsonl").read_bytes().splitlines()
    found = [dedup.fingerprint_osv(osv.parse(line)) for line in lines if line.strip()]
    found.append(dedup.fingerprint_osv(fuzz_record(1, "bit_read_BB\nbit_read_BD", "a" * 40)))
    found.append(
        dedup.fingerprint(
            "Cross-site scripting in the `render_name()` admin view",
            "Before 1.2.3, views.py in foo does not escape the name parameter (CWE-79); a remote attacker injects "
            "script into the admin panel of foo.",
            [("PyPI", "foo"), ("npm", "@scope/foo-ui")],
            ["1.2.2", "1.2.3"],
            ["CWE-79"],
            ["foo/views.py:12"],
            ["CVE-2024-1234"],
        )
    )
    return found


def test_every_fingerprint_reads_back_equal_through_its_stored_form() -> None:
    fingerprints = sample_fingerprints()
    for fp in fingerprints:
        stored = orjson.dumps(dedup.fingerprint_to_plain(fp))
        back = dedup.fingerprint_from_plain(orjson.loads(stored))
        assert back is not None  # every field, also those not compared by ==
        assert {f.name: getattr(back, f.name) for f in dataclasses.fields(fp)} == {
            f.name: getattr(fp, f.name) for f in dataclasses.fields(fp)
        }
    # Every field was filled in one of them, so each kind of field went through its own conversion.
    unfilled = [
        f.name for f in dataclasses.fields(dedup.Fingerprint) if not any(getattr(fp, f.name) for fp in fingerprints)
    ]
    assert unfilled == []


def test_the_shared_form_carries_the_reports_hash_and_ids() -> None:
    fp = sample_fingerprints()[-1]
    assert from_shared_form(shared_form("ab" * 32, ["CVE-2024-1234", "GHSA-aaaa-bbbb-cccc"], fp)) == (
        "ab" * 32,
        ("CVE-2024-1234", "GHSA-aaaa-bbbb-cccc"),
        fp,
    )


def test_a_form_this_code_did_not_write_is_refused() -> None:
    fp = sample_fingerprints()[-1]
    plain = dedup.fingerprint_to_plain(fp)
    assert dedup.fingerprint_from_plain([plain[0] + 1, *plain[1:]]) is None  # fields added, removed or retyped
    assert dedup.fingerprint_from_plain(plain[:-1]) is None
    assert dedup.fingerprint_from_plain({"tokens": []}) is None
    broken = list(plain)
    broken[-1] = "not base64!"
    assert dedup.fingerprint_from_plain(broken) is None
    assert from_shared_form(b"not json") is None
    assert from_shared_form(b'["hash", [], ["another form"]]') is None
