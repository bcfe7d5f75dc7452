"""The live sensor evaluated directly: what each tick requests, and the cursor it leaves."""

from __future__ import annotations

import dagster as dg

import pipelines.orchestration.sensors as sensors
from pipelines.orchestration.jobs import HANDOFF_OP
from pipelines.orchestration.resources import ArchiveResource, HandoffResource


def test_watching_a_large_backlog_takes_it_in_bounded_ticks(small_archive, tmp_path, monkeypatch):
    """Without a queue the sensor lists the prefix from its cursor: a backlog bigger than one tick's
    share is requested over several ticks, every object exactly once, in batches with stable run keys."""
    monkeypatch.setattr(sensors, "MAX_PER_TICK", 7)
    monkeypatch.setattr(sensors, "BATCH_SIZE", 3)
    keys = sorted(p.relative_to(small_archive).as_posix() for p in (small_archive / "inbound").iterdir())[:25]
    source = tmp_path / "bucket"
    for key in keys:
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes((small_archive / key).read_bytes())
    resources = {
        "archive": ArchiveResource(source=str(source)),
        "handoff": HandoffResource(reply_url="http://127.0.0.1:9/unused", ledger_path=str(tmp_path / "l.sqlite")),
    }
    requested: list[str] = []
    run_keys: list[str] = []
    cursor = None
    with dg.instance_for_test() as instance:
        for _ in range(6):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            result = sensors.inbound_mail_sensor(context)
            cursor = result.cursor
            for request in result.run_requests or []:
                items = request.run_config["ops"][HANDOFF_OP]["config"]["items"]
                assert len(items) <= 3
                requested += [item["object_key"] for item in items]
                run_keys.append(request.run_key)
    assert sorted(requested) == keys  # each object once, though ticks took at most 7
    assert len(run_keys) == len(set(run_keys))
