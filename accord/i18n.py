"""The pages' and emails' languages: gettext catalogues (Babel) under accord/locales, read at first use.

English is the source language; each other language has a `messages.po` that Babel compiles in memory,
so there is no build step. A member's own setting wins, then the browser's Accept-Language, then English.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["LANGUAGES", "environment", "negotiate", "translations"]

LANGUAGES = ("en", "es")


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    po = resources.files("accord").joinpath("locales", language, "LC_MESSAGES", "messages.po")
    with po.open("rb") as file:
        catalog = read_po(file, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@cache
def environment(language: str) -> jinja2.Environment:
    """The pages' templates, with gettext in `language` (`{% trans %}` and `_()`)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("accord", "templates/web"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    globals_: dict[str, Any] = env.globals  # pyright: ignore[reportAssignmentType]  # jinja2 types its globals narrowly
    globals_["language"] = language
    return env


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The language to answer in: the member's own, else the first of the browser's that accord speaks."""
    if preferred in LANGUAGES:
        return preferred
    weighted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
            language = Locale.parse(tag.strip().replace("-", "_")).language if tag.strip() not in ("", "*") else ""
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            weighted.append((weight, language))
    return max(weighted, key=lambda pair: pair[0])[1] if weighted else "en"
