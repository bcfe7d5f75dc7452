"""Mailbox providers by recipient domain: the mapping the warehouse's per-provider figures use (the one place to
maintain it). A domain not listed is `other` (company domains, small ISPs).

The consumer providers are listed with the country domains seen in the tenants' markets (Latin America, Spain,
Portugal) and the common international ones; add a domain here when a report shows it under `other`.
"""

from __future__ import annotations

OTHER = "other"

_COUNTRY_SUFFIXES = ("com", "com.ar", "com.br", "com.mx", "cl", "com.co", "co", "com.pe", "com.uy", "com.py",
                     "com.ve", "com.ec", "com.bo", "es", "pt", "fr", "de", "it", "co.uk", "ca", "net")  # fmt: skip

_BY_BRAND: dict[str, tuple[str, ...]] = {
    "Gmail": ("gmail.com", "googlemail.com"),
    "Outlook": (*(f"{brand}.{suffix}" for brand in ("hotmail", "outlook", "live") for suffix in _COUNTRY_SUFFIXES),
                "msn.com", "windowslive.com", "passport.com"),
    "Yahoo": (*(f"yahoo.{suffix}" for suffix in _COUNTRY_SUFFIXES), "ymail.com", "rocketmail.com"),
    "iCloud": ("icloud.com", "me.com", "mac.com"),
    "AOL": ("aol.com", "aim.com"),
    "Proton": ("proton.me", "protonmail.com", "pm.me"),
    "GMX": ("gmx.com", "gmx.net", "gmx.de", "gmx.es", "web.de"),
    "Zoho": ("zoho.com", "zohomail.com"),
    "Yandex": ("yandex.com", "yandex.ru", "ya.ru"),
    "UOL": ("uol.com.br", "bol.com.br"),
    "Terra": ("terra.com.br", "terra.com", "terra.es"),
}  # fmt: skip

MAILBOX_PROVIDERS: dict[str, str] = {domain: brand for brand, domains in _BY_BRAND.items() for domain in domains}
"""Recipient domain (lower-case) → provider."""


def provider_of(address: str | None) -> str:
    """The provider of an address's domain, OTHER when unknown or not an address."""
    domain = (address or "").rpartition("@")[2].strip().lower()
    return MAILBOX_PROVIDERS.get(domain, OTHER)
