"""Real English text that ships in a package, split and tokenized for the
GPT-2 measurement of issue 19 (``train_tiny_gpt2.py``, ``bench_compress_lm.py``).

The corpus is the reStructuredText source of the Python documentation that
Debian's ``python3-doc`` package installs under
``/usr/share/doc/python3.11/html/_sources`` (about 500 files, 12 MB): real
prose with code, no download. Files are split, not lines, so that no
document contributes to two splits; a file's split comes from a hash of its
relative path, so the split does not depend on the order of the file system
or on which other files exist. The byte-level BPE tokenizer is trained on
the training split only, so that the held-out test text is held out from it
too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

DOCS = Path("/usr/share/doc/python3.11/html/_sources")
"""Where ``python3-doc`` puts the reST sources."""

SPLITS = ("train", "validation", "test")
EOS = "<|endoftext|>"
"""The one special token: ends every document, as in GPT-2."""


def corpus_files(root: Path = DOCS) -> list[Path]:
    """Every ``*.rst.txt`` under ``root``, sorted; a missing folder is one clear line."""
    if not root.is_dir():
        raise SystemExit(f"{root} is missing: install the corpus with `apt-get install python3-doc`")
    files = sorted(root.rglob("*.rst.txt"))
    if not files:
        raise SystemExit(f"no *.rst.txt under {root}: install the corpus with `apt-get install python3-doc`")
    return files


def split_of(relative: str, validation: float = 0.05, test: float = 0.10) -> str:
    """The split of one file, from a SHA-256 of its relative path (stable across machines)."""
    u = int.from_bytes(hashlib.sha256(relative.encode()).digest()[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


def split_files(root: Path = DOCS) -> dict[str, list[Path]]:
    """The corpus' files by split, each list sorted by path."""
    out: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for f in corpus_files(root):
        out[split_of(f.relative_to(root).as_posix())].append(f)
    return out


def read_texts(files: list[Path]) -> list[str]:
    """The files' text, one string per document (UTF-8; the few bad bytes replaced)."""
    return [f.read_text(encoding="utf-8", errors="replace") for f in files]


def train_tokenizer(texts: list[str], vocab_size: int = 8192) -> Tokenizer:
    """A byte-level BPE like GPT-2's, trained on ``texts`` only.

    Byte-level so that every byte of the held-out text has a token (no
    unknown token); the EOS token is appended to each encoded document by
    the post-processor so that documents are separated in the stream.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, tok.token_to_id(EOS))])
    return tok


def encode_stream(tok: Tokenizer, texts: list[str]) -> torch.Tensor:
    """All documents' token ids, concatenated (each ends with EOS), as one int64 vector."""
    ids: list[int] = []
    for enc in tok.encode_batch(texts):
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


def chunks(stream: torch.Tensor, length: int) -> torch.Tensor:
    """Non-overlapping windows of ``length`` tokens (the tail that does not fill one is dropped)."""
    n = stream.numel() // length
    return stream[: n * length].view(n, length)


def hf_tokenizer(tok: Tokenizer, max_length: int):
    """The tokenizer wrapped for ``save_pretrained`` next to the model, so the folder is self-contained."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, model_max_length=max_length
    )


def load_tokenizer(folder: Path) -> Tokenizer:
    """The ``tokenizers`` object saved by ``train_tiny_gpt2.py`` (``tokenizer.json`` in the model folder)."""
    return Tokenizer.from_file(str(folder / "tokenizer.json"))
