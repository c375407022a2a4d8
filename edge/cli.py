"""Command-line entry point: `edge <command>`.

Each command is a thin shell over a module that does the work; heavy imports (torch,
easyocr) happen inside the command so `edge --help` and `edge check-config` stay fast.
Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge import __version__
from edge.errors import EdgeError

COUNTRIES_HELP = "plate syntaxes to prefer, comma-separated, e.g. gb,generic (overrides plates.countries)"
ROLL_HELP = ("how far the frames are turned counter-clockwise, in degrees (a camera mounted askew): plates are "
             "looked for in them levelled (overrides localiser.roll_degrees; a camera's own roll_degrees wins)")
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.yaml"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, matching the rest of the CLI."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        _usage_exit(message)


def _usage_exit(message: str) -> None:
    print(f"edge: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _load(path: str | None, countries: str | None = None, roll: float | None = None):
    """The config file (default: config/default.yaml), with --countries and --roll applied if given."""
    from edge.config import load_config, with_countries, with_roll

    config = load_config(path or DEFAULT_CONFIG)
    config = with_countries(config, countries.split(",")) if countries else config
    return with_roll(config, roll) if roll is not None else config


def cmd_check_config(args: argparse.Namespace) -> int:
    from edge.config import load_config, masked_dump
    import yaml

    config = load_config(args.file)
    print(yaml.safe_dump(masked_dump(config), sort_keys=False), end="")
    print(f"{args.file}: OK ({len(config.cameras)} camera(s))", file=sys.stderr)
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    from edge.pipeline import read_images

    return read_images(_load(args.config, args.countries, args.roll), args.images, json_lines=args.json)


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.replay import replay

    speed = None if args.fast else args.speed
    return replay(_load(args.config, args.countries, args.roll), Path(args.path), speed=speed, json_lines=args.json,
                  publish=not args.no_publish)


def cmd_eval(args: argparse.Namespace) -> int:
    from edge.evaluate import evaluate

    return evaluate(_load(args.config, args.countries, args.roll), Path(args.dataset), json_out=args.json,
                    report_dir=Path(args.report) if args.report else None, limit=args.limit,
                    compare_with=Path(args.compare) if args.compare else None)


def cmd_bench(args: argparse.Namespace) -> int:
    from edge.bench import bench

    return bench(_load(args.config), json_out=args.json, repeats=args.repeats)


def cmd_run(args: argparse.Namespace) -> int:
    from edge.daemon import run_daemon

    return run_daemon(_load(args.config), debug=args.debug)


def cmd_samples(args: argparse.Namespace) -> int:
    from edge.synth.samples import generate_samples

    generate_samples(Path(args.out), seed=args.seed)
    print(f"samples written to {args.out}", file=sys.stderr)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from edge.tail import tail

    mqtt = _load(args.config).mqtt
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        mqtt = mqtt.model_copy(update=overrides)
    tail(mqtt, args.unit, json_lines=args.json, limit=args.limit)  # returns the count shown
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from edge.preview import preview

    return preview(_load(args.config), args.camera, Path(args.out), watch=args.watch)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge", description="Roadside ANPR daemon and tools.")
    parser.add_argument("--version", action="version", version=f"edge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "run the daemon on every configured camera")
    p.add_argument("--config", required=True, help="unit config YAML")

    p = add("replay", cmd_replay, "replay a video, image folder or image through the whole pipeline")
    p.add_argument("path")
    p.add_argument("--config", help="config YAML (default: config/default.yaml)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=None, help="pace video at X times real time")
    pace.add_argument("--fast", action="store_true", help="as fast as possible (default)")
    p.add_argument("--json", action="store_true", help="print passes as JSON lines")
    p.add_argument("--no-publish", action="store_true", help="do not spool or publish passes")
    p.add_argument("--countries", help=COUNTRIES_HELP)
    p.add_argument("--roll", type=float, metavar="DEGREES", help=ROLL_HELP)

    p = add("read", cmd_read, "read plates in still images")
    p.add_argument("images", nargs="+")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true", help="one JSON line per plate")
    p.add_argument("--countries", help=COUNTRIES_HELP)
    p.add_argument("--roll", type=float, metavar="DEGREES", help=ROLL_HELP)

    p = add("eval", cmd_eval, "measure read rates on a labelled dataset folder (labels.csv)")
    p.add_argument("dataset")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on the last line")
    p.add_argument("--report", help="write an HTML page of the misses into this folder")
    p.add_argument("--limit", type=int, help="only the first N files")
    p.add_argument("--countries", help=COUNTRIES_HELP)
    p.add_argument("--roll", type=float, metavar="DEGREES", help=ROLL_HELP)
    p.add_argument("--compare", metavar="BEFORE",
                   help="an earlier run's `--json` output on the same dataset: list the plates gained and lost, "
                        "with a sign test of the split")

    p = add("bench", cmd_bench, "benchmark the localiser, recogniser and whole-frame read")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeats", type=int, default=15)

    p = add("check-config", cmd_check_config, "validate a config file and print it with secrets masked")
    p.add_argument("file")

    p = add("samples", cmd_samples, "regenerate the synthetic sample footage")
    p.add_argument("--out", default="sample_images")
    p.add_argument("--seed", type=int, default=2026)

    p = add("tail", cmd_tail, "watch live passes on the broker")
    p.add_argument("--config")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--unit", help="only this unit id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, help="exit after N passes")

    p = add("preview", cmd_preview, "commissioning view: draw zone and reads on a live frame")
    p.add_argument("--config", required=True)
    p.add_argument("--camera", required=True)
    p.add_argument("--out", required=True, help="JPEG to write")
    p.add_argument("--watch", action="store_true", help="keep refreshing the file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "run":
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except EdgeError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines() or ["error"]:
            print(f"edge: {line}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last line of defence: one clear line, no traceback
        if args.debug:
            raise
        print(f"edge: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1
