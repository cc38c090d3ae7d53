"""The console: mcn's web app for brands and the operator (``mcn console serve``).

Brands log in, create projects, upload recordings with their product lists (in resumable chunks, probed before
they are kept), follow the clip run and approve or reject the clips. The operator sees every project, the clip
gallery (approve, reject, edit title and hook), the calendar of planned and published posts per account and day
(move or cancel a planned post within the caps), failed and unknown posts with a retry, and the accounts.

Core code: it imports no Prefect. Runs are handed to an injected :class:`console.runs.RunSubmitter` (a Prefect
deployment adapter in :mod:`mcn.console_cli`, or a background thread for a machine without a Prefect server).

This package file imports nothing, so ``mcn --help`` (which registers ``mcn console``) stays fast: import
:mod:`console.app` (``create_console_app``) and :mod:`console.runs` directly.
"""
