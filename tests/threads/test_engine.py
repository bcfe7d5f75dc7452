"""Thread reconstruction rule by rule on hand-built mail, ids that stay put, reply headers, saved state."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from pipelines.storage.schemas import MESSAGES
from pipelines.threads.engine import ThreadColumns, ThreadState
from pipelines.threads.identity import child_thread_index, junk_in_reply_to, thread_id_for, thread_index_guid
from pipelines.threads.inputs import columns_from_lake
from pipelines.threads.reply import reply_headers
from pipelines.threads.subjects import reply_subject, subject_has_marker
from pipelines.threads.tracking import is_tracking_address, tracking_address

DAY = 86400.0
T0 = 1_791_800_000.0
SES_ID = "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000"
SES_EU = "0102019a1b2c3d4e-aaaabbbb-cccc-4ddd-8eee-ffff00001111-000000"
CASE = tracking_address("caminos", 12, "caminos@ses.omnibrein.com", secret="")
"""Case 12 of caminos, keyed with the development key."""


def msg(
    mid: str | None,
    *,
    at: float,
    frm: str = "ana@gmail.com",
    to: tuple[str, ...] = ("info@caminos.com.ar",),
    refs: tuple[str, ...] = (),
    irt: str | None = None,
    subject: str = "Factura de octubre",
    mailbox: str = "caminos",
    ses: str | None = None,
    thread_index: str | None = None,
    tracking: tuple[str, ...] = (),
    reply_to: tuple[str, ...] = (),
    sent: float | None = None,
    key: str | None = None,
    verdicts: tuple[str | None, str | None, str | None] = (None, None, None),
) -> dict:
    """One message as threading sees it (inbound unless it has an SES id); `verdicts` are SPF, DKIM, DMARC."""
    from pipelines.threads.subjects import normalize_subject

    outbound = ses is not None
    if irt is None and refs:
        irt = f"<{refs[-1]}>"
    counterpart = to if outbound else (reply_to or (frm,))
    return {
        "mailbox": mailbox,
        "row_key": key or f"{at:.0f}-{mid}",
        "message_id": mid,
        "ses_message_id": ses,
        "outbound": outbound,
        "reference_ids": list(refs),
        "in_reply_to": irt,
        "thread_index": thread_index,
        "tracking": list(tracking),
        "subject": normalize_subject(subject),
        "subject_marked": subject_has_marker(subject),
        "from_address": frm,
        "participants": tuple(a.lower() for a in counterpart),
        "addresses": tuple(a.lower() for a in (frm, *to, *reply_to)),
        "spf_verdict": verdicts[0],
        "dkim_verdict": verdicts[1],
        "dmarc_verdict": verdicts[2],
        "sent_at": at if sent is None else sent,
        "arrived_at": at,
    }


def thread(*records: dict, state: ThreadState | None = None) -> list[str]:
    return (ThreadState() if state is None else state).thread(ThreadColumns.from_records(records)).thread_ids


def groups(ids: list[str]) -> list[int]:
    """Thread ids as small labels in order of appearance, for readable assertions."""
    seen: dict[str, int] = {}
    return [seen.setdefault(t, len(seen)) for t in ids]


def outlook_index(guid: bytes, replies: int = 0) -> str:
    return base64.b64encode(b"\x01" + bytes(5) + guid + bytes(5 * replies)).decode()


# --------------------------------------------------------------------------------------------
# References


def test_references_join_a_conversation_and_new_mail_starts_another():
    ids = thread(
        msg("m1@gmail.com", at=T0),
        msg(
            "o1@caminos.com.ar", at=T0 + 3600, frm="info@caminos.com.ar", to=("ana@gmail.com",), refs=("m1@gmail.com",)
        ),
        msg("m2@gmail.com", at=T0 + 7200, refs=("m1@gmail.com", "o1@caminos.com.ar")),
        msg("n1@gmail.com", at=T0 + 9000, subject="Otra consulta"),
    )
    assert groups(ids) == [0, 0, 0, 1]


def test_two_replies_to_a_lost_message_stay_together():
    ids = thread(
        msg("r1@caminos.com.ar", at=T0, frm="info@caminos.com.ar", refs=("lost@gmail.com",)),
        msg("r2@caminos.com.ar", at=T0 + 60, frm="info@caminos.com.ar", refs=("lost@gmail.com",)),
        msg("other@gmail.com", at=T0 + 120, subject="Otra cosa"),
    )
    assert groups(ids) == [0, 0, 1]


def test_the_lost_parent_arriving_late_joins_without_renaming():
    state = ThreadState()
    first = thread(msg("r1@x.com", at=T0, refs=("root@gmail.com",)), state=state)
    late = thread(msg("root@gmail.com", at=T0 + DAY), state=state)
    assert late == first


def test_reference_loops_and_self_references_are_harmless():
    ids = thread(
        msg("a@x.com", at=T0, refs=("a@x.com", "b@x.com"), irt="<b@x.com>"),
        msg("b@x.com", at=T0 + 60, refs=("b@x.com", "a@x.com"), irt="<a@x.com>"),
        msg("c@x.com", at=T0 + 120, refs=("c@x.com",), subject="Sin relación"),
    )
    assert groups(ids) == [0, 0, 1]
    headers = reply_headers("a@x.com", ["a@x.com", "b@x.com"], "Re: x")
    assert headers is not None and headers.references == "<b@x.com> <a@x.com>"


def test_a_self_reference_alone_is_no_reference():
    """A message referencing only itself can still be placed by the subject rule."""
    ids = thread(
        msg("m1@gmail.com", at=T0, subject="Pedido 123"),
        msg("m2@gmail.com", at=T0 + 3600, refs=("m2@gmail.com",), subject="RE: Pedido 123"),
    )
    assert groups(ids) == [0, 0]


def test_address_junk_in_in_reply_to_is_ignored():
    """Old mailers put the recipient's address in In-Reply-To: two customers must not merge through it."""
    junk = "<info@caminos.com.ar>"
    ids = thread(
        msg("a1@old.com", at=T0, frm="a@old.com", refs=("info@caminos.com.ar",), irt=junk, subject="Consulta A"),
        msg("b1@old.com", at=T0 + 60, frm="b@old.com", refs=("info@caminos.com.ar",), irt=junk, subject="Consulta B"),
        msg(
            "c1@old.com",
            at=T0 + 120,
            frm="c@old.com",
            refs=("soporte@caminos.com.ar",),
            irt='Your message of "Mon, 12 Oct 2026 10:00:00 -0300" <soporte@caminos.com.ar>',
            subject="Consulta C",
        ),
        msg(
            "d1@old.com",
            at=T0 + 180,
            frm="d@old.com",
            refs=("soporte@caminos.com.ar",),
            irt='Your message of "Mon, 12 Oct 2026 11:00:00 -0300" <soporte@caminos.com.ar>',
            subject="Consulta D",
        ),
    )
    assert len(set(ids)) == 4
    assert junk_in_reply_to("<CAFoo123@mail.gmail.com>", ["ana@gmail.com"]) == frozenset()
    assert junk_in_reply_to("<Ana@gmail.com>", ["ana@gmail.com"]) == {"Ana@gmail.com"}
    assert junk_in_reply_to('<87x1y2.fsf@host.org> (Carl\'s message of "Tue, 17 Nov")', []) == frozenset()


