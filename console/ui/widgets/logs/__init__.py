"""The logs pane, one concern per file: ``format`` (a line to a row), ``view`` (the Line-API
list), ``find`` (filter and search boxes), ``summary`` (counts and status lines), ``pane``."""

from console.ui.widgets.logs.format import compile_filter, message_text, rule_label, short_where
from console.ui.widgets.logs.pane import LogsPane
from console.ui.widgets.logs.view import LogView

__all__ = ["LogView", "LogsPane", "compile_filter", "message_text", "rule_label",
           "short_where"]
