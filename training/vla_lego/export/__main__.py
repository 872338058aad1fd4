"""``python -m vla_lego.export --checkpoint DIR --out DIR [--format ...] [--precision ...]``."""

from __future__ import annotations

import argparse
import sys

from vla_lego.export.exporter import (
    EXPORTERS,
    FORMATS,
    ExportOptions,
    export_checkpoint,
    manifest_summary,
)
from vla_lego.export.parity import PARITY_TOLERANCE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vla_lego.export",
        description="Export an EO-1 checkpoint to ONNX (and TensorRT) with a parity gate.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (save_pretrained)")
    p.add_argument("--out", required=True, help="export directory to create")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument(
        "--precision",
        choices=sorted(PARITY_TOLERANCE),
        default=None,
        help="engine precision (default: fp32 for onnx, fp16 for tensorrt)",
    )
    p.add_argument("--exporter", choices=EXPORTERS, default="dynamo")
    p.add_argument("--no-text", action="store_true", help="do not export the text decode graph")
    p.add_argument("--parity-trials", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    precision = args.precision or ("fp16" if args.format == "tensorrt" else "fp32")
    try:
        options = ExportOptions(
            fmt=args.format,
            precision=precision,
            exporter=args.exporter,
            decode_text=not args.no_text,
            parity_trials=args.parity_trials,
            seed=args.seed,
            overwrite=args.overwrite,
        )
        man = export_checkpoint(args.checkpoint, args.out, options)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"export failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(manifest_summary(man))
    return 0


if __name__ == "__main__":
    sys.exit(main())
