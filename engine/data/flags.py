"""Completeness flags of the six lower-body joints in a COCO person-keypoints file.

    python -m engine.flags ANN.json [--json] [--images DIR] [--min-box-side PX]
    python -m engine.flags ANN.json --filter labeled --export OUT.json

Counts are over non-crowd person annotations: none of the six labelled, some missing, all six
labelled, all six visible, small boxes, and per-joint missing / occluded counts. ``--export``
writes the chosen training set (see ``--filter``/``--subset``) as a new COCO JSON.
"""
from __future__ import annotations

import argparse
import json
import sys

from engine.argtypes import non_negative_float, positive_int
from . import coco as cocolib
from engine.joints import JOINTS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.flags", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ann", help="COCO person-keypoints JSON file (never modified)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--images", help="image folder: also check that every image exists")
    p.add_argument("--min-box-side", type=non_negative_float, default=cocolib.MIN_BOX_SIDE,
                   help="flag boxes whose shorter side is below this many pixels (default 32)")
    p.add_argument("--filter", choices=cocolib.FILTERS, default=None,
                   help="for --export: labeled = all six labelled, visible = all six visible "
                        "(default: at least one labelled)")
    p.add_argument("--subset", type=positive_int, help="for --export: people of a seeded random N images")
    p.add_argument("--seed", type=int, default=0, help="seed for --subset")
    p.add_argument("--export", metavar="OUT.json", help="write the selected people as a new COCO JSON")
    return p


def format_table(s: dict) -> str:
    rows = [("person annotations (non-crowd)", s["person_annotations"]), ("crowd", s["crowd"]),
            ("none of the six labelled", s["none_labeled"]), ("some missing", s["some_missing"]),
            ("all six labelled", s["all_labeled"]), ("all six visible", s["all_visible"]),
            ("any occluded", s["any_occluded"]), ("box too small", s["small_box"]),
            ("low-confidence (teacher files)", s["low_confidence"])]
    out = [f"{k:<34}{v:>8}" for k, v in rows]
    out.append("")
    out.append(f"{'joint':<16}{'missing':>9}{'occluded':>10}")
    out += [f"{j:<16}{s['missing_per_joint'][j]:>9}{s['occluded_per_joint'][j]:>10}" for j in JOINTS]
    out.append("")
    out.append("joints labelled: " + "  ".join(f"{n}:{c}" for n, c in enumerate(s["labeled_count_histogram"])))
    return "\n".join(out)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data = cocolib.load(args.ann, args.images, min_box_side=args.min_box_side)
    except cocolib.CocoFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = cocolib.summarize(data.people, len(data.crowd))
    if args.export:
        chosen = cocolib.select(data.people, args.filter, args.subset, args.seed)
        cocolib.export(data.dataset, [p.ann_id for p in chosen], args.export,
                       description=f"SquatPose export of {args.ann}: filter={args.filter}, "
                                   f"subset={args.subset}, seed={args.seed}")
        s["exported"] = {"path": args.export, "people": len(chosen),
                         "images": len({p.image_id for p in chosen})}
    if args.json:
        print(json.dumps(s))
    else:
        print(format_table(s))
        if args.export:
            print(f"\nwrote {args.export}: {s['exported']['people']} people on "
                  f"{s['exported']['images']} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
