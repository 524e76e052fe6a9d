"""Convert other datasets' labels into COCO person-keypoint files the whole project takes.

    python -m engine.convert lsp DIR --out FILE.json     Leeds Sports Pose (Extended)

The output is written atomically, and only when the whole input checked out; a broken input
stops with a message naming the file and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import lsp


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    q = sub.add_parser("lsp", help="Leeds Sports Pose (Extended): DIR holds joints.mat and images/",
                       description=lsp.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("dir", metavar="DIR", help="folder with joints.mat and images/ (never modified)")
    q.add_argument("--out", required=True, metavar="FILE.json", help="the COCO file to write")
    q.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = lsp.convert(args.dir, args.out)
    except lsp.LspError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {summary['out']}: {summary['people']} people on {summary['images']} images "
              f"(image folder: {summary['images_dir']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
