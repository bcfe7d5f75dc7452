"""No stranger attaches mail to another customer's case: guessed or forged case addresses, Reply-To claims,
forged senders (failing SPF/DKIM/DMARC) and a Reply-To naming the customer never join it, while the customer's
own mail, mail with passing verdicts and mail with genuine references still do. Rows go through the lake's path
(`columns_from_lake`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pipelines.storage.schemas import MESSAGES
from pipelines.threads.engine import ThreadState, fails_authentication
from pipelines.threads.inputs import columns_from_lake
from pipelines.threads.subjects import normalize_subject
from pipelines.threads.tracking import tracking_address

SECRET = "test-tracking-secret"
T0 = datetime(2026, 10, 12, 10, tzinfo=UTC)
SES_ID = "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000"
INBOUND = "caminos@ses.omnibrein.com"
CASE = tracking_address("caminos", 12, INBOUND, secret=SECRET)
GUID = bytes(range(16))
PASS = ("pass", "pass", "pass")
SUBJECT = "Factura de octubre"


def outlook_index(replies: int = 0) -> str:
    return base64.b64encode(b"\x01" + bytes(5) + GUID + bytes(5 * replies)).decode()


def row(
    key: str,
    hours: float,
    *,
    mid: str,
    outbound: bool = False,
    frm: str = "ana@gmail.com",
    to: tuple[str, ...] = ("info@caminos.com.ar",),
    reply_to: tuple[str, ...] = (),
    refs: tuple[str, ...] = (),
    subject: str = SUBJECT,
    thread_index: str | None = None,
    verdicts: tuple[str | None, str | None, str | None] = PASS,
) -> dict:
    """One `messages` row of tenant caminos; inbound mail carries SES's verdicts (SPF, DKIM, DMARC)."""
    at = T0 + timedelta(hours=hours)
    spf, dkim, dmarc = (None, None, None) if outbound else verdicts
    return {
        "tenant_id": "caminos",
        "direction": "outbound" if outbound else "inbound",
        "object_key": key,
        "ses_message_id": SES_ID if outbound else f"ses-{key}",
        "rfc_message_id": mid,
        "in_reply_to": f"<{refs[-1]}>" if refs else None,
        "reference_ids": list(refs),
        "thread_index": thread_index,
        "subject": subject,
        "subject_normalized": normalize_subject(subject),
        "from_address": frm,
        "to_addresses": list(to),
        "reply_to_addresses": list(reply_to),
        "envelope_recipients": [] if outbound else [a for a in to if a.endswith("@ses.omnibrein.com")] or [INBOUND],
        "sent_at": at,
        "received_at": at,
        "spf_verdict": spf,
        "dkim_verdict": dkim,
        "dmarc_verdict": dmarc,
    }


def case_of_ana(*, case: str = CASE) -> list[dict]:
    """Ana writes from Outlook; our answer sets her case address as Reply-To."""
    return [
        row("ana-1", 0, mid="ana-1@outlook.com", thread_index=outlook_index()),
        row(
            "ours-1",
            2,
            mid="presend-1@reply.omnibrein.com",
            outbound=True,
            frm="info@caminos.com.ar",
            to=("ana@gmail.com",),
            reply_to=(case,),
            refs=("ana-1@outlook.com",),
            subject="Re: " + SUBJECT,
        ),
    ]


def threads(rows: list[dict], secret: str = SECRET) -> dict[str, str]:
    """object key -> thread id."""
    table = pa.Table.from_pylist(rows, schema=MESSAGES)
    ids = ThreadState().thread(columns_from_lake(table, {"ses.omnibrein.com"}, secret)).thread_ids
    return dict(zip((r["object_key"] for r in rows), ids, strict=True))


def stranger(to: str, *, reply_to: tuple[str, ...] = (), hours: float = 30) -> dict:
    """A stranger's new message (own address, passing verdicts, own subject)."""
    return row("stranger", hours, mid="s1@evil.example", frm="x@evil.example", to=(to,), reply_to=reply_to,
               subject="Cambio de datos")  # fmt: skip


def test_the_customer_writing_to_her_case_address_joins_her_case():
    found = threads([*case_of_ana(), row("ana-2", 30, mid="ana-2@gmail.com", to=(CASE,), subject="Comprobante")])
    assert found["ana-2"] == found["ana-1"] == found["ours-1"]
    assert (
        threads([*case_of_ana(), row("ana-2", 30, mid="a2@x", to=(CASE,), subject="Comprobante")], "other")["ana-2"]
        != found["ana-1"]
    ), "a case address made with another key is not honoured"


def test_a_guessed_sequential_case_address_joins_nothing():
    """An old answer set the sequential `caminos+case-12@…`; a stranger guessing it does not join that case."""
    legacy = "caminos+case-12@ses.omnibrein.com"
    found = threads([*case_of_ana(case=legacy), stranger(legacy)])
    assert found["stranger"] != found["ana-1"]


