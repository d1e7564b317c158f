"""``vlmroute estimate``: cost per offer, the cheapest plan, and the self-host break-even."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from .._estimate import Workload, estimate
from .._estimate.calibrate import Calibration
from .._estimate.frontier import frontier
from .._pricing import load_pricing
from .._text_files import not_utf8
from .._tokens import image_size, parse_size
from ..errors import ImageError, WorkloadError
from . import calibrate_cli, render
from .estimate_text import format_estimate
from .frontier_text import frontier_json, frontier_text

__all__ = ["UsageError", "register"]

_VIDEO = re.compile(
    r"^(?P<dur>[^:]+):(?P<size>\d+[xX\u00d7]\d+)(?:@(?P<fps>\d+(?:\.\d+)?))?"
    r"(?::(?P<share>\d+(?:\.\d+)?))?$"
)


class UsageError(Exception):
    """A bad combination of flags (exit code 2)."""


def register(commands: Any) -> None:
    p = commands.add_parser(
        "estimate",
        help="cost and time of a workload on every offer, and the cheapest plan",
        description="Estimate a workload offline (no API key needed).",
        epilog="example:\n  vlmroute estimate --requests 10000 --image 1920x1080 "
        "--prompt-tokens 200 --output-tokens 1500 --deadline 2h",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workload", metavar="FILE.yaml", help="workload file (see examples/)")
    p.add_argument("--requests", type=count(1), metavar="N", help="number of requests")
    p.add_argument(
        "--image",
        action="extend",
        nargs="+",
        type=_image_flag,
        default=[],
        metavar="WxH[:SHARE]",
        help="an image size per request (repeat for several images per request); "
        "with :SHARE, a mix of one-image requests, e.g. 1920x1080:3 1170x2532:1",
    )
    p.add_argument(
        "--images",
        metavar="FILE",
        help="file with one image per line: WxH[:SHARE] or an image path; "
        "each line is a one-image request profile",
    )
    p.add_argument(
        "--video",
        metavar="DURATION:WxH[@FPS][:SHARE]",
        help="a video per request, e.g. 10s:1280x720@30; with :SHARE, a kind of request of "
        "its own beside the --image ones (each with its :SHARE), e.g. --image 1920x1080:99 "
        "--video 10s:1280x720:1",
    )
    p.add_argument("--prompt-tokens", type=count(0), metavar="N", help="text tokens per request")
    p.add_argument(
        "--output-tokens",
        type=count(0),
        metavar="N",
        help="completion tokens per request (reasoning + answer)",
    )
    p.add_argument(
        "--reasoning-tokens",
        type=count(0),
        metavar="N",
        help="how many of the output tokens are reasoning",
    )
    p.add_argument(
        "--output-p95",
        type=count(1),
        metavar="N",
        help="95th percentile of the output tokens: --output-tokens is then the median "
        "(p50) of a lognormal, and costs and times come out as ranges",
    )
    p.add_argument(
        "--max-tokens",
        type=count(1),
        metavar="N",
        help="the max_tokens you send: no request writes more output than this",
    )
    p.add_argument(
        "--deadline", type=_duration, metavar="TIME", help="finish within, e.g. 90m, 2h, 1d"
    )
    p.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="PROVIDER=TIER",
        help="account tier, e.g. zhipu=V2 (default: the lowest)",
    )
    p.add_argument("--currency", default="USD", help="display currency (default USD)")
    p.add_argument(
        "--pricing", metavar="FILE", help="your pricing YAML, layered over the shipped one"
    )
    p.add_argument(
        "--local-gpus",
        type=count(0),
        default=0,
        metavar="N",
        help="local GPU servers the plan may use (default 0)",
    )
    p.add_argument(
        "--gpu-hour-price",
        type=_decimal,
        metavar="PRICE",
        help="local GPU price per hour, in the local offer's currency",
    )
    p.add_argument(
        "--gpu-tokens-per-s",
        type=_positive,
        metavar="N",
        help="local GPU decode speed per stream, tokens/s",
    )
    p.add_argument(
        "--gpu-streams",
        type=count(1),
        metavar="N",
        help="requests the local GPU decodes at once (also its in-flight cap)",
    )
    p.add_argument(
        "--utilisation",
        metavar="U",
        help="fraction of the month a reserved GPU is busy, above 0 and at most 1, for the "
        "self-host break-even (default 1: around the clock)",
    )
    p.add_argument("--include-retired", action="store_true", help="plan with retired offers too")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    calibrate_cli.add_flags(p)  # --calibrate [--ledger FILE]
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw cost against deadline to FILE.png (pip install 'vlmroute[plot]')",
    )
    p.set_defaults(run=run)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a price (a number of at least 0)")
    return value


def count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``least`` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {least}")
        return value

    parse.__name__ = "count"
    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0")
    return value


def _duration(text: str) -> str:
    from .._estimate import parse_duration

    try:
        parse_duration(text)
    except (WorkloadError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: seconds, or a number with s, m, h or d (90m, 2h)"
        ) from None
    return text


def _image_flag(text: str) -> str:
    try:
        _size_and_share(text)
    except (ImageError, UsageError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run(args: argparse.Namespace) -> int:
    if args.plot:
        from .plot import require_matplotlib

        require_matplotlib()  # before the work: a missing extra fails at once
    calibration = calibrate_cli.load(args)  # None without --calibrate
    workload = build_workload(args, calibration)
    pricing = load_pricing(args.pricing).with_local_gpu(
        hour_price=args.gpu_hour_price,
        decode_tokens_per_s_per_stream=args.gpu_tokens_per_s,
        streams=args.gpu_streams,
    )
    if calibration is not None:  # the ledger's measurements over the table's assumptions
        pricing, workload = calibration.apply(pricing), calibration.workload(workload)
    result = estimate(
        workload,
        pricing,
        currency=args.currency,
        include_retired=args.include_retired,
        local_gpus=args.local_gpus,
    )
    curve = frontier(
        workload,
        pricing,
        currency=args.currency,
        include_retired=args.include_retired,
        local_gpus=args.local_gpus,
    )
    if args.json:
        data = result.model_dump(mode="json") | frontier_json(curve)
        if calibration is not None:
            data["calibration"] = calibration.model_dump(mode="json")
        render.print_json(data)
    else:
        text = format_estimate(
            result, pricing.fx.source, pricing.fx.confidence, frontier=frontier_text(curve)
        )
        print(render.prose(text))
        if calibration is not None:
            print("\n" + render.prose(calibrate_cli.describe(calibration, pricing)))
    if args.plot and curve.points:
        from .plot import frontier_png

        title = f"Cheapest cost by deadline: {render.plural(result.requests, 'request')}"
        frontier_png(curve, Path(args.plot), title=title)
        print(f"wrote the cost-against-deadline plot to {args.plot}", file=sys.stderr)
    # Exit 1 when nothing can serve the workload: a script must not read it as a price.
    return 0 if result.plan.steps else 1


def build_workload(args: argparse.Namespace, calibration: Calibration | None = None) -> Workload:
    data: dict[str, Any] = _read_workload(Path(args.workload)) if args.workload else {}
    mix = _mix_from_flags(args)
    if mix and "mix" in data:
        raise UsageError("--image/--images/--video and a workload file's mix cannot be combined")
    if mix:
        data["mix"] = mix
    for flag, key in (
        ("requests", "requests"),
        ("prompt_tokens", "prompt_tokens"),
        ("output_tokens", "output_tokens"),
        ("reasoning_tokens", "reasoning_tokens"),
        ("deadline", "deadline"),
        ("utilisation", "utilisation"),
        ("max_tokens", "max_tokens"),
    ):
        if getattr(args, flag) is not None:
            data[key] = getattr(args, flag)
    if args.output_p95 is not None:
        data["output_tokens"] = output_quantiles(data.get("output_tokens"), args.output_p95)
    if "deadline" in data and "deadline_s" in data:
        del data["deadline_s"]
    if args.tier:
        data["tiers"] = {**data.get("tiers", {}), **dict(_split_tier(t) for t in args.tier)}
    if "requests" not in data:
        raise UsageError("give --requests N or a --workload file that sets requests")
    assumed = _output_unset(data) and not calibrate_cli.fills_output(calibration, data)
    if assumed:
        data["output_tokens"] = DEFAULT_OUTPUT_TOKENS
    workload = Workload.from_mapping(data, source=args.workload or "command line")
    if assumed:  # said once the workload is valid, so an error comes alone
        print(
            f"vlmroute estimate: no --output-tokens given: assuming {DEFAULT_OUTPUT_TOKENS:,} "
            "per request (reasoning and answer, the router's expected_output_tokens); a "
            "thinking model's output is most of its bill, so give your own figure",
            file=sys.stderr,
        )
    return workload


#: Output tokens per request when none are given: the router's own expectation
#: (``expected_output_tokens``), about what GLM-4.1V writes thinking about one image.
DEFAULT_OUTPUT_TOKENS = 1500


def output_quantiles(median: object, p95: int) -> dict[str, object]:
    """``--output-p95``: the output as ``{p50, p95}``, its median from --output-tokens (or
    the workload file's plain output_tokens)."""
    if median is None or isinstance(median, bool) or not isinstance(median, int):
        raise UsageError(
            "--output-p95 needs the median as a plain number: give --output-tokens N "
            "(or output_tokens: N in the workload file)"
        )
    return {"p50": median, "p95": p95}


def _output_unset(data: Mapping[str, Any]) -> bool:
    if data.get("output_tokens") is not None:
        return False
    mix = data.get("mix")
    profiles = mix if isinstance(mix, list) and mix else [{}]
    return any(not isinstance(p, Mapping) or p.get("output_tokens") is None for p in profiles)


def _read_workload(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read the workload file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise WorkloadError(
            f"workload: expected a UTF-8 YAML file; {not_utf8(path, exc)}"
        ) from None
    except yaml.YAMLError as exc:
        raise WorkloadError(f"{path}: not valid YAML ({exc})") from exc
    except RecursionError:
        raise WorkloadError(f"{path}: YAML nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise WorkloadError(
            f"{path}: a value YAML cannot construct ({type(exc).__name__}: {exc}): a date "
            "that does not exist, or a !!tag that does not fit its value"
        ) from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{path}: expected a mapping with requests, mix, ... at the top level")
    return data


def _split_tier(text: str) -> tuple[str, str]:
    provider, sep, tier = text.partition("=")
    if not sep or not provider or not tier:
        raise UsageError(f"--tier {text!r}: expected PROVIDER=TIER, e.g. zhipu=V2")
    return provider.strip(), tier.strip()


def _size_and_share(text: str) -> tuple[str, Decimal | None]:
    size, sep, share = text.partition(":")
    width, height = parse_size(size)
    if not sep:
        return f"{width}x{height}", None
    try:
        value = Decimal(share)
    except InvalidOperation:
        raise UsageError(f"--image {text!r}: the share after ':' must be a number") from None
    return f"{width}x{height}", value


def _mix_from_flags(args: argparse.Namespace) -> list[dict[str, Any]]:
    video, video_share = _video(args.video) if args.video else (None, None)
    entries = [_size_and_share(t) for t in args.image]
    if args.images:
        entries += [_images_line(line, args.images) for line in _lines(args.images)]
        entries = [(s, Decimal(1) if share is None else share) for s, share in entries]
    with_share = [e for e in entries if e[1] is not None]
    if with_share and len(with_share) != len(entries):
        raise UsageError("give a :SHARE on every --image or on none")
    if video_share is not None:  # the video is a kind of request of its own
        if entries and not with_share:
            raise UsageError("--video with a :SHARE needs a :SHARE on every --image too")
        return [{"images": [s], "share": share} for s, share in entries] + [
            {"video": video, "share": video_share}
        ]
    if with_share:  # a distribution of one-image requests
        return [
            {"images": [s], "share": share, **({"video": video} if video else {})}
            for s, share in entries
        ]
    if entries or video:  # every request carries all these images
        return [{"images": [s for s, _ in entries], **({"video": video} if video else {})}]
    return []


def _lines(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkloadError(f"--images {path}: cannot read it ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise WorkloadError(
            f"--images: expected a UTF-8 text file listing images; {not_utf8(path, exc)}"
        ) from None
    stripped = (ln.strip() for ln in text.splitlines())
    lines = [ln for ln in stripped if ln and not ln.startswith("#")]
    if not lines:
        raise WorkloadError(f"--images {path}: the file lists no images")
    return lines


def _images_line(line: str, listing: str) -> tuple[str, Decimal | None]:
    try:
        return _size_and_share(line)
    except ImageError:
        path = Path(line) if Path(line).is_absolute() else Path(listing).parent / line
        width, height = image_size(path)
        return f"{width}x{height}", None


def _video(text: str) -> tuple[dict[str, Any], Decimal | None]:
    """A --video flag's clip, and its share of the requests (None: every request's)."""
    match = _VIDEO.match(text.strip())
    if not match:
        raise UsageError(
            f"--video {text!r}: expected DURATION:WxH[@FPS][:SHARE], e.g. 10s:1280x720@30"
        )
    from .._estimate import parse_duration

    width, height = parse_size(match.group("size"))
    clip: dict[str, Any] = {
        "duration_s": parse_duration(match.group("dur")),
        "width": width,
        "height": height,
    }
    if match.group("fps"):
        clip["fps"] = float(match.group("fps"))
    share = match.group("share")
    if share is not None and not Decimal(share) > 0:
        raise UsageError(f"--video {text!r}: its :SHARE must be above 0")
    return clip, None if share is None else Decimal(share)