# --------------------------------------------------------------------------------------------
# Duplicate Message-IDs


def test_identical_copies_are_one_message_and_their_references_all_count():
    ids = thread(
        msg("p1@x.com", at=T0, subject="Bug 1"),
        msg("p2@x.com", at=T0 + 10, subject="Bug 2"),
        msg("dup@x.com", at=T0 + 60, refs=("p1@x.com",), sent=T0 + 50, subject="Re: Bug 1"),
        msg("dup@x.com", at=T0 + 90, refs=("p2@x.com",), sent=T0 + 50, subject="Re: Bug 2", key="copy"),
    )
    assert groups(ids) == [0, 0, 0, 0]
    state = ThreadState()
    thread(msg("same@x.com", at=T0), msg("same@x.com", at=T0 + 30, sent=T0, key="again"), state=state)
    assert state.messages == 1


def test_a_clashing_id_gets_its_own_thread_and_replies_find_their_owner():
    form = "formulario-contacto@caminos.com.ar"
    ids = thread(
        msg(form, at=T0, frm="noreply@caminos.com.ar", reply_to=("ana@gmail.com",), subject="Consulta"),
        msg(form, at=T0 + 600, frm="noreply@caminos.com.ar", reply_to=("bruno@gmail.com",), subject="Consulta"),
        msg(
            "o2@caminos.com.ar",
            at=T0 + 3600,
            frm="info@caminos.com.ar",
            to=("bruno@gmail.com",),
            refs=(form,),
            ses=SES_ID,
        ),
        msg(
            "o1@caminos.com.ar",
            at=T0 + 4000,
            frm="info@caminos.com.ar",
            to=("ana@gmail.com",),
            refs=(form,),
            ses=SES_EU,
        ),
    )
    assert groups(ids) == [0, 1, 1, 0]


