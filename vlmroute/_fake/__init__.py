"""Fake providers for tests; the public face is :mod:`vlmroute.testing`."""
