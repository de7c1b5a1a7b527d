"""``aae keygen OUT`` — a new Ed25519 key pair for signing bundles (``aae export --signing-key OUT``).

    aae keygen ~/.config/aae/signing.key        # writes signing.key (0600) and signing.key.pub (0644)
    python -m export.keygen ~/.config/aae/signing.key

Keep the private key off the gateway and out of any repository. Give the gateways the ``.pub``:
copy it to ``/etc/edge-anonymize/keys/`` or pass ``edge-anonymize --trusted-key FILE``. Existing
files are never overwritten. Needs only ``cryptography`` (no TensorFlow).

Exit codes: 0 written; 2 error (one line).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["build_parser", "run", "main"]


def build_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    """The ``keygen`` subcommand on ``aae``'s subparsers, or a standalone parser when None."""
    kw: dict[str, Any] = {"description": __doc__, "formatter_class": argparse.RawDescriptionHelpFormatter}
    if subparsers is None:
        p = argparse.ArgumentParser(prog="aae keygen", **kw)
    else:
        p = subparsers.add_parser("keygen", help="Ed25519 key pair to sign bundles with", **kw)
    p.add_argument("out", metavar="OUT", help="private key file to create; the public key goes to OUT.pub")
    return p


def run(args: argparse.Namespace) -> int:
    from edge_runtime.errors import EdgeError
    from edge_runtime.signing import generate_key

    try:
        priv, pub, key_id = generate_key(args.out)
    except EdgeError as exc:
        print(f"aae keygen: error: {exc}", file=sys.stderr)
        return 2
    print(f"aae keygen: key {key_id}: private {priv} (keep it secret), public {pub} (give it to the gateways)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
