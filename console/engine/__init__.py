"""All I/O lives here: hosts and transports, probes, log pipeline, actions, audit.

Nothing under ``console.engine`` imports Textual or Rich (a test enforces it), so the same
code serves the TUI and the headless ``check`` / ``report`` commands.
"""
