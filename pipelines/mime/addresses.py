"""Address headers to `Address` lists (groups, junk entries, 'Last, First' names), address
normalizing, and message ids (Message-ID, In-Reply-To, References)."""

from __future__ import annotations

import functools
import re

from pipelines.mime.charsets import decode_words
from pipelines.mime.headers import unquote
from pipelines.mime.message import Address

_SPEC = r"[^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+"
_SIMPLE_ADDRESS = re.compile(rf"(?:([^\"(),:;<>@\\]*)<({_SPEC})>|({_SPEC}))")
"""One plain mailbox, `Name <a@b>` or `a@b`: most address headers, read without tokenizing. The name
cannot hold `<`, so the only backtracking is over the name once (linear in the value)."""
_ADDRESS_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.)*\)?|<[^>]*>?|[,;:]|[^",;:<(]+')
_SPEC_RUN = re.compile(r"[^\s<>,;\"]+")


def find_specs(value: str) -> list[str]:
    """The bare `local@domain` tokens among others (forwarding headers, the `for` clause of a Received
    header): runs of non-separator characters with an '@' that has something on both sides."""
    return [run for run in _SPEC_RUN.findall(value) if "@" in run[1:-1]]


def normalize_spec(spec: str) -> str | None:
    """`local@domain` with the domain lower-cased, or None when it is not an address."""
    spec = "".join(spec.split()).strip("<>")
    local, at, domain = spec.rpartition("@")
    if not at or not local or not domain:
        return None
    return f"{local}@{domain.lower()}"


def normalize_address(addr: str) -> str:
    """'Ana <Ana.Perez@Example.COM>' -> 'Ana.Perez@example.com'; '' when there is no address."""
    parsed = _parse_addresses(addr, [])
    if parsed:
        return parsed[0].address
    return normalize_spec(addr) or ""


def read_addresses(value: str, warnings: list[str]) -> list[Address]:
    """`_parse_addresses`, cached for ordinary values: senders and tenant addresses repeat a lot."""
    if len(value) > 256:
        return _parse_addresses(value, warnings)
    found, found_warnings = _cached_addresses(value)
    warnings.extend(found_warnings)
    return list(found)


@functools.lru_cache(maxsize=4096)
def _cached_addresses(value: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    warnings: list[str] = []
    return tuple(_parse_addresses(value, warnings)), tuple(warnings)


def _parse_addresses(value: str, warnings: list[str]) -> list[Address]:
    """Mailboxes of an address header: groups flattened, junk entries skipped with a warning."""
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple:
        name, angle, bare = simple.groups()
        spec = normalize_spec(angle or bare)
        if spec:
            return [Address(spec, _collapse(decode_words(name or "", warnings)))]
    addresses: list[Address] = []
    entry: list[str] = []
    carried = ""  # an entry without address: likely the first half of an unquoted 'Last, First'
    for token in [*_ADDRESS_TOKEN.findall(value), ","]:
        if token == ":" and not any("@" in t or t.startswith("<") for t in entry):
            entry = []  # group name ("undisclosed-recipients:;", "team: a@x, b@y;")
        elif token in (",", ";"):
            found = _parse_entry(entry, carried, warnings)
            if isinstance(found, Address):
                addresses.append(found)
                carried = ""
            else:
                carried = found
            entry = []
        else:
            entry.append(token)
    if carried:
        warnings.append("address_unparseable")
    return addresses


def _parse_entry(tokens: list[str], carried: str, warnings: list[str]) -> Address | str:
    """One list entry -> Address, or the text to carry into the next entry when it has no address."""
    angle = next((i for i, t in enumerate(tokens) if t.startswith("<")), None)
    if angle is None:
        text = "".join(t for t in tokens if not t.startswith("(")).strip()
        spec = normalize_spec(text) if "@" in text else None
        if spec is None:
            if "@" in text or carried and text:
                warnings.append("address_unparseable")
            return "" if "@" in text else text
        if carried:
            warnings.append("address_unparseable")  # what was carried named nobody
        name_tokens = [t[1:-1] for t in tokens if t.startswith("(") and t.endswith(")")][:1]
    else:
        spec = normalize_spec(tokens[angle][1:].rpartition("<")[2].rstrip(">"))
        if spec is None:
            if carried or tokens[angle].strip("<> "):
                warnings.append("address_unparseable")
            return ""  # '<>' is the null address, not junk
        name_tokens = [carried, ", ", *tokens[:angle]] if carried else tokens[:angle]
    return Address(spec, _display_name(name_tokens, warnings))


def _display_name(tokens: list[str], warnings: list[str]) -> str:
    parts = []
    for token in tokens:
        if token.startswith('"'):
            parts.append(unquote(token))
        elif not token.startswith("("):
            parts.append(token)
    return _collapse(decode_words("".join(parts), warnings))


_BRACKETED_ID = re.compile(r"<([^<>]*)>")


def extract_message_ids(value: str | None) -> list[str]:
    """Every `<id>` token, bare, in order (a lone unbracketed `x@y` counts as one id)."""
    if not value:
        return []
    ids = ["".join(found.split()) for found in _BRACKETED_ID.findall(value)]
    ids = [i for i in ids if i]
    if not ids and "@" in value and len(value.split()) == 1:
        return [value.strip()]
    return ids


def message_id(value: str | None) -> str | None:
    """The Message-ID header's id, bare: its first `<id>`, else the value without blanks or brackets."""
    if value is None:
        return None
    ids = extract_message_ids(value)
    if ids:
        return ids[0]
    bare = "".join(value.split()).strip("<>")
    return bare or None


def dedup(items: list[str]) -> list[str]:
    """`items` without repeats, in order."""
    return list(dict.fromkeys(items))


def _collapse(text: str) -> str:
    return " ".join(text.split())
