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
    max_download_bytes: int = Field(default=8 * 1024**3, description="Refuse source URLs larger than this.")

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
