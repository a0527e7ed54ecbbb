"""Step time, memory and model FLOPs utilisation of the paper's XLarge config (GPU).

CLSP stage 1 at the recipe's batch size: SPEAR-XLarge (Zipformer2, ~597M) + a roberta-base-sized text
encoder (random weights: no hub here), max-duration 800 s of audio per GPU batch, bf16 autocast,
symmetric InfoNCE, ScaledAdam with the recipe's per-module lr scales. Batches hold clips of one duration
(lhotse's bucketing makes batches near-uniform), one fine caption of ``--text-tokens`` tokens per clip.

Inputs: random fbank frames (128 bins, 100 Hz) and random token ids, made on the GPU; every clip of a batch
has the same length; no data loader, no audio decoding or fbank computation.

FLOPs two ways, printed side by side: the counter (``torch.utils.flop_counter.FlopCounterMode`` over one
forward + backward: matmuls, convolutions, attention, and also Zipformer's randomly-firing whitening penalties)
and an analytic approximation of the model's own work (:func:`analytic_flops`: 6 x parameters x the positions
they act on). MFU = analytic FLOPs / step time / peak dense bf16 FLOP/s of the GPU.

Run: python benchmarks/xlarge_step.py --tokenizer DIR [--durations 5 10 20 30] [--steps 5]
(DIR: any local tokenizer directory, e.g. the text_encoder/ folder of an exported model; only its
ids are used).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from clsp.config import load_config
from clsp.losses import InfoNCELoss
from clsp.model import CLSPModel
from clsp.model.speech import set_batch_count
from clsp.train.config import TrainConfig
from schedulers.optim import build_optimizer

REPO = Path(__file__).resolve().parents[1]
ROBERTA_BASE = {"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
                "type_vocab_size": 1, "pad_token_id": 1}
# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_flops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def analytic_flops(model: CLSPModel, batch: int, frames: int, text_tokens: int) -> float:
    """Approximate model FLOPs of one forward + backward (the "6 N D" rule, 2 forward + 4 backward per
    parameter per position): each Zipformer stack's parameters x the frames it runs on (``frames`` fbank frames at
    100 Hz -> ~50 Hz after the convolutional front end, then divided by the stack's downsampling factor), plus the
    text encoder's parameters (embedding tables left out: lookups, not matmuls) x its tokens. Not counted: the
    front end's convolutions, attention scores (T^2 terms), the loss. An approximation, stated as such."""
    enc = model.speech_encoder.encoder
    positions = batch * (frames // 2)
    speech = sum(sum(p.numel() for p in stack.parameters()) * positions / ds
                 for stack, ds in zip(enc.encoders, enc.downsampling_factor))
    text = sum(p.numel() for m in model.text_encoder.modules() if not isinstance(m, torch.nn.Embedding)
               for p in m.parameters(recurse=False))
    return 6.0 * (speech + text * batch * text_tokens)


def build(tokenizer: str, device: torch.device) -> tuple[CLSPModel, TrainConfig]:
    cfg = load_config(TrainConfig, REPO / "configs" / "clsp-xlarge-stage1.yaml",
                      [f"model.text.name_or_path={tokenizer}", f"model.text.config={json.dumps(ROBERTA_BASE)}"])
    model = CLSPModel(cfg.model, pretrained=False).to(device).train()
    set_batch_count(model, 100000)  # large_batch_count: Zipformer's scheduled values at their final values
    return model, cfg


def one_step(model, loss_fn, optimizer, batch) -> torch.Tensor:
    fbank, lengths, ids, mask = batch
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(fbank, lengths, input_ids=ids, attention_mask=mask)
        loss = loss_fn(out["speech_features"].float(), out["text_features"].float(), out["logit_scale"].float())["loss"]
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.clamp_logit_scale()
    return loss


def make_batch(duration: float, max_duration: float, text_tokens: int, device: torch.device):
    b = int(max_duration // duration)
    frames = int(duration * 100)  # 100 Hz fbank
    fbank = torch.randn(b, frames, 128, device=device)
    lengths = torch.full((b,), frames, dtype=torch.long, device=device)
    ids = torch.randint(5, 30000, (b, text_tokens), device=device)
    mask = torch.ones_like(ids)
    return fbank, lengths, ids, mask


def count_flops(model, loss_fn, batch) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    fbank, lengths, ids, mask = batch
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(fbank, lengths, input_ids=ids, attention_mask=mask)
            loss = loss_fn(out["speech_features"].float(), out["text_features"].float(),
                           out["logit_scale"].float())["loss"]
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True, help="a local tokenizer directory (its ids only are used)")
    ap.add_argument("--durations", type=float, nargs="+", default=[5.0, 10.0, 20.0, 30.0], help="clip seconds")
    ap.add_argument("--max-duration", type=float, default=800.0, help="seconds of audio per batch")
    ap.add_argument("--text-tokens", type=int, default=96)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("xlarge_step: needs a CUDA GPU")
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name()
    model, cfg = build(args.tokenizer, device)
    n_speech = sum(p.numel() for p in model.speech_encoder.parameters())
    n_all = sum(p.numel() for p in model.parameters())
    optimizer, _ = build_optimizer(model, cfg.optim)
    loss_fn = InfoNCELoss()
    peak = peak_flops(name)
    print(f"{name}: {n_all / 1e6:.0f}M parameters ({n_speech / 1e6:.0f}M speech encoder), bf16 autocast, "
          f"max-duration {args.max_duration:.0f} s, {args.text_tokens} text tokens per clip")
    print("inputs: random fbank and token ids on the GPU, one clip length per batch, no loader; TFLOP/step by the "
          "counter and analytic (6 x params x positions, approximate); TFLOP/s and MFU from the analytic count")
    print(f"{'clip s':>7} {'batch':>6} {'step s':>7} {'audio s/s':>10} {'counted':>8} {'analytic':>9} {'TFLOP/s':>8} "
          f"{'MFU':>6} {'peak GiB':>9}")
    rows = []
    for duration in args.durations:
        batch = make_batch(duration, args.max_duration, args.text_tokens, device)
        torch.cuda.reset_peak_memory_stats()
        for _ in range(2):  # warm-up (allocator, cuDNN autotuning)
            one_step(model, loss_fn, optimizer, batch)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            one_step(model, loss_fn, optimizer, batch)
        torch.cuda.synchronize()
        step_s = (time.perf_counter() - start) / args.steps
        counted = count_flops(model, loss_fn, batch)
        b, frames = batch[0].shape[:2]
        flops = analytic_flops(model, b, frames, args.text_tokens)
        achieved = flops / step_s
        mfu = achieved / peak if peak else float("nan")
        mem = torch.cuda.max_memory_allocated() / 2**30
        rows.append({"clip_seconds": duration, "batch": b, "step_seconds": step_s,
                     "audio_seconds_per_second": b * duration / step_s, "tflop_per_step_counted": counted / 1e12,
                     "tflop_per_step_analytic": flops / 1e12, "tflops": achieved / 1e12, "mfu": mfu,
                     "mfu_counted": counted / step_s / peak if peak else float("nan"), "peak_memory_gib": mem})
        print(f"{duration:7.0f} {b:6d} {step_s:7.3f} {b * duration / step_s:10.0f} {counted / 1e12:8.1f} "
              f"{flops / 1e12:9.1f} {achieved / 1e12:8.1f} {mfu:6.1%} {mem:9.1f}")
        del batch
    if args.json:
        args.json.write_text(json.dumps({"device": name, "parameters": n_all, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
