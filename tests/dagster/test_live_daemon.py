"""The live path as operators run it: a real Dagster instance (temporary DAGSTER_HOME), the real
daemon ticking `inbound_mail_sensor` and launching `handoff_inbound` runs, moto S3 and SQS over HTTP,
the reply stub over HTTP. The sensor's cursor survives a restart of the daemon (a new process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import pytest

from pipelines.handoff.ledger import HandoffLedger
from pipelines.handoff.stub import serve
from tests.conftest import PROJECT
from tests.dagster.daemon import BIN, Daemon, run_statuses, wait_for
from tests.handoff.test_run import inbound_truth, notification

SECRET = "daemon-test-secret"


def attributable(truth: list[dict]) -> list[dict]:
    return [row for row in truth if row["tenant_id"] and row["kind"] not in ("empty", "junk")
            and row.get("virus_verdict") != "FAIL"]  # fmt: skip


@pytest.fixture
def setup(small_archive, moto_endpoint, s3_bucket, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="tenants.yaml", Body=(small_archive / "tenants.yaml").read_bytes())
    stub = serve(0, SECRET, tmp_path / "received.jsonl")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SESLAKE_SOURCE": f"s3://{s3_bucket}",
        "SESLAKE_S3_ENDPOINT_URL": moto_endpoint,
        "SESLAKE_LAKE": str(tmp_path / "lake"),
        "SESLAKE_HANDOFF_LEDGER": str(tmp_path / "handoff.sqlite"),
        "SESLAKE_REPLY_URL": stub.inbound_url,
        "SESLAKE_REPLY_SECRET": SECRET,
    }
    truth = [row for row in inbound_truth(small_archive) if row["key"].startswith("inbound/")]
    yield {"env": env, "s3": s3, "bucket": s3_bucket, "stub": stub, "truth": truth, "archive": small_archive,
           "tmp": tmp_path, "endpoint": moto_endpoint}  # fmt: skip
    stub.shutdown()


def dagster(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dagster"), *args, "-w", "workspace.yaml"], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def upload(setup: dict, rows: list[dict]) -> None:
    for row in rows:
        setup["s3"].put_object(
            Bucket=setup["bucket"], Key=row["key"], Body=(setup["archive"] / row["key"]).read_bytes()
        )


def sensor_cursor(env: dict) -> str | None:
    done = subprocess.run(
        [sys.executable, "-c", "import dagster as dg; i = dg.DagsterInstance.get(); "
         "s = [s for s in i.all_instigator_state() if s.name == 'inbound_mail_sensor'][0]; "
         "print(s.instigator_data.cursor if s.instigator_data else '')"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1] or None


def test_sqs_notifications_are_handed_off_by_the_daemon(setup):
    rows = attributable(setup["truth"])[:12]
    upload(setup, rows)
    sqs = boto3.client("sqs", endpoint_url=setup["endpoint"])
    queue_url = sqs.create_queue(QueueName=f"inbound-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for row in rows:
        sqs.send_message(QueueUrl=queue_url, MessageBody=notification(setup["bucket"], row["key"],
                                                                       [row["envelope_recipient"]]))  # fmt: skip
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=notification(setup["bucket"], rows[0]["key"], [rows[0]["envelope_recipient"]])
    )  # a redelivery
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")
    env = {**setup["env"], "SESLAKE_INBOUND_QUEUE_URL": queue_url}
    assert dagster(env, "sensor", "start", "inbound_mail_sensor").returncode == 0
    daemon = Daemon(env, setup["tmp"] / "daemon.log")
    try:
        delivered = wait_for(lambda: setup["stub"].stats()["distinct_event_ids"] >= len(rows), 150)
        drained = wait_for(lambda: not sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages"), 30)
    finally:
        daemon.stop()
    stats = setup["stub"].stats()
    assert delivered and drained, (setup["tmp"] / "daemon.log").read_text()[-3000:]
    assert stats["distinct_event_ids"] == len(rows)
    with HandoffLedger(env["SESLAKE_HANDOFF_LEDGER"]) as ledger:
        assert ledger.counts().get("delivered") == len(rows)
    statuses = run_statuses(env)
    assert statuses and all(status == "SUCCESS" for status in statuses), statuses


def test_watching_the_prefix_keeps_its_cursor_across_a_daemon_restart(setup):
    rows = attributable(setup["truth"])
    first, second = rows[:8], rows[8:13]
    upload(setup, first)
    env = setup["env"]
    assert dagster(env, "sensor", "start", "inbound_mail_sensor").returncode == 0
    daemon = Daemon(env, setup["tmp"] / "daemon-1.log")
    try:
        assert wait_for(lambda: setup["stub"].stats()["distinct_event_ids"] >= len(first), 150), (
            setup["tmp"] / "daemon-1.log"
        ).read_text()[-3000:]
    finally:
        daemon.stop()
    cursor = sensor_cursor(env)
    assert cursor and "requested" in json.loads(cursor)

    upload(setup, second)
    daemon = Daemon(env, setup["tmp"] / "daemon-2.log")  # a new process, same instance
    try:
        assert wait_for(lambda: setup["stub"].stats()["distinct_event_ids"] >= len(first) + len(second), 150)
        time.sleep(3)  # a few more ticks: nothing already handed off may be sent again
    finally:
        daemon.stop()
    stats = setup["stub"].stats()
    assert stats["distinct_event_ids"] == len(first) + len(second)
    assert stats["duplicates"] == 0


def test_a_batch_holding_hostile_mail_delivers_every_good_message_and_drains(setup):
    """Good mail, one message of every hostile family, a notification for another tenant's outbound archive
    and a malformed one, all on one queue: every good message is delivered once, every hostile object is
    handed off or quarantined, nothing stays on the queue and every run succeeds."""
    from datetime import UTC, datetime

    from pipelines.generator.salted import salt_archive

    rows = attributable(setup["truth"])[:6]
    upload(setup, rows)
    recipient = rows[0]["envelope_recipient"]
    salt = salt_archive(setup["tmp"] / "salt", size=20_000, when=datetime.now(UTC), recipient=recipient,
                        bomb_bytes=1_000)  # fmt: skip
    for key in salt.mail.values():
        setup["s3"].put_object(Bucket=setup["bucket"], Key=key, Body=(setup["tmp"] / "salt" / key).read_bytes())
    setup["s3"].put_object(Bucket=setup["bucket"], Key="outbound/other/x.eml", Body=b"Subject: theirs\r\n\r\nx")
    sqs = boto3.client("sqs", endpoint_url=setup["endpoint"])
    queue_url = sqs.create_queue(QueueName=f"inbound-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    keys = [(row["key"], row["envelope_recipient"]) for row in rows] + [(k, recipient) for k in salt.mail.values()]
    for key, rcpt in [*keys, ("outbound/other/x.eml", recipient)]:
        sqs.send_message(QueueUrl=queue_url, MessageBody=notification(setup["bucket"], key, [rcpt]))
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")
    env = {**setup["env"], "SESLAKE_INBOUND_QUEUE_URL": queue_url}
    assert dagster(env, "sensor", "start", "inbound_mail_sensor").returncode == 0
    daemon = Daemon(env, setup["tmp"] / "daemon.log")
    hostile = list(salt.mail.values())
    try:
        with HandoffLedger(env["SESLAKE_HANDOFF_LEDGER"]) as ledger:
            finished = wait_for(lambda: ledger.finished_objects([*hostile, "outbound/other/x.eml"]) ==
                                {*hostile, "outbound/other/x.eml"}, 180)  # fmt: skip
        delivered = wait_for(lambda: setup["stub"].stats()["distinct_event_ids"] >= len(rows), 60)
        drained = wait_for(lambda: not sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages"), 30)
    finally:
        daemon.stop()
    assert finished and delivered and drained, (setup["tmp"] / "daemon.log").read_text()[-3000:]
    payloads = [json.loads(line)["payload"] for line in setup["stub"].store_path.read_text().splitlines()]
    handed = {p["object_key"] for p in payloads}
    assert {row["key"] for row in rows} <= handed
    assert setup["stub"].stats()["duplicates"] == 0
    with HandoffLedger(env["SESLAKE_HANDOFF_LEDGER"]) as ledger:
        assert ledger.counts().get("delivered") == len(handed) and not ledger.counts().get("pending")
    statuses = run_statuses(env)
    assert statuses and all(status == "SUCCESS" for status in statuses), statuses
    from pipelines.storage.lake import Lake
    from pipelines.storage.objects import LocalStore

    quarantine = Lake(LocalStore(setup["tmp"] / "lake")).read_table("quarantine").to_pylist()
    reasons = {row["source_key"]: row["reason"] for row in quarantine}
    assert reasons.get("outbound/other/x.eml") == "foreign_object"
    assert any(reason == "bad_notification" for reason in reasons.values())
    assert all(key in handed or key in reasons for key in hostile)
