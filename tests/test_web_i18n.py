"""Every user-facing string of the pages and emails goes through gettext, and every language accord ships
translates all of them, with the same placeholders (a missing or broken translation fails here, not in
front of a member)."""

from __future__ import annotations

import re
from configparser import ConfigParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from accord.i18n import LANGUAGES, environment, negotiate, translations

ROOT = Path(__file__).resolve().parent.parent


def extracted() -> dict[str | tuple[str, ...], None]:
    """What `pybabel extract -F babel.cfg -k N_` finds, read with babel.cfg's own methods."""
    config = ConfigParser()
    config.read(ROOT / "babel.cfg")
    method_map = [(section.split(":", 1)[1].strip(), section.split(":", 1)[0]) for section in config.sections()]
    options_map = {section.split(":", 1)[1].strip(): dict(config[section]) for section in config.sections()}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)
    return {message: None for _, _, message, _, _ in found}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", text))


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_message_of_the_pages_is_translated_with_its_placeholders(language: str) -> None:
    messages = extracted()
    assert len(messages) > 50 and "Sign in" in messages and ("%(num)d point without your stance", "%(num)d points without your stance") in messages
    with (ROOT / "accord" / "locales" / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file, locale=language)
    for message in messages:
        entry = catalog.get(message if isinstance(message, str) else message[0])
        assert entry is not None and entry.string, f"{language}: no translation of {message!r}"
        ids = [message] if isinstance(message, str) else list(message)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        assert all(strings), f"{language}: an empty plural form of {message!r}"
        for string in strings:
            assert placeholders(string) == placeholders(ids[0]) | (placeholders(ids[-1]) if len(ids) > 1 else set()), (message, string)


def test_the_language_is_the_members_then_the_browsers_then_english() -> None:
    assert negotiate("es-ES,es;q=0.9") == "es"
    assert negotiate("fr-FR, es;q=0.5, en;q=0.7") == "en"
    assert negotiate("de, *;q=0.1") == "en" and negotiate(None) == "en" and negotiate("not a ; language,,") == "en"
    assert negotiate("en", preferred="es") == "es" and negotiate("es", preferred="xx") == "es"
    assert translations("es").ngettext("%(num)d point without your stance", "%(num)d points without your stance", 2) == "%(num)d puntos sin su postura"
    assert environment("es").get_template("message.html").render(title="t", text="x", session=None, csrf="c").count("Continuar") == 1
