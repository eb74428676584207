"""report rendering: facts from the check document, Markdown-inert server text, atomic writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.commands.report import md, render_report, report_paths, write_report
from console.engine.audit import AuditEntry
from tests.support.report import document


def test_report_states_each_fact() -> None:
    entry = AuditEntry(id="1", action="restart", server="prod", target="crm-backend-1",
                       user="ops", host="h", started_at=datetime(2026, 11, 24, tzinfo=UTC),
                       outcome="succeeded", ok=True)
    text = render_report(document(), [entry])
    for fact in ("PROBLEMS FOUND", "crm-backend-1", "exited", "proxy_bad_gateway",
                 "nginx answered 502", "**missing**", "**drift**", "crm_dbdata",
                 "failed_login | 12", "## Actions taken", "succeeded"):
        assert fact in text, fact
    assert "\x1b" not in text and "\\x1b[2J" in text


def test_hostile_server_name_cannot_forge_markdown() -> None:
    text = render_report(document(name="x\n# Fake heading | [link](http://evil)"))
    assert "\n# Fake heading" not in text
    assert "# Fake heading \\| \\[link](http://evil)" in text
    assert md("a|b`c") == "a\\|b\\`c"
    tokens = _parse(text)
    assert not [t for t in tokens if t.type == "link_open"]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if "Fake heading" in h and not h.startswith("x")]


def _parse(text: str) -> list:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text)


def _inline_text(markdown: str) -> str:
    """What a CommonMark reader shows for one line: the text of its inline children."""
    tokens = _parse(markdown)
    inline = [t for t in tokens if t.type == "inline"]
    assert len(inline) == 1, markdown
    kinds = {c.type for c in inline[0].children or []}
    assert kinds <= {"text", "softbreak"}, (markdown, kinds)  # no emphasis, link, code
    return "".join(c.content for c in inline[0].children or [])


@pytest.mark.parametrize("value", [
    "JWT_SECRET", "(read timeout)", "__init__", "a*b*c", "`x`", "[l](http://e)", "![i](x)",
    "<b>bold</b>", "<http://x>", "&amp;", "~~gone~~", "# h", "> q", "- item", "+ item",
    "1. first", "3) third", "---", "name ##", "back\\slash \\*", "a | b", "x_y_", "_x_",
])
def test_md_text_reads_back_literally_as_a_list_item(value: str) -> None:
    markdown = f"- {md(value)}"
    tokens = _parse(markdown)
    assert [t.type for t in tokens][:3] == ["bullet_list_open", "list_item_open",
                                           "paragraph_open"], markdown
    assert _inline_text(markdown) == value


@pytest.mark.parametrize("value", ["JWT_SECRET", "a | b", "x `y` z", "name ##"])
def test_md_text_reads_back_literally_in_a_table_cell_and_heading(value: str) -> None:
    table = f"| h |\n|---|\n| {md(value)} |\n"
    cells = [t for t in _parse(table) if t.type == "inline"]
    assert [c.content for c in cells][0] == "h"
    assert "".join(ch.content for ch in cells[1].children or []) == value
    heading = [t for t in _parse(f"## {md(value)}") if t.type == "inline"][0]
    assert "".join(ch.content for ch in heading.children or []) == value


def test_report_names_stay_greppable() -> None:
    doc = document()
    doc["servers"][0]["secrets"][0]["name"] = "JWT_SECRET"
    doc["servers"][0]["health"][0]["reason"] = "no answer (read timeout)"
    text = render_report(doc)
    assert "JWT_SECRET" in text and "JWT\\_SECRET" not in text
    assert "(read timeout)" in text and "\\(" not in text


def test_write_report_is_atomic_and_reports_paths(tmp_path: Path, monkeypatch) -> None:
    markdown, svg = report_paths(tmp_path, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert markdown.name == "incident-20261124T080000Z.md" and svg.suffix == ".svg"
    write_report(markdown, "# one\n")
    assert markdown.read_text() == "# one\n"

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError):
        write_report(markdown, "# two\n")
    assert markdown.read_text() == "# one\n"  # the old report is untouched
    assert [p.name for p in markdown.parent.iterdir() if p.name.startswith(".")] == []
