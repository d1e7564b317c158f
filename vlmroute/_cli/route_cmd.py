"""``vlmroute route``: send one request through the router, or ``--explain`` the choice.

``--explain`` is a dry run with no I/O and no key needed: the offers that would be tried,
best first, with this request's estimated cost on each, and why any other is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from .._pricing import load_pricing
from .._request import ChatRequest, ImagePart, Message, TextPart
from .._router import AsyncRouter, RoutePlan, RouterConfig, load_router_config
from .._router.config import config_from_env
from .._tokens import parse_size
from ..errors import ConfigurationError, RequestError
from ..money import parse_amount
from . import render
from .estimate_cmd import count

__all__ = ["register"]

_SIZE = re.compile(r"^\d+\s*[xX]\s*\d+$")
_EPILOG = """\
examples:
  vlmroute route --explain --image 1920x1080 --prompt "What is in this image?"
  vlmroute route --config router.yaml --image examples/photo.png --prompt "Describe it"
"""


def register(commands: Any) -> None:
    p = commands.add_parser(
        "route",
        help="route one request, or --explain which offer it would go to",
        description="Send one request through the router, or explain the routing decision.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="router YAML (default: keys in env)")
    p.add_argument("--pricing", metavar="FILE", help="a pricing YAML layered over the table")
    p.add_argument("--explain", action="store_true", help="dry run: print the ranked plan")
    p.add_argument("--prompt", default="", help="the text of the request")
    p.add_argument("--image", action="append", default=[], metavar="PATH|WxH", help="repeatable")
    p.add_argument("--max-tokens", type=count(1), metavar="N")
    p.add_argument(
        "--max-cost",
        type=_amount,
        metavar="AMOUNT",
        help="the most this request may cost, in the router's display currency, or with "
        "its own: 0.01 or '0.01 USD'",
    )
    p.add_argument("--provider", action="append", metavar="NAME", help="only these offers")
    p.add_argument("--exclude", action="append", default=[], metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> RouterConfig:
    if args.config:
        config = load_router_config(args.config)
    else:
        pricing = load_pricing(args.pricing)
        try:
            config = config_from_env(pricing)
        except ConfigurationError:
            if not args.explain:
                raise
            live = [{"offer": o.id} for o in pricing.live_offers() if not o.is_local]
            config = RouterConfig.from_mapping({"offers": live}, source="<every live offer>")
    if args.pricing:
        config = config.model_copy(update={"pricing": args.pricing})
    return config.model_copy(update={"ledger": False}) if args.explain else config


def _request(args: argparse.Namespace) -> ChatRequest:
    parts: list[Any] = []
    for item in args.image:
        if _SIZE.match(item.strip()):
            if not args.explain:
                raise ConfigurationError(
                    f"--image {item} is a size: only --explain takes sizes; pass a file to send"
                )
            size = parse_size(item)
            parts.append(ImagePart(url="https://size.invalid/", size=size))
        else:
            parts.append(ImagePart.from_source(item))
    parts.append(TextPart(text=args.prompt or "Describe this image."))
    message = Message(role="user", content=tuple(parts))
    return ChatRequest.create([message], max_tokens=args.max_tokens)


def _amount(text: str) -> str:
    """A usage error unless ``text`` is a money amount: ``0.01``, ``"0.01 USD"``."""
    try:
        parse_amount(text, currency="USD", what="--max-cost")
    except RequestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _status(router: AsyncRouter, offer: str, paused: str | None, caveat: str | None) -> str:
    if router.backends[offer].lacks_key:
        names = " or ".join(router.backends[offer].dialect.key_env) or "api_keys"
        return f"no key: set {names} to send"
    return paused or caveat or "ready"


def _cap(in_flight: int, cap: int, configured: int | None) -> str:
    if configured is None:
        return f"{in_flight}/{cap}"
    return f"{in_flight}/{cap} (learned; set {configured})"


def _plan_rows(
    router: AsyncRouter, plan: RoutePlan
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    ranked = [
        (
            i + 1,
            c.offer,
            render.money(c.cost, 6),
            render.money(c.native_cost, 6),
            _cap(c.in_flight, c.cap, c.configured_cap),
            render.duration(c.seconds),
            _status(router, c.offer, c.paused, c.caveat),
        )
        for i, c in enumerate(plan.candidates)
    ]
    skipped = [(s.offer, s.kind, s.reason) for s in plan.skipped] + _not_configured(router)
    return ranked, skipped


def _not_configured(router: AsyncRouter) -> list[tuple[str, str, str]]:
    """The pricing table's offers the router config leaves out, and why."""
    rows = []
    for offer in router.pricing.offers.values():
        if offer.id in router.offers:
            continue
        if not offer.is_live and offer.lifecycle.retired_on is not None:
            rows.append((offer.id, "retired", f"retired on {offer.lifecycle.retired_on}"))
        else:
            rows.append((offer.id, "config", "not in the router config"))
    return rows


