"""The tenants of a generated archive and the `tenants.yaml` registry describing them.

The first tenant is always Caminos de las Sierras; the next ones are a fixed cast of Argentine,
Brazilian, Spanish and Uruguayan businesses, and beyond that names are composed from word lists
so that archives with ~50 tenants still look like real companies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import yaml

from .text import AGENTS, ascii_fold

INBOUND_DOMAIN = "ses.omnibrein.com"
ACCOUNT_ID = "123456789012"
DEFAULT_CONFIGURATION_SET = "omnibrein-default"
"""Used by SES for sends that name no configuration set (identity default): carries no tenant."""


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    domain: str
    lang: str
    zone: str
    provider: str
    """Mail provider that forwards the public addresses: 'google' or 'microsoft'."""
    public_addresses: tuple[str, ...]
    inbound_addresses: tuple[str, ...]
    industry: str
    region: str
    """SES region the tenant's outbound mail is sent from."""
    bounce_rate: float
    complaint_rate: float
    agents: tuple[str, ...]

    @property
    def configuration_set(self) -> str:
        return f"{self.id}-outbound"

    @property
    def slug(self) -> str:
        """Local part of the primary inbound address; plus-addressing hangs off it."""
        return self.inbound_addresses[0].split("@")[0]

    def inbound_for(self, public: str) -> str:
        """Each public address forwards to the inbound address at the same index (or the first)."""
        i = self.public_addresses.index(public)
        return self.inbound_addresses[i] if i < len(self.inbound_addresses) else self.inbound_addresses[0]

    def to_registry(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "inbound_addresses": list(self.inbound_addresses),
            "public_addresses": list(self.public_addresses),
            "sending_domains": [self.domain],
            "configuration_sets": [self.configuration_set],
        }


