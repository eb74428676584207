"""Snapshot tests of the UI shell and the containers pane, and the fakes they share."""
