"""Train the small GPT-2 that ``bench_compress_lm.py`` compresses (issue 19).

A GPT-2-style model (Hugging Face ``GPT2Config``: 4 layers, width 256, 4
heads, MLP width 1024, context 256, vocabulary 8192; about 5 million
parameters) trained from scratch on CPU on the Python documentation's reST
sources (``lm_text.py``), with a byte-level BPE tokenizer trained on the
training split. Every setting is an argparse default, so that

    nice -n 5 python benchmarks/train_tiny_gpt2.py

regenerates ``out/tiny-gpt2/`` (the model with safetensors, its tokenizer and
``training.json``: settings, wall time, validation perplexity). Seeded; the
same machine and thread count give the same weights, other machines may
differ in the last bits.

Sizing: on the 2-core VM of ``benchmarks/README.md``, alone, a step (16
windows of 256 tokens) takes about 2 s with 2 threads (about 2,000 tokens/s);
shared with three other jobs it took 6 to 9 s. The default 300 steps
(1.2 million tokens, half an epoch of the training split) were chosen to fit
in about half an hour on the shared machine; ``--steps 20`` is a quick check
of the whole path.

``--arch llama`` trains instead a Llama-style model of the same size (HF
``LlamaConfig``: 4 layers, width 256, 4 heads, RMSNorm, rotary positions, a
gated SiLU MLP of width ``--intermediate`` 688 without biases, so that its
3 x 256 x 688 = 528,384 MLP weights per block match the GPT-2's 525,568; tied
embeddings), with the same tokenizer, corpus and optimizer settings. It is
the bias-free down-projection of issue 19; the command recorded in
``benchmarks/README.md`` is

    nice -n 5 python benchmarks/train_tiny_gpt2.py --arch llama --out out/tiny-llama --steps 170 --eval-every 85
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lm_text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every setting of the run; the defaults are the ones recorded in ``benchmarks/README.md``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=("gpt2", "llama"), default="gpt2")
    p.add_argument("--out", type=Path, default=Path("out/tiny-gpt2"))
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-inner", type=int, default=1024)
    p.add_argument("--intermediate", type=int, default=688, help="gated MLP width of --arch llama")
    p.add_argument("--seq", type=int, default=256, help="context length (n_positions) and training window")
    p.add_argument("--batch", type=int, default=16, help="windows per step")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_model(args: argparse.Namespace, vocab_size: int, eos_id: int):
    """The GPT-2 (or Llama) of the settings, initialised by Hugging Face's own scheme (seeded by the caller)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if args.arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=args.n_embd,
            intermediate_size=args.intermediate,
            num_hidden_layers=args.n_layer,
            num_attention_heads=args.n_head,
            num_key_value_heads=args.n_head,
            max_position_embeddings=args.seq,
            hidden_act="silu",
            attention_bias=False,
            mlp_bias=False,
            attention_dropout=args.dropout,
            tie_word_embeddings=True,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        )
        return LlamaForCausalLM(config)

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.seq,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_inner=args.n_inner,
        activation_function="gelu_new",
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    return GPT2LMHeadModel(config)


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to ``min_lr`` at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))


def optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on biases, norms), as usual for GPT-2."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))


@torch.no_grad()
def perplexity(model: torch.nn.Module, windows: torch.Tensor, batch: int = 32) -> float:
    """exp of the mean next-token cross-entropy over every position of ``windows``."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch):
        x = windows[i : i + batch]
        logits = model(input_ids=x).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"
        )
        total += loss.item()
        count += x[:, 1:].numel()
    model.train()
    return math.exp(total / count)


def train(args: argparse.Namespace) -> dict:
    """Tokenize, train, save; returns the record written to ``training.json``."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    files = lm_text.split_files()
    t0 = time.perf_counter()
    tok = lm_text.train_tokenizer(lm_text.read_texts(files["train"]), args.vocab)
    eos = tok.token_to_id(lm_text.EOS)
    train_windows = lm_text.chunks(lm_text.encode_stream(tok, lm_text.read_texts(files["train"])), args.seq)
    val_windows = lm_text.chunks(lm_text.encode_stream(tok, lm_text.read_texts(files["validation"])), args.seq)
    model = build_model(args, tok.get_vocab_size(), eos)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params:,} parameters; {train_windows.numel():,} training tokens in {len(train_windows)} windows")
    opt = optimizer(model, args)
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(train_windows), generator=gen)
    cursor, history = 0, []
    t_train = time.perf_counter()
    model.train()
    for step in range(args.steps):
        if cursor + args.batch > len(order):
            order, cursor = torch.randperm(len(train_windows), generator=gen), 0
        x = train_windows[order[cursor : cursor + args.batch]]
        cursor += args.batch
        for g in opt.param_groups:
            g["lr"] = learning_rate(step, args)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        if step % 20 == 0 or step == args.steps - 1:
            el = time.perf_counter() - t_train
            tps = (step + 1) * args.batch * args.seq / el
            print(f"step {step:5d} loss {loss.item():.3f} lr {g['lr']:.2e} {el:7.0f}s {tps:,.0f} tok/s", flush=True)
        if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
            ppl = perplexity(model, val_windows)
            history.append({"step": step + 1, "train_loss": loss.item(), "val_ppl": ppl})
            print(f"  validation perplexity {ppl:.2f}", flush=True)
    train_seconds = time.perf_counter() - t_train
    record = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "parameters": n_params,
        "train_tokens_in_split": train_windows.numel(),
        "tokens_seen": args.steps * args.batch * args.seq,
        "epochs": args.steps * args.batch / len(train_windows),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "validation_perplexity": history[-1]["val_ppl"],
        "history": history,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    save(model, tok, args, record)
    return record


def save(model, tok, args: argparse.Namespace, record: dict) -> None:
    """The model (safetensors), the tokenizer (``tokenizer.json`` and HF files) and ``training.json``."""
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save(str(args.out / "tokenizer.json"))
    lm_text.hf_tokenizer(tok, args.seq).save_pretrained(args.out)
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Train and print the record."""
    record = train(parse_args(argv))
    print(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
