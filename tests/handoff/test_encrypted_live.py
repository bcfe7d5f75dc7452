"""The live hand-off of mail SES stored encrypted with a KMS key, against moto S3, SQS and KMS over HTTP and
the reply stub: an encrypted message is handed off as it would be plain, one that cannot be decrypted is
quarantined with its reason, and the rest of the batch goes on."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import boto3

from pipelines.handoff.discovery import batch_key, receive_notifications
from pipelines.handoff.ledger import HandoffLedger
from pipelines.handoff.run import HandoffTarget, hand_off
from pipelines.handoff.stub import serve
from pipelines.mime.parse import parse_message
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.tenants import load_registry
from tests.handoff.test_run import SECRET, inbound_truth, notification
from tests.mail.test_encryption import ses_encrypt


def test_an_encrypted_inbound_message_reaches_the_payload(small_archive, moto_endpoint, s3_bucket, tmp_path):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    kms = boto3.client("kms", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    key_arn = kms.create_key(Description="seslake inbound")["KeyMetadata"]["Arn"]
    truth = {row["key"]: row for row in inbound_truth(small_archive)}
    handed = [key for key in sorted(truth) if truth[key]["tenant_id"] and truth[key]["kind"] in ("plain", "reply")]
    plain, kms_wrapped, context_wrapped, tampered = handed[:4]
    for key in handed[:4]:
        raw = (small_archive / key).read_bytes()
        ses_id = key.rsplit("/", 1)[-1]
        if key == plain:
            s3.put_object(Bucket=s3_bucket, Key=key, Body=raw)
            continue
        body, metadata = ses_encrypt(kms, key_arn, raw, ses_id, "kms+context" if key != kms_wrapped else "kms")
        if key == tampered:
            body = body[:-1] + bytes([body[-1] ^ 1])
        s3.put_object(Bucket=s3_bucket, Key=key, Body=body, Metadata=metadata)
    queue_url = sqs.create_queue(QueueName=f"inbound-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for key in handed[:4]:
        recipients = [truth[key]["envelope_recipient"]] if truth[key].get("envelope_recipient") else []
        sqs.send_message(QueueUrl=queue_url, MessageBody=notification(s3_bucket, key, recipients))
    stub = serve(0, SECRET, tmp_path / "received.jsonl")
    ledger = HandoffLedger(tmp_path / "handoff.sqlite", retry_delays=(1,), max_age=timedelta(seconds=30))
    try:
        items = receive_notifications(sqs, queue_url, "inbound/", max_items=10, seconds=5, visibility_timeout=60)
        assert len(items) == 4
        result = hand_off(
            items, batch=batch_key(items), store=S3Store(f"s3://{s3_bucket}", moto_endpoint),
            inbound_prefix="inbound/", lake=Lake(LocalStore(tmp_path / "lake")),
            registry=load_registry(str(small_archive / "tenants.yaml")), ledger=ledger,
            target=HandoffTarget(url=stub.inbound_url, secrets=[SECRET]), archive_url=f"s3://{s3_bucket}",
            sqs=sqs, queue_url=queue_url,
        )  # fmt: skip
        payloads = [json.loads(line)["payload"] for line in stub.store_path.read_text().splitlines()]
    finally:
        stub.shutdown()
        ledger.close()
    assert result.delivered == 3 and dict(result.quarantined) == {"decrypt_failed": 1}
    by_key = {payload["object_key"]: payload for payload in payloads}
    assert set(by_key) == {plain, kms_wrapped, context_wrapped}
    for key in (kms_wrapped, context_wrapped):
        message = parse_message((small_archive / key).read_bytes())
        payload = by_key[key]
        assert payload["ids"]["tenant_id"] == truth[key]["tenant_id"]
        assert payload["subject"] == message.subject and payload["size_bytes"] == message.size_bytes
        assert payload["text"]["content"].startswith(truth[key]["body_first_line"])
