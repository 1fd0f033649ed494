"""Build a tiny random-weight Llama with a real byte-level BPE tokenizer and a ChatML template.

Nothing is downloaded: the tokenizer is trained on the Python standard library's own source
files, which are on every machine, and the weights are random from a fixed seed. The result
(~3.5 MB, ~10 s) is a real model folder that ``transformers serve`` and vLLM load as is; its
output is gibberish, so tests assert on structure, token usage and ``finish_reason``.

    python scripts/tiny_llm.py OUT_DIR [--seed 0] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_llm", "is_complete"]

SPECIAL_TOKENS = ["<|endoftext|>", "<s>", "<pad>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Written last: its presence means the folder is complete (a crashed build leaves none).
_MARKER = ".tiny-llm-complete"
_VOCAB_SIZE = 2048
_CORPUS_FILES = 400


def _corpus() -> Iterator[str]:
    """Text from the standard library's .py files, in a fixed order (deterministic training)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.is_file())[:_CORPUS_FILES]
    for path in files:
        yield path.read_text(encoding="utf-8", errors="replace")


def _train_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(str(out))


def _build_model(out: Path, seed: int) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    # head_dim 64 (128 / 2 heads): vLLM's CPU attention accepts only some head sizes.
    config = LlamaConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=_VOCAB_SIZE,
        max_position_embeddings=2048,
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("<|im_end|>"),
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    end_ids = [SPECIAL_TOKENS.index("<|im_end|>"), SPECIAL_TOKENS.index("<|endoftext|>")]
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=end_ids,
        pad_token_id=config.pad_token_id,
    )
    model.save_pretrained(str(out), safe_serialization=True)


def _make_readable(folder: Path) -> None:
    # mkdtemp and safetensors create owner-only files; images run the model as another user.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def is_complete(out: str | os.PathLike[str]) -> bool:
    """True when ``out`` holds a finished build (safe to reuse)."""
    return (Path(out) / _MARKER).is_file()


def build_tiny_llm(out: str | os.PathLike[str], *, seed: int = 0, force: bool = False) -> Path:
    """Build the model into ``out`` (reused when already complete, unless ``force``).

    The build goes to a sibling temporary folder that is renamed into place, so a concurrent
    or interrupted build never leaves a half-written model behind ``out``.
    """
    target = Path(out).resolve()
    if is_complete(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _train_tokenizer(staging)
        _build_model(staging, seed)
        (staging / _MARKER).write_text(json.dumps({"seed": seed}) + "\n", encoding="utf-8")
        _make_readable(staging)
        if target.exists():
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not is_complete(target):  # lost a race to another builder that did not finish
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even if complete")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    path = build_tiny_llm(args.out, seed=args.seed, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
