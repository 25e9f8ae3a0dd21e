"""The services of a built Bento: the same :mod:`serving.service` classes.

``serving/build.py`` writes ``pomona_bento.json`` at the root of the Bento's source folder and
the champion's MLflow model folder under ``pomona_model/<use-case>/``; with that manifest
present, the runtime answers with the packaged model (:mod:`serving.packaged`) and never
hot-reloads (a Bento is immutable; ship a new one to change the model). The feature store is
not packaged: the Bento reads ``$POMONA_HOME``, with the store configuration copied in at build
time (``pomona_store.yaml``) unless ``$POMONA_CONFIG`` overrides it.
"""

from __future__ import annotations

from serving import service


def __getattr__(name: str):  # serving.bento_entry:<Service>, as the bentofile names it
    return getattr(service, name)
