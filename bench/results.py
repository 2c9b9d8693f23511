"""The benchmarks' record: each run prints its table and appends it to bench/results.md."""

from __future__ import annotations

from pathlib import Path


def record(lines: list[str]) -> None:
    """Print the result table and append it to results.md beside the benchmarks."""
    text = "\n".join(lines)
    print(text)
    with open(Path(__file__).with_name("results.md"), "a") as fh:
        fh.write(text + "\n")
