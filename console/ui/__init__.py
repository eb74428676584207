"""The Textual UI: thin, no I/O of its own; it drives a console.engine.fleet.Fleet."""
