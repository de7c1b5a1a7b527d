"""``python -m firmware_bridge.vectors [--check]``: regenerate frames.json, or check it is current."""

from __future__ import annotations

import argparse
import sys

from . import PATH, dumps, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.vectors", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if frames.json differs from the generator")
    args = parser.parse_args(argv)
    text = dumps(generate())
    if args.check:
        if PATH.read_text() != text:
            print(f"{PATH} is out of date; run python -m firmware_bridge.vectors", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