# --------------------------------------------------------------------------------------------
# SES ids


def test_replies_quoting_the_ses_id_or_the_archived_id_join_the_outbound_thread():
    ids = thread(
        msg("m1@gmail.com", at=T0),
        msg(
            "presend-1@reply.omnibrein.com",
            at=T0 + 3600,
            frm="info@caminos.com.ar",
            to=("ana@gmail.com",),
            refs=("m1@gmail.com",),
            ses=SES_ID,
        ),
        # Outlook answers with In-Reply-To only: the id SES put on the wire
        msg("m2@outlook.com", at=T0 + 7200, refs=(f"{SES_ID}@email.amazonses.com",), subject="RE: Factura"),
        # a client quoting the archived id (it saw a copy of the archive)
        msg("m3@gmail.com", at=T0 + 8000, refs=("presend-1@reply.omnibrein.com",), subject="Re: Factura"),
        msg("x@gmail.com", at=T0 + 9000, frm="otro@gmail.com", subject="Nada que ver"),
    )
    assert groups(ids) == [0, 0, 0, 0, 1]


def test_regional_ses_domains_and_replies_that_arrive_before_the_archive():
    state = ThreadState()
    early = thread(msg("m2@gmail.com", at=T0 + 7200, refs=(f"{SES_EU}@eu-west-1.amazonses.com",)), state=state)
    later = thread(
        msg("m1@gmail.com", at=T0 + 8000, subject="Otra"),
        msg(f"{SES_EU}@eu-west-1.amazonses.com", at=T0 + 9000, frm="info@x.es", to=("ana@gmail.com",), ses=SES_EU),
        state=state,
    )
    assert later[1] == early[0] != later[0]
    assert state.thread_of("caminos", SES_EU) == early[0]
    assert state.thread_of("caminos", f"{SES_EU}@eu-west-1.amazonses.com") == early[0]


# --------------------------------------------------------------------------------------------
# Tracking addresses, Thread-Index


def test_a_new_message_to_a_tracking_address_joins_its_case():
    case = tracking_address("caminos", 1002, "caminos@ses.omnibrein.com", secret="")
    ids = thread(
        msg("m1@gmail.com", at=T0),
        msg(
            "o1@x",
            at=T0 + 3600,
            frm="info@caminos.com.ar",
            to=("ana@gmail.com",),
            refs=("m1@gmail.com",),
            ses=SES_ID,
            reply_to=(case,),
            tracking=(case,),
        ),
        msg("m2@gmail.com", at=T0 + DAY, to=(case,), tracking=(case,), subject="Documentación solicitada"),
        msg("m3@gmail.com", at=T0 + DAY + 60, to=("caminos+case-1001@ses.omnibrein.com",), subject="Otra"),
    )
    assert groups(ids) == [0, 0, 0, 1]
    assert is_tracking_address(case) and is_tracking_address("caminos+case-1001@ses.omnibrein.com")
    assert not is_tracking_address("caminos@ses.omnibrein.com") and not is_tracking_address("showcase-1@x.com")


