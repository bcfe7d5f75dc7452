"""Trace headers added on the way to SES: the sender's provider, the tenant's forwarder, SES.

An inbound object is, top to bottom: SES's prepended block (Return-Path, Received `for` the
envelope recipient, verdicts, Received-SPF, Authentication-Results, X-SES-RECEIPT,
X-SES-DKIM-SIGNATURE), then what the tenant's mail provider added when it forwarded the message
(Google Workspace: X-Forwarded-To/For, Delivered-To, ARC; Microsoft 365: ARC, Exchange hops,
X-MS-Exchange-* after the original headers), then the sender provider's own trace, then the
message as the customer's client wrote it. All IP addresses come from the documentation ranges.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import mime
from .clients import b64blob, hexstr, uuid4

SES_HOST = "inbound-smtp.us-east-1.amazonaws.com"


def doc_ip(rng: random.Random) -> str:
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randrange(1, 255)}"


def doc_ip6(rng: random.Random) -> str:
    return f"2001:db8:{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFF):x}"


def _fold8(value: str, width: int = 68) -> str:
    """Google's folding: continuation lines indented with 8 spaces, long blobs cut hard."""
    if len(value) <= width:
        return value
    pieces = [value[i : i + width] for i in range(0, len(value), width)]
    return ("\r\n         ").join(pieces)


@dataclass(slots=True)
class Origin:
    """Where the customer's message left the internet-facing side of their provider."""

    helo: str
    ip: str
    dkim_domain: str | None
    dkim_selector: str
    trace: list[str]
    """Headers the sender's provider put above the client's headers."""


_PROVIDER_HOSTS = {
    "gmail.com": ("mail-sor-f{n}.google.com", "20230601"),
    "hotmail.com": ("{site}.outbound.protection.outlook.com", "selector1"),
    "outlook.com": ("{site}.outbound.protection.outlook.com", "selector1"),
    "outlook.es": ("{site}.outbound.protection.outlook.com", "selector1"),
    "hotmail.es": ("{site}.outbound.protection.outlook.com", "selector1"),
    "live.com.ar": ("{site}.outbound.protection.outlook.com", "selector1"),
    "yahoo.com.ar": ("sonic{n}-{m}.consmr.mail.gq1.yahoo.com", "s2048"),
    "yahoo.com.br": ("sonic{n}-{m}.consmr.mail.bf2.yahoo.com", "s2048"),
    "yahoo.es": ("sonic{n}-{m}.consmr.mail.ir2.yahoo.com", "s2048"),
    "icloud.com": ("qs51p00im-qukt01080502.me.com", "1a1hai"),
}


