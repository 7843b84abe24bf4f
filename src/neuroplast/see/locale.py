"""One table of user-facing strings per language, shared by the web page and the report.

The tables live in ``locales/<lang>.json`` (flat ``key -> text``: ``page.*``, ``draw.*`` ... for the
web page, ``report.*`` for report.html; ``{name}`` placeholders are filled with ``str.format``). A
test checks that every language has exactly the keys English has.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from neuroplast.errors import UserError
from neuroplast.spec.stages import Language, choices

LANGUAGES = choices(Language)  # the spec owns the list


@cache
def table(lang: str = "en") -> dict[str, str]:
    """The string table of ``lang`` (``en`` or ``zh-Hant``)."""
    if lang not in LANGUAGES:
        raise UserError(f"Unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}.")
    path = resources.files("neuroplast.see") / "locales" / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8"))