def test_a_tracking_address_never_moves_a_message_that_has_references():
    case = tracking_address("caminos", 7, "caminos@ses.omnibrein.com", secret="")
    ids = thread(
        msg(
            "o1@x",
            at=T0,
            frm="info@caminos.com.ar",
            to=("ana@gmail.com",),
            ses=SES_ID,
            reply_to=(case,),
            tracking=(case,),
        ),
        msg("n1@gmail.com", at=T0 + 60, frm="bea@gmail.com", subject="Dos"),
        msg("n2@gmail.com", at=T0 + 120, frm="bea@gmail.com", to=(case,), tracking=(case,), refs=("n1@gmail.com",)),
    )
    assert groups(ids) == [0, 1, 1]


def test_inbound_mail_never_registers_a_case():
    """Only our answer registers a case: mail sent to (or naming) a case address before it does holds nothing."""
    case = tracking_address("caminos", 8, "caminos@ses.omnibrein.com", secret="")
    ids = thread(
        msg("x1@evil.example", at=T0, frm="x@evil.example", to=(case,), tracking=(case,), subject="Hola"),
        msg("m1@gmail.com", at=T0 + 60),
        msg("o1@x", at=T0 + 3600, frm="info@x", to=("ana@gmail.com",), refs=("m1@gmail.com",), ses=SES_ID,
            reply_to=(case,), tracking=(case,)),
        msg("m2@gmail.com", at=T0 + DAY, to=(case,), tracking=(case,), subject="Comprobante"),
    )  # fmt: skip
    assert groups(ids) == [0, 1, 1, 1]


def test_thread_index_joins_an_outlook_reply_without_references():
    guid, other = bytes(range(16)), bytes(range(1, 17))
    ids = thread(
        msg("m1@outlook.com", at=T0, thread_index=outlook_index(guid), subject="Reclamo"),
        msg(
            "o1@x", at=T0 + 3600, frm="info@caminos.com.ar", to=("ana@gmail.com",), refs=("m1@outlook.com",), ses=SES_ID
        ),
        # answered two weeks later, no References, no In-Reply-To, subject edited: only the GUID links it
        msg("m2@outlook.com", at=T0 + 14 * DAY, thread_index=outlook_index(guid, 2), subject="Sigue sin resolverse"),
        msg("m3@outlook.com", at=T0 + 14 * DAY, thread_index=outlook_index(other, 1), subject="Sigue sin resolverse"),
    )
    assert groups(ids) == [0, 0, 0, 1]
    assert thread_index_guid(outlook_index(guid, 3)) == guid.hex()
    assert thread_index_guid(outlook_index(bytes(16))) is None and thread_index_guid("not base64!") is None


def test_one_thread_index_never_glues_two_referenced_threads():
    guid = bytes(range(16))
    ids = thread(
        msg("a1@x", at=T0, subject="A"),
        msg("a2@x", at=T0 + 60, refs=("a1@x",), thread_index=outlook_index(guid, 1), subject="RE: A"),
        msg("b1@x", at=T0 + 120, subject="B", frm="bea@gmail.com"),
        msg("b2@x", at=T0 + 180, refs=("b1@x",), thread_index=outlook_index(guid, 1), frm="bea@gmail.com"),
    )
    assert groups(ids) == [0, 0, 1, 1]


# --------------------------------------------------------------------------------------------
# Subject fallback


@pytest.mark.parametrize(
    "prefix", ["Re:", "RE:", "RES:", "AW:", "SV:", "Antw:", "R:", "回复:", "RV:", "[Ticket #12] Re:"]
)
def test_localized_reply_prefixes_join_by_subject(prefix):
    ids = thread(
        msg("m1@gmail.com", at=T0, subject="Factura de octubre"),
        msg("o1@x", at=T0 + 3600, frm="info@caminos.com.ar", to=("ana@gmail.com",), refs=("m1@gmail.com",), ses=SES_ID),
        msg("m2@web.com", at=T0 + 2 * DAY, subject=f"{prefix} Factura de octubre"),
    )
    assert groups(ids) == [0, 0, 0]


