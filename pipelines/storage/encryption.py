"""Objects written by the Amazon S3 Encryption Client, as SES's S3 receipt action writes mail when the rule
names a KMS key (`KmsKeyArn`): reading them back with a KMS key the reader may use.

The format (S3 Encryption Client metadata format V2, the object's user metadata; S3 returns it without
the `x-amz-meta-` prefix):

- the body is the message encrypted with AES-256-GCM under a fresh data key, the 16-byte tag appended;
- `x-amz-key-v2`: the data key encrypted by KMS (`GenerateDataKey`), base64;
- `x-amz-iv`: the 12-byte GCM nonce, base64;
- `x-amz-cek-alg`: `AES/GCM/NoPadding` (the content cipher; the CBC of older clients is not read);
- `x-amz-tag-len`: `128` (bits of GCM tag at the end of the body);
- `x-amz-wrap-alg`: how the data key was wrapped: `kms+context` (V2 clients) or `kms` (older writers,
  SES among them);
- `x-amz-matdesc`: JSON object, the KMS encryption context the data key was encrypted under; SES's holds
  `aws:ses:message-id`, `aws:ses:rule-name` and `aws:ses:source-account`, with `kms` also `kms_cmk_id`
  (the key's ARN), with `kms+context` also `aws:x-amz-cek-alg` (the content cipher, which must match
  `x-amz-cek-alg`);
- `x-amz-unencrypted-content-length`: the message's length in bytes (optional).

Reading one: KMS `Decrypt(CiphertextBlob=x-amz-key-v2, EncryptionContext=x-amz-matdesc)` (with
`KeyId=kms_cmk_id` when the context names the key) gives the data key, and AES-GCM with `x-amz-iv` gives
the message; a tag that does not match means the body or its metadata was changed. A large object is
decrypted as a stream from one file to another, a chunk at a time, and its plaintext is never used before
the tag is checked.

`is_encrypted(metadata)` tells the objects this applies to (also the V1 and V3 formats, which are refused
as `bad_encryption_metadata`); `decrypt_bytes` and `decrypt_file` read them, raising `DecryptError` with
one of these reasons:

- `kms_key_missing`: KMS does not know the key (`NotFoundException`: deleted, another account or region);
- `kms_decrypt_denied`: KMS refused (`AccessDeniedException`, a disabled key or one pending deletion, an
  encryption context that is not the one the data key was encrypted under, a data key of another key);
- `bad_encryption_metadata`: the metadata is not the format above (missing or malformed values, another
  cipher or wrapping, another format version);
- `decrypt_failed`: the AES-GCM tag does not match (a changed or truncated body), or the lengths disagree.

Other failures of the call to KMS (unreachable, throttled after retries, no credentials) are raised as they
are: a later run may succeed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCRYPTED_DATA_KEY = "x-amz-key-v2"
IV = "x-amz-iv"
CONTENT_CIPHER = "x-amz-cek-alg"
TAG_LENGTH = "x-amz-tag-len"
WRAP_ALGORITHM = "x-amz-wrap-alg"
ENCRYPTION_CONTEXT = "x-amz-matdesc"
PLAINTEXT_LENGTH = "x-amz-unencrypted-content-length"
"""User metadata keys of the V2 format."""
OTHER_FORMAT_KEYS = ("x-amz-key", "x-amz-3")
"""The data key's metadata key in the V1 and V3 formats: encrypted objects this module does not read."""

AES_GCM = "AES/GCM/NoPadding"
WRAPPINGS = ("kms+context", "kms")
CONTEXT_CIPHER = "aws:x-amz-cek-alg"
"""The encryption context key that `kms+context` adds, naming the content cipher."""
CONTEXT_KEY_ID = "kms_cmk_id"
"""The encryption context key that `kms` adds, naming the KMS key."""
IV_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32
CHUNK_BYTES = 1 << 20
"""How much of a large object is decrypted at a time."""

KMS_KEY_MISSING = "kms_key_missing"
KMS_DECRYPT_DENIED = "kms_decrypt_denied"
BAD_ENCRYPTION_METADATA = "bad_encryption_metadata"
DECRYPT_FAILED = "decrypt_failed"
"""Reasons of `DecryptError` (see the module docstring)."""

