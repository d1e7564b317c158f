"""The openai-SDK drop-in: ``vlmroute.OpenAI`` / ``vlmroute.AsyncOpenAI`` (see :mod:`.client`).

Importing this package imports openai; ``import vlmroute`` does not (names load lazily).
"""

from .client import AsyncOpenAI, OpenAI

__all__ = ["AsyncOpenAI", "OpenAI"]
