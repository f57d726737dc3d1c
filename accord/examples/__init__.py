"""Example files that ship with accord as package data, so that a wheel or the Docker image has them
without a checkout: the charter that `accord demo` founds its alliance with."""

from pathlib import Path

CHARTER = Path(__file__).with_name("charter.toml")
"""An example charter (principles, decision rules, dispute procedure), commented field by field."""
