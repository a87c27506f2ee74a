"""The OpenAPI document states what every operation answers: a named response schema for each success, and for
every list a page (`limit` 1-500, `cursor`, `total`, `next_cursor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(home=home, database_url=f"sqlite:///{home / 'store.db'}", embedded_worker=False))
    openapi: dict[str, Any] = app.openapi()
    return openapi


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_success_declares_a_named_schema(document: dict[str, Any]) -> None:
    unnamed = []
    for method, path, operation in _operations(document):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{method} {path} declares no success"
        for code, response in successes.items():
            content = response.get("content", {})
            schemas = [media.get("schema", {}) for media in content.values()]
            json_schema = content.get("application/json", {}).get("schema", {})
            if not schemas or ("application/json" in content and "$ref" not in json_schema):
                unnamed.append(f"{method} {path} {code}")
    assert unnamed == []


LISTS = {
    "/api/v1/reports",
    "/api/v1/clusters/{cluster_id}",
    "/api/v1/frontier/criteria",
    "/api/v1/frontier/models/{model_id}/determinations",
    "/api/v1/frontier/models/{model_id}/evaluations",
    "/api/v1/frontier/reminders",
    "/api/v1/notifications/subscriptions",
    "/api/v1/notifications/deliveries",
    "/api/v1/assets",
    "/api/v1/assets/{asset_id}/matches",
    "/api/v1/alerts",
}


def test_every_list_is_a_page_with_a_bounded_limit(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    paged = set()
    for method, path, operation in _operations(document):
        ref = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        name = ref.get("$ref", "").rsplit("/", 1)[-1]
        if method != "get" or not name.endswith("Page"):
            continue
        paged.add(path)
        assert {"total", "next_cursor"} <= set(components[name]["properties"]), path
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        assert parameters["limit"]["schema"]["minimum"] == 1 and parameters["limit"]["schema"]["maximum"] == 500, path
        assert "cursor" in parameters, path
    assert paged == LISTS
