"""accord: event-sourced governance workflows for alliances (application layer, CLI, HTTP API)."""

__version__ = "0.1.0"
