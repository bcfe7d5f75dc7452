"""The tenant registry (`tenants.yaml`) and attribution of mail to tenants.

Inbound mail is attributed in order of trust: the SQS notification's receipt recipients, the
envelope recipient in SES's Received header, X-Forwarded-To/Delivered-To, To/Cc on the inbound
subdomain, then the tenant's public address in To/Cc. Outbound mail: message tag, configuration
set, then the From domain. Plus-addressing on an inbound address (`caminos+case-12@…`) counts
as that inbound address, which is how tracking addresses carry their tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipelines.mime.message import ParsedMessage
from pipelines.storage.objects import open_store

EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
LIST_FIELDS = ("inbound_addresses", "public_addresses", "sending_domains", "configuration_sets")
DEFAULT_TIMEZONE = "UTC"
DEFAULT_FIRST_RESPONSE_SLA = 24 * 3600
"""Seconds: a first answer within a day, unless the registry says otherwise."""
_DURATION_RE = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[mhd])\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
TENANT_TAG = "tenant"
"""The SES message tag whose value is the tenant id."""


class TenantRegistryError(ValueError):
    """The registry is malformed; the message names the entry and the problem."""


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    inbound_addresses: tuple[str, ...]
    public_addresses: tuple[str, ...]
    sending_domains: tuple[str, ...]
    configuration_sets: tuple[str, ...]
    extra: dict = field(default_factory=dict, compare=False)
    """Keys the registry has beyond the known ones, kept for later use."""
    timezone: str = DEFAULT_TIMEZONE
    """The tenant's IANA time zone (registry key `timezone`): hours and weekdays in its reports are local."""
    first_response_sla_seconds: int = DEFAULT_FIRST_RESPONSE_SLA
    """How soon a customer's first message should be answered (registry key `first_response_sla`)."""


def canonical_address(address: str) -> str:
    """Lower-case, with any `+tag` of the local part removed: the form registry lookups use."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


@dataclass(frozen=True)
class Attribution:
    tenant_id: str
    by: str
    """Which rule decided: notification, ses_envelope, forwarded_to, inbound_address_header,
    public_address_header, message_tag, configuration_set, from_domain, archive_path."""


class TenantRegistry:
    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.tenants = {t.id: t for t in tenants}
        self._by_inbound = {a: t.id for t in self.tenants.values() for a in t.inbound_addresses}
        self._by_public = {a: t.id for t in self.tenants.values() for a in t.public_addresses}
        self._by_domain = {d: t.id for t in self.tenants.values() for d in t.sending_domains}
        self._by_config_set = {c: t.id for t in self.tenants.values() for c in t.configuration_sets}
        self.inbound_domains = {a.rpartition("@")[2] for a in self._by_inbound}

    def __len__(self) -> int:
        return len(self.tenants)

    def attribute_inbound(
        self, message: ParsedMessage, notification_recipients: Iterable[str] = ()
    ) -> Attribution | None:
        """The tenant an inbound message belongs to, or None when nothing identifies one."""
        rules: list[tuple[str, Iterable[str], dict[str, str]]] = [
            ("notification", notification_recipients, self._by_inbound),
            ("ses_envelope", message.ses.envelope_recipients, self._by_inbound),
            ("forwarded_to", message.forwarded_to, self._by_inbound),
            ("inbound_address_header", _header_addresses(message), self._by_inbound),
            ("public_address_header", _header_addresses(message), self._by_public),
        ]
        for rule, addresses, table in rules:
            for address in addresses:
                tenant_id = table.get(canonical_address(address))
                if tenant_id:
                    return Attribution(tenant_id, rule)
        return None

    def attribute_outbound(self, message: ParsedMessage, archive_tenant: str | None = None) -> Attribution | None:
        """The tenant that sent an archived outbound message (see `attribute_sending`)."""
        tags = parse_message_tags(message.headers.get("x-ses-message-tags", ""))
        return self.attribute_sending(
            tenant_tags=[tags.get(TENANT_TAG), message.headers.get("x-ses-tenant")],
            configuration_set=message.headers.get("x-ses-configuration-set"),
            senders=[message.from_.address if message.from_ else None],
            archive_tenant=archive_tenant,
        )

    def attribute_sending(
        self,
        tenant_tags: Iterable[str | None],
        configuration_set: str | None,
        senders: Iterable[str | None],
        archive_tenant: str | None = None,
    ) -> Attribution | None:
        """Outbound mail and its events, in order of trust: a tenant message tag, the configuration
        set, the sending domain (of an address or a bare domain), then the archive path."""
        for value in tenant_tags:
            if value and value.strip().lower() in self.tenants:
                return Attribution(value.strip().lower(), "message_tag")
        if configuration_set and (tenant_id := self._by_config_set.get(configuration_set.strip().lower())):
            return Attribution(tenant_id, "configuration_set")
        for sender in senders:
            domain = sender.rsplit("@", 1)[-1].strip(" <>").lower() if sender else ""
            if tenant_id := self._by_domain.get(domain):
                return Attribution(tenant_id, "from_domain")
        if archive_tenant and archive_tenant in self.tenants:
            return Attribution(archive_tenant, "archive_path")
        return None


def _header_addresses(message: ParsedMessage) -> list[str]:
    return [a.address for a in (*message.to, *message.cc)]


def parse_message_tags(value: str) -> dict[str, str]:
    """`X-SES-MESSAGE-TAGS: tenant=caminos, campaign=x` → {'tenant': 'caminos', 'campaign': 'x'}."""
    tags: dict[str, str] = {}
    for item in value.split(","):
        name, sep, tag_value = item.partition("=")
        if sep and name.strip():
            tags[name.strip()] = tag_value.strip()
    return tags


def parse_registry(text: str, origin: str = "tenants.yaml") -> TenantRegistry:
    """Validate the registry document; any problem raises TenantRegistryError naming the entry."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TenantRegistryError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tenants"), list):
        raise TenantRegistryError(f"{origin}: expected a top-level 'tenants:' list")
    tenants: list[Tenant] = []
    owners: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(document["tenants"]):
        tenant = _parse_entry(entry, index, origin)
        if tenant.id in {t.id for t in tenants}:
            raise TenantRegistryError(f"{origin}: tenant #{index + 1} ({tenant.id}): duplicate id")
        for field_name in LIST_FIELDS:
            for value in getattr(tenant, field_name):
                owner = owners.setdefault((field_name, value), tenant.id)
                if owner != tenant.id:
                    raise TenantRegistryError(
                        f"{origin}: tenant #{index + 1} ({tenant.id}): {field_name} '{value}' "
                        f"already belongs to tenant '{owner}'"
                    )
        tenants.append(tenant)
    if not tenants:
        raise TenantRegistryError(f"{origin}: the 'tenants:' list is empty")
    return TenantRegistry(tenants)


