"""`builtin:tiny-sdxl`: a real StableDiffusionXLPipeline with tiny random weights.

It exists so tests, benchmarks and the demo run the whole workflow offline, on a
CPU, in well under a second per batch; its images are noise. Every part is the
real class SDXL uses, shaped like SDXL where that matters:

- two CLIP text encoders of DIFFERENT widths (32 and 48). diffusers' single-file
  loader tells SDXL's two encoders apart by width, so equal widths would make
  the model impossible to round-trip through one `.safetensors` checkpoint;
- a UNet with `addition_embed_type="text_time"`, cross-attention width 32 + 48
  (the encoders' penultimate hidden states are concatenated) and an
  added-condition input of 6 * addition_time_embed_dim + the projection width of
  text_encoder_2 (its pooled, projected output), as the pipeline computes it;
- a 4-block VAE, so latents are 1/8 of the image size as in SDXL and the cost
  grows with size the way it really does;
- a CLIPTokenizer over a byte-level vocabulary built in memory (no merges, so
  every byte is a token), which needs no download.

Weights are drawn from fixed seeds (inside `torch.random.fork_rng`, so the
caller's random state is untouched): two builds give byte-identical files.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemon.generation import hflibs

log = logging.getLogger(__name__)

# Bump when anything below changes: a cache built by an older builder is then
# left alone and a new one is built beside it. (v1 and v2 were used by earlier
# builders in this tree; v3 is the first of this one.)
TINY_VERSION = "tiny-sdxl-v3"

TEXT_WIDTH_1 = 32  # CLIP ViT-L's place in SDXL (768 there)
TEXT_WIDTH_2 = 48  # OpenCLIP bigG's place (1280 there); must differ from TEXT_WIDTH_1
PROJECTION_DIM = 32  # text_encoder_2's pooled projection (1280 there)
TIME_EMBED_DIM = 8  # addition_time_embed_dim (256 there)
MAX_TOKENS = 77


def tiny_model_dir(cache_dir: Path) -> Path:
    """Where the builtin model lives (built there on first use)."""
    return cache_dir / "models" / TINY_VERSION


def byte_vocabulary() -> dict[str, int]:
    """CLIP's byte-level alphabet: 256 byte symbols, each also as a word end, and
    the two special tokens last (as in CLIP, where they are the highest ids)."""
    symbols = _bytes_to_unicode()
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    vocab.update({f"{symbol}</w>": 256 + i for i, symbol in enumerate(symbols)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return vocab


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's printable stand-in for every byte value, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [mapping[b] for b in range(256)]


def make_tiny_pipeline() -> Any:
    """The tiny StableDiffusionXLPipeline in memory (deterministic weights)."""
    import torch
    import transformers

    diffusers = hflibs.diffusers()

    vocab = byte_vocabulary()
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=MAX_TOKENS)

    def text_config(width: int) -> Any:
        return transformers.CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=2,  # the pipeline reads the penultimate layer
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            projection_dim=PROJECTION_DIM,
            hidden_act="gelu",
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = diffusers.UNet2DConditionModel(
            sample_size=32,  # latent size of the 256x256 default
            in_channels=4,
            out_channels=4,
            # Three levels as in SDXL, attention only on the lowest one (SDXL also
            # attends on the middle one): 7x faster at 1024x1024 than attending
            # at 1/2 latent resolution, and faster at every size.
            block_out_channels=(32, 32, 64),
            layers_per_block=2,
            down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 2, 4),
            transformer_layers_per_block=(1, 1, 2),
            use_linear_projection=True,
            cross_attention_dim=TEXT_WIDTH_1 + TEXT_WIDTH_2,
            addition_embed_type="text_time",
            addition_time_embed_dim=TIME_EMBED_DIM,
            projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + PROJECTION_DIM,
            norm_num_groups=32,
        )
        torch.manual_seed(1)
        vae = diffusers.AutoencoderKL(
            in_channels=3,
            out_channels=3,
            block_out_channels=(8, 16, 32, 32),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=256,
            scaling_factor=0.13025,  # SDXL's
        )
        torch.manual_seed(2)
        text_encoder = transformers.CLIPTextModel(text_config(TEXT_WIDTH_1))
        torch.manual_seed(3)
        text_encoder_2 = transformers.CLIPTextModelWithProjection(text_config(TEXT_WIDTH_2))
    scheduler = diffusers.EulerDiscreteScheduler(  # SDXL base's scheduler config
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )


def save_tiny_taesd(target: Path, *, full_size: bool = False) -> Path:
    """An AutoencoderTiny for SDXL's latents with random weights, saved as a diffusers folder.

    For tests and benchmarks of `generation.previews: taesd` offline. Its
    pictures are noise; `full_size` gives taesdxl's own architecture (64
    channels, 3 blocks a level), so it costs what the real one costs.
    """
    import torch

    diffusers = hflibs.diffusers()
    channels, blocks = ((64,) * 4, (3, 3, 3, 1)) if full_size else ((8,) * 4, (1, 1, 1, 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        taesd = diffusers.AutoencoderTiny(
            encoder_block_out_channels=channels,
            decoder_block_out_channels=channels,
            num_encoder_blocks=blocks[::-1],
            num_decoder_blocks=blocks,
            latent_channels=4,
        )
    hflibs.quiet_progress_bars()
    taesd.save_pretrained(target, safe_serialization=True)
    return target


def build_tiny_sdxl(target: Path) -> Path:
    """Build the tiny pipeline into `target` and return it.

    Atomic: it is saved into a temp sibling folder, then renamed, so `target`
    either does not exist or is complete. A lock file beside it serialises
    concurrent builders (the second one finds the folder done and returns), and
    whoever holds the lock removes temp folders that a killed build left.
    An existing complete `target` is returned as it is.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target):
        if (target / "model_index.json").is_file():
            return target
        if target.exists():
            raise FileExistsError(
                f"{target} exists but is not a complete tiny-sdxl build: remove it"
            )
        for stale in target.parent.glob(f".{target.name}.tmp-*"):
            log.info("removing %s, left by an interrupted build", stale)
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            hflibs.quiet_progress_bars()
            make_tiny_pipeline().save_pretrained(staging, safe_serialization=True)
            staging.chmod(0o755)  # mkdtemp makes it 0700; a model folder is not secret
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    with (target.parent / f".{target.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