def test_same_subject_from_two_customers_never_merges():
    ids = thread(
        msg("a1@gmail.com", at=T0, frm="ana@gmail.com", subject="Consulta"),
        msg("b1@gmail.com", at=T0 + 600, frm="bruno@gmail.com", subject="Consulta"),
        msg("b2@gmail.com", at=T0 + 1200, frm="bruno@gmail.com", subject="RE: Consulta"),
        msg("a2@gmail.com", at=T0 + 1800, frm="ana@gmail.com", subject="RE: Consulta"),
    )
    assert groups(ids) == [0, 1, 1, 0]


def test_same_subject_in_two_tenants_never_merges():
    ids = thread(
        msg("a1@gmail.com", at=T0, mailbox="caminos", subject="Factura de octubre"),
        msg("a2@gmail.com", at=T0 + 60, mailbox="padaria", subject="Re: Factura de octubre"),
        msg("a3@gmail.com", at=T0 + 120, mailbox="padaria", refs=("a1@gmail.com",), subject="Re: Factura"),
    )
    assert len(set(ids)) == 3


def test_subject_fallback_is_bounded_in_time_needs_a_marker_and_spares_referenced_mail():
    ids = thread(
        msg("m1@gmail.com", at=T0, subject="Pedido"),
        msg("m2@gmail.com", at=T0 + 9 * DAY, subject="RE: Pedido"),  # too late
        msg("m3@gmail.com", at=T0 + 9 * DAY + 60, subject="Pedido"),  # no marker: a new request
        msg("n1@gmail.com", at=T0 + 9 * DAY + 120, subject="Otro"),
        msg("m4@gmail.com", at=T0 + 9 * DAY + 180, refs=("n1@gmail.com",), subject="RE: Pedido"),  # has references
    )
    assert groups(ids) == [0, 1, 2, 3, 3]


# --------------------------------------------------------------------------------------------
# Stable ids


def conversation() -> list[dict]:
    return [
        msg("m1@gmail.com", at=T0),
        msg("o1@x", at=T0 + 3600, frm="info@caminos.com.ar", to=("ana@gmail.com",), refs=("m1@gmail.com",), ses=SES_ID),
        msg("n1@gmail.com", at=T0 + 5000, frm="bea@gmail.com", subject="Otra consulta"),
        msg("m2@outlook.com", at=T0 + DAY, refs=(f"{SES_ID}@email.amazonses.com",), subject="RE: Factura de octubre"),
        msg("n2@gmail.com", at=T0 + DAY + 60, frm="bea@gmail.com", subject="Re: Otra consulta"),
    ]


def test_ids_are_deterministic_and_independent_of_input_order():
    rows = conversation()
    first = thread(*rows)
    assert thread(*rows) == first
    backwards = thread(*reversed(rows))
    assert backwards == list(reversed(first))
    assert first[0] == thread_id_for("caminos", "m1@gmail.com")
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in first)


def test_adding_mail_never_renames_a_thread():
    rows = conversation()
    state = ThreadState()
    before = thread(*rows[:3], state=state)
    after = thread(*rows[3:], msg("z@gmail.com", at=T0 + 2 * DAY, frm="zoe@gmail.com", subject="Nueva"), state=state)
    assert state.thread_of("caminos", "m1@gmail.com") == before[0] == after[0]
    assert state.thread_of("caminos", "n1@gmail.com") == before[2] == after[1]
    assert thread(*rows) == before + after[:2]


