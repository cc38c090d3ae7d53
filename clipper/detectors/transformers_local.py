"""Backend ``transformers``: a local causal language model directory, no network.

Needs the optional ``local-llm`` extra (``pip install 'mcn[local-llm]'``: torch and transformers); both are
imported only when this backend is constructed, so the default install does without them. The directory must
hold a model and tokenizer saved with ``save_pretrained`` (for example a Qwen2.5-Instruct download); files are
loaded with ``local_files_only``. The prompt is rendered with the tokenizer's chat template (a plain
``SYSTEM:/USER:/ASSISTANT:`` layout when it has none, noted in the result), decoding is greedy, and answers go
through the same validation, retry and heuristic fallback as the ``openai`` backend. Token counts are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from clipper.detectors.base import DetectionResult
from clipper.detectors.prompting import Completion, CompletionError, LLMDetector
from clipper.errors import DetectorError
from clipper.types import Product, ProductSegment, Transcript

log = logging.getLogger(__name__)

INSTALL_HINT = "install the local-llm extra: pip install 'mcn[local-llm]' (torch==2.13.0 and transformers)"


@dataclass(frozen=True, slots=True)
class TransformersOptions:
    """Settings of the ``transformers`` backend; ``model_dir`` defaults to ``MCN_TRANSFORMERS_MODEL_DIR``.

    ``threads`` sets torch's CPU threads (0 leaves torch's default).
    """

    model_dir: Path
    max_new_tokens: int = 768
    device: str = "cpu"
    max_points: int = 4
    max_sentences: int = 80
    threads: int = 0


class TransformersDetector(LLMDetector):
    """Selling points from a local Hugging Face causal LM; see the module docstring."""

    name = "transformers"

    def __init__(self, options: TransformersOptions | None = None, **overrides: Any) -> None:
        super().__init__()
        allowed = {f.name for f in fields(TransformersOptions)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise TypeError(f"unknown transformers option(s): {', '.join(unknown)}")
        if options is None:
            values = {k: v for k, v in overrides.items() if v is not None}
            if "model_dir" not in values:
                from mcn.settings import get_settings

                configured = get_settings().transformers_model_dir
                if configured is None:
                    raise DetectorError(
                        "transformers detector", "no model directory: set MCN_TRANSFORMERS_MODEL_DIR or pass model_dir"
                    )
                values["model_dir"] = configured
            values["model_dir"] = Path(values["model_dir"]).expanduser()
            options = TransformersOptions(**values)
        elif overrides:
            options = replace(options, **overrides)
        self.options = options
        self.max_points = options.max_points
        self.max_sentences = options.max_sentences
        directory = options.model_dir
        if not directory.is_dir():
            raise DetectorError(str(directory), "model directory does not exist")
        if not (directory / "config.json").is_file():
            raise DetectorError(str(directory), "not a transformers model directory (no config.json)")
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise DetectorError(
                "transformers detector", f"{exc.name or 'torch/transformers'} is missing; {INSTALL_HINT}"
            ) from None
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        self._torch = torch
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any loading failure is a bad model dir for the user
            raise DetectorError(str(directory), f"cannot load the model: {type(exc).__name__}: {exc}") from None
        self.model.to(options.device)
        self.model.eval()
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        config = self.model.config
        self.context = int(
            getattr(config, "max_position_embeddings", 0) or getattr(config, "n_positions", 0) or 1 << 30
        )

    def detect(
        self, transcript: Transcript, segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> DetectionResult:
        result = super().detect(transcript, segments, products)
        if self.has_chat_template:
            return result
        note = "the tokenizer has no chat template; used a plain SYSTEM/USER/ASSISTANT layout"
        return replace(result, notes=(*result.notes, note))

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt text: the model's chat template with the generation prompt appended."""
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return str(text)
        parts = [f"{m['role'].upper()}:\n{m['content']}" for m in messages]
        return "\n\n".join([*parts, "ASSISTANT:\n"])

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        torch = self._torch
        prompt = self.render(messages)
        encoded = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        input_ids = encoded["input_ids"].to(self.options.device)
        attention = encoded.get("attention_mask")
        n_in = int(input_ids.shape[-1])
        room = self.context - n_in
        if room < min(16, self.options.max_new_tokens):
            raise CompletionError(
                f"prompt of {n_in} tokens does not fit the model's context of {self.context}",
                retryable=False,
                sent=False,
            )
        budget = min(self.options.max_new_tokens, room)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        try:
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=attention.to(self.options.device) if attention is not None else None,
                    max_new_tokens=budget,
                    do_sample=False,
                    pad_token_id=pad,
                )
        except Exception as exc:  # noqa: BLE001 - generation failures fall back like HTTP errors
            raise CompletionError(f"generation failed: {type(exc).__name__}: {exc}") from None
        new = output[0, n_in:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(text=str(text), prompt_tokens=n_in, completion_tokens=int(new.shape[-1]))
