"""Fraud data: payment transactions with a 0/1 label, and optionally the merchants. Synthetic
rows carry the marketplace's documented fraud patterns; the vehicle-insurance claims and the
credit-card dataset import as published."""

from __future__ import annotations

from pomona.schemas import ACCOUNT_ID, MERCHANT_ID, TRANSACTION_ID, TS

IS_FRAUD = "is_fraud"  # the label: 0/1

TABLES = {"transactions": {TRANSACTION_ID: "int", ACCOUNT_ID: "int", MERCHANT_ID: "int", TS: "time",
                           IS_FRAUD: "label01"}}
OPTIONAL_TABLES = {"merchants": {MERCHANT_ID: "int", TS: "time"}}
# The generator's diagnostic of which pattern made a fraud: derived from the label, never a feature.
NON_FEATURE_COLUMNS = {"transactions": frozenset({"fraud_pattern"})}
IMPORTERS = {"vehicle-insurance-fraud": "pomona.data.importers.fraud_csv:import_vehicle_insurance",
             "creditcard-fraud": "pomona.data.importers.fraud_csv:import_creditcard"}


def chunks(scale) -> int:
    return -(-scale.users // scale.user_block)


def generate(syn, w) -> None:
    """Every account's payments (legitimate and fraudulent), then the merchants."""
    from pomona.data import _fraud

    merchants = _fraud.Merchants(syn.scale, syn.seed)
    for chunk in _fraud.transactions(syn.world, merchants, syn.scale, syn.seed, on_block=syn.tick):
        w.append("transactions", chunk)
    w.append("merchants", merchants.frame())
