"""Write gymfloor's Grafana dashboards and staff alert rules; `--check` writes nothing and
fails if a committed file differs from what would be written, so CI can tell when someone
forgot to regenerate. The dashboards themselves are the `dashboards` package (its docstring).

Run as `python dashboards/generate.py` from anywhere, or `python -m dashboards`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a file, Python puts dashboards/ on the path rather than the folder holding it.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards.files import JSON_DIR, rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write gymfloor's Grafana dashboards (dashboards/json/) and staff alert "
        "rules (dashboards/provisioning/alerting/staff-alerts.yaml)."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed file differs from what would be written",
    )
    args = parser.parse_args(argv)
    files = rendered()
    if args.check:
        return check(files)
    JSON_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in sorted(set(JSON_DIR.glob("*.json")) - set(files)):
        path.unlink()
    return 0


def check(files: dict[Path, str]) -> int:
    """0 when the committed files are `files`, else 1 with a diff of each one on stderr."""
    stale = [path for path, text in files.items() if _read(path) != text]
    stray = sorted(set(JSON_DIR.glob("*.json")) - set(files))
    for path in stale:
        diff = difflib.unified_diff(
            _read(path).splitlines(keepends=True),
            files[path].splitlines(keepends=True),
            f"{path} (committed)",
            f"{path} (generated)",
        )
        sys.stderr.writelines(diff)
    for path in stray:
        print(f"{path}: not made by generate.py", file=sys.stderr)
    if stale or stray:
        print("out of date: run python dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