def origin(rng: random.Random, sender: str, client: str, corporate: bool, ts: int) -> Origin:
    """The sender provider's outbound hop and the trace it leaves in the message."""
    domain = sender.rsplit("@", 1)[1]
    n, m = rng.randrange(10, 99), rng.randrange(1, 9)
    ip = doc_ip(rng)
    date_utc = mime.rfc2822(ts, 0, pad_day=False)
    if domain in _PROVIDER_HOSTS:
        pattern, selector = _PROVIDER_HOSTS[domain]
        site = rng.choice(("BR1PR80CU001", "SA9PR03CU001", "CH1PR05CU001", "DU2PR04CU001"))
        helo = pattern.format(n=n, m=m, site=site)
        dkim_domain: str | None = domain
    elif corporate and client == "outlook":
        helo = f"{rng.choice(('BR1PR80CU001', 'SA9PR03CU001', 'DU2PR04CU001'))}.outbound.protection.outlook.com"
        selector, dkim_domain = "selector1", domain
    elif corporate:
        helo, selector, dkim_domain = f"mail.{domain}", "default", domain if rng.random() < 0.6 else None
    else:
        helo, selector, dkim_domain = f"smtp.{domain}", "mail", None
    trace: list[str] = []
    if dkim_domain == "gmail.com":
        trace += [
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n        d=gmail.com; s=20230601; "
            f"t={ts}; x={ts + 604800}; darn={{darn}};\r\n        "
            "h=to:subject:message-id:date:from:mime-version:from:to:cc:subject\r\n"
            "         :date:message-id:reply-to;\r\n"
            f"        bh={b64blob(rng, 32)};\r\n        b={_fold8(b64blob(rng, 256))}",
            f"X-Google-DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n        d=1e100.net; s=20230601; "
            f"t={ts}; x={ts + 604800};\r\n        bh={b64blob(rng, 32)};\r\n        b={_fold8(b64blob(rng, 192))}",
            f"X-Gm-Message-State: {_fold8('AOJu0Y' + b64blob(rng, 54))}",
            f"X-Google-Smtp-Source: AGHT+I{b64blob(rng, 66)[:88]}",
            f"X-Received: by 2002:a05:{hexstr(rng, 4)}:{hexstr(rng, 4)}:b0:{hexstr(rng, 3)}:{hexstr(rng, 4)}:"
            f"{hexstr(rng, 4)} with SMTP id {hexstr(rng, 10)}-{hexstr(rng, 12)}mr{rng.randrange(10**8)}"
            f".{rng.randrange(99)};\r\n        {mime.pacific(ts)}",
        ]
    elif client == "outlook" and dkim_domain:
        trace += [
            f"ARC-Seal: i=1; a=rsa-sha256; s=arcselector10001; d=microsoft.com; cv=none;\r\n b={b64blob(rng, 256)}",
            f"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=microsoft.com;\r\n "
            "s=arcselector10001;\r\n h=From:Date:Subject:Message-ID:Content-Type:MIME-Version:"
            f"X-MS-Exchange-AntiSpam-MessageData-ChunkCount:X-MS-Exchange-AntiSpam-MessageData-0;\r\n "
            f"bh={b64blob(rng, 32)};\r\n b={b64blob(rng, 256)}",
            "ARC-Authentication-Results: i=1; mx.microsoft.com 1; spf=none; dmarc=none;\r\n dkim=none; arc=none",
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dkim_domain};\r\n s=selector1;\r\n "
            "h=From:Date:Subject:Message-ID:Content-Type:MIME-Version:X-MS-Exchange-SenderADCheck;\r\n "
            f"bh={b64blob(rng, 32)};\r\n b={b64blob(rng, 256)}",
            f"Received: from {rng.choice(('CP4P284', 'SA1P223', 'AM0PR04'))}MB{rng.randrange(1000, 9999)}"
            f".PROD.OUTLOOK.COM\r\n ({doc_ip6(rng)}) by\r\n {rng.choice(('CP4P284', 'SA1P223'))}MB"
            f"{rng.randrange(1000, 9999)}.PROD.OUTLOOK.COM with Microsoft SMTP Server\r\n (version=TLS1_2,\r\n"
            f" cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.{rng.randrange(7000, 9000)}."
            f"{rng.randrange(10, 40)};"
            f"\r\n {date_utc}",
        ]
    elif dkim_domain:
        trace += [
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dkim_domain}; s={selector}; t={ts};\r\n"
            f"\tbh={b64blob(rng, 32)};\r\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\r\n"
            f"\tb={b64blob(rng, 256)}",
            f"Received: from [192.168.{rng.randrange(0, 3)}.{rng.randrange(2, 250)}] (unknown [{doc_ip(rng)}])\r\n"
            f"\tby {helo} (Postfix) with ESMTPSA id {hexstr(rng, 11).upper()};\r\n\t{date_utc}",
        ]
    else:
        trace.append(
            f"Received: from [192.168.{rng.randrange(0, 3)}.{rng.randrange(2, 250)}] (unknown [{doc_ip(rng)}])\r\n"
            f"\tby {helo} (Postfix) with ESMTPSA id {hexstr(rng, 11).upper()}\r\n\tfor <{{darn_addr}}>; {date_utc}"
        )
    return Origin(helo=helo, ip=ip, dkim_domain=dkim_domain, dkim_selector=selector, trace=trace)


def fill_trace(trace: list[str], rcpt: str) -> list[str]:
    return [t.replace("{darn}", rcpt.rsplit("@", 1)[1]).replace("{darn_addr}", rcpt) for t in trace]


@dataclass(slots=True)
class Auth:
    spf: str
    dkim: list[tuple[str, str]]
    dmarc: str
    from_domain: str


