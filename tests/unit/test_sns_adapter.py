"""SNS envelope signatures and subscription confirmation, against a throwaway signing certificate."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from adapters.sns import SnsVerificationError, SnsVerifier, canonical_string, confirm_subscription, is_sns_url
from tests.unit.payloads import load

CERT_URL = (
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-60eadc530605d63b8e62a523676ef735.pem"
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(key: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


PEM = certificate_pem(KEY)


class CertServer:
    """A fake fetcher that records the URLs asked for."""

    def __init__(self, pem: bytes = PEM) -> None:
        self.pem = pem
        self.fetched: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem


def signed(envelope: dict[str, Any], version: str = "1", key: Any = KEY) -> dict[str, Any]:
    envelope = envelope | {"SignatureVersion": version, "SigningCertURL": CERT_URL}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1 is SHA1
    signature = key.sign(canonical_string(envelope), padding.PKCS1v15(), algorithm)
    return envelope | {"Signature": base64.b64encode(signature).decode()}


@pytest.mark.parametrize("version", ["1", "2"])
async def test_genuine_notification_verifies(version: str):
    server = CertServer()
    envelope = signed(load("cloudwatch_alarm"), version)

    await SnsVerifier(fetch_cert=server).verify(envelope)

    assert server.fetched == [CERT_URL]


async def test_notification_without_subject_verifies():
    envelope = load("cloudwatch_alarm")
    del envelope["Subject"]

    await SnsVerifier(fetch_cert=CertServer()).verify(signed(envelope))


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_subscription_envelopes_sign_their_own_fields(kind: str):
    envelope = load("cloudwatch_subscription_confirmation") | {"Type": kind}

    await SnsVerifier(fetch_cert=CertServer()).verify(signed(envelope, "2"))


def test_canonical_strings_follow_the_aws_field_order():
    notification = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "t",
        "Subject": "s",
        "Message": "hello",
        "Timestamp": "ts",
    }
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "tok",
        "TopicArn": "t",
        "Message": "hello",
        "SubscribeURL": "u",
        "Timestamp": "ts",
    }

    assert (
        canonical_string(notification)
        == b"Message\nhello\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    )
    assert canonical_string(confirmation) == (
        b"Message\nhello\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\ntok\nTopicArn\nt\n"
        b"Type\nSubscriptionConfirmation\n"
    )


async def test_certificates_are_cached():
    server = CertServer()
    verifier = SnsVerifier(fetch_cert=server)

    await verifier.verify(signed(load("cloudwatch_alarm")))
    await verifier.verify(signed(load("cloudwatch_ok")))

    assert server.fetched == [CERT_URL]


async def test_tampered_message_is_rejected():
    envelope = signed(load("cloudwatch_alarm")) | {"Message": '{"AlarmName": "forged"}'}

    with pytest.raises(SnsVerificationError) as caught:
        await SnsVerifier(fetch_cert=CertServer()).verify(envelope)

    assert caught.value.reason == "signature does not match"


async def test_signature_by_another_key_is_rejected():
    with pytest.raises(SnsVerificationError, match="signature does not match"):
        await SnsVerifier(fetch_cert=CertServer()).verify(signed(load("cloudwatch_alarm"), key=OTHER_KEY))


async def test_version_1_signature_claimed_as_version_2_is_rejected():
    envelope = signed(load("cloudwatch_alarm"), "1") | {"SignatureVersion": "2"}

    with pytest.raises(SnsVerificationError, match="signature does not match"):
        await SnsVerifier(fetch_cert=CertServer()).verify(envelope)


@pytest.mark.parametrize(
    "cert_url",
    [
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://s3.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
        "https://sns.amazonaws.com/cert.pem",
        "https://[::1/cert.pem",
    ],
)
async def test_certificates_are_only_fetched_from_sns_hosts(cert_url: str):
    server = CertServer()
    envelope = signed(load("cloudwatch_alarm")) | {"SigningCertURL": cert_url}

    with pytest.raises(SnsVerificationError, match="SigningCertURL is not an SNS certificate URL"):
        await SnsVerifier(fetch_cert=server).verify(envelope)

    assert server.fetched == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SignatureVersion": "3"}, "SignatureVersion must be 1 or 2"),
        ({"SignatureVersion": None}, "SignatureVersion must be 1 or 2"),
        ({"Signature": None}, "Signature is missing"),
        ({"Signature": "not base64!"}, "Signature is not base64"),
        ({"Type": "Publish"}, "unknown envelope Type"),
        ({"MessageId": 5}, "MessageId is missing"),
    ],
)
async def test_malformed_envelopes_are_rejected(changes: dict[str, Any], reason: str):
    envelope = signed(load("cloudwatch_alarm")) | changes

    with pytest.raises(SnsVerificationError) as caught:
        await SnsVerifier(fetch_cert=CertServer()).verify(envelope)

    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (b"not a certificate", "signing certificate is not a PEM certificate"),
        (b"x" * (64 * 1024 + 1), "signing certificate is too large"),
        (
            certificate_pem(ec.generate_private_key(ec.SECP256R1())),
            "signing certificate does not hold an RSA key",
        ),
    ],
)
async def test_bad_certificates_are_rejected(pem: bytes, reason: str):
    with pytest.raises(SnsVerificationError) as caught:
        await SnsVerifier(fetch_cert=CertServer(pem)).verify(signed(load("cloudwatch_alarm")))

    assert caught.value.reason == reason


async def test_a_failing_fetch_is_a_verification_error():
    async def unreachable(url: str) -> bytes:
        raise OSError("connection refused")

    with pytest.raises(SnsVerificationError, match="signing certificate could not be fetched"):
        await SnsVerifier(fetch_cert=unreachable).verify(signed(load("cloudwatch_alarm")))


async def test_subscription_is_confirmed_by_getting_the_subscribe_url():
    url = load("cloudwatch_subscription_confirmation")["SubscribeURL"]
    visited: list[str] = []

    async def http_get(target: str) -> None:
        visited.append(target)

    await confirm_subscription(url, http_get)

    assert visited == [url]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/?Action=ConfirmSubscription", "SubscribeURL is not an SNS URL"),
        ("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", "SubscribeURL is not an SNS URL"),
        (
            "https://sns.cn-north-1.amazonaws.com.cn.evil.example/?Action=ConfirmSubscription",
            "SubscribeURL is not an SNS URL",
        ),
        (
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "SubscribeURL is not a ConfirmSubscription URL",
        ),
    ],
)
async def test_subscribe_urls_off_sns_are_never_visited(url: str, reason: str):
    visited: list[str] = []

    async def http_get(target: str) -> None:
        visited.append(target)

    with pytest.raises(SnsVerificationError) as caught:
        await confirm_subscription(url, http_get)

    assert caught.value.reason == reason
    assert visited == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://sns.us-east-1.amazonaws.com/x.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", True),
        ("https://sns.ap-southeast-2.amazonaws.com/x.pem", True),
        ("https://SNS.us-east-1.amazonaws.com/x.pem", True),  # host names are case-insensitive
        ("https://sns.us-east-1.amazonaws.com.cn.example/x.pem", False),
        ("https://xsns.us-east-1.amazonaws.com/x.pem", False),
    ],
)
def test_sns_hosts(url: str, expected: bool):
    assert is_sns_url(url) is expected