# id, name, domain, lang, provider, public local parts, industry, extra inbound local parts
_CAST: tuple[tuple[str, str, str, str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    (
        "caminos",
        "Caminos de las Sierras",
        "caminosdelassierras.com.ar",
        "es-AR",
        "google",
        ("info", "soporte"),
        "peajes",
        (),
    ),
    (
        "casaverde",
        "Casa Verde Móveis",
        "casaverdemoveis.com.br",
        "pt-BR",
        "microsoft",
        ("atendimento", "contato"),
        "muebles",
        ("casaverde-contato",),
    ),
    ("altamira", "Bodegas Altamira", "bodegasaltamira.es", "es-ES", "google", ("hola", "pedidos"), "vinos", ()),
    (
        "clinicadelsol",
        "Clínica del Sol",
        "clinicadelsol.com.ar",
        "es-AR",
        "microsoft",
        ("turnos", "administracion"),
        "salud",
        (),
    ),
    ("rapidosul", "Rápido Sul Logística", "rapidosul.com.br", "pt-BR", "google", ("sac", "comercial"), "logistica", ()),
    ("patagoniatrek", "Patagonia Trek", "patagoniatrek.com.ar", "es-AR", "google", ("reservas", "info"), "turismo", ()),
    ("oticapaulista", "Ótica Paulista", "oticapaulista.com.br", "pt-BR", "microsoft", ("atendimento",), "comercio", ()),
    ("lapaloma", "Estancia La Paloma", "estancialapaloma.com.uy", "es-AR", "google", ("reservas",), "turismo", ()),
    (
        "academiaiberica",
        "Academia Ibérica de Idiomas",
        "academiaiberica.es",
        "es-ES",
        "microsoft",
        ("secretaria", "info"),
        "educacion",
        (),
    ),
    ("sabordeminas", "Sabor de Minas Alimentos", "sabordeminas.com.br", "pt-BR", "google", ("sac",), "comercio", ()),
    (
        "libreriaandes",
        "Librería Los Andes",
        "libreriaandes.com.ar",
        "es-AR",
        "microsoft",
        ("ventas", "info"),
        "comercio",
        (),
    ),
    (
        "escolanova",
        "Escola Nova Idiomas",
        "escolanovaidiomas.com.br",
        "pt-BR",
        "microsoft",
        ("secretaria",),
        "educacion",
        (),
    ),
)

_ES_KINDS = (
    ("Distribuidora", "comercio"),
    ("Ferretería", "comercio"),
    ("Inmobiliaria", "comercio"),
    ("Laboratorio", "salud"),
    ("Transportes", "logistica"),
    ("Óptica", "comercio"),
    ("Hotel", "turismo"),
    ("Instituto", "educacion"),
    ("Agropecuaria", "comercio"),
    ("Sanatorio", "salud"),
)
_ES_PLACES = (
    "del Plata",
    "Santa Fe",
    "Los Andes",
    "del Sur",
    "Cuyo",
    "La Costa",
    "San Telmo",
    "Belgrano",
    "Mendoza",
    "Salta",
    "Rosario",
    "Tucumán",
    "Neuquén",
    "Río Cuarto",
)
_PT_KINDS = (
    ("Distribuidora", "comercio"),
    ("Imobiliária", "comercio"),
    ("Farmácia", "salud"),
    ("Transportadora", "logistica"),
    ("Papelaria", "comercio"),
    ("Clínica", "salud"),
    ("Pousada", "turismo"),
    ("Escola", "educacion"),
    ("Auto Peças", "comercio"),
)
_PT_PLACES = (
    "Paulista",
    "Ipanema",
    "Serra Azul",
    "Vale Verde",
    "Bahia",
    "Curitiba",
    "Recife",
    "Minas",
    "Pampulha",
    "Floripa",
    "Goiânia",
    "Santos",
)
_ZONES = {"es-AR": "AR", "es-ES": "ES", "pt-BR": "BR"}
_TLD = {"es-AR": "com.ar", "es-ES": "es", "pt-BR": "com.br"}


def _slug(words: str) -> str:
    return "".join(c for c in ascii_fold(words).lower() if c.isalnum())


def build_tenants(count: int, rng: random.Random) -> list[Tenant]:
    """`count` tenants: the fixed cast first, then composed names; ids and domains are unique."""
    if count < 1:
        raise ValueError("need at least one tenant")
    specs: list[tuple[str, str, str, str, str, tuple[str, ...], str, tuple[str, ...]]] = list(_CAST[:count])
    used = {s[0] for s in specs}
    while len(specs) < count:
        lang = rng.choices(("es-AR", "pt-BR", "es-ES"), weights=(5, 4, 2))[0]
        kinds, places = (_PT_KINDS, _PT_PLACES) if lang == "pt-BR" else (_ES_KINDS, _ES_PLACES)
        kind, industry = rng.choice(kinds)
        place = rng.choice(places)
        name = f"{kind} {place}"
        base = _slug(name)[:22]
        tid, n = base, 2
        while tid in used:
            tid, n = f"{base}{n}", n + 1
        used.add(tid)
        locals_ = (
            rng.choice((("atendimento",), ("contato", "vendas")))
            if lang == "pt-BR"
            else rng.choice((("info",), ("consultas", "ventas"), ("info", "administracion")))
        )
        provider = rng.choice(("google", "microsoft"))
        specs.append((tid, name, f"{tid}.{_TLD[lang]}", lang, provider, locals_, industry, ()))
    tenants: list[Tenant] = []
    for i, (tid, name, domain, lang, provider, locals_, industry, extra) in enumerate(specs):
        region = "eu-west-1" if (i == 2 or (count == 2 and i == 1)) else "us-east-1"
        inbound = (f"{tid}@{INBOUND_DOMAIN}",) + tuple(f"{x}@{INBOUND_DOMAIN}" for x in extra)
        agents = tuple(rng.sample(AGENTS[lang], 3 + rng.randrange(3)))
        tenants.append(
            Tenant(
                id=tid,
                name=name,
                domain=domain,
                lang=lang,
                zone=_ZONES[lang],
                provider=provider,
                public_addresses=tuple(f"{p}@{domain}" for p in locals_),
                inbound_addresses=inbound,
                industry=industry,
                region=region,
                bounce_rate=0.075 if i == 1 else round(rng.uniform(0.01, 0.035), 4),
                complaint_rate=0.006 if i == 2 else round(rng.uniform(0.0005, 0.002), 4),
                agents=agents,
            )
        )
    return tenants


def registry_yaml(tenants: list[Tenant]) -> bytes:
    doc = {"tenants": [t.to_registry() for t in tenants]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120).encode("utf-8")
