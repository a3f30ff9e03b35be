"""The portal's Jinja2 environment: our templates first, then the GOV.UK Frontend macros."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
ASSET_PATH = "/portal/assets"
LONDON = ZoneInfo("Europe/London")


def _frontend_inline_script_hash() -> str:
    """The CSP hash of the one inline script GOV.UK Frontend's page template carries (it marks the page as having
    JavaScript). Allowing exactly that script by its hash keeps the policy free of 'unsafe-inline' and of nonces;
    read from the installed template, so an upgrade that changes the script cannot silently break the pages."""
    template = resources.files("govuk_frontend_jinja").joinpath("templates/template.html").read_text()
    match = re.search(r"<script[^>]*>(.*?)</script>", template, re.S)
    if match is None:
        raise RuntimeError("GOV.UK Frontend's template has no inline script: review the portal's CSP")
    return "sha256-" + base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()


INLINE_SCRIPT_HASH = _frontend_inline_script_hash()


def local_time(value: datetime | None, pattern: str = "%-d %B %Y at %-I:%M%p") -> str:
    """A moment as people at the Hub read it: UK local time, GOV.UK style (1 July 2026 at 10:00am)."""
    if value is None:
        return ""
    shown = value.astimezone(LONDON).strftime(pattern)
    return shown.replace("AM", "am").replace("PM", "pm")


def local_date(value: datetime | None) -> str:
    return local_time(value, "%-d %B %Y")


def build_environment() -> Environment:
    environment = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(TEMPLATES),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["local_time"] = local_time
    environment.filters["local_date"] = local_date
    environment.globals["assetPath"] = ASSET_PATH
    return environment
