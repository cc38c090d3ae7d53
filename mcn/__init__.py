"""mcn: shared infrastructure (settings, database, CLI, doctor, sample media) for the clip factory and the
distribution engine. Domain logic lives in ``clipper/``, ``accounts/``, ``publisher/`` and ``analytics/``;
``flows/`` orchestrates them with Prefect."""

__version__ = "0.1.0"