def ses_block(
    rng: random.Random,
    *,
    ses_id: str,
    ts: int,
    return_path: str,
    helo: str,
    ip: str,
    rcpt: str,
    auth: Auth,
    spam: str | None,
    virus: str | None,
    selector: str,
) -> list[str]:
    """SES's prepended header block, in SES's order and folding."""
    env_domain = return_path.rsplit("@", 1)[-1] if "@" in return_path else helo
    if auth.spf == "pass":
        why = f"spfCheck: domain of {env_domain} designates {ip} as permitted sender"
    elif auth.spf == "softfail":
        why = f"spfCheck: transitioning domain of {env_domain} does not designate {ip} as permitted sender"
    elif auth.spf == "fail":
        why = f"spfCheck: domain of {env_domain} does not designate {ip} as permitted sender"
    else:
        why = f"spfCheck: {ip} is neither permitted nor denied by domain of {env_domain}"
    spf_tail = f"({why}) client-ip={ip}; envelope-from={return_path}; helo={helo};"
    lines = [
        f"Return-Path: <{return_path}>",
        f"Received: from {helo} ({helo} [{ip}])\r\n by {SES_HOST} with SMTP id {ses_id}\r\n"
        f" for {rcpt};\r\n {mime.rfc2822(ts, 0, pad_day=True)} (UTC)",
    ]
    if spam is not None:
        lines.append(f"X-SES-Spam-Verdict: {spam}")
    if virus is not None:
        lines.append(f"X-SES-Virus-Verdict: {virus}")
    dkim = "".join(f"\r\n dkim={res} header.i=@{dom};" for res, dom in auth.dkim) or "\r\n dkim=none;"
    lines += [
        f"Received-SPF: {auth.spf} {spf_tail}",
        f"Authentication-Results: amazonses.com;\r\n spf={auth.spf} {spf_tail}{dkim}\r\n"
        f" dmarc={auth.dmarc} header.from={auth.from_domain};",
        f"X-SES-RECEIPT: AEFBQUFBQUFBQUFH{b64blob(rng, 210)}",
        f"X-SES-DKIM-SIGNATURE: a=rsa-sha256; q=dns/txt; b={b64blob(rng, 256)}; c=relaxed/simple; s={selector}; "
        f"d=amazonses.com; t={ts}; v=1; bh={b64blob(rng, 32)}; "
        "h=From:To:Cc:Bcc:Subject:Date:Message-ID:MIME-Version:Content-Type:X-SES-RECEIPT;",
    ]
    return lines


