"""The live hand-off against real services on loopback: moto S3 and SQS over HTTP, the reply stub over
HTTP. Every message ends delivered, dead-lettered or quarantined; none is lost."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from pipelines.handoff.discovery import InboundItem, batch_key, receive_notifications
from pipelines.handoff.ledger import HandoffLedger
from pipelines.handoff.run import HandoffTarget, hand_off, retry_due
from pipelines.handoff.stub import serve
from pipelines.mail.ingest import ingest_mime
from pipelines.storage.arrivals import ArrivalsIndex
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.storage.schemas import INBOUND
from pipelines.tenants import load_registry
from pipelines.threads.tracking import verify_tracking_address
from tests.conftest import PROJECT

SECRET = "live-test-secret"


def inbound_truth(archive: Path) -> list[dict]:
    rows = [json.loads(line) for line in (archive / "_truth" / "messages.jsonl").read_text().splitlines()]
    return [row for row in rows if row["direction"] == "inbound"]


def notification(bucket: str, key: str, recipients: list[str], virus: str = "PASS") -> str:
    """An SNS envelope around an SES Received notification for an object (the shape SQS delivers)."""
    ses_id = key.rsplit("/", 1)[-1]
    message = {
        "notificationType": "Received",
        "mail": {"messageId": ses_id, "timestamp": "2026-10-01T10:00:00.000Z", "source": "x@example.com",
                 "destination": recipients},
        "receipt": {"recipients": recipients, "virusVerdict": {"status": virus}, "spamVerdict": {"status": "PASS"},
                    "action": {"type": "S3", "bucketName": bucket, "objectKey": key}},
    }  # fmt: skip
    return json.dumps({"Type": "Notification", "MessageId": str(uuid.uuid4()), "Message": json.dumps(message)})


@pytest.fixture
def world(small_archive, moto_endpoint, s3_bucket, tmp_path):
    """A bucket with the registry and 30 inbound messages, a queue announcing them, a stub, a ledger."""
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="tenants.yaml", Body=(small_archive / "tenants.yaml").read_bytes())
    truth = {row["key"]: row for row in inbound_truth(small_archive)}
    keys = sorted(truth)[:30]
    for key in keys:
        s3.put_object(Bucket=s3_bucket, Key=key, Body=(small_archive / key).read_bytes())
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    queue_url = sqs.create_queue(QueueName=f"inbound-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for key in keys:
        recipients = [truth[key]["envelope_recipient"]] if truth[key].get("envelope_recipient") else []
        virus = truth[key].get("virus_verdict") or "PASS"
        sqs.send_message(QueueUrl=queue_url, MessageBody=notification(s3_bucket, key, recipients, virus))
    stub = serve(0, SECRET, tmp_path / "received.jsonl")
    ledger = HandoffLedger(tmp_path / "handoff.sqlite", retry_delays=(1,), max_age=timedelta(seconds=30))
    yield {
        "store": S3Store(f"s3://{s3_bucket}", moto_endpoint),
        "registry": load_registry(str(small_archive / "tenants.yaml")),
        "lake": Lake(LocalStore(tmp_path / "lake")), "sqs": sqs, "queue_url": queue_url, "stub": stub,
        "ledger": ledger, "keys": keys, "truth": truth, "bucket": s3_bucket,
    }  # fmt: skip
    stub.shutdown()
    ledger.close()


def run(world: dict, items: list[InboundItem], **target: object) -> object:
    return hand_off(
        items, batch=batch_key(items), store=world["store"], inbound_prefix="inbound/", lake=world["lake"],
        registry=world["registry"], ledger=world["ledger"],
        target=HandoffTarget(url=world["stub"].inbound_url, secrets=[SECRET], **target),
        archive_url=f"s3://{world['bucket']}", sqs=world["sqs"], queue_url=world["queue_url"],
    )  # fmt: skip


def test_every_object_looked_up_is_noted_in_the_arrivals_index(world):
    """The next ingest of a hand-off's day finds its objects in the index, without listing the bucket."""
    items = receive_notifications(world["sqs"], world["queue_url"], "inbound/", max_items=10, seconds=5,
                                  visibility_timeout=60)  # fmt: skip
    run(world, items)
    index = ArrivalsIndex(world["lake"].store, INBOUND)
    infos = [world["store"].info(item.object_key) for item in items]
    noted = {o.key for day in {i.day for i in infos} for o in index.day_objects(day, None)}
    assert {i.key for i in infos} <= noted and len(infos) == 10


