"""``ops-console report``: a Markdown incident snapshot for the handover.

It states the same facts as the panes (it is rendered from the same check document) plus the
actions taken, from the audit log. Secret values never appear: the document carries names,
places and statuses only. Every server-sent string is made printable and Markdown-escaped,
so a hostile container name cannot forge a heading or hide text.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from console.commands.snapshot import collect
from console.config import Config
from console.engine.audit import AuditEntry, read_audit
from console.engine.diagnosis import held_text
from console.textsafe import printable

__all__ = ["md", "render_report", "run_report", "write_report"]

RECENT_EVENTS = 20
RECENT_ACTIONS = 20
# What CommonMark (with GFM tables and strikethrough) reads as syntax anywhere in a line:
# code spans, emphasis and strikethrough runs, link and image openers, table cell breaks.
_INLINE = re.compile(r"[`*~\[|]")
# A backslash is an escape only before ASCII punctuation; elsewhere it is a plain character.
_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
# ``_`` cannot open or close emphasis between two letters or digits (JWT_SECRET, crm_dbdata).
_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# ``<`` opens raw HTML or an autolink only before a letter, ``/``, ``!`` or ``?``.
_ANGLE = re.compile(r"<(?=[A-Za-z/!?])")
# ``&`` is syntax only where it starts an entity or numeric character reference.
_ENTITY = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]*;)")
# A value may start a block (a list item's text is one): a heading, a quote, a list item or
# a thematic break. Only its first marker needs the escape.
_BLOCK_START = re.compile(r"^( {0,3})(>|#(?=#{0,5}(?: |$))|[-+](?= |$)|-(?=[- ]*$))")
_ORDERED_START = re.compile(r"^( {0,3}[0-9]{1,9})([.)])(?= |$)")
# A run of ``#`` at the end of a heading's text is read as its closing sequence.
_CLOSING_HASHES = re.compile(r"( )(#+)$")


def md(value: Any, max_chars: int = 300) -> str:
    """Printable text for a Markdown table cell, list item or heading, read literally.

    Only what CommonMark would read as syntax is escaped, where it would read it, so the
    report stays greppable: ``JWT_SECRET`` and ``(read timeout)`` are written as they are.
    """
    text = printable(str(value), max_chars)
    text = _BACKSLASH.sub(r"\\\\", text)
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    text = _UNDERSCORE.sub(r"\\_", text)
    text = _ANGLE.sub(r"\\<", text)
    text = _ENTITY.sub(r"\\&", text)
    text = _BLOCK_START.sub(r"\1\\\2", text, count=1)
    text = _ORDERED_START.sub(r"\1\\\2", text, count=1)
    return _CLOSING_HASHES.sub(lambda m: m.group(1) + "\\#" * len(m.group(2)), text)


def run_report(config: Config, args: argparse.Namespace) -> int:
    document = collect(config)
    text = render_report(document, _audit_entries(config))
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        write_report(Path(args.output), text)
    except OSError as exc:
        print(f"ops-console: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


def write_report(path: Path, text: str) -> None:
    """Write via a temporary file and rename: a full disk leaves no half report behind."""
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def report_paths(directory: Path, moment: datetime) -> tuple[Path, Path]:
    """Where the TUI's report key writes: beside the audit log, one pair per moment."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    folder = directory / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"incident-{stamp}.md", folder / f"incident-{stamp}.svg"


def _audit_entries(config: Config) -> tuple[AuditEntry, ...]:
    return read_audit(config.console.audit_log, limit=RECENT_ACTIONS).entries


def render_report(doc: dict[str, Any], actions: Iterable[AuditEntry] = ()) -> str:
    verdict = "all good" if doc["ok"] else "PROBLEMS FOUND"
    out = [f"# ops-console incident snapshot — {doc['generated_at']}", "",
           f"Overall: **{verdict}**", ""]
    out += _diagnosis_section(doc.get("findings", []))
    out += _servers_section(doc)
    for error in doc.get("errors", []):
        out.append(f"- round error: {md(error)}")
    for server in doc["servers"]:
        out += _server_section(server)
    out += _fleet_section(doc)
    out += _actions_section(list(actions))
    return "\n".join(out) + "\n"


def _fleet_section(doc: dict[str, Any]) -> list[str]:
    """Firing alerts and failing targets from the fleet sources, when any are configured."""
    if not doc.get("fleet_sources"):
        return []
    out = ["## Fleet (Prometheus and Alertmanager)", ""]
    for source in doc["fleet_sources"]:
        detail = f": {md(source['detail'])}" if source["detail"] else ""
        out.append(f"- source **{md(source['name'])}** ({md(source['url'])}): "
                   f"{source['state']}{detail}")
    out.append("")
    firing = [a for a in doc.get("alerts", []) if a["state"] == "firing"]
    out.append(f"### Firing alerts ({len(firing)})")
    out.append("")
    rows = [[md(a["severity"]), md(a["name"]), md(a["labels"].get("instance", "")),
             md(a["starts_at"] or "?"), md(a["summary"])] for a in firing]
    out += _table(["severity", "alert", "instance", "since", "summary"], rows) if rows else [
        "None.", ""]
    bad = [p for p in doc.get("probes", []) if not p["ok"]]
    out.append(f"### Failing targets ({len(bad)} of {len(doc.get('probes', []))})")
    out.append("")
    rows = [[md(p["instance"]), md(p["job"]), p["class"], md(p["reason"])] for p in bad]
    out += _table(["instance", "job", "class", "reason"], rows) if rows else ["None.", ""]
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _servers_section(doc: dict[str, Any]) -> list[str]:
    rows = [[md(s["name"]), s["connection"]["state"], md(s["connection"]["detail"]) or "—",
             "ok" if s["ok"] else "**problem**"] for s in doc["servers"]]
    return ["## Servers", ""] + _table(["server", "connection", "detail", "verdict"], rows)


