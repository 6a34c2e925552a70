"""Writing one benchmark's section of bench/RESULTS.md without touching the others."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach section is written by its script in `bench/`; re-run the command shown to reproduce it.\n"


def hardware() -> str:
    """Cores, CPU, memory, OS, Python and PostgreSQL client of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {pg}"
    )


def machine() -> str:
    """hardware(), and the load average now (when a script writes its results: at its end)."""
    return f"{hardware()}; load average {os.getloadavg()[0]:.2f} when the results were written"


def write_section(name: str, title: str, lines: list[str], command: str) -> None:
    """Replace (or append) the section between <!-- name:start --> and <!-- name:end -->, with
    its title, the date, the machine and the command before ``lines``."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    replace_section(name, [
        f"## {title}",
        "",
        f"- date: {stamp}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        "",
        *lines,
    ])


def replace_section(name: str, lines: list[str]) -> None:
    """Put ``lines`` between <!-- name:start --> and <!-- name:end --> (appended when the
    section is new), leaving the rest of bench/RESULTS.md alone."""
    body = "\n".join([f"<!-- {name}:start -->", *lines, f"<!-- {name}:end -->"])
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S
    )
    text = (
        pattern.sub(lambda _: body, text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + body + "\n"
    )
    RESULTS.write_text(text, encoding="utf-8")
