"""What the tests (and the benchmarks) share: real processes and servers (`processes`), a
simulated floor as a recording and its reports (`floor`), synthetic signals and reports
(`synth`), the stack's files (`stack`) and Grafana's (`grafana`), chromium for the pages
(`browser`), and the pytest fixtures (`fixtures`, loaded by tests/conftest.py).

scripts/screenshots.py uses them too."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository."""
