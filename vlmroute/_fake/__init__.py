"""Fake provider servers for tests and benchmarks; the public face is :mod:`vlmroute.testing`.

=============  ==============================================================================
config.py      :class:`FakeConfig`: what a fake says and how (pure)
faults.py      :class:`Fault` values and the thread-safe queue of injected ones (pure)
wire.py        each provider's wire format: answers, stream chunks, error bodies (pure)
stats.py       :class:`FakeStats` snapshots, :class:`RecordedRequest`, the counters
chat.py        the ``POST {base}/chat/completions`` handler: auth, faults, cap, answers
server.py      the aiohttp application, local-server and control endpoints, open and abort
loop.py        an event loop in a daemon thread
provider.py    :class:`FakeProvider`: a fake in a background thread of this process
spawn.py       :class:`SpawnedFake`: a fake in a child process, driven over HTTP
cli.py         ``python -m vlmroute.testing serve``
=============  ==============================================================================
"""
