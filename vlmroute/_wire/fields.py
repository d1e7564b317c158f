"""Every field of OpenAI's chat-completions request, and what vlmroute does with it.

:data:`FIELDS` is the one table (the README shows it, and a test checks it names every
keyword of the openai SDK's ``chat.completions.create``). Each field is

- ``routed``: it shapes the router call (which offers, the deadline) or the answer;
- ``sent``: sent to every offer;
- ``sent where taken``: sent to the offers whose dialect takes it, under that dialect's
  name (``Dialect.openai_params``), and left out for the others;
- ``ignored``: accepted and not sent, since GLM-4.1V has no use for it (logged at DEBUG);
- ``refused``: a 400 naming the field, when set to anything but its no-op value.

A field not in the table (what ``extra_body`` adds) goes to every offer as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["FIELDS", "SDK_OPTIONS", "Decision", "Field", "fields_table"]

log = logging.getLogger("vlmroute")

Decision = Literal["routed", "sent", "sent where taken", "ignored", "refused"]
Field = tuple[Decision, str]

_GLM = "GLM-4.1V-9B-Thinking"
_WHERE = "OpenRouter, vLLM and SGLang; not Zhipu"

FIELDS: Mapping[str, Field] = {
    "messages": ("routed", "text, image_url and video_url parts; developer is system"),
    "model": ("routed", "picks the offers: the model, a provider's model id or an offer id"),
    "stream": ("routed", "server-sent chunks; failover happens before the first delta"),
    "stream_options": ("routed", "include_usage adds OpenAI's usage chunk"),
    "temperature": ("sent", "every offer; Zhipu's 0 becomes do_sample false"),
    "top_p": ("sent", "every offer"),
    "max_tokens": ("sent", "every offer; bounds reasoning plus answer"),
    "max_completion_tokens": ("sent", "as max_tokens (pass one, or both equal)"),
    "stop": ("sent", "every offer"),
    "seed": ("sent", "every offer"),
    "frequency_penalty": ("sent where taken", _WHERE),
    "presence_penalty": ("sent where taken", _WHERE),
    "logit_bias": ("sent where taken", _WHERE),
    "user": ("sent where taken", "Zhipu as user_id; OpenRouter, vLLM and SGLang as user"),
    "response_format": (
        "sent where taken",
        "text: nothing to send; json_object and json_schema route only to vLLM and SGLang "
        "offers (whether Zhipu's and OpenRouter's GLM-4.1V honour JSON mode is unknown) "
        "and are refused when the model names none",
    ),
    "n": ("refused", "any n but 1: one choice per request; send n requests instead"),
    "tools": ("refused", f"unless empty: {_GLM} has no function calling here"),
    "functions": ("refused", "unless empty: as tools"),
    "tool_choice": ("refused", "unless none or auto with no tools"),
    "function_call": ("refused", "unless none or auto with no functions"),
    "parallel_tool_calls": ("ignored", "no tools are sent"),
    "logprobs": ("refused", "when true: the routed answer carries no log probabilities"),
    "top_logprobs": ("refused", "unless 0: as logprobs"),
    "audio": ("refused", f"when set: {_GLM} does not speak"),
    "modalities": ("refused", 'unless ["text"]: text is the only output'),
    "web_search_options": ("refused", f"when set: {_GLM} has no web search here"),
    "prediction": ("ignored", "a latency hint no offer takes"),
    "reasoning_effort": ("ignored", f"{_GLM} always thinks; its effort cannot be set"),
    "verbosity": ("ignored", "no offer takes it"),
    "store": ("ignored", "nothing is stored for distillation or evals"),
    "metadata": ("ignored", "goes with store"),
    "service_tier": ("ignored", "offers and their tiers come from the router config"),
    "prompt_cache_key": ("ignored", "no offer takes it"),
    "prompt_cache_retention": ("ignored", "no offer takes it"),
    "safety_identifier": ("ignored", "no offer takes it"),
    "prompt_cache_options": ("ignored", "no offer takes it"),
    "moderation": ("ignored", "offers filter content themselves (a 400 content_filter)"),
}

#: The openai SDK's own options of ``create``: not body fields, but each has a decision.
SDK_OPTIONS: Mapping[str, str] = {
    "extra_body": "merged into the body: a field not above goes to every offer; "
    '`"vlmroute": {providers, exclude, max_cost, deadline_s}` are routing hints',
    "extra_headers": "not sent to providers (a header for one host must not follow a "
    "failover); `x-vlmroute-providers`, `-exclude`, `-max-cost`, `-deadline-s` are hints",
    "extra_query": "not sent (providers take no query parameters)",
    "timeout": "its read timeout is the router's deadline for the whole request",
}


def fields_table() -> str:
    """:data:`FIELDS` and :data:`SDK_OPTIONS` as the README's Markdown table."""
    rows = ["| field | decision | how |", "|---|---|---|"]
    rows += [f"| `{name}` | {use} | {how} |" for name, (use, how) in FIELDS.items()]
    rows += [f"| `{name}` | SDK option | {how} |" for name, how in SDK_OPTIONS.items()]
    return "\n".join(rows)


#: The value of each refused field that asks for nothing (None is always such a value).
_NO_OP: Mapping[str, tuple[Any, ...]] = {
    "n": (1,),
    "tools": ([],),
    "functions": ([],),
    "tool_choice": ("none", "auto"),
    "function_call": ("none", "auto"),
    "logprobs": (False,),
    "top_logprobs": (0,),
    "modalities": (["text"],),
}

_REFUSAL: Mapping[str, str] = {
    "n": "vlmroute returns one choice per request; send {value} requests instead (they may "
    "run on different providers), or pass n=1",
    "tools": f"{_GLM} has no function calling on these providers; describe the tools in the "
    "prompt and parse message.content, or leave tools out",
    "functions": f"{_GLM} has no function calling on these providers; leave functions out",
    "tool_choice": f"{_GLM} has no function calling; leave tool_choice out",
    "function_call": f"{_GLM} has no function calling; leave function_call out",
    "logprobs": "the routed answer carries no log probabilities; leave logprobs out",
    "top_logprobs": "the routed answer carries no log probabilities; leave top_logprobs out",
    "audio": f"{_GLM} answers in text only; leave audio out",
    "modalities": f'{_GLM} answers in text only; pass modalities=["text"] or leave it out',
    "web_search_options": f"{_GLM} has no web search on these providers; leave it out",
}


def refusal(field: str, value: Any) -> str | None:
    """Why ``field=value`` is refused, or None when the value asks for nothing."""
    if value is None or value in _NO_OP.get(field, ()):
        return None
    return f"{field}={value!r} is not supported: " + _REFUSAL[field].format(value=value)


def ignore(field: str, value: Any) -> None:
    if value is not None:
        log.debug("%s is accepted and not sent: %s", field, FIELDS[field][1])