def _server_section(server: dict[str, Any]) -> list[str]:
    out = [f"## {md(server['name'])}", ""]
    out += [f"- {md(e)}" for e in server.get("errors", [])]
    if server.get("errors"):
        out.append("")
    out += _containers(server) + _health(server) + _secrets(server) + _volumes(server)
    out += _auth_events(server)
    return out


def _containers(server: dict[str, Any]) -> list[str]:
    rows = [[md(c["project"] or "—"), md(c["service"] or "—"), md(c["name"]), c["state"],
             c["health"], str(c["restart_count"]), md(c.get("image", ""))]
            for c in server["containers"]]
    if not rows:
        return ["### Containers", "", "No containers seen.", ""]
    return ["### Containers", ""] + _table(
        ["project", "service", "container", "state", "health", "restarts", "image"], rows)


def _health(server: dict[str, Any]) -> list[str]:
    out = ["### Health", ""]
    failing = [h for h in server["health"] if not h["ok"]]
    if not server["health"]:
        return out + ["No health endpoints configured.", ""]
    out += [f"- **{md(h['name'])}** ({md(h['url'])}): {h['class']}: {md(h['reason'])}"
            for h in failing] or ["All endpoints answer as expected."]
    rows = [[md(h["name"]), "ok" if h["ok"] else "**fail**", str(h["status"] or "—"),
             f"{h['latency_ms']:.0f} ms" if h["latency_ms"] is not None else "—",
             h["class"]] for h in server["health"]]
    return out + [""] + _table(["endpoint", "verdict", "status", "latency", "class"], rows)


def _secrets(server: dict[str, Any]) -> list[str]:
    """The name × place matrix; a drift marker on names whose places disagree."""
    statuses = server["secrets"]
    if not statuses:
        return ["### Secrets", "", "No required secrets configured or found.", ""]
    places = list(dict.fromkeys(s["place"] for s in statuses))
    names = list(dict.fromkeys(s["name"] for s in statuses))
    cell = {(s["name"], s["place"]): s for s in statuses}
    rows = []
    for name in names:
        drift = any(cell[(name, p)].get("drift") for p in places if (name, p) in cell)
        row = [md(name) + (" **drift**" if drift else "")]
        for place in places:
            found = cell.get((name, place))
            row.append("—" if found is None else
                       (found["status"] if found["ok"] else f"**{found['status']}**"))
        rows.append(row)
    out = ["### Secrets (names and statuses only; values are never read into reports)", ""]
    return out + _table(["secret"] + [md(p) for p in places], rows)


def _volumes(server: dict[str, Any]) -> list[str]:
    volumes = server.get("volumes", [])
    if not volumes:
        return []
    rows = [[md(v.get("project") or "—"), md(v["name"]),
             v["status"] if v.get("ok") else f"**{v['status']}**",
             md(", ".join(v.get("used_by", [])) or "—")] for v in volumes]
    return ["### Volumes", ""] + _table(["project", "volume", "state", "used by"], rows)


def _auth_events(server: dict[str, Any]) -> list[str]:
    events = server["auth_events"]
    minutes = events["window_s"] // 60
    out = [f"### Auth events (last {minutes} min)", ""]
    if not events["counts"]:
        return out + ["None.", ""]
    out += _table(["rule", "count"], [[md(rule), str(n)] for rule, n in
                                      sorted(events["counts"].items(), key=lambda kv: -kv[1])])
    recent = events["recent"][-RECENT_EVENTS:]
    if recent:
        out += ["Most recent (redacted):", "", "```"]
        out += [f"{e['time']} {printable(e['source'], 60)} {e['severity']:<8} {e['rule']}: "
                f"{printable(e['line'], 300).replace('```', '` ` `')}" for e in recent]
        out += ["```", ""]
    return out


def _diagnosis_section(findings: list[dict[str, Any]]) -> list[str]:
    """What is broken and what fixes it, before the facts it was read from."""
    out = ["## Diagnosis", ""]
    if not findings:
        return out + ["No findings: every rule is satisfied.", ""]
    for number, f in enumerate(findings, 1):
        held = held_text(f)
        out.append(f"{number}. **{f['severity']}** {md(f['server'])}: {md(f['summary'])}"
                   + (f" ({held})" if held else ""))
        fix = f["fix"]
        if fix["action"] == "manual":
            out.append(f"   - fix, by hand: {md(fix['why'], 600)}")
        else:
            out.append(f"   - fix: {fix['action'].replace('_', '-')} {md(fix['target'])} "
                       f"(key `{fix['key']}`): {md(fix['why'])}")
        out += [f"   - evidence, {e['pane']}: {md(e['text'])}" for e in f["evidence"]]
    return out + [""]


def _actions_section(entries: list[AuditEntry]) -> list[str]:
    out = ["## Actions taken (audit log)", ""]
    if not entries:
        return out + ["None recorded.", ""]
    rows = [[str(e.started_at.isoformat() if e.started_at else "?"), md(e.user), md(e.server),
             md(e.action), md(e.target), e.outcome,
             "" if e.exit_status is None else str(e.exit_status)] for e in entries]
    return out + _table(["time", "who", "server", "action", "target", "outcome", "exit"], rows)
