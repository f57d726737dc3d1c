"""Figures, each next to its baseline from the same run, as a table and as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measurement of accord and the baseline it is judged against, measured in the same run."""

    benchmark: str
    metric: str
    unit: str
    accord: float
    baseline: float
    baseline_name: str
    higher_is_better: bool = True
    target_ratio: float | None = None
    """accord/baseline must be >= this (or <= when lower is better); None: reported only."""
    target_absolute: float | None = None
    """accord itself must be < this (for figures with an absolute target: RSS, lateness)."""
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.accord / self.baseline

    @property
    def met(self) -> bool | None:
        checks: list[bool] = []
        if self.target_ratio is not None and self.ratio is not None:
            ok = self.ratio >= self.target_ratio if self.higher_is_better else self.ratio <= self.target_ratio
            checks.append(ok)
        if self.target_absolute is not None:
            checks.append(self.accord < self.target_absolute)
        return all(checks) if checks else None

    @property
    def target(self) -> str:
        parts: list[str] = []
        if self.target_ratio is not None:
            parts.append(f"{'>=' if self.higher_is_better else '<='} {self.target_ratio:g}x")
        if self.target_absolute is not None:
            parts.append(f"< {_number(self.target_absolute)} {self.unit}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met, "target": self.target or None}


@dataclass
class Run:
    quick: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    figures: list[Figure] = field(default_factory=list[Figure])
    details: dict[str, Any] = field(default_factory=dict[str, Any])
    """Per benchmark: sizes, parameters and diagnostic figures."""
    versions: dict[str, str] = field(default_factory=dict[str, str])
    seconds: dict[str, float] = field(default_factory=dict[str, float])

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "quick": self.quick,
            "machine": machine(),
            "versions": self.versions,
            "seconds": self.seconds,
            "figures": [f.to_json() for f in self.figures],
            "details": self.details,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    header = ("benchmark", "metric", "accord", "baseline", "ratio", "target", "met")
    rows: list[tuple[str, ...]] = [header]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        met = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append(
            (
                f.benchmark,
                f"{f.metric} ({f.unit})",
                _number(f.accord),
                f"{_number(f.baseline)} {f.baseline_name}",
                ratio,
                f.target,
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines: list[str] = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = psutil.virtual_memory().total
    except Exception:  # noqa: BLE001 - informative only
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_bytes": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except Exception:  # noqa: BLE001 - the commit is informative only
        return None


_started: float | None = None


def progress(message: str) -> None:
    """A line on stderr with the seconds since the run started, so a slow phase shows itself."""
    import sys
    import time

    global _started
    if _started is None:
        _started = time.monotonic()
    print(f"  [{time.monotonic() - _started:6.1f}s] {message}", file=sys.stderr, flush=True)
