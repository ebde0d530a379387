"""Getting a loaded pipeline ready for one job: its sampler, its LoRAs, its prompt embeddings.

One `Conditioner` per loaded model holds what is worth keeping between jobs:
the schedulers built so far, the LoRAs loaded so far, the prompt encoder. A
job's `prepare` switches to what its recipe asks for and encodes its prompts;
the generator then runs the pipeline with `Prepared.call_arguments`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.generation.images import LoraUse
from daemon.generation.loras import Loras
from daemon.generation.prompts import PromptEncoder
from daemon.generation.recipes import Recipe
from daemon.generation.schedulers import SamplerRecord, Schedulers

__all__ = ["Conditioner", "Prepared"]

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    recipe: Recipe
    embeddings: dict[str, Any]  # prompt_embeds, pooled_prompt_embeds, negative_…
    sampler: SamplerRecord
    loras: list[LoraUse] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def call_arguments(self, images: int) -> dict[str, Any]:
        """The pipeline's prompt arguments for a batch of `images` of this prompt."""
        return {**self.embeddings, "num_images_per_prompt": images}


class Conditioner:
    """Made when the model loads (so it knows the scheduler the model came with) and
    kept with it: whatever uses the pipeline next finds its LoRAs as they are."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.schedulers = Schedulers(pipeline.scheduler)
        self.loras = Loras(pipeline)
        self._encoder: PromptEncoder | None = None

    def prepare(
        self,
        recipe: Recipe,
        prompt: str,
        negative_prompt: str,
        *,
        lora_dir: Path | None,
        max_prompt_tokens: int | None,
    ) -> Prepared:
        """Switch the pipeline to the recipe's sampler and LoRAs, then encode the prompts.

        LoRAs come first: those that train the text encoders change the embeddings.
        """
        scheduler = self.schedulers.get(recipe.scheduler)
        self.pipeline.scheduler = scheduler
        active = self.loras.apply(recipe.loras, lora_dir)
        if self._encoder is None:  # compel is imported on the first job, not at load
            self._encoder = PromptEncoder(self.pipeline)
        encoded = self._encoder.encode(
            prompt,
            negative_prompt,
            guidance_scale=recipe.guidance_scale,
            max_tokens=max_prompt_tokens,
        )
        if encoded.chunks > 1:
            log.info("prompt encoded whole in %d chunks of 77 tokens", encoded.chunks)
        return Prepared(
            recipe=recipe,
            embeddings=encoded.embeddings,
            sampler=Schedulers.record(scheduler, recipe.scheduler),
            loras=[LoraUse(lora.name, recipe.loras[lora.name], lora.short_hash) for lora in active],
            warnings=encoded.warnings,
        )
