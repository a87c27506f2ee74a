"""`dedup_file` (the `clearinghouse dedup` command) on real dev-set records with opaque ids and no aliases."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from clearinghouse.intake import batch_dedup
from clearinghouse.intake.batch_dedup import dedup_file

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "dedup-sample.jsonl"
# Pairs from different databases that name the same CVE/GHSA upstream (see tests/fixtures/README.md).
DUPLICATES = [
    ("rec-000", "rec-001"),
    ("rec-002", "rec-003"),
    ("rec-004", "rec-005"),
    ("rec-006", "rec-007"),
    ("rec-008", "rec-009"),
]
UNRELATED = ["rec-011", "rec-012", "rec-013", "rec-014", *(f"rec-{n:03d}" for n in range(17, 25))]


def clusters(path: Path) -> dict[str, str]:
    return {row["id"]: row["cluster"] for row in map(orjson.loads, path.read_bytes().splitlines())}


def test_known_duplicates_cluster_together_and_unrelated_records_do_not(tmp_path: Path) -> None:
    out = tmp_path / "clusters.jsonl"
    summary = dedup_file(SAMPLE, out, None)
    found = clusters(out)
    assert summary.records == len(found) == 25
    for a, b in DUPLICATES:
        assert found[a] == found[b], (a, b)
    for record in UNRELATED:
        assert [other for other, cluster in found.items() if cluster == found[record]] == [record]
    assert "records/s" in str(summary) and "largest" in str(summary)


def test_different_vulnerabilities_fixed_in_one_release_stay_apart(tmp_path: Path) -> None:
    out = tmp_path / "clusters.jsonl"
    dedup_file(SAMPLE, out, None)
    found = clusters(out)
    # A shared release counts only as far as the texts agree, and two texts naming different source files
    # (`TiffDecode.c`, `SgiRleDecode.c`) are about different code.
    assert found["rec-015"] != found["rec-016"]  # two Pillow CVEs fixed in 6.2.2
    assert found["rec-010"] != found["rec-000"]  # two Airflow CVEs fixed in 1.10.11


INTRO = (
    "An issue was discovered in Django 2.2 before 2.2.16, 3.0 before 3.0.10, and 3.1 before 3.1.1 (when Python 3.7+ "
    "is used). "
)
OTHER_BUGS = [
    "Cross-site scripting in the {name} admin page lets a user inject script into comments.",
    "SQL injection in the {name} search form lets an attacker read the database.",
    "Path traversal in the {name} download handler lets a client read arbitrary files.",
]


def record(record_id: str, ecosystem: str, name: str, details: str, fixed: list[str]) -> bytes:
    events: list[dict[str, str]] = [{"introduced": "0"}, *({"fixed": version} for version in fixed)]
    document = {
        "schema_version": "1.5.0",
        "id": record_id,
        "modified": "2024-01-01T00:00:00Z",
        "details": details,
        "affected": [
            {"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
        ],
    }
    return orjson.dumps(document) + b"\n"


def test_copies_of_two_advisories_sharing_a_template_and_a_release_form_two_clusters(tmp_path: Path) -> None:
    release = ["2.2.16", "3.0.10", "3.1.1"]
    cache, upload = INTRO + "The filesystem cache kept the standard umask.", INTRO + "Uploads ignored the mode."
    lines = [
        record("cache-pypi", "PyPI", "django", cache, release),
        record("upload-pypi", "PyPI", "django", upload, release),
        record("cache-bitnami", "Bitnami", "django", cache, release),
        record("upload-bitnami", "Bitnami", "django", upload, release),
        *(
            record(f"other-{n}", "npm", f"app{n}", OTHER_BUGS[n % 3].format(name=f"app{n}"), [f"1.{n}"])
            for n in range(12)
        ),
    ]
    source, out = tmp_path / "input.jsonl", tmp_path / "clusters.jsonl"
    source.write_bytes(b"".join(lines))
    summary = dedup_file(source, out, None)
    found = clusters(out)
    assert summary.pairs_matched > 2  # the two advisories match across too: they share a template and a release
    assert found["cache-pypi"] == found["cache-bitnami"] != found["upload-pypi"] == found["upload-bitnami"]


def test_a_malformed_line_is_reported_and_the_rest_written(tmp_path: Path) -> None:
    lines = SAMPLE.read_bytes().splitlines()
    broken = tmp_path / "input.jsonl"
    broken.write_bytes(b"\n".join([*lines[:3], b"{not json", *lines[3:]]) + b"\n")
    out = tmp_path / "clusters.jsonl"
    summary = dedup_file(broken, out, 0.5)
    assert summary.failed == 1
    assert f"{broken}:4" in str(summary)
    assert len(clusters(out)) == 25


def test_output_is_replaced_atomically(tmp_path: Path) -> None:
    out = tmp_path / "clusters.jsonl"
    out.write_text("old\n")
    dedup_file(SAMPLE, out, None)
    assert len(clusters(out)) == 25
    assert [p.name for p in tmp_path.iterdir()] == ["clusters.jsonl"]


def test_worker_processes_change_nothing_but_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = tmp_path / "feed.jsonl"
    # A bad line and a repeated id among the chunks: reported the same way whoever fingerprints them.
    lines = SAMPLE.read_bytes().splitlines()
    feed.write_bytes(b"\n".join([*lines[:7], b"{not json", *lines[7:], lines[3]]) + b"\n")
    monkeypatch.setattr(batch_dedup, "FINGERPRINT_CHUNK", 4)  # several chunks, so the workers get work
    monkeypatch.setattr(batch_dedup, "default_workers", lambda: 2)
    parallel = dedup_file(feed, tmp_path / "parallel.jsonl", None)
    monkeypatch.setattr(batch_dedup, "default_workers", lambda: 0)
    alone = dedup_file(feed, tmp_path / "alone.jsonl", None)
    assert clusters(tmp_path / "parallel.jsonl") == clusters(tmp_path / "alone.jsonl")
    assert parallel.records == alone.records == 25
    assert parallel.pairs_matched == alone.pairs_matched > 0
    assert [str(e) for e in parallel.errors] == [str(e) for e in alone.errors] and len(alone.errors) == 2
