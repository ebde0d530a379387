"""Prompts encoded whole for both SDXL text encoders, with A1111 weights, through compel.

CLIP reads 77 tokens at a time (75 and the start and end markers). A longer
prompt is encoded in chunks of that size, each with its own markers, and the
chunks' embeddings are concatenated, as AUTOMATIC1111 and compel do; the
pooled embedding SDXL also needs comes from the first chunk. BREAK starts a
new chunk. Chunks are split between words (compel's WORDS mode), so no word
is cut in two.

The weighting syntax is parsed by gladtui/promptsyntax.py (pure Python, so
`gladtui check` validates it without torch) and the weighted fragments go to
compel's embeddings provider, once per text encoder. For a short prompt
without weights the result is exactly what diffusers' own encoder gives.

`generation.max_prompt_tokens`, when set, is the only place a prompt is cut,
and never silently: the words it dropped come back as a warning for the task.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gladtui.promptsyntax import Fragment, ParsedPrompt, PromptSyntaxError, parse_prompt

__all__ = ["Encoded", "PromptEncoder", "cap_prompt"]

_WORD = re.compile(r"\s*\S+\s*|\s+")
_SHOWN_DROPPED = 200  # characters of dropped words quoted in a warning


@dataclass
class Encoded:
    """Keyword arguments for the pipeline call, and what could not be done as asked."""

    embeddings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    chunks: int = 1  # 77-token chunks of the prompt


class PromptEncoder:
    """Encodes prompts for one loaded SDXL pipeline (both text encoders)."""

    def __init__(self, pipeline: Any) -> None:
        from compel.embeddings_provider import (
            EmbeddingsProvider,
            ReturnedEmbeddingsType,
            SplitLongTextMode,
        )

        def provider(tokenizer: Any, encoder: Any) -> Any:
            return EmbeddingsProvider(
                tokenizer=tokenizer,
                text_encoder=encoder,
                truncate=False,  # whole prompts, in 77-token chunks
                returned_embeddings_type=ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED,
                split_long_text_mode=SplitLongTextMode.WORDS,
            )

        self._pipeline = pipeline
        self._providers = [
            provider(pipeline.tokenizer, pipeline.text_encoder),
            provider(pipeline.tokenizer_2, pipeline.text_encoder_2),
        ]

    def encode(
        self, prompt: str, negative: str, *, guidance_scale: float, max_tokens: int | None = None
    ) -> Encoded:
        """Embeddings for the pipeline; ValueError for a prompt that cannot be encoded.

        `max_tokens` (generation.max_prompt_tokens) cuts longer prompts, with a warning.
        """
        import torch

        warnings: list[str] = []
        with torch.no_grad():
            positive, chunks = self._encode_one(prompt, "prompt", max_tokens, warnings)
            encoded = Encoded(
                {"prompt_embeds": positive[0], "pooled_prompt_embeds": positive[1]},
                warnings,
                chunks,
            )
            if not self._uses_negative(guidance_scale):
                if negative.strip():
                    warnings.append(
                        f"negative_prompt has no effect at guidance_scale {guidance_scale:g} "
                        "(it is used above 1)"
                    )
                return encoded
            if not negative.strip() and self._pipeline.config.force_zeros_for_empty_prompt:
                # What diffusers does for SDXL base: no negative prompt is zeros, not "".
                negative_pair = (torch.zeros_like(positive[0]), torch.zeros_like(positive[1]))
            else:
                negative_pair, _ = self._encode_one(
                    negative, "negative_prompt", max_tokens, warnings
                )
            longest = max(positive[0].shape[1], negative_pair[0].shape[1])
            empty = torch.cat([p.empty_z for p in self._providers], dim=-1)
            both = [_pad_to(t, longest, empty) for t in (positive[0], negative_pair[0])]
            encoded.embeddings.update(
                prompt_embeds=both[0],
                negative_prompt_embeds=both[1],
                negative_pooled_prompt_embeds=negative_pair[1],
            )
        return encoded

    def _uses_negative(self, guidance_scale: float) -> bool:
        # diffusers' own condition for classifier-free guidance (LCM UNets embed guidance)
        return guidance_scale > 1 and self._pipeline.unet.config.time_cond_proj_dim is None

    def _encode_one(
        self, text: str, name: str, max_tokens: int | None, warnings: list[str]
    ) -> tuple[Any, int]:
        import torch

        try:
            parsed = parse_prompt(text)
        except PromptSyntaxError as exc:  # the task file was checked; an API prompt may not be
            raise ValueError(f"{name}: {exc}") from exc
        if max_tokens is not None:
            parsed, dropped = cap_prompt(parsed, self._count_tokens, max_tokens)
            if dropped:
                shown = (
                    dropped if len(dropped) <= _SHOWN_DROPPED else dropped[:_SHOWN_DROPPED] + "…"
                )
                warnings.append(
                    f"{name}: cut to {max_tokens} tokens (generation.max_prompt_tokens); "
                    f'dropped: "{shown}"'
                )
        chunks = [chunk for chunk in parsed.chunks if chunk] or [()]
        try:
            parts = [self._encode_chunk(chunk) for chunk in chunks]
        except RuntimeError as exc:  # compel could not place a weighted fragment's tokens
            raise ValueError(f"{name}: cannot apply its weights ({exc})") from exc
        embeddings = torch.cat(parts, dim=1)
        first = "".join(f.text for f in chunks[0])
        pooled = self._providers[1].get_pooled_embeddings([first], device=self._device())
        return (embeddings, pooled), embeddings.shape[1] // self._chunk_size()

    def _encode_chunk(self, fragments: Sequence[Fragment]) -> Any:
        import torch

        texts = [[f.text for f in fragments]]
        weights = [[f.weight for f in fragments]]
        halves = [
            provider.get_embeddings_for_weighted_prompt_fragments(
                text_batch=texts, fragment_weights_batch=weights, device=self._device()
            )
            for provider in self._providers
        ]
        # The two tokenizers chunk alike (one vocabulary); pad in case one did not.
        longest = max(half.shape[1] for half in halves)
        halves = [
            _pad_to(half, longest, provider.empty_z)
            for half, provider in zip(halves, self._providers, strict=True)
        ]
        return torch.cat(halves, dim=-1)

    def _count_tokens(self, text: str) -> int:
        ids = self._pipeline.tokenizer(text, add_special_tokens=False, truncation=False).input_ids
        return len(ids)

    def _chunk_size(self) -> int:
        return int(self._pipeline.tokenizer.model_max_length)

    def _device(self) -> Any:
        return self._pipeline.text_encoder.device


def _pad_to(embeddings: Any, length: int, empty_chunk: Any) -> Any:
    """Embeddings made `length` tokens long with empty-prompt chunks, as compel pads."""
    import torch

    while embeddings.shape[1] < length:
        embeddings = torch.cat([embeddings, empty_chunk], dim=1)
    return embeddings


def cap_prompt(
    parsed: ParsedPrompt, count_tokens: Callable[[str], int], limit: int
) -> tuple[ParsedPrompt, str]:
    """The prompt cut to `limit` tokens at a word boundary, and the words it dropped."""
    kept_chunks: list[tuple[Fragment, ...]] = []
    dropped: list[str] = []
    total = 0
    for chunk in parsed.chunks:
        kept: list[Fragment] = []
        for fragment in chunk:
            if dropped:
                dropped.append(fragment.text)
                continue
            words = _WORD.findall(fragment.text)
            taken = ""
            for number, word in enumerate(words):
                cost = count_tokens(word)
                if total + cost > limit:
                    dropped.extend(words[number:])
                    break
                taken += word
                total += cost
            if taken:
                kept.append(Fragment(taken, fragment.weight))
        kept_chunks.append(tuple(kept))
    return ParsedPrompt(tuple(kept_chunks)), " ".join(" ".join(dropped).split())
