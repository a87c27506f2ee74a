"""A CSAF 2.0 provider (CSAF 2.0 section 7): `/.well-known/csaf/provider-metadata.json`, one directory per TLP
label (`white`, `green`, `amber`, `red`, as CSAF 2.0 names TLP 1.0's labels), each with `index.txt`,
`changes.csv`, a ROLIE feed (`feed.json`) and `<year>/<name>.json` documents beside their `.sha512` and `.asc`
(OpenPGP, `signing.Signer`) files.

Documents are the records' CSAF export (`formats.csaf.dump`), built when asked and kept while the record is
unchanged. TLP:CLEAR records go in `white`, AMBER and AMBER+STRICT in `amber`. Every listing and document is
filtered by the caller's record visibility (`policy.feeds`): a directory whose labels the caller cannot read,
and any document it may not see, is 404, and `amber`/`red` are therefore readable only with a token.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clearinghouse.errors import NotFound
from clearinghouse.feeds import repository
from clearinghouse.feeds.repository import FeedEntry
from clearinghouse.feeds.signing import Signer
from clearinghouse.formats import csaf
from clearinghouse.policy.feeds import feed_visibility, label_readable
from clearinghouse.policy.principals import Actor
from clearinghouse.records.model import Tlp, VulnerabilityRecord
from clearinghouse.store.records import RecordStore

WELL_KNOWN = "/.well-known/csaf"
DIRECTORIES: dict[str, frozenset[Tlp]] = {
    "white": frozenset({Tlp.CLEAR}),
    "green": frozenset({Tlp.GREEN}),
    "amber": frozenset({Tlp.AMBER, Tlp.AMBER_STRICT}),
    "red": frozenset({Tlp.RED}),
}
FEED_FILE = "feed.json"
_CSAF_SCHEMA = "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json"
_CACHED_DOCUMENTS = 4096


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document_path(entry: FeedEntry) -> str:
    """`<year of initial release>/<name>.json`, relative to the TLP directory (section 7.1.11); the advisory's
    tracking id is the record id (`formats.csaf.dump`)."""
    return f"{entry.initial_release.year}/{csaf.file_name(entry.id)}"


@dataclass(frozen=True)
class _Built:
    body: bytes
    sha512: str


class CsafProvider:
    def __init__(self, store: RecordStore, signer: Signer, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock or (lambda: datetime.now(UTC))
        self._documents: OrderedDict[tuple[str, str, str, str], _Built] = OrderedDict()
        self._signatures: dict[tuple[str, str, str, str], str] = {}
        self._lock = threading.Lock()

    # --- the provider ----------------------------------------------------------------------------------

    def metadata(self, base_url: str, directories: Iterable[str] = DIRECTORIES) -> dict[str, Any]:
        """`provider-metadata.json` (section 7.1.7): public, the same for every caller of the API."""
        root = base_url.rstrip("/") + WELL_KNOWN
        return {
            "canonical_url": f"{root}/provider-metadata.json",
            "distributions": [
                {
                    "directory_url": f"{root}/{directory}/",
                    "rolie": {
                        "feeds": [
                            {
                                "summary": f"TLP:{directory.upper()} advisories of the clearinghouse",
                                "tlp_label": directory.upper(),
                                "url": f"{root}/{directory}/{FEED_FILE}",
                            }
                        ]
                    },
                }
                for directory in directories
            ],
            "last_updated": _stamp(self.clock()),
            "list_on_CSAF_aggregators": True,
            "metadata_version": "2.0",
            "mirror_on_CSAF_aggregators": True,
            "public_openpgp_keys": [
                {"fingerprint": self.signer.fingerprint, "url": f"{root}/openpgp/{self.signer.fingerprint}.asc"}
            ],
            "publisher": {
                "category": "coordinator",
                "name": csaf.PUBLISHER_NAME,
                "namespace": csaf.PUBLISHER_NAMESPACE,
            },
            "role": "csaf_provider",
        }

    def public_key(self, key_file: str) -> str:
        if key_file != f"{self.signer.fingerprint}.asc":
            raise NotFound(f"no key {key_file!r}")
        return self.signer.public_key()

    # --- a TLP directory -------------------------------------------------------------------------------

    def _entries(self, actor: Actor, directory: str, id_like: str | None = None) -> list[FeedEntry]:
        labels = DIRECTORIES.get(directory)
        # A directory the caller reads no label of does not exist for it: the same 404 as an unknown one.
        if labels is None or not label_readable(actor, labels):
            raise NotFound(f"no CSAF directory {directory!r}")
        with self.store.engine.connect() as conn:
            return repository.feed_entries(conn, feed_visibility(actor), labels, id_like=id_like)

    def index(self, actor: Actor, directory: str) -> str:
        """`index.txt` (7.1.12): every document's path, one a line."""
        return "".join(f"{document_path(e)}\n" for e in sorted(self._entries(actor, directory), key=document_path))

    def changes(self, actor: Actor, directory: str) -> str:
        """`changes.csv` (7.1.13): path and current release date, newest first."""
        entries = sorted(self._entries(actor, directory), key=lambda e: (e.current_release, e.id), reverse=True)
        return "".join(f'"{document_path(e)}","{_stamp(e.current_release)}"\n' for e in entries)

    def feed(self, actor: Actor, directory: str, base_url: str) -> dict[str, Any]:
        """The directory's ROLIE feed (7.1.14, RFC 8322)."""
        entries = self._entries(actor, directory)
        url = f"{base_url.rstrip('/')}{WELL_KNOWN}/{directory}"
        updated = max((e.current_release for e in entries), default=self.clock())
        return {
            "feed": {
                "id": f"csaf-feed-tlp-{directory}",
                "title": f"Clearinghouse CSAF feed (TLP:{directory.upper()})",
                "link": [{"rel": "self", "href": f"{url}/{FEED_FILE}"}],
                "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
                "updated": _stamp(updated),
                "entry": [self._feed_entry(url, e) for e in sorted(entries, key=lambda e: e.id)],
            }
        }

    @staticmethod
    def _feed_entry(url: str, entry: FeedEntry) -> dict[str, Any]:
        document_url = f"{url}/{document_path(entry)}"
        return {
            "id": entry.id,
            "title": entry.summary or entry.id,
            "link": [
                {"rel": "self", "href": document_url},
                {"rel": "hash", "href": f"{document_url}.sha512"},
                {"rel": "signature", "href": f"{document_url}.asc"},
            ],
            "published": _stamp(entry.initial_release),
            "updated": _stamp(entry.current_release),
            "content": {"type": "application/json", "src": document_url},
            "format": {"schema": _CSAF_SCHEMA, "version": "2.0"},
        }

    # --- documents -------------------------------------------------------------------------------------

    def file(self, actor: Actor, directory: str, year: str, filename: str) -> tuple[bytes, str]:
        """A document (`.json`), its hash (`.json.sha512`) or its signature (`.json.asc`), with its media type."""
        name, kind = filename, "json"
        for suffix in (".sha512", ".asc"):
            if filename.endswith(suffix):
                name, kind = filename.removesuffix(suffix), suffix[1:]
        if not name.endswith(".json") or not year.isdigit():
            raise NotFound(f"no CSAF file {year}/{filename}")
        # The file name is the lower-cased id with anything outside [+-a-z0-9] as "_": SQL LIKE's one-character
        # wildcard, so the candidates are exactly the ids that could have that name.
        stem = name.removesuffix(".json").replace("%", "")
        matches = [e for e in self._entries(actor, directory, id_like=stem) if document_path(e) == f"{year}/{name}"]
        if not matches:
            raise NotFound(f"no CSAF file {year}/{filename}")
        entry = matches[0]
        key = (entry.id, _stamp(entry.modified), entry.tlp.value, entry.status.value)
        built = self._build(key)
        if kind == "sha512":
            return f"{built.sha512}  {name}\n".encode(), "text/plain"
        if kind == "asc":
            return self._signature(key, built).encode(), "application/pgp-signature"
        return built.body, "application/json"

    def _build(self, key: tuple[str, str, str, str]) -> _Built:
        with self._lock:
            built = self._documents.get(key)
            if built is not None:
                self._documents.move_to_end(key)
                return built
        record: VulnerabilityRecord = self.store.get(key[0])
        document = csaf.dump(record)
        body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        built = _Built(body, hashlib.sha512(body).hexdigest())
        with self._lock:
            self._documents[key] = built
            while len(self._documents) > _CACHED_DOCUMENTS:
                dropped, _ = self._documents.popitem(last=False)
                self._signatures.pop(dropped, None)
        return built

    def _signature(self, key: tuple[str, str, str, str], built: _Built) -> str:
        with self._lock:
            kept = self._signatures.get(key)
        if kept is None:
            kept = self.signer.sign(built.body)
            with self._lock:
                self._signatures[key] = kept
        return kept

    # --- a static tree -------------------------------------------------------------------------------------

    def build(self, actor: Actor, out_dir: Path, base_url: str) -> list[str]:
        """Write what `actor` may read as a static provider tree under `out_dir` (served at `base_url` +
        `/.well-known/csaf/`): metadata, key, and every readable TLP directory; returns the directories written."""
        readable = [d for d in DIRECTORIES if label_readable(actor, DIRECTORIES[d])]
        out_dir.mkdir(parents=True, exist_ok=True)
        _write(out_dir / "provider-metadata.json", orjson.dumps(self.metadata(base_url, readable), option=_INDENT))
        _write(out_dir / "openpgp" / f"{self.signer.fingerprint}.asc", self.signer.public_key().encode())
        for directory in readable:
            folder = out_dir / directory
            _write(folder / "index.txt", self.index(actor, directory).encode())
            _write(folder / "changes.csv", self.changes(actor, directory).encode())
            _write(folder / FEED_FILE, orjson.dumps(self.feed(actor, directory, base_url), option=_INDENT))
            for path in self.index(actor, directory).splitlines():
                year, name = path.split("/")
                for suffix in ("", ".sha512", ".asc"):
                    body, _media_type = self.file(actor, directory, year, name + suffix)
                    _write(folder / year / (name + suffix), body)
        return readable


_INDENT = orjson.OPT_INDENT_2


def _write(target: Path, data: bytes) -> None:
    # Names come from `csaf.file_name` (no separators), years are digits: every path stays under the tree.
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
