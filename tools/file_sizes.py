"""Fails when a Python source file is longer than the limit: `python tools/file_sizes.py 300 DIR...`.

Tests are left out on purpose: a test module holds one module's cases side by side (D38)."""

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    limit, roots = int(argv[0]), [Path(p) for p in argv[1:]]
    long = sorted(
        (n, str(path))
        for root in roots
        for path in root.rglob("*.py")
        if ".venv" not in path.parts and (n := len(path.read_text().splitlines())) > limit
    )
    for lines, path in long:
        print(f"{path}: {lines} lines, over {limit}: split it by what it does")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
