"""Word pools that make the demo world read like a real CRM export.

Names come from Faker, called a few hundred times per locale to build pools once
(seeded); rows then pick from the pools by index, so no Python string is made per row.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from dataclasses import dataclass

import numpy as np
from faker import Faker

INDUSTRIES = (
    "software",
    "financial_services",
    "healthcare",
    "retail",
    "manufacturing",
    "education",
    "media",
    "logistics",
    "other",
)
# Rows: segments (smb, mid_market, enterprise); columns: INDUSTRIES. Normalised when used.
INDUSTRY_WEIGHTS = np.array(
    [
        [0.28, 0.08, 0.10, 0.14, 0.08, 0.10, 0.09, 0.05, 0.08],
        [0.24, 0.13, 0.13, 0.11, 0.12, 0.07, 0.07, 0.07, 0.06],
        [0.16, 0.20, 0.15, 0.10, 0.17, 0.04, 0.06, 0.08, 0.04],
    ]
)
INDUSTRY_SUFFIXES = {
    "software": ("Labs", "Software", "Systems", "Technologies", "Cloud", "Digital"),
    "financial_services": ("Capital", "Financial", "Partners", "Bank", "Insurance", "Advisors"),
    "healthcare": ("Health", "Medical", "Care", "Clinics", "Therapeutics", "Diagnostics"),
    "retail": ("Retail", "Stores", "Outfitters", "Market", "Brands", "Goods"),
    "manufacturing": ("Manufacturing", "Industries", "Components", "Robotics", "Materials"),
    "education": ("Academy", "Learning", "University", "Schools", "Education"),
    "media": ("Media", "Studios", "Publishing", "Entertainment", "Broadcasting"),
    "logistics": ("Logistics", "Freight", "Transport", "Shipping", "Supply Co."),
    "other": ("Group", "Holdings", "Co.", "Services", "Enterprises", "Consulting"),
}
BRAND_STEMS = (
    "Apex", "Northwind", "Blue Harbor", "Summit", "Cedar", "Ironclad", "Brightpath", "Silverline",
    "Redwood", "Evergreen", "Crescent", "Granite", "Harbor Point", "Keystone", "Lumen", "Meridian",
    "Northstar", "Oakridge", "Pinnacle", "Quantum", "Riverside", "Sterling", "Trident", "Vertex",
    "Westfield", "Zenith", "Aurora", "Beacon", "Cobalt", "Driftwood", "Ember", "Falcon", "Helix",
    "Horizon", "Juniper", "Kestrel", "Lighthouse", "Maple", "Nimbus", "Orion", "Pioneer", "Sage",
    "Tidewater", "Union", "Vanguard", "Willow", "Atlas", "Bluebird", "Clearwater", "Fairview",
)  # fmt: skip
REGION_LOCALES = {
    "na": ("en_US", "en_CA"),
    "emea": ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT"),
    "apac": ("en_AU", "en_IN", "en_NZ"),
    "latam": ("pt_BR", "es_MX", "es_CO"),
}
REGION_TLDS = {
    "na": (".com", ".com", ".com", ".io", ".ca"),
    "emea": (".com", ".co.uk", ".de", ".fr", ".nl", ".eu"),
    "apac": (".com", ".com.au", ".in", ".co.nz", ".sg"),
    "latam": (".com", ".com.br", ".com.mx", ".co"),
}
PERSONA_TITLES = {
    "executive": (
        "Chief Executive Officer", "Chief Operating Officer", "Chief Technology Officer",
        "Chief Financial Officer", "Chief Data Officer", "VP of Sales", "VP of Marketing",
        "VP of Operations", "SVP Customer Success", "General Manager", "Managing Director",
    ),
    "champion": (
        "Director of Operations", "Senior Product Manager", "Head of Analytics",
        "Marketing Operations Manager", "Director of Customer Experience", "Program Manager",
        "Revenue Operations Lead", "Head of Data", "Director of Sales Operations",
        "Business Intelligence Manager",
    ),
    "admin": (
        "Systems Administrator", "IT Manager", "Salesforce Administrator", "Platform Engineer",
        "IT Operations Specialist", "Business Systems Analyst", "Technical Lead",
        "Application Administrator",
    ),
    "end_user": (
        "Data Analyst", "Account Executive", "Marketing Specialist", "Customer Support Agent",
        "Financial Analyst", "Operations Coordinator", "Sales Development Representative",
        "Software Engineer", "Project Coordinator", "Customer Success Manager", "Analyst",
    ),
}  # fmt: skip

# Usage event keys with a base share; adoption events (integrations, invites, roles) are rare.
EVENT_BASE = {
    "login": 0.28,
    "dashboard_viewed": 0.24,
    "report_viewed": 0.12,
    "search": 0.08,
    "report_created": 0.06,
    "export": 0.05,
    "comment_added": 0.04,
    "filter_saved": 0.03,
    "alert_created": 0.015,
    "settings_updated": 0.01,
    "workflow_created": 0.01,
    "invite_sent": 0.008,
    "user_role_changed": 0.005,
    "integration_added": 0.004,
    "api_key_created": 0.003,
}
EVENT_PERSONA_LIFT = {
    "executive": {"dashboard_viewed": 2.0, "report_created": 0.3, "export": 0.5},
    "champion": {"report_created": 2.0, "invite_sent": 2.5, "workflow_created": 2.0},
    "admin": {
        "integration_added": 5.0,
        "api_key_created": 5.0,
        "user_role_changed": 5.0,
        "invite_sent": 3.0,
        "settings_updated": 4.0,
    },
    "end_user": {"search": 1.5, "export": 1.3},
}

_FEATURES = (
    "dashboards", "the reporting module", "the Salesforce integration", "the API",
    "scheduled exports", "the forecasting view", "alerts", "the Slack integration",
    "user permissions", "the mobile app", "data imports", "custom reports", "the audit log",
)  # fmt: skip
_PROCESSES = ("pipeline reviews", "month-end close", "QBRs", "weekly planning", "board reporting")
_COMMENT_TEMPLATES = {
    "promoter": (
        "Love how easy {feature} makes our {process}.",
        "{Feature} has saved my team hours every week.",
        "Great product and a support team that actually listens.",
        "Rolled it out to the whole team and adoption was instant.",
        "{Feature} alone is worth the price.",
        "Best tool we bought this year. {Feature} is fantastic.",
        "Super reliable, and {feature} keeps getting better.",
        "Our CSM is fantastic and onboarding was painless.",
        "Can't imagine running our {process} without it.",
        "Recommended it to two other teams already.",
    ),
    "passive": (
        "Solid product, but {feature} could be faster.",
        "Does the job. Would like more flexibility in {feature}.",
        "Good overall; pricing is a bit steep for what we use.",
        "Works well once set up, but the learning curve is steep.",
        "Mostly happy. {Feature} occasionally times out.",
        "Fine for our {process}, though {feature} lags behind competitors.",
        "Decent, but we still export to spreadsheets for {process}.",
    ),
    "detractor": (
        "{Feature} keeps breaking and support takes days to respond.",
        "Too expensive for what we get.",
        "Lost data during the last sync of {feature}, still waiting on a fix.",
        "The product is slow and the UI is confusing.",
        "Every renewal the price goes up and {feature} stays the same.",
        "Support tickets sit open for weeks.",
        "We are evaluating alternatives because {feature} is unreliable.",
        "{Feature} was down during our {process} again.",
    ),
    "fatigued": (
        "Please stop asking me for reviews and reference calls.",
        "Too many requests from your marketing team lately.",
        "Happy to help occasionally, but the constant asks for case studies are too much.",
        "I get a new 'quick favour' email from you every other week.",
        "Less time asking for testimonials, more time fixing {feature}, please.",
        "I've done three calls for you this quarter. Enough.",
    ),
}
COMMENT_KINDS = tuple(_COMMENT_TEMPLATES)


@dataclass(frozen=True)
class NamePools:
    """First/last names per region, with ASCII forms for e-mail addresses, concatenated.

    Region r owns rows offsets[r] : offsets[r] + sizes[r] of both name arrays.
    """

    first: np.ndarray  # object arrays of str
    last: np.ndarray
    first_ascii: np.ndarray
    last_ascii: np.ndarray
    first_offsets: np.ndarray
    first_sizes: np.ndarray
    last_offsets: np.ndarray
    last_sizes: np.ndarray


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters only: 'José Pedro' -> 'josepedro' (for e-mail local parts)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _unique_names(fake: Faker, method: str, draws: int) -> list[str]:
    names = dict.fromkeys(getattr(fake, method)() for _ in range(draws))
    return [n for n in names if ascii_slug(n)]


@functools.lru_cache(maxsize=4)
def build_name_pools(regions: tuple[str, ...], seed: int, draws: int = 300) -> NamePools:
    """Seeded Faker pools of first and last names for each region (in `regions` order)."""
    first: list[list[str]] = []
    last: list[list[str]] = []
    for r_idx, region in enumerate(regions):
        firsts, lasts = [], []
        for l_idx, locale in enumerate(REGION_LOCALES[region]):
            fake = Faker(locale)
            fake.seed_instance(seed * 1_000 + r_idx * 10 + l_idx)
            firsts += _unique_names(fake, "first_name", draws)
            lasts += _unique_names(fake, "last_name", draws)
        first.append(list(dict.fromkeys(firsts)))
        last.append(list(dict.fromkeys(lasts)))
    return NamePools(
        first=_concat(first),
        last=_concat(last),
        first_ascii=_concat([[ascii_slug(n) for n in p] for p in first]),
        last_ascii=_concat([[ascii_slug(n) for n in p] for p in last]),
        first_offsets=_offsets(first),
        first_sizes=np.array([len(p) for p in first]),
        last_offsets=_offsets(last),
        last_sizes=np.array([len(p) for p in last]),
    )


@functools.lru_cache(maxsize=4)
def build_company_pools(seed: int, draws: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    """(stems, full names): stems (brand words, surnames) take an industry suffix ("Cedar
    Health"); full names are Faker companies used as they are ("Chang-Fisher", "Wagner LLC")."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    surnames = [fake.last_name() for _ in range(draws // 2)]
    stems = list(dict.fromkeys([*BRAND_STEMS, *surnames]))
    companies = list(dict.fromkeys(fake.company() for _ in range(draws)))
    return np.array(stems, dtype=object), np.array(companies, dtype=object)


@functools.lru_cache(maxsize=1)
def build_comment_pools() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rendered NPS comments, and per kind (COMMENT_KINDS order) their offsets and sizes."""
    pools = [_render_comments(_COMMENT_TEMPLATES[k]) for k in COMMENT_KINDS]
    return _concat(pools), _offsets(pools), np.array([len(p) for p in pools])


def _render_comments(templates: tuple[str, ...]) -> list[str]:
    out: dict[str, None] = {}
    for tpl, feature, process in itertools.product(templates, _FEATURES, _PROCESSES):
        text = tpl.format(
            feature=feature, Feature=feature[0].upper() + feature[1:], process=process
        )
        out[text] = None
    return list(out)


def _concat(pools: list[list[str]]) -> np.ndarray:
    return np.array([x for p in pools for x in p], dtype=object)


def _offsets(pools: list[list[str]]) -> np.ndarray:
    sizes = np.array([len(p) for p in pools])
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
