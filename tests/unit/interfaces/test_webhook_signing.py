"""Signature checks refuse any malformed timestamp as a bad signature, without parsing it."""

from __future__ import annotations

import time

import pytest

from interfaces.api.webhook_signing import SignatureError, sign, verify

SECRET = "whsec_unit"


@pytest.mark.parametrize("stamp", ["9" * 5000, "²", "١٢٣", "1" * 13, "-5", "+5", "", "1e9"])
def test_a_timestamp_that_is_not_a_few_ascii_digits_is_a_signature_error(stamp: str) -> None:
    with pytest.raises(SignatureError, match="t=<unix seconds>"):
        verify(SECRET, f"t={stamp},v1=00", b"{}", time.time())


def test_a_correct_signature_still_verifies() -> None:
    now = int(time.time())
    verify(SECRET, sign(SECRET, now, b"{}"), b"{}", now)
