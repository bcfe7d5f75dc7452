"""Mail SES stored encrypted with a KMS key (the S3 Encryption Client's V2 format), against a real moto
server for S3 and KMS: an encrypted message becomes the rows of the same message stored plain, a large one
is decrypted as a stream, and one that cannot be decrypted is quarantined with its reason while the rest of
the batch goes on."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.mail import process as process_module
from pipelines.mail.ingest import ingest_mime
from pipelines.mail.process import process_object
from pipelines.mail.rows import ObjectRows
from pipelines.storage import encryption
from pipelines.storage.encryption import (
    BAD_ENCRYPTION_METADATA,
    DECRYPT_FAILED,
    KMS_DECRYPT_DENIED,
    KMS_KEY_MISSING,
    DecryptError,
    decrypt_bytes,
    decrypt_content,
    decrypt_content_file,
    envelope,
    is_encrypted,
)
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.storage.schemas import INBOUND
from pipelines.tenants import load_registry

RULE = "archive-inbound"
ACCOUNT = "123456789012"
"""The receipt rule and account SES names in the encryption context (moto's default account)."""
COMPARED = [
    "object_key", "tenant_id", "ses_message_id", "rfc_message_id", "subject", "from_address", "text_body",
    "has_html", "attachment_count", "size_bytes", "received_at", "sent_at",
]  # fmt: skip


def ses_encrypt(
    kms, key_id: str, raw: bytes, message_id: str, wrapping: str = "kms", context_key_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """(body, user metadata) of `raw` as SES's S3 action stores it with a KMS key: a data key from KMS
    `GenerateDataKey` under the encryption context, the message in AES-256-GCM with the tag appended, and
    the S3 Encryption Client's V2 metadata. `wrapping` `kms` (SES's: the context names the key as
    `kms_cmk_id`, `context_key_id` when given) or `kms+context` (the context names the content cipher)."""
    context = {"aws:ses:message-id": message_id, "aws:ses:rule-name": RULE, "aws:ses:source-account": ACCOUNT}
    if wrapping == "kms":
        context["kms_cmk_id"] = context_key_id or key_id
    else:
        context["aws:x-amz-cek-alg"] = "AES/GCM/NoPadding"
    generated = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    iv = os.urandom(12)
    body = AESGCM(generated["Plaintext"]).encrypt(iv, raw, None)
    metadata = {
        "x-amz-key-v2": base64.b64encode(generated["CiphertextBlob"]).decode(),
        "x-amz-iv": base64.b64encode(iv).decode(),
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-wrap-alg": wrapping,
        "x-amz-matdesc": json.dumps(context),
        "x-amz-tag-len": "128",
        "x-amz-unencrypted-content-length": str(len(raw)),
    }
    return body, metadata


@pytest.fixture
def kms(moto_endpoint: str):
    return boto3.client("kms", endpoint_url=moto_endpoint)


@pytest.fixture
def key_arn(kms) -> str:
    return kms.create_key(Description="seslake mail")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def good_keys(small_archive: Path) -> list[str]:
    """Inbound objects that become messages of a tenant."""
    rows = [json.loads(line) for line in (small_archive / "_truth" / "messages.jsonl").read_text().splitlines()]
    kinds = ("plain", "reply", "attachment", "html_only")
    return sorted(r["key"] for r in rows if r["direction"] == INBOUND and r["tenant_id"] and r["kind"] in kinds)


# --- the AES-GCM layout, fixed ---

GCM_KEY = bytes(range(32))
GCM_IV = bytes(range(100, 112))
GCM_PLAINTEXT = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
GCM_CIPHERTEXT = "0e69b10b43c937de5b1a3e85aa090fd321ad6b07813f8610cdb4cf3cc183cd2199e34dca2477f76892fe72"
GCM_TAG = "d9388414aac0544a4e9ad5fa391ac50f"


def test_the_aes_gcm_layout_is_ciphertext_then_the_16_byte_tag(tmp_path):
    """Known answers: the published AES-256-GCM test case 14 (McGrew & Viega: zero key, IV and block),
    and a message under a fixed key and IV, computed once."""
    zero = bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
    assert decrypt_content(bytes(32), bytes(12), zero) == bytes(16)
    sealed = bytes.fromhex(GCM_CIPHERTEXT + GCM_TAG)
    assert AESGCM(GCM_KEY).encrypt(GCM_IV, GCM_PLAINTEXT, None) == sealed
    assert len(sealed) == len(GCM_PLAINTEXT) + 16
    assert decrypt_content(GCM_KEY, GCM_IV, sealed) == GCM_PLAINTEXT
    (tmp_path / "sealed").write_bytes(sealed)
    decrypt_content_file(GCM_KEY, GCM_IV, tmp_path / "sealed", tmp_path / "plain")
    assert (tmp_path / "plain").read_bytes() == GCM_PLAINTEXT
    with pytest.raises(DecryptError) as caught:
        decrypt_content(GCM_KEY, GCM_IV, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert caught.value.reason == DECRYPT_FAILED


# --- the metadata and KMS's answers ---


def test_the_metadata_is_checked_before_kms_is_asked(kms, key_arn):
    _, metadata = ses_encrypt(kms, key_arn, b"x", "m1", wrapping="kms+context")
    assert is_encrypted(metadata) and not is_encrypted({"content-type": "message/rfc822"})
    assert envelope(metadata).key_id is None and envelope(metadata).context["aws:ses:rule-name"] == RULE
    broken = {
        "cbc": {**metadata, "x-amz-cek-alg": "AES/CBC/PKCS5Padding"},
        "wrap": {**metadata, "x-amz-wrap-alg": "RSA-OAEP-SHA1"},
        "iv": {**metadata, "x-amz-iv": base64.b64encode(b"short").decode()},
        "not base64": {**metadata, "x-amz-key-v2": "***"},
        "context": {**metadata, "x-amz-matdesc": "{not json"},
        "context cipher": {**metadata, "x-amz-matdesc": json.dumps({"aws:x-amz-cek-alg": "AES/CBC/PKCS5Padding"})},
        "tag": {**metadata, "x-amz-tag-len": "96"},
        "v1": {"x-amz-key": "AAAA", "x-amz-iv": metadata["x-amz-iv"], "x-amz-matdesc": "{}"},
    }
    for name, bad in broken.items():
        assert is_encrypted(bad), name
        with pytest.raises(DecryptError) as caught:
            envelope(bad)
        assert caught.value.reason == BAD_ENCRYPTION_METADATA, name


class RefusingKms:
    """A KMS client whose `Decrypt` fails with one error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def decrypt(self, **request):
        raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, "Decrypt")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NotFoundException", KMS_KEY_MISSING),
        ("DisabledException", KMS_DECRYPT_DENIED),
        ("KMSInvalidStateException", KMS_DECRYPT_DENIED),
        ("AccessDeniedException", KMS_DECRYPT_DENIED),
        ("InvalidCiphertextException", KMS_DECRYPT_DENIED),
        ("ThrottlingException", None),
    ],
)
def test_kms_errors_become_reasons(kms, key_arn, code, reason):
    """A disabled key is refused by KMS (`DisabledException`; moto decrypts with one), and an error that a
    later run may not meet is raised as it is (the object is quarantined `read_failed`)."""
    body, metadata = ses_encrypt(kms, key_arn, b"Subject: x\r\n\r\nx\r\n", "m2")
    with pytest.raises(DecryptError if reason else ClientError) as caught:
        decrypt_bytes(body, metadata, RefusingKms(code))
    if reason:
        assert caught.value.reason == reason and code in str(caught.value)


# --- the batch ingest ---


def test_encrypted_mail_becomes_the_rows_of_the_same_mail_stored_plain(
    small_archive, good_keys, moto_endpoint, s3_bucket, kms, key_arn, tmp_path
):
    """Both wrappings SES writes; in the same batch, objects that cannot be decrypted are quarantined at
    stage `decrypt` with their reason and the others become rows."""
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    sealed_bucket = f"seslake-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=sealed_bucket)
    keys = good_keys[:6]
    for index, key in enumerate(keys):
        raw = (small_archive / key).read_bytes()
        s3.put_object(Bucket=s3_bucket, Key=key, Body=raw)
        wrapping = "kms" if index % 2 else "kms+context"
        body, metadata = ses_encrypt(kms, key_arn, raw, key.rsplit("/", 1)[-1], wrapping)
        s3.put_object(Bucket=sealed_bucket, Key=key, Body=body, Metadata=metadata)

    raw = (small_archive / keys[0]).read_bytes()
    failing: dict[str, str] = {}

    def put_failing(name: str, reason: str, body: bytes, metadata: dict[str, str]) -> None:
        s3.put_object(Bucket=sealed_bucket, Key=f"inbound/{name}", Body=body, Metadata=metadata)
        failing[f"inbound/{name}"] = reason

    gone = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{uuid.uuid4()}"
    put_failing("zz-key-missing", KMS_KEY_MISSING, *ses_encrypt(kms, key_arn, raw, "k1", context_key_id=gone))
    body, metadata = ses_encrypt(kms, key_arn, raw, "k2")
    other_rule = json.dumps({**json.loads(metadata["x-amz-matdesc"]), "aws:ses:rule-name": "another-rule"})
    put_failing("zz-context", KMS_DECRYPT_DENIED, body, {**metadata, "x-amz-matdesc": other_rule})
    body, metadata = ses_encrypt(kms, key_arn, raw, "k3", wrapping="kms+context")
    tampered = body[:100] + bytes([body[100] ^ 0x20]) + body[101:]
    put_failing("zz-tampered", DECRYPT_FAILED, tampered, metadata)
    body, metadata = ses_encrypt(kms, key_arn, raw, "k4")
    put_failing("zz-cbc", BAD_ENCRYPTION_METADATA, body, {**metadata, "x-amz-cek-alg": "AES/CBC/PKCS5Padding"})

    registry = load_registry(str(small_archive / "tenants.yaml"))
    lakes = {}
    for bucket in (s3_bucket, sealed_bucket):
        lakes[bucket] = Lake(LocalStore(tmp_path / bucket))
        store = S3Store(f"s3://{bucket}", moto_endpoint)
        result = ingest_mime(store, lakes[bucket], registry, INBOUND, "inbound/", None, workers=2)
        assert result.messages == len(keys)

    def messages(bucket: str) -> list[dict]:
        rows = lakes[bucket].read_table("messages").to_pylist()
        return sorted(rows, key=lambda row: row["object_key"])

    assert messages(sealed_bucket) == messages(s3_bucket)
    assert [r["object_key"] for r in messages(sealed_bucket)] == keys
    for table in ("recipients", "attachments"):
        sealed, plain = (lakes[b].read_table(table).to_pylist() for b in (sealed_bucket, s3_bucket))
        assert sorted(map(repr, sealed)) == sorted(map(repr, plain)), table
    quarantined = lakes[sealed_bucket].read_table("quarantine").to_pylist()
    assert {row["source_key"]: row["reason"] for row in quarantined} == failing
    assert {row["stage"] for row in quarantined} == {"decrypt"}
    missing = next(row for row in quarantined if row["reason"] == KMS_KEY_MISSING)
    assert "NotFoundException" in missing["error"]


# --- one object at a time: large objects, and what a read costs ---


def process(store: S3Store, key: str, registry, scratch: Path | None = None) -> ObjectRows:
    rows = ObjectRows()
    info = store.info(key)
    assert info is not None
    process_object(store, registry, INBOUND, "inbound/", info, rows, scratch=str(scratch) if scratch else None)
    return rows


def test_a_large_encrypted_object_is_decrypted_as_a_stream(
    small_archive, good_keys, moto_endpoint, s3_bucket, kms, key_arn, tmp_path, monkeypatch
):
    """Over LARGE_OBJECT_BYTES an object is downloaded and decrypted file to file, a chunk at a time (both
    limits made small here), never read whole; a changed one leaves no plaintext behind."""
    monkeypatch.setattr(process_module, "LARGE_OBJECT_BYTES", 1024)
    monkeypatch.setattr(encryption, "CHUNK_BYTES", 1000)
    key = max(good_keys, key=lambda k: (small_archive / k).stat().st_size)
    raw = (small_archive / key).read_bytes()
    assert len(raw) > 5000
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    body, metadata = ses_encrypt(kms, key_arn, raw, key.rsplit("/", 1)[-1])
    s3.put_object(Bucket=s3_bucket, Key=key, Body=body, Metadata=metadata)
    s3.put_object(Bucket=s3_bucket, Key="inbound/tampered", Body=body[:-1] + bytes([body[-1] ^ 1]), Metadata=metadata)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)

    def whole_read(*args):
        raise AssertionError("a large object was read whole")

    monkeypatch.setattr(store, "get_with_metadata", whole_read)
    streamed: list[int] = []
    decrypt_file_content = encryption.decrypt_content_file

    def spy(key: bytes, iv: bytes, source: Path, target: Path) -> None:
        streamed.append(source.stat().st_size)
        decrypt_file_content(key, iv, source, target)

    monkeypatch.setattr(encryption, "decrypt_content_file", spy)
    registry = load_registry(str(small_archive / "tenants.yaml"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rows = process(store, key, registry, scratch)
    assert streamed == [len(raw) + 16] and not rows.quarantine
    plain = ObjectRows()
    process_object(LocalStore(small_archive), registry, INBOUND, "inbound/", LocalStore(small_archive).info(key), plain)
    compared = [c for c in COMPARED if c != "received_at"]
    assert [{c: r[c] for c in compared} for r in rows.messages] == [{c: r[c] for c in compared} for r in plain.messages]

    bad = process(store, "inbound/tampered", registry, scratch)
    assert [(q["stage"], q["reason"]) for q in bad.quarantine] == [("decrypt", DECRYPT_FAILED)]
    assert not list(scratch.iterdir())


def test_a_plain_object_costs_one_request_and_no_kms_client(
    small_archive, good_keys, moto_endpoint, s3_bucket, kms, key_arn, monkeypatch
):
    """A plain object is one GET, as before, and no KMS client is made for it; an encrypted one is one GET too
    (plus KMS's Decrypt)."""
    key = good_keys[0]
    raw = (small_archive / key).read_bytes()
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket=s3_bucket, Key=key, Body=raw)
    sealed_key = "inbound/sealed"
    body, metadata = ses_encrypt(kms, key_arn, raw, "sealed")
    s3.put_object(Bucket=s3_bucket, Key=sealed_key, Body=body, Metadata=metadata)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)
    registry = load_registry(str(small_archive / "tenants.yaml"))
    infos = {k: store.info(k) for k in (key, sealed_key)}
    requests: list[str] = []
    store.client.meta.events.register("before-send.s3", lambda request, **_: requests.append(request.method))
    made: list[str | None] = []

    def counting_client(endpoint_url: str | None):
        made.append(endpoint_url)
        return kms

    monkeypatch.setattr(process_module, "kms_client", counting_client)
    rows = ObjectRows()
    process_object(store, registry, INBOUND, "inbound/", infos[key], rows)
    assert requests == ["GET"] and made == [] and len(rows.messages) == 1
    process_object(store, registry, INBOUND, "inbound/", infos[sealed_key], rows)
    assert requests == ["GET", "GET"] and made == [moto_endpoint] and len(rows.messages) == 2
    assert rows.messages[1]["subject"] == rows.messages[0]["subject"]
