"""Official JSON schemas, vendored (see README.md and SOURCES.json here), and validators built on them."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

# jsonschema is imported where validators are built: it is a tenth of every CLI command's start-up otherwise,
# and most commands (every record query) never validate against a schema.
if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from referencing import Registry

SCHEMA_FILES = {
    "osv": "osv/schema.json",
    "csaf-2.0": "csaf-2.0/csaf_json_schema.json",
    "csaf-2.0-provider": "csaf-2.0/provider_json_schema.json",
    "cve5": "cve5/CVE_JSON_bundled_5.1.1.json",
    "kev": "kev/known_exploited_vulnerabilities_schema.json",
}

# CSAF and CVE 5 reference the FIRST CVSS schemas by their public URLs; map them to the vendored copies so
# validation never touches the network.
_CVSS_URLS = {
    "https://www.first.org/cvss/cvss-v2.0.json": "cvss/cvss-v2.0.json",
    "https://www.first.org/cvss/cvss-v3.0.json": "cvss/cvss-v3.0.json",
    "https://www.first.org/cvss/cvss-v3.1.json": "cvss/cvss-v3.1.json",
    "https://www.first.org/cvss/cvss-v4.0.json": "cvss/cvss-v4.0.json",
}


def load_json(relative_path: str) -> Any:
    return orjson.loads(resources.files(__name__).joinpath(relative_path).read_bytes())


@cache
def _registry() -> Registry[Any]:
    from referencing import Registry
    from referencing.jsonschema import DRAFT7, DRAFT202012

    # The FIRST schemas declare a meta-schema of their own that `referencing` does not know; they are draft 7.
    pairs = [(url, DRAFT7.create_resource(load_json(path))) for url, path in _CVSS_URLS.items()]
    # The CSAF provider metadata schema takes its publisher from the CSAF schema, by URL.
    csaf = load_json(SCHEMA_FILES["csaf-2.0"])
    pairs.append((csaf["$id"], DRAFT202012.create_resource(csaf)))
    return Registry().with_resources(pairs)


@cache
def validator(name: str) -> Validator:
    """A validator for one of ``SCHEMA_FILES``, with formats checked and remote refs resolved locally."""
    from jsonschema import Draft202012Validator, FormatChecker, validators

    schema = load_json(SCHEMA_FILES[name])
    cls = validators.validator_for(schema, default=Draft202012Validator)
    return cls(schema, registry=_registry(), format_checker=FormatChecker())


def schema_errors(name: str, document: Any) -> list[str]:
    """Every schema violation as ``path: message``; empty when the document is valid."""
    found = sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{e.json_path}: {e.message}" for e in found]


@cache
def osv_ecosystems() -> frozenset[str]:
    """Ecosystem names the OSV schema knows (the part before any ``:release`` suffix)."""
    return frozenset(load_json("osv/ecosystems.json"))
