"""What the tests (and the benchmarks) share: real processes (`processes`), synthetic signals
for the detector (`synth`) and pytest fixtures (`fixtures`, loaded by tests/conftest.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository."""
