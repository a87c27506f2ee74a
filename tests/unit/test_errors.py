"""Every error a user can cause is declared in `clearinghouse.errors`, with its own status and stable code."""

from __future__ import annotations

import importlib
import pkgutil

import clearinghouse
from clearinghouse import errors
from clearinghouse.errors import ClearinghouseError


def _all_error_classes() -> list[type[ClearinghouseError]]:
    for module in pkgutil.walk_packages(clearinghouse.__path__, "clearinghouse."):
        if ".migrations." not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[ClearinghouseError]] = []
    pending: list[type[ClearinghouseError]] = [ClearinghouseError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_every_error_class_lives_in_the_errors_module_with_a_unique_code() -> None:
    classes = _all_error_classes()
    assert len(classes) > 25
    outside = sorted(f"{k.__module__}.{k.__qualname__}" for k in classes if k.__module__ != errors.__name__)
    assert outside == []
    codes = [k.code for k in classes]
    assert len(codes) == len(set(codes)), "two error classes share a problem code"
    assert all(100 <= k.status < 600 for k in classes)


def test_statuses_clients_rely_on() -> None:
    assert errors.Unauthenticated.status == 401
    assert errors.EarlyAccessDenied.status == 403  # a Forbidden, with its own code
    assert errors.EarlyAccessDenied.code != errors.Forbidden.code
    assert errors.NotFound.status == 404
    assert errors.IdempotencyConflict.status == 409
    assert errors.InputTooLarge.status == 413
    assert errors.InvalidCriteria.status == 422  # inherits InvalidRecord's
    assert errors.RateLimited(1.2).retry_after == 2
