"""Writing one benchmark's section of bench/RESULTS.md without touching the others."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import timeit
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\nEach section is written by its script in `bench/`; re-run the command shown to "
    "reproduce it. A figure measured in several runs is written as its median and, in brackets, the lowest "
    "and highest run.\n"
)


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


def python_speed_ms() -> float:
    """How fast this machine runs Python now: the median of five ``sum(range(1_000_000))``, in
    ms. The same kind of virtual machine ran it in 9.4 ms on one day and 12.5–13.9 on another
    (a busier host), and our CPU-bound figures moved with it: written beside them, it tells a
    reader which runs are comparable."""
    times = timeit.repeat("sum(range(1_000_000))", repeat=5, number=10)
    return statistics.median(times) / 10 * 1000


def machine() -> str:
    """hardware(), the load average and the speed of Python now (when a script writes its
    results: at its end)."""
    return (f"{hardware()}; load average {os.getloadavg()[0]:.2f} and Python's "
            f"sum(range(10**6)) {python_speed_ms():.1f} ms when the results were written")


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """One figure over the runs: its median and, in brackets, the lowest and highest run
    ("0.88 (0.84–0.99)"); one run gives the value alone. Every section reports a figure
    measured in several runs this way, so a reader sees how much the runs differ."""
    if not values:
        return "—"
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def every_run(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """Each run's value in the order the runs ran ("23.65, 24.51, 24.70")."""
    return ", ".join(fmt.format(v) for v in values)


def write_section(name: str, title: str, lines: list[str], command: str) -> None:
    """Replace (or append) the section between <!-- name:start --> and <!-- name:end -->, with
    its title, the date, the machine and the command before ``lines``."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    replace_section(name, [
        f"## {title}",
        "",
        f"- date: {stamp}",
        f"- machine: {machine()}",
        f"- command: `{masked(command)}`",
        "",
        *lines,
    ])


# a password in a database URL given on the command line ("postgresql://user:secret@host")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def masked(command: str) -> str:
    """``command`` with the password of any database URL in it replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", command)


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
