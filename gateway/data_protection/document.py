"""The subject-access export as a readable HTML document: headings, tables, and every value escaped as text."""

from __future__ import annotations

from html import escape
from typing import Any

SECTIONS = (
    ("identity", "Who you are and how to reach you"),
    ("cases", "What happened and what you needed"),
    ("referrals", "Referrals made for you"),
    ("self_referrals", "What you sent us yourself"),
    ("consents", "Your consents to share your details"),
    ("tasks", "Each service's work with you"),
    ("restorative_justice", "Restorative justice"),
    ("rectifications", "Corrections made to your details"),
    ("legal_holds", "Holds on erasing your records"),
    ("disclosures", "Who saw or received your details"),
)


def _text(value: Any) -> str:
    if value is None:
        return "<span class='none'>none</span>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value)) if value else "<span class='none'>none</span>"
    if isinstance(value, dict):
        return _table(value)
    return escape(str(value))


def _label(name: str) -> str:
    return escape(name.replace("_", " ").capitalize())


def _table(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th scope='row'>{_label(k)}</th><td>{_text(v)}</td></tr>" for k, v in values.items())
    review = " class='review'" if values.get("review_required") else ""
    return f"<table{review}>{rows}</table>"


def render_html(export: dict[str, Any]) -> str:
    """The whole export for reading; items marked for review are flagged for the officer before release."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Subject access export</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;"
        "margin:.5em 0}th,td{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}"
        ".review{outline:3px solid #d4351c}.none{color:#666}</style></head><body>",
        "<h1>Subject access export</h1>",
        f"<p>Produced {escape(str(export['generated_at']))} for record {escape(str(export['victim_id']))}.</p>",
    ]
    if export["review_required"]:
        flagged = ", ".join(escape(p) for p in export["review_required"])
        parts.append(f"<p class='review'><strong>For the officer's review before release:</strong> {flagged}</p>")
    for key, heading in SECTIONS:
        parts.append(f"<h2>{escape(heading)}</h2>")
        section = export[key]
        if isinstance(section, dict):
            parts.append(_table(section))
        elif not section:
            parts.append("<p>None.</p>")
        else:
            parts.extend(_table(item) for item in section)
    parts.append("</body></html>")
    return "\n".join(parts)
