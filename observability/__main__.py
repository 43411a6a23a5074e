"""Command line: ``python -m observability generate [--config FILE] [--out DIR] [--check | --time-scale N ...]``.

``generate`` writes the rules, promtool tests, dashboards, runbooks, the
Kubernetes manifests (``deploy/kubernetes``) and ``observability.yaml`` into
the repository; ``--check`` writes nothing and exits 1 if any committed file
differs from what would be generated (CI runs it). ``--config FILE`` renders
the kit an ``observability.yaml``-style file describes (default: the built-in
defaults) and ``--out DIR`` writes (or checks) the same tree under DIR
instead of the repository. ``--time-scale N`` writes only a copy of the rule
files with every window and ``for:`` divided by N into ``--output-dir``, for
end-to-end tests against a fast-scraping Prometheus.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from observability.kit import DEFAULT_KIT, Kit, KitConfigError, load_kit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m observability", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="render rules, tests, dashboards, runbooks and manifests")
    generate.add_argument("--root", type=Path, default=Path.cwd(),
                          help="repository root (default: the current directory)")
    generate.add_argument("--config", type=Path, metavar="FILE",
                          help="the kit's settings (observability.yaml format; default: the built-in defaults)")
    generate.add_argument("--out", type=Path, metavar="DIR",
                          help="write (or --check) the generated tree under DIR instead of the repository root")
    generate.add_argument("--check", action="store_true", help="exit 1 if committed files are out of date")
    generate.add_argument("--runbook-base-url", help="base URL of the runbooks in alert annotations and links")
    generate.add_argument("--time-scale", type=int, metavar="N",
                          help="write only the rule files, with every window and for: divided by N")
    generate.add_argument("--output-dir", type=Path, help="where --time-scale writes the scaled rule files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.time_scale is not None and (args.output_dir is None or args.time_scale < 1 or args.check):
        parser.error("--time-scale needs a positive N and --output-dir, and cannot be combined with --check")
    if args.output_dir is not None and args.time_scale is None:
        parser.error("--output-dir is only used with --time-scale")
    if args.out is not None and args.time_scale is not None:
        parser.error("--out writes the whole tree; --time-scale writes only rule files to --output-dir")
    # Guard against writing generated directories into the wrong tree (an installed package, $HOME).
    if args.time_scale is None and args.out is None and not (args.root / "pyproject.toml").is_file():
        parser.error(f"{args.root} is not the repository root (no pyproject.toml): cd there or pass --root")
    try:
        kit: Kit = DEFAULT_KIT if args.config is None else load_kit(args.config)
    except KitConfigError as exc:
        print(f"python -m observability: error: {exc}", file=sys.stderr)
        return 1
    if args.runbook_base_url:
        kit = replace(kit, observability=replace(kit.observability, runbook_base_url=args.runbook_base_url))
    # Imported here so argument errors do not pay for loading the dashboard SDK.
    from observability import generate

    if args.time_scale is not None:
        scaled = generate.render_scaled_rules(kit.observability, args.time_scale, kit.alert_labels)
        for path in generate.write_flat(args.output_dir, scaled):
            print(f"wrote {path}")
        return 0
    try:
        artifacts = generate.render_kit(kit)
    except ValueError as exc:
        print(f"python -m observability: error: {args.config or 'the kit'}: {exc}", file=sys.stderr)
        return 1
    target: Path = args.out if args.out is not None else args.root
    if args.check:
        problems = generate.drift(target, artifacts)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `python -m observability generate` and commit the result", file=sys.stderr)
            return 1
        print(f"{len(artifacts)} generated files are up to date")
        return 0
    changes = generate.write(target, artifacts)
    for change in changes:
        print(change)
    print(f"{len(artifacts)} generated files, {len(changes)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
