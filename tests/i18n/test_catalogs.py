"""Every message of both catalogs is translated to zh-hans, not fuzzy, with its placeholders.

The lead re-runs makemessages after merging other branches: a new untranslated string makes
these tests name it."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
CATALOGS = ["django.po", "djangojs.po"]
# %(name)s / %s / %d / %% and HTML tags must survive translation unchanged.
PLACEHOLDER = re.compile(r"%%|%\(\w+\)[sdr]|%[sdr]|<[^<>]+>")


@dataclass
class Entry:
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    obsolete: bool = False


_PO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def po_string(quoted: str) -> str:
    """A PO string literal's text (C escapes). Not `ast.literal_eval`: CPython 3.11's AST
    builder fails intermittently under xdist ("recursion depth mismatch")."""
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: _PO_ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def parse_po(path: Path) -> list[Entry]:
    """A small .po reader: enough for gettext's own output (makemessages/msgmerge)."""
    entries: list[Entry] = []
    current = Entry()
    key: tuple[str, int] | None = None

    def finish() -> None:
        nonlocal current, key
        if current.msgid or current.msgstr or current.msgid_plural:
            entries.append(current)
        current, key = Entry(), None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            current.obsolete = True
            continue
        if line.startswith("#,"):
            current.flags.update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        match = re.match(r"(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$", line)
        if match:
            name, index, text = match.group(1), match.group(2), po_string(match.group(3))
            if name == "msgid" and (current.msgstr or current.msgid):
                finish()
            key = (name, int(index or 0))
        elif line.startswith('"') and key is not None:
            text = po_string(line)
        else:
            raise AssertionError(f"{path.name}: cannot read {raw!r}")
        name, index = key
        if name == "msgctxt":
            current.msgctxt = (current.msgctxt or "") + text
        elif name == "msgid":
            current.msgid += text
        elif name == "msgid_plural":
            current.msgid_plural = (current.msgid_plural or "") + text
        else:
            current.msgstr[index] = current.msgstr.get(index, "") + text
    finish()
    return entries


def messages(name: str) -> list[Entry]:
    return [e for e in parse_po(LC_MESSAGES / name) if e.msgid and not e.obsolete]


def describe(entry: Entry) -> str:
    return repr(entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}|{entry.msgid}")


@pytest.mark.parametrize("name", CATALOGS)
def test_header_is_simplified_chinese_with_one_plural_form(name):
    [header] = [e for e in parse_po(LC_MESSAGES / name) if e.msgid == "" and not e.obsolete]
    text = header.msgstr[0]
    assert "fuzzy" not in header.flags
    assert "Language: zh_Hans\n" in text
    assert "Plural-Forms: nplurals=1; plural=0;\n" in text
    assert "charset=UTF-8" in text


@pytest.mark.parametrize("name", CATALOGS)
def test_every_message_is_translated_and_not_fuzzy(name):
    entries = messages(name)
    assert len(entries) > (500 if name == "django.po" else 5)
    fuzzy = [describe(e) for e in entries if "fuzzy" in e.flags]
    untranslated = [describe(e) for e in entries if not all(e.msgstr.values()) or not e.msgstr]
    assert not fuzzy, f"fuzzy in {name}: {fuzzy}"
    assert not untranslated, f"untranslated in {name}: {untranslated}"


@pytest.mark.parametrize("name", CATALOGS)
def test_plurals_have_exactly_one_form(name):
    wrong = [describe(e) for e in messages(name) if e.msgid_plural and sorted(e.msgstr) != [0]]
    assert not wrong, f"zh has one plural form: {wrong}"


@pytest.mark.parametrize("name", CATALOGS)
def test_placeholders_and_tags_survive(name):
    wrong = []
    for e in messages(name):
        # zh's one plural form translates msgid_plural (same placeholders as msgid here).
        wanted = sorted(PLACEHOLDER.findall(e.msgid_plural or e.msgid))
        for text in e.msgstr.values():
            if sorted(PLACEHOLDER.findall(text)) != wanted:
                wrong.append(f"{describe(e)} → {text!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", CATALOGS)
def test_translations_are_chinese(name):
    """A msgstr that is the English text again is a missed translation (names excepted)."""
    same_ok = {"SKU", "LiveShop"}
    copied = [
        describe(e)
        for e in messages(name)
        if e.msgid not in same_ok and any(text == e.msgid for text in e.msgstr.values())
    ]
    assert not copied, f"copied, not translated, in {name}: {copied}"


@pytest.mark.parametrize("name", CATALOGS)
def test_msgfmt_accepts_the_catalog(name, tmp_path):
    """What compilemessages (`make messages`) runs, with format checks, and its count."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "gettext's msgfmt is needed to compile translations (make messages)"
    result = subprocess.run(
        [msgfmt, "--check", "--statistics", "-o", str(tmp_path / "out.mo"), LC_MESSAGES / name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    assert re.match(r"\d+ translated messages?\.", result.stderr.strip()), result.stderr


def test_parser_reads_what_it_must(tmp_path):
    """The reader above, on a sample with a plural, a fuzzy entry and wrapped lines."""
    sample = tmp_path / "sample.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n\n'
        '#, fuzzy, python-format\nmsgid "a %(n)s"\nmsgstr "甲 %(n)s"\n\n'
        'msgid ""\n"wrapped "\n"text"\nmsgstr ""\n\n'
        'msgid "one"\nmsgid_plural "many"\nmsgstr[0] "一"\n',
        encoding="utf-8",
    )
    header, fuzzy, wrapped, plural = parse_po(sample)
    assert header.msgstr[0] == "Language: zh_Hans\n"
    assert "fuzzy" in fuzzy.flags and fuzzy.msgstr == {0: "甲 %(n)s"}
    assert wrapped.msgid == "wrapped text" and wrapped.msgstr == {0: ""}
    assert plural.msgid_plural == "many" and plural.msgstr == {0: "一"}