def _parse_entry(entry: object, index: int, origin: str) -> Tenant:
    where = f"{origin}: tenant #{index + 1}"
    if not isinstance(entry, dict):
        raise TenantRegistryError(f"{where}: expected a mapping, got {type(entry).__name__}")
    tenant_id = entry.get("id")
    if not isinstance(tenant_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", tenant_id):
        raise TenantRegistryError(f"{where}: 'id' must be a lower-case slug, got {tenant_id!r}")
    where = f"{where} ({tenant_id})"
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TenantRegistryError(f"{where}: 'name' is missing or empty")
    lists: dict[str, tuple[str, ...]] = {}
    for field_name in LIST_FIELDS:
        value = entry.get(field_name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise TenantRegistryError(f"{where}: '{field_name}' must be a list of strings, got {value!r}")
        lists[field_name] = tuple(v.strip().lower() for v in value)
    for field_name in ("inbound_addresses", "public_addresses"):
        for address in lists[field_name]:
            if not EMAIL_RE.match(address):
                raise TenantRegistryError(f"{where}: '{field_name}' has an invalid address {address!r}")
    if not lists["inbound_addresses"]:
        raise TenantRegistryError(f"{where}: 'inbound_addresses' must list at least one address")
    for domain in lists["sending_domains"]:
        if "@" in domain or "." not in domain:
            raise TenantRegistryError(f"{where}: 'sending_domains' has an invalid domain {domain!r}")
    timezone = entry.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TenantRegistryError(
            f"{where}: 'timezone' must be an IANA zone such as America/Sao_Paulo, got {timezone!r}"
        ) from None
    sla = _duration_seconds(entry.get("first_response_sla", DEFAULT_FIRST_RESPONSE_SLA / 3600))
    if sla is None:
        raise TenantRegistryError(f"{where}: 'first_response_sla' must be hours (8) or 30m / 4h / 2d, got "
                                  f"{entry.get('first_response_sla')!r}")  # fmt: skip
    known = {"id", "name", "timezone", "first_response_sla", *LIST_FIELDS}
    extra = {k: v for k, v in entry.items() if k not in known}
    return Tenant(id=tenant_id, name=name.strip(), extra=extra, timezone=timezone, first_response_sla_seconds=sla,
                  **lists)  # fmt: skip


def _duration_seconds(value: object) -> int | None:
    """A number of hours, or `<n>m`, `<n>h`, `<n>d`, as whole seconds (None when it is neither, or not > 0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value * 3600
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match["amount"]) * _UNIT_SECONDS[match["unit"]]
    else:
        return None
    return int(seconds) if seconds > 0 else None


def load_registry(location: str, endpoint_url: str | None = None) -> TenantRegistry:
    """Read and validate the registry from a path or an `s3://bucket/key` URL."""
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        try:
            text = open_store(f"s3://{bucket}", endpoint_url).get(key).decode("utf-8")
        except Exception as exc:  # noqa: BLE001 - any read failure is reported the same way
            raise TenantRegistryError(f"{location}: cannot read the tenant registry: {exc}") from exc
    else:
        path = Path(location)
        if not path.is_file():
            raise TenantRegistryError(f"{location}: tenant registry not found (set SESLAKE_TENANTS)")
        text = path.read_text(encoding="utf-8")
    return parse_registry(text, location)
