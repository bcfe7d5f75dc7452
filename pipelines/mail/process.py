"""One object -> its rows: fetch, parse, attribute, and rows or exactly one quarantine row.

The batch ingest and the live hand-off both reach `process_object` through `pipelines.mail.sandbox`,
which runs it in a worker process with time and memory budgets, so a message becomes the same rows on
either path and no object can stop the others.

An object SES stored encrypted with a KMS key (`pipelines.storage.encryption`: its user metadata, read by
the same GET as its body, says so) is decrypted right after it is read, a large one from file to file; one
that cannot be decrypted is quarantined at stage `decrypt` with the reason (`kms_key_missing`,
`kms_decrypt_denied`, `bad_encryption_metadata`, `decrypt_failed`; `read_failed` when KMS could not be
reached). The KMS client is made in the process that first needs it, from the store's endpoint. A plain
object costs nothing more.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path

from pipelines.mail.rows import ObjectRows, add_message_rows
from pipelines.mime.limits import check_size
from pipelines.mime.message import MimeLimitError, MimeParseError, ParsedMessage
from pipelines.mime.parse import parse_message, parse_message_file
from pipelines.storage.encryption import DecryptError, decrypt_bytes, decrypt_file, is_encrypted, kms_client
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import INBOUND, quarantine_row
from pipelines.tenants import Attribution, TenantRegistry

LARGE_OBJECT_BYTES = 8 * 1024 * 1024
"""Objects above this are downloaded to a temporary file and parsed as a stream."""

READ_FAILED = "read_failed"
"""Quarantine reason of an object that could not be read (storage or KMS unreachable, object gone)."""
PARSER_ERROR = "parser_error"
"""Quarantine reason of an exception in the parser (the parser's own refusals carry their reason:
`MimeParseError.reason`)."""


def process_object(
    store: ObjectStore,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    info: ObjectInfo,
    rows: ObjectRows,
    notification_recipients: Iterable[str] = (),
    on_fetched: Callable[[], None] | None = None,
    scratch: str | None = None,
) -> tuple[ParsedMessage, Attribution] | None:
    """Add one object's rows to `rows`: message rows, or exactly one quarantine row. Returns the
    parsed message and its tenant when it became message rows. `on_fetched` is called once the
    object's bytes are read, before parsing starts; a large object is downloaded below `scratch`
    (the system's temporary folder when None)."""

    def quarantine(stage: str, reason: str, error: str) -> None:
        rows.quarantine.append(quarantine_row(direction, info, stage, reason, error))

    try:
        check_size(info.size)  # never download what cannot be mail
    except MimeLimitError as exc:
        quarantine("fetch", exc.reason, str(exc))
        return None
    large = info.size > LARGE_OBJECT_BYTES
    with tempfile.TemporaryDirectory(prefix="seslake-", dir=scratch) if large else nullcontext() as tmp:
        try:
            content, metadata = _fetch(store, info, tmp)
        except Exception as exc:  # noqa: BLE001 - any storage failure quarantines this object only
            quarantine("fetch", READ_FAILED, f"{type(exc).__name__}: {exc}")
            return None
        if is_encrypted(metadata):
            try:
                content = _decrypt(content, metadata, store.endpoint_url)
            except DecryptError as exc:
                quarantine("decrypt", exc.reason, str(exc))
                return None
            except Exception as exc:  # noqa: BLE001 - KMS unreachable or throttled: this object only
                quarantine("decrypt", READ_FAILED, f"{type(exc).__name__}: {exc}")
                return None
        if on_fetched is not None:
            on_fetched()
        try:
            message = parse_message_file(content) if isinstance(content, Path) else parse_message(content)
        except MimeParseError as exc:
            quarantine("parse", exc.reason, str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the run
            quarantine("parse", PARSER_ERROR, exception_text(exc))
            return None

    relative = info.key[len(prefix) :] if info.key.startswith(prefix) else info.key
    if direction == INBOUND:
        attribution = registry.attribute_inbound(message, notification_recipients)
    else:
        archive_tenant = relative.split("/", 1)[0] if "/" in relative else None
        attribution = registry.attribute_outbound(message, archive_tenant)
    if attribution is None:
        quarantine("attribute", "unattributed", _unattributed_detail(message))
        return None
    add_message_rows(rows, message, info, direction, relative, attribution.tenant_id, attribution.by)
    return message, attribution


def exception_text(exc: BaseException) -> str:
    """An exception as one line for the quarantine: `ValueError: bad thing`."""
    return "".join(traceback.format_exception_only(exc)).strip()


def _fetch(store: ObjectStore, info: ObjectInfo, tmp: str | None) -> tuple[bytes | Path, dict[str, str]]:
    """The object's bytes, or for a large object a temporary file holding them, and its user metadata."""
    if tmp is None:
        return store.get_with_metadata(info.key)
    path = Path(tmp) / "object"
    return path, store.download_with_metadata(info.key, path)


def _decrypt(content: bytes | Path, metadata: dict[str, str], endpoint_url: str | None) -> bytes | Path:
    """The message of an encrypted object: bytes from bytes, a file beside the downloaded one from a file
    (which is removed)."""
    kms = kms_client(endpoint_url)
    if not isinstance(content, Path):
        return decrypt_bytes(content, metadata, kms)
    target = content.with_name("message.eml")
    decrypt_file(content, target, metadata, kms)
    content.unlink()
    return target


def _unattributed_detail(message: ParsedMessage) -> str:
    seen = {
        "envelope": message.ses.envelope_recipients,
        "forwarded_to": message.forwarded_to,
        "to_cc": [a.address for a in (*message.to, *message.cc)][:20],
        "from": message.from_.address if message.from_ else None,
        "configuration_set": message.headers.get("x-ses-configuration-set"),
        "message_tags": message.headers.get("x-ses-message-tags"),
    }
    return "no tenant matches any address or tag: " + repr({k: v for k, v in seen.items() if v})
