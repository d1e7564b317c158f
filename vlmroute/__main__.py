"""``python -m vlmroute``: the ``vlmroute`` command."""

from ._cli.main import entry

entry()
