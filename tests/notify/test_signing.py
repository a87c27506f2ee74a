"""The webhook signature a receiver checks: HMAC-SHA256 over "<t>.<body>", with a replay window."""

from __future__ import annotations

from clearinghouse.notify.signing import new_secret, signature, verify

BODY = b'{"id":"d1","kind":"case.opened"}'
T = 1_796_547_600


def test_a_signature_verifies_for_the_exact_body_and_secret_within_the_window() -> None:
    secret = new_secret()
    header = signature(secret, T, BODY)
    assert header.startswith(f"t={T},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(secret, header, BODY, now=T + 299)


def test_a_changed_body_another_secret_or_a_forged_timestamp_fail() -> None:
    secret = new_secret()
    header = signature(secret, T, BODY)
    assert not verify(secret, header, BODY + b" ", now=T)
    assert not verify(new_secret(), header, BODY, now=T)
    assert not verify(secret, header.replace(f"t={T}", f"t={T + 60}"), BODY, now=T)


def test_an_old_delivery_replayed_is_refused() -> None:
    secret = new_secret()
    assert not verify(secret, signature(secret, T, BODY), BODY, now=T + 301)
    assert not verify(secret, signature(secret, T, BODY), BODY, now=T - 301)


def test_malformed_headers_fail_and_any_one_of_several_signatures_may_match() -> None:
    secret = new_secret()
    good = signature(secret, T, BODY).split("v1=")[1]
    for header in ("", "t=abc,v1=" + good, f"v1={good}", f"t={T}", f"t={T},v1="):
        assert not verify(secret, header, BODY, now=T)
    assert verify(secret, f"t={T},v1={'0' * 64},v1={good}", BODY, now=T)  # a rotation: old and new key