@pytest.mark.parametrize(
    "address",
    [
        "caminos+case-12-aaaaaaaaaaaaaaaa@ses.omnibrein.com",
        tracking_address("caminos", 12, INBOUND, secret="a guess at the key"),
        tracking_address("padaria", 12, INBOUND, secret=SECRET),  # another tenant's token for case 12
    ],
    ids=["forged token", "token made with another key", "another tenant's token"],
)
def test_a_forged_case_address_joins_nothing(address):
    found = threads([*case_of_ana(case=address), stranger(address)])
    assert found["stranger"] != found["ana-1"]


@pytest.mark.parametrize("claim", ["reply_to", "to"])
def test_a_case_address_used_before_our_answer_claims_nothing(claim):
    """A stranger naming Ana's (leaked) case address before our answer sets it does not hold the case:
    Ana's later mail to it joins her own case, not the stranger's message."""
    early = stranger(INBOUND, reply_to=(CASE,), hours=1) if claim == "reply_to" else stranger(CASE, hours=1)
    found = threads([*case_of_ana(), early, row("ana-2", 30, mid="ana-2@gmail.com", to=(CASE,), subject="Datos")])
    assert found["ana-2"] == found["ana-1"] != found["stranger"]


def forged(verdicts: tuple[str | None, str | None, str | None], refs: tuple[str, ...] = ()) -> dict:
    """Ana's name, address and Reply-To, her subject (`RE: …`), case address and Thread-Index: every soft
    rule at once."""
    return row("forged", 30, mid="f1@evil.example", to=(CASE,), reply_to=("ana@gmail.com",), refs=refs,
               subject="RE: " + SUBJECT, thread_index=outlook_index(2), verdicts=verdicts)  # fmt: skip


@pytest.mark.parametrize(
    "verdicts",
    [("fail", "none", "fail"), ("softfail", "fail", "none"), ("pass", "pass", "fail"), ("none", "none", "none")],
    ids=["all fail", "none passes", "dmarc fails", "nothing vouches"],
)
def test_a_forged_sender_never_joins_by_subject_case_address_or_thread_index(verdicts):
    found = threads([*case_of_ana(), forged(verdicts)])
    assert found["forged"] != found["ana-1"]


@pytest.mark.parametrize(
    "verdicts", [PASS, ("pass", "none", "none"), (None, None, None)], ids=["pass", "spf passes", "no verdicts"]
)
def test_the_same_mail_with_passing_or_no_verdicts_joins_as_before(verdicts):
    found = threads([*case_of_ana(), forged(verdicts)])
    assert found["forged"] == found["ana-1"]


def test_mail_failing_authentication_still_joins_by_its_own_references():
    found = threads([*case_of_ana(), forged(("fail", "fail", "fail"), refs=(f"{SES_ID}@email.amazonses.com",))])
    assert found["forged"] == found["ana-1"]


def test_mail_failing_authentication_holds_no_soft_key():
    """Forged mail that arrives first holds neither its Thread-Index nor its subject: the genuine customer's
    later mail does not join it."""
    found = threads(
        [
            row("forged", 0, mid="f1@evil.example", thread_index=outlook_index(), subject="Consulta",
                verdicts=("softfail", "none", "fail")),
            row("ana-1", 5, mid="ana-1@outlook.com", thread_index=outlook_index(1), subject="RE: Consulta"),
            row("ana-2", 6, mid="ana-2@outlook.com", thread_index=outlook_index(2), subject="RE: Consulta"),
        ]
    )  # fmt: skip
    assert found["ana-1"] == found["ana-2"] != found["forged"]


@pytest.mark.parametrize(
    "verdicts, joins", [(PASS, False), ((None, None, None), True)], ids=["through SES", "without verdicts"]
)
def test_a_reply_to_naming_the_customer_does_not_vouch_for_a_stranger(verdicts, joins):
    """Authentication covers the From only: a stranger's own, authenticated mail whose Reply-To names Ana does not
    join her case by subject (mail without any verdict, threaded offline, is matched as before)."""
    rows = [*case_of_ana(), row("stranger", 30, mid="s1@evil.example", frm="x@evil.example",
                                reply_to=("ana@gmail.com",), subject="RE: " + SUBJECT, verdicts=verdicts)]  # fmt: skip
    found = threads(rows)
    assert (found["stranger"] == found["ana-1"]) is joins
    own = threads([*case_of_ana(), row("ana-2", 30, mid="a2@gmail.com", subject="RE: " + SUBJECT, verdicts=verdicts)])
    assert own["ana-2"] == own["ana-1"], "the customer's own reply still joins by subject"


def test_which_verdicts_fail_authentication():
    assert fails_authentication("pass", "pass", "fail")
    assert fails_authentication("fail", "fail", "fail")
    assert fails_authentication("softfail", None, "none")
    assert not fails_authentication("pass", "none", "none")
    assert not fails_authentication("fail", "pass", "pass")
    assert not fails_authentication(None, None, None)
