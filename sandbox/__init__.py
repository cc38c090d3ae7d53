"""The sandbox platform: a local short-video platform with an affiliate program.

A real web server (FastAPI) with its own SQLite database: creator pages for browser automation, an API in the
style of the official ones, the platform's rules, fault knobs, and a seeded market model with a simulated clock.
It is the demo's default target, the test double for every publisher, and the market the feedback loop is judged
in. ``mcn sandbox serve`` runs it; :func:`sandbox.app.create_app` builds it; :mod:`sandbox.server` runs it in a
thread for tests. The admin oracle (``/api/admin/oracle``) is for evaluation only: nothing in mcn may read it.
"""