def test_a_genuine_join_keeps_the_older_thread_id_and_reports_the_renamed_one():
    state = ThreadState()
    columns = ThreadColumns.from_records
    first = state.thread(columns([msg("a@x", at=T0, subject="A"), msg("b@x", at=T0 + 60, subject="B")]))
    a, b = first.thread_ids
    joined = state.thread(columns([msg("c@x", at=T0 + DAY, refs=("b@x", "a@x"), subject="Re: A y B")]))
    assert joined.thread_ids == [a]
    assert joined.renamed == {b: a}
    assert state.thread_of("caminos", "b@x") == a


def test_day_by_day_with_saved_state_equals_one_batch(tmp_path):
    rows = conversation()
    whole = thread(*rows)
    state = ThreadState()
    day1 = thread(*rows[:3], state=state)
    state.save(tmp_path / "state")
    loaded = ThreadState.load(tmp_path / "state")
    day2 = thread(*rows[3:], state=loaded)
    assert day1 + day2 == whole
    table = loaded.assignments()
    assert table.num_rows == 5 and set(table.column("thread_id").to_pylist()) == set(whole)
    assert loaded.reply_headers("caminos", "n2@gmail.com", [], "Re: Otra consulta").references == (
        "<n1@gmail.com> <n2@gmail.com>"
    )


# --------------------------------------------------------------------------------------------
# Reply headers


def test_reply_headers_for_outbound_mail_use_the_ses_id_and_keep_the_root_of_long_chains():
    chain = [f"r{k}@x" for k in range(30)]
    headers = reply_headers("presend@reply.omnibrein.com", chain, "RE: AW: Factura", ses_message_id=SES_ID)
    assert headers is not None
    assert headers.in_reply_to == f"<{SES_ID}@email.amazonses.com>"
    refs = headers.references.split()
    assert len(refs) == 20 and refs[0] == "<r0@x>" and refs[-1] == headers.in_reply_to and refs[-2] == "<r29@x>"
    assert headers.subject == "Re: Factura"
    eu = reply_headers(None, [], "x", ses_message_id=SES_EU)
    assert eu is not None and eu.in_reply_to == f"<{SES_EU}@eu-west-1.amazonses.com>"
    assert reply_headers(None, [], "x") is None


def test_reply_subject_strips_localized_reply_markers_and_keeps_the_rest():
    assert reply_subject("RES: RE: Pedido 12") == "Re: Pedido 12"
    assert reply_subject("AW: [Ticket #4] Rechnung") == "Re: [Ticket #4] Rechnung"
    assert reply_subject("Fwd: Factura") == "Re: Fwd: Factura"
    assert reply_subject("回复：发票") == "Re: 发票"
    assert reply_subject("Reunión") == "Re: Reunión"


def test_a_reply_to_mail_joined_by_a_soft_rule_references_the_thread_root():
    state = ThreadState()
    guid = bytes(range(16))
    thread(
        msg("m1@outlook.com", at=T0, thread_index=outlook_index(guid), subject="Reclamo"),
        msg(
            "o1@x", at=T0 + 3600, frm="info@caminos.com.ar", to=("ana@gmail.com",), refs=("m1@outlook.com",), ses=SES_ID
        ),
        msg("m2@outlook.com", at=T0 + DAY, thread_index=outlook_index(guid, 2), subject="RE: Reclamo"),
        state=state,
    )
    when = datetime(2026, 10, 20, tzinfo=UTC)
    headers = state.reply_headers(
        "caminos", "m2@outlook.com", [], "RE: Reclamo", thread_index=outlook_index(guid, 2), now=when
    )
    assert headers is not None
    assert headers.references == "<m1@outlook.com> <m2@outlook.com>"
    assert headers.in_reply_to == "<m2@outlook.com>" and headers.subject == "Re: Reclamo"
    assert thread_index_guid(headers.thread_index) == guid.hex() and headers.thread_topic == "Reclamo"
    assert len(base64.b64decode(headers.thread_index)) == 22 + 3 * 5
    # an outbound message's archived id in a chain is written as the id SES put on the wire
    state.thread(
        ThreadColumns.from_records(
            [msg("pre@reply.x", at=T0 + 2 * DAY, frm="info@x", refs=("m2@outlook.com",), ses=SES_EU)]
        )
    )
    answer = state.reply_headers("caminos", "m5@gmail.com", ["m1@outlook.com", "pre@reply.x"], "Re: Reclamo")
    assert answer is not None and f"<{SES_EU}@eu-west-1.amazonses.com>" in answer.references
    assert child_thread_index("garbage", when) is None