KEY_MISSING_CODES = frozenset({"NotFoundException"})
DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "DisabledException",
        "IncorrectKeyException",
        "InvalidCiphertextException",
        "InvalidGrantTokenException",
        "InvalidKeyUsageException",
        "KMSInvalidStateException",
    }
)
"""KMS error codes by the reason they are given; any other error of the call is raised as it is."""


class DecryptError(Exception):
    """An encrypted object that cannot be read: `reason` is one of the module's reasons."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    """What an object's metadata says about its encryption, checked."""

    encrypted_key: bytes
    iv: bytes
    context: dict[str, str]
    wrapping: str
    plaintext_length: int | None

    @property
    def key_id(self) -> str | None:
        """The KMS key the context names (`kms` wrapping), given to KMS so that no other key is used."""
        return self.context.get(CONTEXT_KEY_ID) if self.wrapping == "kms" else None


def is_encrypted(metadata: dict[str, str]) -> bool:
    """Whether an object with this user metadata was written by the S3 Encryption Client (any format)."""
    return ENCRYPTED_DATA_KEY in metadata or any(key in metadata for key in OTHER_FORMAT_KEYS)


def envelope(metadata: dict[str, str]) -> Envelope:
    """The checked encryption metadata of an object; `DecryptError(bad_encryption_metadata)` when it is not
    the V2 format with KMS-wrapped key and AES-GCM content."""

    def bad(detail: str) -> DecryptError:
        return DecryptError(BAD_ENCRYPTION_METADATA, detail)

    if ENCRYPTED_DATA_KEY not in metadata:
        found = [key for key in OTHER_FORMAT_KEYS if key in metadata]
        raise bad(f"not the V2 format ({', '.join(found)} present, no {ENCRYPTED_DATA_KEY})")
    cipher = metadata.get(CONTENT_CIPHER)
    if cipher != AES_GCM:
        raise bad(f"{CONTENT_CIPHER} is {cipher!r}, only {AES_GCM!r} is read")
    wrapping = metadata.get(WRAP_ALGORITHM)
    if wrapping not in WRAPPINGS:
        raise bad(f"{WRAP_ALGORITHM} is {wrapping!r}, not one of {', '.join(WRAPPINGS)}")
    if metadata.get(TAG_LENGTH, "128") != "128":
        raise bad(f"{TAG_LENGTH} is {metadata[TAG_LENGTH]!r}, not '128'")
    encrypted_key = _base64(metadata, ENCRYPTED_DATA_KEY)
    iv = _base64(metadata, IV)
    if not encrypted_key:
        raise bad(f"{ENCRYPTED_DATA_KEY} is empty")
    if len(iv) != IV_BYTES:
        raise bad(f"{IV} is {len(iv)} bytes, not {IV_BYTES}")
    try:
        context = json.loads(metadata.get(ENCRYPTION_CONTEXT, "{}"))
    except ValueError as exc:
        raise bad(f"{ENCRYPTION_CONTEXT} is not JSON: {exc}") from None
    if not isinstance(context, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise bad(f"{ENCRYPTION_CONTEXT} is not a JSON object of strings")
    if wrapping == "kms+context" and context.get(CONTEXT_CIPHER) != cipher:
        raise bad(f"the encryption context's {CONTEXT_CIPHER} is {context.get(CONTEXT_CIPHER)!r}, not {cipher!r}")
    length = metadata.get(PLAINTEXT_LENGTH)
    if length is not None and not (length.isascii() and length.isdigit()):
        raise bad(f"{PLAINTEXT_LENGTH} is {length[:40]!r}, not a length")
    return Envelope(encrypted_key, iv, context, wrapping, int(length) if length is not None else None)


@cache
def kms_client(endpoint_url: str | None) -> Any:
    """One boto3 KMS client per endpoint (the object store's: None for AWS's own) and process, made when
    first needed: a process that reads no encrypted object makes none."""
    import boto3

    return boto3.client("kms", endpoint_url=endpoint_url or None)


def data_key(envelope: Envelope, kms: Any) -> bytes:
    """The plaintext data key, from KMS `Decrypt` under the object's encryption context."""
    from botocore.exceptions import ClientError

    request: dict[str, Any] = {"CiphertextBlob": envelope.encrypted_key, "EncryptionContext": envelope.context}
    if envelope.key_id:
        request["KeyId"] = envelope.key_id
    try:
        key = kms.decrypt(**request)["Plaintext"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        detail = f"KMS Decrypt: {code}: {error.get('Message', '')}"
        if code in KEY_MISSING_CODES:
            raise DecryptError(KMS_KEY_MISSING, detail) from None
        if code in DENIED_CODES:
            raise DecryptError(KMS_DECRYPT_DENIED, detail) from None
        raise
    if len(key) != DATA_KEY_BYTES:
        raise DecryptError(DECRYPT_FAILED, f"the data key is {len(key)} bytes, not {DATA_KEY_BYTES} (AES-256)")
    return key


def decrypt_bytes(body: bytes, metadata: dict[str, str], kms: Any) -> bytes:
    """The message of an encrypted object's body and user metadata."""
    sealed = envelope(metadata)
    _check_length(sealed, len(body))
    return decrypt_content(data_key(sealed, kms), sealed.iv, body)


def decrypt_file(source: Path, target: Path, metadata: dict[str, str], kms: Any) -> None:
    """Write the message of the encrypted object in `source` (its body) to `target`, a chunk at a time;
    `target` is removed when the tag does not match."""
    sealed = envelope(metadata)
    _check_length(sealed, source.stat().st_size)
    decrypt_content_file(data_key(sealed, kms), sealed.iv, source, target)


def decrypt_content(key: bytes, iv: bytes, body: bytes) -> bytes:
    """AES-GCM: `body` is the ciphertext followed by the 16-byte tag."""
    if len(body) < TAG_BYTES:
        raise DecryptError(DECRYPT_FAILED, f"the body is {len(body)} bytes, shorter than the {TAG_BYTES}-byte tag")
    try:
        return AESGCM(key).decrypt(iv, body, None)
    except InvalidTag:
        raise DecryptError(DECRYPT_FAILED, "the AES-GCM tag does not match: the object was changed") from None


def decrypt_content_file(key: bytes, iv: bytes, source: Path, target: Path) -> None:
    """`decrypt_content` from file to file, holding one chunk at a time."""
    size = source.stat().st_size
    if size < TAG_BYTES:
        raise DecryptError(DECRYPT_FAILED, f"the body is {size} bytes, shorter than the {TAG_BYTES}-byte tag")
    with source.open("rb") as src:
        src.seek(size - TAG_BYTES)
        tag = src.read(TAG_BYTES)
        src.seek(0)
        decryptor = Cipher(algorithms.AES(key), modes.GCM(iv, tag)).decryptor()
        left = size - TAG_BYTES
        try:
            with target.open("wb") as dst:
                while left:
                    chunk = src.read(min(CHUNK_BYTES, left))
                    if not chunk:
                        raise DecryptError(DECRYPT_FAILED, f"the body ended {left} bytes early")
                    left -= len(chunk)
                    dst.write(decryptor.update(chunk))
                dst.write(decryptor.finalize())
        except InvalidTag:
            target.unlink(missing_ok=True)
            raise DecryptError(DECRYPT_FAILED, "the AES-GCM tag does not match: the object was changed") from None
        except BaseException:
            target.unlink(missing_ok=True)
            raise


def _check_length(sealed: Envelope, body_bytes: int) -> None:
    if sealed.plaintext_length is not None and body_bytes != sealed.plaintext_length + TAG_BYTES:
        raise DecryptError(
            DECRYPT_FAILED,
            f"the body is {body_bytes} bytes, not the {sealed.plaintext_length} of "
            f"{PLAINTEXT_LENGTH} plus the {TAG_BYTES}-byte tag",
        )


def _base64(metadata: dict[str, str], name: str) -> bytes:
    value = metadata.get(name)
    if value is None:
        raise DecryptError(BAD_ENCRYPTION_METADATA, f"{name} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError(BAD_ENCRYPTION_METADATA, f"{name} is not base64") from None