def google_forward(
    rng: random.Random, *, public: str, inbound: str, sender: str, origin_: Origin, ts_in: int, ts_out: int
) -> tuple[list[str], str, str, str]:
    """Headers Gmail/Workspace auto-forwarding puts on top; returns (headers, return_path, helo, ip)."""
    local, dom = public.split("@")
    ilocal, idom = inbound.split("@")
    return_path = f"{local}+caf_={ilocal}={idom}@{dom}"
    helo = f"mail-{rng.choice(('yw1', 'qk1', 'pl1', 'oi1', 'ej1'))}-f{rng.randrange(40, 200)}.google.com"
    sdom = sender.rsplit("@", 1)[1]
    gsid = f"{rng.randrange(10**5, 10**6)}{hexstr(rng, 4)}-{hexstr(rng, 11)}so{rng.randrange(10**6, 10**7)}"
    dkim_line = (
        f"       dkim=pass header.i=@{origin_.dkim_domain} header.s={origin_.dkim_selector} "
        f"header.b={b64blob(rng, 6)};\r\n"
        if origin_.dkim_domain
        else ""
    )
    dmarc = "pass (p=NONE sp=QUARANTINE dis=NONE)"  # SPF aligns on the sender's own hop
    headers = [
        f"Received: by {helo} with SMTP id {gsid}\r\n        for <{inbound}>; {mime.pacific(ts_out)}",
        f"X-Forwarded-Encrypted: i=2; {_fold8('AJvYcC' + b64blob(rng, 90))}",
        f"X-Gm-Message-State: {_fold8('AOJu0Y' + b64blob(rng, 54))}",
        f"X-Google-Smtp-Source: AGHT+I{b64blob(rng, 66)[:88]}",
        f"X-Received: by 2002:a05:{hexstr(rng, 4)}:{hexstr(rng, 4)}:b0:{hexstr(rng, 3)}:{hexstr(rng, 4)}:"
        f"{hexstr(rng, 4)} with SMTP id {gsid[:24]}mr{rng.randrange(10**8)}.{rng.randrange(99)};\r\n"
        f"        {mime.pacific(ts_out)}",
        f"X-Forwarded-To: {inbound}",
        f"X-Forwarded-For: {public} {inbound}",
        f"Delivered-To: {public}",
        f"Received: by 2002:a05:7010:{hexstr(rng, 3)}:b0:{hexstr(rng, 3)}:{hexstr(rng, 4)}:{hexstr(rng, 3)} "
        f"with SMTP id {hexstr(rng, 3)}csp{rng.randrange(10**6, 10**7)}mdf;\r\n        {mime.pacific(ts_in)}",
        f"ARC-Seal: i=1; a=rsa-sha256; t={ts_in}; cv=none;\r\n        d=google.com; s=arc-20240605;\r\n"
        f"        b={_fold8(b64blob(rng, 256))}",
        "ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=google.com; s=arc-20240605;\r\n"
        "        h=to:subject:message-id:date:from:mime-version:dkim-signature;\r\n"
        f"        bh={b64blob(rng, 32)};\r\n        fh={b64blob(rng, 32)};\r\n"
        f"        b={_fold8(b64blob(rng, 256))};\r\n        dara=google.com",
        f"ARC-Authentication-Results: i=1; mx.google.com;\r\n{dkim_line}"
        f"       spf=pass (google.com: domain of {sender} designates {origin_.ip} as permitted sender) "
        f"smtp.mailfrom={sender};\r\n       dmarc={dmarc} header.from={sdom};\r\n"
        f"       dara=pass header.i=@{dom}",
        f"Return-Path: <{sender}>",
        f"Received: from {origin_.helo} ({origin_.helo}. [{origin_.ip}])\r\n        by mx.google.com with SMTPS id "
        f"{hexstr(rng, 8)}-{hexstr(rng, 24)}.{rng.randrange(10**6)}.{ts_in % 10**6}\r\n        for <{public}>\r\n"
        f"        (Google Transport Security);\r\n        {mime.pacific(ts_in)}",
        f"Received-SPF: pass (google.com: domain of {sender} designates {origin_.ip} as permitted sender) "
        f"client-ip={origin_.ip};",
        f"Authentication-Results: mx.google.com;\r\n{dkim_line}"
        f"       spf=pass (google.com: domain of {sender} designates {origin_.ip} as permitted sender) "
        f"smtp.mailfrom={sender};\r\n       dmarc={dmarc} header.from={sdom}",
    ]
    return headers, return_path, helo, doc_ip(rng)


