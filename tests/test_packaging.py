"""What an installed accord has without a checkout: a wheel built from what `docker build` is sent
(the tree less `.dockerignore`) carries everything `accord demo` reads."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import zipfile
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def docker_context(into: Path) -> Path:
    """Copy the checkout as `docker build` sends it: without what `.dockerignore` names (read as
    fnmatch patterns on paths from the root, `**/` meaning at any depth)."""
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions in .dockerignore: teach this copy about them"

    def ignored(relative: str) -> bool:
        return any(
            fnmatch(relative, p) or (p.startswith("**/") and fnmatch(relative.rsplit("/", 1)[-1], p[3:]))
            for p in patterns
        )

    for folder, dirs, files in os.walk(ROOT):
        base = Path(folder).relative_to(ROOT)
        dirs[:] = [d for d in dirs if not ignored((base / d).as_posix())]
        for name in files:
            if not ignored((base / name).as_posix()):
                (into / base).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(folder) / name, into / base / name)
    return into


def test_a_wheel_of_the_image_context_carries_what_the_demo_reads(tmp_path: Path) -> None:
    context = docker_context(tmp_path / "context")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(context), "--no-deps", "--quiet", "-w", str(tmp_path / "dist")],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("accord-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        listed = {row[0] for row in csv.reader(io.StringIO(archive.read(record).decode()))}
        archive.extractall(tmp_path / "site")
    assert "accord/examples/charter.toml" in listed
    assert "accord/templates/costs_chart.svg.j2" in listed
    for page in ("templates/web/decision.html", "templates/web/email/sign_in.txt", "static/accord.css", "locales/es/LC_MESSAGES/messages.po"):
        assert f"accord/{page}" in listed, page
    assert "events/migrations/0001_event_store.sql" in listed

    # Only the unpacked wheel on the path, run from outside the checkout: the demo's charter loads.
    probe = "import accord, accord.demo; print(accord.__file__); print(accord.demo.demo_charter().name)"
    ran = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )
    assert ran.returncode == 0, ran.stderr
    where, name = ran.stdout.splitlines()
    assert Path(where).is_relative_to(tmp_path / "site")
    assert name == "Clean Rivers Alliance"
