"""Creator accounts registry: platform, handle, persona, caps, posting windows, encrypted sessions and tokens.

Modules (each a small facade; nothing here imports Prefect):

* ``registry``: accounts as frozen :class:`~accounts.registry.Account` values; add/upsert/list, statuses
  (active, needs_login, paused, banned), ``resume_due`` and ``posts_today``.
* ``windows``: posting windows (``"HH:MM-HH:MM"`` local, never across midnight) and ``slot_bounds`` in UTC.
* ``vault``: Fernet-encrypted secrets (``store_secret``, ``load_credentials``, ``delete_secrets``); the key is
  ``MCN_SECRET_KEY`` or a 0600 key file in the data dir.
* ``importer``: CSV import with per-line problems; ``login``: browser login and session checks;
  ``cli``: ``mcn accounts``.

Expected errors are :class:`accounts.errors.AccountError` (one line, never a secret).
"""