_SRS_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def microsoft_forward(
    rng: random.Random,
    *,
    public: str,
    inbound: str,
    sender: str,
    origin_: Origin,
    ts_in: int,
    ts_out: int,
    loop_header: bool,
) -> tuple[list[str], list[str], str, str, str]:
    """Exchange Online redirect: (top headers, bottom headers, SRS return path, helo, ip)."""
    dom = public.split("@")[1]
    sdom = sender.rsplit("@", 1)[1]
    srs = f"bounces+SRS={''.join(rng.choices(_SRS_CHARS, k=5))}={''.join(rng.choices(_SRS_CHARS[:26], k=2))}@{dom}"
    site = rng.choice(("BR1PR80CU001", "CPWP152CU001", "SA9PR03CU001"))
    helo = f"{site}.outbound.protection.outlook.com"
    mailbox_host = f"{rng.choice(('CP4P284', 'RO2P284', 'SA1P223'))}MB{rng.randrange(1000, 9999)}"
    dkim_ok = origin_.dkim_domain is not None
    top = [
        f"ARC-Seal: i=2; a=rsa-sha256; s=arcselector10001; d=microsoft.com; cv=pass;\r\n b={b64blob(rng, 256)}",
        "ARC-Message-Signature: i=2; a=rsa-sha256; c=relaxed/relaxed; d=microsoft.com;\r\n s=arcselector10001;\r\n"
        " h=From:Date:Subject:Message-ID:Content-Type:MIME-Version:X-MS-Exchange-AntiSpam-MessageData-ChunkCount:"
        f"X-MS-Exchange-AntiSpam-MessageData-0:X-MS-Exchange-AntiSpam-MessageData-1;\r\n bh={b64blob(rng, 32)};\r\n"
        f" b={b64blob(rng, 256)}",
        f"ARC-Authentication-Results: i=2; mx.microsoft.com 1; spf=pass (sender ip is\r\n {origin_.ip}) "
        f"smtp.rcpttodomain={inbound.split('@')[1]} smtp.mailfrom={sdom};\r\n dmarc="
        f"{'pass' if dkim_ok else 'fail'} (p=none sp=none pct=100) action=none header.from={sdom};\r\n"
        f" dkim={'pass (signature was verified)' if dkim_ok else 'none (message not signed)'} header.d={sdom}; "
        "arc=pass (0 oda=0 ltdi=0\r\n 93)",
        f"Received: from {mailbox_host}.{rng.choice(('BRAP284', 'NAMP223'))}.PROD.OUTLOOK.COM ({doc_ip6(rng)})\r\n"
        f" by {helo.split('.')[0]}.outbound.protection.outlook.com ({doc_ip6(rng)}) with Microsoft\r\n SMTP Server "
        f"(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id\r\n 15.20.{rng.randrange(7000, 9000)}."
        f"{rng.randrange(10, 40)}; {mime.rfc2822(ts_out, 0)}",
        f"Received: from {origin_.helo} ({origin_.ip}) by\r\n {mailbox_host}.PROD.OUTLOOK.COM ({doc_ip6(rng)}) with "
        "Microsoft SMTP\r\n Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id "
        f"15.20.{rng.randrange(7000, 9000)}"
        f".{rng.randrange(10, 40)} via Frontend\r\n Transport; {mime.rfc2822(ts_in, 0)}",
        f"Authentication-Results: spf=pass (sender IP is {origin_.ip})\r\n smtp.mailfrom={sdom}; dkim="
        f"{'pass' if dkim_ok else 'none'} (signature was verified)\r\n header.d={sdom};dmarc="
        f"{'pass' if dkim_ok else 'fail'} action=none header.from={sdom};compauth=pass\r\n reason=100",
        f"Received-SPF: Pass ({dom}: domain of {sdom} designates\r\n {origin_.ip} as permitted sender) "
        f"receiver={dom}; client-ip={origin_.ip};\r\n helo={origin_.helo}; pr=C",
    ]
    arrived = mime.rfc2822(ts_in, 0, pad_day=True).split(", ", 1)[1][:-6]  # "01 Oct 2026 13:12:33"
    bottom = [
        f"X-MS-Exchange-Organization-ExpirationStartTime: {arrived}.{rng.randrange(10**4):04d} (UTC)",
        "X-MS-PublicTrafficType: Email",
        f"X-MS-TrafficTypeDiagnostic: {mailbox_host}:EE_|{mailbox_host}:EE_",
        f"X-MS-Office365-Filtering-Correlation-Id: {uuid4(rng)}",
        "X-Microsoft-Antispam: BCL:0;ARA:13230040|4022899009|69100299015|8096899003;",
        f"X-Forefront-Antispam-Report: CIP:{origin_.ip};CTRY:BR;LANG:es;SCL:1;SRV:;IPV:NLI;SFV:NSPM;"
        f"H:{origin_.helo};PTR:{origin_.helo};CAT:NONE;SFS:(13230040)(4022899009)(8096899003);DIR:INB;",
        "X-MS-Exchange-AntiSpam-MessageData-ChunkCount: 1",
        f"X-MS-Exchange-AntiSpam-MessageData-0: {b64blob(rng, 180)}",
        f"X-MS-Exchange-CrossTenant-OriginalArrivalTime: {arrived}.{rng.randrange(10**4):04d} (UTC)",
        f"X-MS-Exchange-CrossTenant-Network-Message-Id: {uuid4(rng)}",
        f"X-MS-Exchange-CrossTenant-Id: {uuid4(rng)}",
        "X-MS-Exchange-CrossTenant-AuthAs: Anonymous",
        f"X-MS-Exchange-Transport-CrossTenantHeadersStamped: {mailbox_host}",
    ]
    if loop_header:
        bottom.insert(0, f"X-MS-Exchange-Inbox-Rules-Loop: {public}")
    return top, bottom, srs, helo, doc_ip(rng)
