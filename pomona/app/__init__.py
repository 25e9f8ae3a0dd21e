"""The front door: the ``pomona`` command line and the demo.

It sits above every package it drives (``features``, ``models``, ``training``, ``serving``);
nothing below imports it. The rest of :mod:`pomona` is the foundation (schemas, workspace,
configuration, data, the registry of use cases), which imports none of those packages.
"""
