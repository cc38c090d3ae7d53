"""The feedback loop: what posts earned, and what to post next.

* :mod:`analytics.orders` - affiliate orders from alliance exports and platform APIs, stored idempotently with
  forward-only flow points; :mod:`analytics.fields` reads spreadsheet cells.
* :mod:`analytics.attribution` - orders joined to posts by the tracking code, unattributed ones by reason.

Core code: no Prefect here (``flows/`` orchestrates).
"""
