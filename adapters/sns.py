"""Amazon SNS HTTPS deliveries: verifying an envelope's signature against the AWS signing certificate,
and confirming a subscription by visiting its SubscribeURL. Both only ever talk to genuine SNS hosts
(`https://sns.<region>.amazonaws.com[.cn]`), so a forged envelope cannot make us fetch other URLs.

    verifier = SnsVerifier()                      # one per process: it caches certificates
    await verifier.verify(envelope)               # SnsVerificationError(reason) when not genuine
    await confirm_subscription(envelope["SubscribeURL"], http_get)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FetchCert = Callable[[str], Awaitable[bytes]]

# sns.<region>.amazonaws.com, and sns.<region>.amazonaws.com.cn for the China regions.
_SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?")
_MAX_CERT_BYTES = 64 * 1024
_MAX_CACHED_CERTS = 64

# The fields signed, in the order AWS concatenates them ("<name>\n<value>\n" each); optional ones
# (Subject) are left out when absent.
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_OPTIONAL_FIELDS = {"Subject"}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class SnsVerificationError(Exception):
    """An SNS envelope or URL that is not genuine; `reason` says why (safe to log, not to answer)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_sns_url(url: str) -> bool:
    """Whether `url` is https on a genuine SNS host, on the default port, without credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.hostname is not None
        and _SNS_HOST.fullmatch(parts.hostname) is not None
        and port is None
        and parts.username is None
        and parts.password is None
    )


def canonical_string(envelope: Mapping[str, Any]) -> bytes:
    """The bytes AWS signed for this envelope (its `Type` picks the field list)."""
    kind = envelope.get("Type")
    if not isinstance(kind, str) or kind not in _SIGNED_FIELDS:
        raise SnsVerificationError("unknown envelope Type")
    lines: list[str] = []
    for name in _SIGNED_FIELDS[kind]:
        value = envelope.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise SnsVerificationError(f"{name} is missing")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


async def fetch_cert_over_https(url: str) -> bytes:
    """The default certificate fetcher: a plain GET, no redirects, size-capped."""
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content[: _MAX_CERT_BYTES + 1]


class SnsVerifier:
    """Checks SNS envelope signatures (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA)."""

    def __init__(self, fetch_cert: FetchCert | None = None) -> None:
        self._fetch_cert = fetch_cert or fetch_cert_over_https
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()

    async def verify(self, envelope: dict[str, Any]) -> None:
        """Return if `envelope` was signed by SNS; raise SnsVerificationError otherwise."""
        if not isinstance(envelope, dict):
            raise SnsVerificationError("envelope is not an object")
        version = envelope.get("SignatureVersion")
        if not isinstance(version, str) or version not in _HASHES:
            raise SnsVerificationError("SignatureVersion must be 1 or 2")
        signature_text = envelope.get("Signature")
        if not isinstance(signature_text, str):
            raise SnsVerificationError("Signature is missing")
        try:
            signature = base64.b64decode(signature_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SnsVerificationError("Signature is not base64") from exc
        cert_url = envelope.get("SigningCertURL")
        if (
            not isinstance(cert_url, str)
            or not is_sns_url(cert_url)
            or not urlsplit(cert_url).path.endswith(".pem")
        ):
            raise SnsVerificationError("SigningCertURL is not an SNS certificate URL")
        signed = canonical_string(envelope)
        key = await self._public_key(cert_url)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), _HASHES[version]())
        except InvalidSignature as exc:
            raise SnsVerificationError("signature does not match") from exc

    async def _public_key(self, url: str) -> rsa.RSAPublicKey:
        cached = self._keys.get(url)
        if cached is not None:
            self._keys.move_to_end(url)
            return cached
        try:
            pem = await self._fetch_cert(url)
        except Exception as exc:  # any transport failure means we cannot vouch for the envelope
            raise SnsVerificationError("signing certificate could not be fetched") from exc
        if len(pem) > _MAX_CERT_BYTES:
            raise SnsVerificationError("signing certificate is too large")
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise SnsVerificationError("signing certificate is not a PEM certificate") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsVerificationError("signing certificate does not hold an RSA key")
        self._keys[url] = key
        if len(self._keys) > _MAX_CACHED_CERTS:
            self._keys.popitem(last=False)
        return key


async def confirm_subscription(subscribe_url: str, http_get: Callable[[str], Awaitable[object]]) -> None:
    """Confirm an SNS subscription by GETting its SubscribeURL, which must be an SNS
    `Action=ConfirmSubscription` URL; SnsVerificationError (and no request) otherwise."""
    if not isinstance(subscribe_url, str) or not is_sns_url(subscribe_url):
        raise SnsVerificationError("SubscribeURL is not an SNS URL")
    if parse_qs(urlsplit(subscribe_url).query).get("Action") != ["ConfirmSubscription"]:
        raise SnsVerificationError("SubscribeURL is not a ConfirmSubscription URL")
    await http_get(subscribe_url)
