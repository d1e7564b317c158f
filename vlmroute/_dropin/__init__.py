"""The openai-SDK drop-in: ``vlmroute.OpenAI`` / ``vlmroute.AsyncOpenAI`` (see :mod:`.client`).

Importing this package imports openai; ``import vlmroute`` does not (names load lazily).
"""

from .client import AsyncOpenAI, OpenAI
from .convert import RoutedChatCompletion
from .stream import AsyncStream, Stream

__all__ = ["AsyncOpenAI", "AsyncStream", "OpenAI", "RoutedChatCompletion", "Stream"]
