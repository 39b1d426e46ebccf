"""The Jinja environment for the HTML pages tipdata writes (data dictionary, report).

One place for the settings both pages rely on: autoescaping (labels come from the codebook and
from agencies), `StrictUndefined` so a misspelt name fails the build instead of printing nothing,
and whitespace control so the committed pages stay byte-stable.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def template_environment() -> Environment:
    """A fresh environment over `templates/` (callers add their own filters).

    >>> template_environment().get_template("report.html.j2").name
    'report.html.j2'
    """
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
