"""Two hand-off workers, in two processes as on two machines, drain one SQS queue against one PostgreSQL ledger:
every message is delivered exactly once, though the queue holds each notification twice (SQS and SNS deliver
at least once) laid out so that the two workers receive the two copies of the same messages at the same time,
and the queue ends empty."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import boto3

from pipelines.handoff.discovery import batch_key, receive_notifications
from pipelines.handoff.ledger import HandoffLedger
from pipelines.handoff.run import HandoffTarget, hand_off
from pipelines.handoff.stub import serve
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.tenants import load_registry
from tests.handoff.test_run import SECRET, expected_handoffs, inbound_truth, notification

MESSAGES = 24
BATCH = 8
"""Notifications a worker receives at once: the queue holds a block of BATCH messages, then the block's copies."""


def drain(worker: int, config: dict, start: multiprocessing.Barrier, results: multiprocessing.Queue) -> None:
    """One worker: receive a batch of notifications, hand them off, until the queue stays empty."""
    sqs = boto3.client("sqs", endpoint_url=config["endpoint"])
    ledger = HandoffLedger(config["ledger"])
    store, registry = S3Store(f"s3://{config['bucket']}", config["endpoint"]), load_registry(config["registry"])
    received = delivered = empty = 0
    start.wait(60)
    while empty < 3:
        items = receive_notifications(sqs, config["queue_url"], "inbound/", max_items=BATCH, seconds=1,
                                      visibility_timeout=30)  # fmt: skip
        if not items:
            empty += 1
            continue
        empty = 0
        received += len(items)
        result = hand_off(
            items, batch=f"w{worker}-{batch_key(items)}", store=store, inbound_prefix="inbound/",
            lake=Lake(LocalStore(config["lake"])), registry=registry,
            ledger=ledger, target=HandoffTarget(url=config["url"], secrets=[SECRET], max_seconds=5.0, timeout=5.0),
            archive_url=f"s3://{config['bucket']}", sqs=sqs, queue_url=config["queue_url"],
            thread_state=str(Path(config["state"]) / f"threads-{worker}.sqlite"),  # each machine its own cache
        )  # fmt: skip
        delivered += result.delivered
    ledger.close()
    results.put((worker, received, delivered))


def test_two_workers_deliver_every_message_once(small_archive, moto_endpoint, s3_bucket, postgres_database, tmp_path):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="tenants.yaml", Body=(small_archive / "tenants.yaml").read_bytes())
    truth = {row["key"]: row for row in inbound_truth(small_archive)}
    keys = sorted(truth)[:MESSAGES]
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    queue_url = sqs.create_queue(QueueName=f"inbound-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bodies = []
    for key in keys:
        s3.put_object(Bucket=s3_bucket, Key=key, Body=(small_archive / key).read_bytes())
        recipients = [truth[key]["envelope_recipient"]] if truth[key].get("envelope_recipient") else []
        bodies.append(notification(s3_bucket, key, recipients, truth[key].get("virus_verdict") or "PASS"))
    for first in range(0, MESSAGES, BATCH):
        for body in bodies[first : first + BATCH] * 2:  # the block, then its copies
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    stub = serve(0, SECRET, tmp_path / "received.jsonl")
    stub.control(delay=0.3)  # each POST takes a while: the workers overlap on each block
    config = {
        "endpoint": moto_endpoint, "bucket": s3_bucket, "queue_url": queue_url, "url": stub.inbound_url,
        "ledger": postgres_database, "lake": str(tmp_path / "lake"), "registry": str(small_archive / "tenants.yaml"),
        "state": str(tmp_path),
    }  # fmt: skip
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=drain, args=(n, config, start, results)) for n in (1, 2)]
    try:
        for worker in workers:
            worker.start()
        outcomes = {worker: (received, delivered) for worker, received, delivered in (results.get(timeout=240)
                                                                                       for _ in workers)}  # fmt: skip
        for worker in workers:
            worker.join(30)
        stats = stub.stats()
    finally:
        stub.shutdown()

    wanted = expected_handoffs({"keys": keys, "truth": truth})
    assert [w.exitcode for w in workers] == [0, 0]
    assert all(received > 0 for received, _ in outcomes.values())  # both workers took part
    assert sum(received for received, _ in outcomes.values()) >= 2 * MESSAGES  # every copy was taken
    assert stats["accepted"] == stats["distinct_event_ids"] == wanted  # each delivered once
    assert sum(delivered for _, delivered in outcomes.values()) == wanted
    with HandoffLedger(postgres_database) as ledger:
        assert ledger.counts().get("delivered") == wanted and not ledger.counts().get("pending")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
