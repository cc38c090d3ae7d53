"""Settings, read from ``MCN_*`` environment variables and an optional ``.env`` file.

One data directory holds everything mcn writes: the SQLite database, downloaded sources, transcripts and renders.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob mcn reads from the environment. Flags on the CLI override these per run."""

    model_config = SettingsConfigDict(env_prefix="MCN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./mcn-data"), description="Root for the database, sources and renders.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in the data dir. Postgres for many workers."
    )
    ffmpeg: str | None = Field(default=None, description="ffmpeg binary; default is imageio-ffmpeg's static one.")
    whisper_model: str = Field(
        default="base",
        description="faster-whisper size name (downloaded as usual) or a local CTranslate2 model directory.",
    )
    whisper_model_zh: str | None = Field(
        default=None,
        description="Model for Mandarin (same forms as whisper_model); the language is detected with whisper_model "
        "first. Unset: whisper_model decodes every language.",
    )
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_threads: int = 0
    whisper_batch_size: int = Field(default=8, description="Batched pipeline size; 0 disables batching.")
    detector: str = Field(default="heuristic", description="Selling-point backend: heuristic, openai, transformers.")
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = 60.0
    llm_price_per_1k_input: float = 0.0
    llm_price_per_1k_output: float = 0.0
    transformers_model_dir: Path | None = None
    font_family: str = Field(default="Noto Sans CJK SC", description="Caption font; must cover CJK.")
    # make-clips' render step: one task run per clip (flows/make_clips.py render_task_runner)
    render_workers: int = Field(
        default=1, ge=1, description="Clips rendered at once; ffmpeg already uses every core, so 1 on one box."
    )
    render_dask: str = Field(
        default="",
        description="Empty: render in the run's process; 'local': a Dask cluster of render_workers processes; "
        "tcp://host:8786: the Dask scheduler whose workers render (prefect-dask, the deploy extra).",
    )
    # remix voice-over (remix.tts): piper (offline, the bundled English voice) or openai (/v1/audio/speech)
    tts_backend: str = Field(default="piper", description="Voice-over backend: piper or openai.")
    tts_piper_voice: Path | None = Field(default=None, description="A Piper .onnx voice instead of the bundled one.")
    tts_base_url: str | None = Field(default=None, description="OpenAI-compatible TTS base URL (ending in /v1).")
    tts_api_key: SecretStr | None = None
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_languages: str = Field(default="", description="Comma list of languages the TTS endpoint speaks; empty: all.")
    tts_timeout_seconds: float = 60.0
    max_download_bytes: int = Field(default=8 * 1024**3, description="Refuse source URLs larger than this.")
    download_deadline_seconds: float = Field(
        default=3600.0, gt=0, description="A source download still running after this long is abandoned."
    )
    fetch_allow_private: bool = Field(
        default=False,
        description="Fetch source URLs from loopback, private and link-local addresses (your own intranet); "
        "off by default so a URL cannot reach internal services.",
    )

    # operations (mcn up): where Prefect automations send their notifications
    notify_block: str | None = Field(
        default=None,
        description="A Prefect notification block, type-slug/name (e.g. slack-webhook/ops), that mcn's automations "
        "notify (failed runs, failed or throttled posts, accounts needing a login, publish-due stalled).",
    )

    # accounts and publishing
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key for account sessions and tokens; default is a 0600 key file in the data dir.",
    )
    secret_key_file: Path | None = Field(default=None, description="Where the Fernet key lives when not given.")
    sandbox_url: str = Field(default="http://127.0.0.1:8700", description="The sandbox platform's base URL.")
    sandbox_publish_via: str = Field(
        default="auto", description="Sandbox publishing path: api, pages (Playwright) or auto (api with a token)."
    )
    browser_headless: bool = Field(default=True, description="Browser publishers run headless unless false.")
    publish_lease_seconds: float = Field(
        default=30.0,
        description="A claim lasts this long unless its dispatcher's heartbeat renews it (every third of it); "
        "another dispatcher takes over the claims of one that died after at most this.",
    )
    publish_grace_seconds: float = Field(
        default=2 * 3600.0, description="A post whose slot is older than this is re-slotted or failed (misfire)."
    )
    publish_max_attempts: int = Field(default=5, description="Safe retries before a post is failed.")
    publish_backoff_seconds: float = Field(default=60.0, description="First retry delay; doubles per attempt.")
    platform_limits: dict[str, dict[str, int | None]] = Field(
        default_factory=dict,
        description='JSON overrides of platform limits, e.g. {"sandbox": {"min_spacing_seconds": 0}}.',
    )
    publish_reconcile_delay_seconds: float = Field(
        default=30.0, description="Wait this long after an unknown outcome before asking the platform for the post."
    )
    publish_request_timeout_seconds: float = Field(
        default=30.0, description="One request to a platform gives up after this (the sandbox adapter's timeout)."
    )
    publish_reconcile_grace_seconds: float | None = Field(
        default=None,
        description="'Not on the platform' is final only this long after a publish's answer was lost (a platform "
        "may commit after the client gave up); default 2 x the request timeout + 60 s.",
    )

    # the affiliate product pool (alliance.ranking): what `mcn products list` excludes and how it scales
    pool_min_shop_score: float = Field(
        default=4.0, ge=0, le=5, description="Pool products whose shop score (5-point) is under this are excluded."
    )
    pool_banned_categories: str = Field(
        default="", description="Comma list of category ids (any level) or names the operator never promotes."
    )
    pool_views_per_post: float = Field(
        default=50.0, gt=0, description="Product page views one post brings (scales yuan per post, not the order)."
    )

    # the approval gate (publisher.plan): console projects ask for it per project (default on)
    require_approval: bool = Field(
        default=False,
        description="Plan every clip only once approved in the console (also the CLI's own clips); off: only clips "
        "of console projects that require approval wait for it. Rejected clips are never planned either way.",
    )

    # the GMV dashboard (mcn dashboard)
    dashboard_password: SecretStr | None = Field(
        default=None,
        description="Password the dashboard asks for before showing anything; required to serve it off loopback.",
    )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'mcn.db'}"

    @property
    def models_dir(self) -> Path:
        return self.resolved_data_dir / "models"

    @property
    def resolved_secret_key_file(self) -> Path:
        return (self.secret_key_file or self.resolved_data_dir / "secret.key").expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