# --------------------------------------------------------------------------------------------
# The lake's rows


def test_columns_from_the_lake_messages_table():
    ts = pa.timestamp("us", tz="UTC")
    rows = [
        {
            "tenant_id": "caminos",
            "direction": "inbound",
            "object_key": "inbound/abc",
            "ses_message_id": "abc",
            "rfc_message_id": "m1@gmail.com",
            "reference_ids": [],
            "subject": "Factura",
            "subject_normalized": "factura",
            "from_address": "ana@gmail.com",
            "to_addresses": ["info@caminos.com.ar"],
            "received_at": datetime(2026, 10, 12, 10, tzinfo=UTC),
            "sent_at": datetime(2026, 10, 12, 10, tzinfo=UTC),
        },
        {
            "tenant_id": "caminos",
            "direction": "outbound",
            "object_key": f"outbound/caminos/{SES_ID}.eml",
            "ses_message_id": SES_ID,
            "rfc_message_id": "presend@reply.omnibrein.com",
            "in_reply_to": "<m1@gmail.com>",
            "reference_ids": ["m1@gmail.com"],
            "subject": "Re: Factura",
            "subject_normalized": "factura",
            "from_address": "info@caminos.com.ar",
            "to_addresses": ["ana@gmail.com"],
            "reply_to_addresses": [CASE],
            "received_at": datetime(2026, 10, 12, 12, tzinfo=UTC),
            "sent_at": datetime(2026, 10, 12, 12, tzinfo=UTC),
        },
        {
            "tenant_id": "caminos",
            "direction": "inbound",
            "object_key": "inbound/def",
            "ses_message_id": "def",
            "rfc_message_id": "m2@gmail.com",
            "reference_ids": [],
            "subject": "Datos",
            "subject_normalized": "datos",
            "from_address": "ana@gmail.com",
            "to_addresses": [CASE],
            "envelope_recipients": [CASE],
            "received_at": datetime(2026, 10, 13, 9, tzinfo=UTC),
            "sent_at": datetime(2026, 10, 13, 9, tzinfo=UTC),
        },
    ]
    table = pa.Table.from_pylist(rows, schema=MESSAGES)
    assert MESSAGES.field("received_at").type == ts
    columns = columns_from_lake(table, inbound_domains={"ses.omnibrein.com"})
    assert columns.ses_message_id == [None, SES_ID, None]
    assert columns.participants[1] == ("ana@gmail.com",)
    ids = ThreadState().thread(columns).thread_ids
    assert len(set(ids)) == 1


def test_threading_a_day_again_changes_nothing():
    """Re-running a day (the nightly re-ingest) finds every message already threaded: same ids, no renames."""
    rows = conversation()
    state = ThreadState()
    first = state.thread(ThreadColumns.from_records(rows))
    again = state.thread(ThreadColumns.from_records(rows))
    assert again.thread_ids == first.thread_ids
    assert again.renamed == {} and again.new_messages == 0 and state.messages == 5


def test_tracking_addresses_tell_their_mailbox():
    case = tracking_address("padaria", 99, "padaria@ses.omnibrein.com", secret="")
    state = ThreadState()
    thread(
        msg("o1@x", at=T0, frm="info@x", mailbox="padaria", ses=SES_ID, reply_to=(case,), tracking=(case,)),
        msg("p1@x", at=T0 + 60, frm="x@evil.example", mailbox="padaria", to=(CASE,), tracking=(CASE,)),
        state=state,
    )
    assert state.mailbox_of_tracking(case.upper()) == "padaria"
    assert state.mailbox_of_tracking(CASE) is None  # only written to, never set by our mail
