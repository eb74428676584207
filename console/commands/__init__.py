"""Headless commands (check, report, init): the engine without a screen. No Textual here."""