def _explain(router: AsyncRouter, request: ChatRequest, args: argparse.Namespace) -> int:
    plan = router.plan(
        request,
        max_cost=args.max_cost,
        providers=args.provider,
        exclude=args.exclude,
    )
    shape = plan.shape
    if args.json:
        render.print_json(
            {
                "prompt_tokens": shape.prompt_tokens,
                "output_tokens": shape.output_tokens,
                "policy": router.config.policy,
                "candidates": [
                    {
                        "offer": c.offer,
                        "cost": str(c.cost.amount),
                        "currency": c.cost.currency,
                        "native_cost": str(c.native_cost.amount),
                        "native_currency": c.native_cost.currency,
                        "in_flight": c.in_flight,
                        "cap": c.cap,
                        "configured_cap": c.configured_cap,
                        "seconds": c.seconds,
                        "paused": c.paused,
                        "caveat": c.caveat,
                        "has_key": not router.backends[c.offer].lacks_key,
                    }
                    for c in plan.candidates
                ],
                "skipped": [
                    {"offer": offer, "kind": kind, "reason": reason}
                    for offer, kind, reason in [
                        *((s.offer, s.kind, s.reason) for s in plan.skipped),
                        *_not_configured(router),
                    ]
                ],
            }
        )
        return 0 if plan.candidates else 1
    print(
        f"Request: {shape.prompt_tokens:,} prompt tokens ({shape.images} image(s)), "
        f"{shape.output_tokens:,} output tokens expected; policy {router.config.policy}"
    )
    ranked, skipped = _plan_rows(router, plan)
    print()
    headers = ["try", "offer", "est. cost", "native", "in flight/cap", "est. time", "status"]
    print(render.table(ranked, headers) if ranked else "No offer can take this request.")
    if skipped:
        print()
        print(render.table(skipped, ["left out", "why", "reason"]))
    return 0 if plan.candidates else 1


async def _send(router: AsyncRouter, request: ChatRequest, args: argparse.Namespace) -> int:
    async with router:
        reply = await router.chat(
            request, max_cost=args.max_cost, providers=args.provider, exclude=args.exclude
        )
    if args.json:
        render.print_json(reply.model_dump(mode="json", exclude={"raw"}))
        return 0
    tries = ", ".join(f"{a.offer}: {a.outcome}" for a in reply.attempts)
    cost = render.money(reply.cost, 6) if reply.cost is not None else "-"
    print(f"offer: {reply.offer} ({reply.model}); cost {cost}; attempts: {tries}")
    if reply.reasoning:
        print(f"\nreasoning:\n{reply.reasoning}")
    print(f"\nanswer:\n{reply.answer}")
    return 0


def run(args: argparse.Namespace) -> int:
    request = _request(args)
    config = _config(args)
    if args.explain:
        router = AsyncRouter(config, dry_run=True)
        return _explain(router, request, args)
    return asyncio.run(_send(AsyncRouter(config), request, args))
