"""``vlmroute tokens``: how many tokens each image costs GLM-4.1V."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._tokens import IMAGE_WRAPPER_TOKENS, image_size, image_tokens, parse_size, smart_resize
from ..errors import ImageError
from . import render

__all__ = ["register"]


def register(commands: Any) -> None:
    p = commands.add_parser(
        "tokens",
        help="image token counts (files or WxH sizes)",
        description="Print the exact GLM-4.1V token count of each image.",
        epilog="example:\n  vlmroute tokens examples/photo.png 3840x2160",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="an image file or a size like 1920x1080"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def _measure(item: str) -> dict[str, Any]:
    try:
        width, height = parse_size(item)
    except ImageError:
        width, height = image_size(item)
    resized_h, resized_w = smart_resize(height, width)
    count = image_tokens(width, height)
    return {
        "image": item,
        "width": width,
        "height": height,
        "resized_width": resized_w,
        "resized_height": resized_h,
        "image_tokens": count,
        "prompt_tokens": count + IMAGE_WRAPPER_TOKENS,
    }


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    failed = 0
    for item in args.images:
        try:
            results.append(_measure(item))
        except ImageError as exc:
            failed += 1
            results.append({"image": item, "error": str(exc)})
            print(f"vlmroute: error: {exc}", file=sys.stderr)
    if args.json:
        render.print_json(results)
    else:
        rows = [
            (
                r["image"],
                f"{r['width']}x{r['height']}",
                f"{r['resized_width']}x{r['resized_height']}",
                r["image_tokens"],
                r["prompt_tokens"],
            )
            for r in results
            if "error" not in r
        ]
        print(render.table(rows, ["image", "size", "resized", "image tokens", "prompt tokens"]))
    return 1 if failed else 0