def receive(world: dict, visibility: int = 60) -> list[InboundItem]:
    return receive_notifications(world["sqs"], world["queue_url"], "inbound/", max_items=1000, seconds=5,
                                 visibility_timeout=visibility)  # fmt: skip


def queue_depth(world: dict) -> int:
    attributes = world["sqs"].get_queue_attributes(
        QueueUrl=world["queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def expected_handoffs(world: dict) -> int:
    return sum(1 for key in world["keys"] if world["truth"][key]["tenant_id"] and world["truth"][key]["kind"]
               not in ("empty", "junk") and world["truth"][key].get("virus_verdict") != "FAIL")  # fmt: skip


def test_every_message_is_delivered_once_with_its_tenant_and_thread(world):
    items = receive(world)
    assert len(items) == 30
    result = run(world, items)
    stats = world["stub"].stats()
    handed = expected_handoffs(world)
    assert result.delivered == handed == stats["distinct_event_ids"] == stats["accepted"]
    assert stats["duplicates"] == 0
    assert result.delivered + sum(result.quarantined.values()) == 30
    assert queue_depth(world) == 0
    payloads = [json.loads(line)["payload"] for line in world["stub"].store_path.read_text().splitlines()]
    for payload in payloads:
        key = payload["ids"]["ses_message_id"]
        assert payload["ids"]["tenant_id"] == world["truth"][f"inbound/{key}"]["tenant_id"]
        assert payload["ids"]["thread_id"]
        case = verify_tracking_address(payload["reply"]["Reply-To"], payload["ids"]["tenant_id"], secret="")
        assert case == payload["ids"]["thread_id"]
        assert (payload["html"]["content"] is not None) == payload["html"]["present"]
    assert any(payload["html"]["present"] for payload in payloads)
    counts = world["ledger"].counts()
    assert counts.get("delivered") == handed and not counts.get("pending") and not counts.get("dead_letter")
    live_files = world["lake"].partition_files("messages")
    assert live_files and all(key.endswith(f"/live-{batch_key(items)}.parquet") for key in live_files)
    assert world["lake"].read_table("messages").num_rows == handed

    # the batch ingest of the same objects supersedes the live rows: every message is in the lake once
    ingest_mime(world["store"], world["lake"], world["registry"], "inbound", "inbound/", None, workers=1)
    keys = world["lake"].read_table("messages", columns=["object_key"])["object_key"].to_pylist()
    assert len(keys) == len(set(keys)) >= handed
    assert not any("/live-" in key for key in world["lake"].partition_files("messages"))


def test_half_the_requests_failing_still_delivers_everything(world):
    world["stub"].control(fail_rate=0.5)
    result = run(world, receive(world), max_attempts=12, max_seconds=30)
    stats = world["stub"].stats()
    assert result.delivered == expected_handoffs(world) == stats["distinct_event_ids"]
    assert stats["failed_on_purpose"] > 0 and result.pending == result.dead_lettered == 0


def test_reply_service_down_then_back_loses_nothing(world):
    world["stub"].control(fail_rate=1.0)
    first = run(world, receive(world), max_attempts=2, max_seconds=2)
    assert first.delivered == 0 and first.pending == expected_handoffs(world)
    assert queue_depth(world) == 0  # pending is durable in the ledger, so the queue may forget them
    world["stub"].control(fail_rate=0.0)
    time.sleep(1.1)  # the ledger's next round (1 s in this test)
    outcomes = retry_due(world["ledger"], HandoffTarget(url=world["stub"].inbound_url, secrets=[SECRET]))
    assert outcomes["delivered"] == expected_handoffs(world) == world["stub"].stats()["distinct_event_ids"]


def test_a_redelivered_notification_and_a_bad_one_and_a_missing_object(world, small_archive):
    items = receive(world)
    duplicate = InboundItem(object_key=items[0].object_key, sqs_message_id="again", recipients=items[0].recipients)
    malformed = InboundItem(object_key=None, sqs_message_id="bad", error="not JSON: b'{oops'")
    missing = InboundItem(object_key="inbound/does-not-exist", sqs_message_id="gone")
    infected_key = sorted(world["truth"])[40]
    boto3.client("s3", endpoint_url=world["store"].endpoint_url).put_object(
        Bucket=world["bucket"], Key=infected_key, Body=(small_archive / infected_key).read_bytes()
    )
    infected = InboundItem(object_key=infected_key, sqs_message_id="virus", verdicts={"virus": "FAIL"})
    result = run(world, [*items, duplicate, malformed, missing, infected])
    run(world, [duplicate])  # the same notification again in a later run
    stats = world["stub"].stats()
    assert stats["distinct_event_ids"] == expected_handoffs(world) and stats["duplicates"] == 0
    assert result.quarantined["bad_notification"] == 1 and result.quarantined["object_missing"] == 1
    infected_in_batch = sum(1 for key in world["keys"] if world["truth"][key].get("virus_verdict") == "FAIL")
    assert result.quarantined["virus"] == 1 + infected_in_batch  # by the notification's verdict: never handed off
    quarantine = world["lake"].read_table("quarantine").to_pylist()
    reasons = {row["reason"] for row in quarantine if row["source"] == "handoff"}
    assert {"bad_notification", "object_missing", "virus"} <= reasons


def test_a_slow_reply_service_times_out_then_everything_is_delivered(world):
    world["stub"].control(delay=1.0)
    first = run(world, receive(world), max_attempts=1, timeout=0.3)
    handed = expected_handoffs(world)
    assert first.delivered == 0 and first.pending == handed
    world["stub"].control(delay=0.0)
    time.sleep(1.1)
    outcomes = retry_due(world["ledger"], HandoffTarget(url=world["stub"].inbound_url, secrets=[SECRET]))
    stats = world["stub"].stats()
    assert outcomes["delivered"] == handed == stats["distinct_event_ids"]
    # the stub did accept the timed-out requests too: those copies are counted, not hidden
    assert stats["duplicates"] == stats["accepted"] - handed > 0


KILLED_RUN = """
import sys, boto3
from datetime import timedelta
from pipelines.handoff.ledger import HandoffLedger
from pipelines.mail.ingest import ingest_mime
from pipelines.storage.arrivals import ArrivalsIndex
from pipelines.storage.lake import Lake
from pipelines.handoff.run import HandoffTarget, hand_off
from pipelines.handoff.discovery import batch_key, receive_notifications
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.storage.schemas import INBOUND
from pipelines.tenants import load_registry
from pipelines.threads.tracking import verify_tracking_address
endpoint, bucket, queue_url, url, ledger_path, lake_path, registry_path = sys.argv[1:8]
sqs = boto3.client("sqs", endpoint_url=endpoint)
items = receive_notifications(sqs, queue_url, "inbound/", max_items=1000, seconds=5, visibility_timeout=2)
print("received", len(items), flush=True)
hand_off(items, batch=batch_key(items), store=S3Store("s3://" + bucket, endpoint), inbound_prefix="inbound/",
         lake=Lake(LocalStore(lake_path)), registry=load_registry(registry_path),
         ledger=HandoffLedger(ledger_path),
         target=HandoffTarget(url=url, secrets=["live-test-secret"], max_seconds=1.0, timeout=1.0),
         archive_url="s3://" + bucket, sqs=sqs, queue_url=queue_url)
"""


def test_a_run_killed_mid_batch_loses_nothing(world, small_archive, moto_endpoint, tmp_path):
    """A process handing off the batch is killed while it is posting; the notifications it had not
    finished come back after their visibility timeout and a second run finishes the job, and the record it
    was posting is sent by the retry round once its claim (3 s with that run's budget) has run out."""
    import subprocess
    import sys

    world["stub"].control(delay=0.4)
    args = [moto_endpoint, world["bucket"], world["queue_url"], world["stub"].inbound_url,
            str(world["ledger"].path), str(tmp_path / "lake"), str(small_archive / "tenants.yaml")]  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, *args], cwd=PROJECT)
    deadline = time.monotonic() + 60
    while world["stub"].stats()["accepted"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.kill()
    process.wait()
    before = world["stub"].stats()["distinct_event_ids"]
    assert 0 < before < expected_handoffs(world)
    world["stub"].control(delay=0.0)
    time.sleep(2.5)  # the unfinished notifications become visible again
    run(world, receive(world))
    retry_due(world["ledger"], HandoffTarget(url=world["stub"].inbound_url, secrets=[SECRET]))
    stats = world["stub"].stats()
    assert stats["distinct_event_ids"] == expected_handoffs(world)
    counts = world["ledger"].counts()
    assert counts.get("delivered") == expected_handoffs(world) and not counts.get("pending")
    assert queue_depth(world) == 0


def test_a_notification_for_an_object_outside_the_inbound_prefix_is_refused_unfetched(world, monkeypatch):
    """Another tenant's outbound archive, a key climbing out of the prefix, or another bucket: quarantined
    as foreign_object and never read, while the rest of the batch is handed off."""
    s3 = boto3.client("s3", endpoint_url=world["store"].endpoint_url)
    s3.put_object(Bucket=world["bucket"], Key="outbound/caminos/x.eml", Body=b"Subject: secret\r\n\r\nbody")
    fetched: list[str] = []
    original_get = S3Store.get
    monkeypatch.setattr(S3Store, "get", lambda self, key: fetched.append(key) or original_get(self, key))
    for key, bucket in (("outbound/caminos/x.eml", world["bucket"]), ("inbound/../outbound/caminos/x.eml",
                        world["bucket"]), (world["keys"][0], "someone-elses-bucket")):  # fmt: skip
        world["sqs"].send_message(QueueUrl=world["queue_url"], MessageBody=notification(bucket, key, []))
    items = receive(world)

    result = run(world, items)

    assert result.quarantined["foreign_object"] == 3
    assert not any(key.startswith("outbound/") or ".." in key for key in fetched)
    quarantined = world["lake"].read_table("quarantine").to_pylist()
    foreign = [row for row in quarantined if row["reason"] == "foreign_object"]
    assert {row["source_key"] for row in foreign} >= {"outbound/caminos/x.eml", "inbound/../outbound/caminos/x.eml"}
    assert all(row["source"] == "handoff" and row["tenant"] == "_unattributed" for row in foreign)
    assert result.delivered == expected_handoffs(world) == world["stub"].stats()["distinct_event_ids"]
    assert queue_depth(world) == 0


def test_one_message_failing_anywhere_is_quarantined_and_the_batch_goes_on(world, monkeypatch):
    import pipelines.handoff.run as live

    items = receive(world)
    broken, unbuildable = items[0].object_key, items[1].object_key
    original_check, original_payload = live.foreign_object, live.build_payload

    def check(item, archive_url, inbound_prefix):
        if item.object_key == broken:
            raise RuntimeError("boom while taking it")
        return original_check(item, archive_url, inbound_prefix)

    def payload(message, **kwargs):
        if kwargs["object_key"] == unbuildable:
            raise ValueError("payload exceeds 1048576 bytes even without text")
        return original_payload(message, **kwargs)

    monkeypatch.setattr(live, "foreign_object", check)
    monkeypatch.setattr(live, "build_payload", payload)

    result = run(world, items)

    assert result.quarantined["handoff_error"] == 1
    handed = expected_handoffs(world)
    unbuildable_expected = 1 if any(t.object_key == unbuildable for t in items[1:2]) else 0
    assert result.quarantined["payload_unbuildable"] == unbuildable_expected
    assert result.delivered >= handed - 2 and result.delivered == world["stub"].stats()["distinct_event_ids"]
    assert queue_depth(world) == 0
    reasons = {row["source_key"]: row["reason"] for row in world["lake"].read_table("quarantine").to_pylist()}
    assert reasons[broken] == "handoff_error"
    assert world["ledger"].finished_objects([broken]) == {broken}


def test_an_object_the_batch_already_quarantined_is_quarantined_once(world):
    """Mail no tenant claims: the batch ingest quarantines it; a notification delivered again afterwards
    adds no second quarantine row."""
    unattributed = [key for key in world["keys"] if not world["truth"][key]["tenant_id"]]
    assert unattributed
    ingest_mime(world["store"], world["lake"], world["registry"], "inbound", "inbound/", None, workers=1)
    items = [InboundItem(object_key=key) for key in unattributed]

    run(world, items)
    run(world, items)

    keys = world["lake"].read_table("quarantine", columns=["source_key"])["source_key"].to_pylist()
    assert all(keys.count(key) == 1 for key in unattributed)
