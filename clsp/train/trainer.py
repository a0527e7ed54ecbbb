"""``clsp train``: stage 1 (InfoNCE), stage 2 (multi-positive under the task scheduler) and stage 3
(stage 2's loss on Task 1 + ``loss.local_weight`` × the local loss of each clip's global caption against a
copy with one attribute flipped, :mod:`clsp.perturb`). Any stage can add time-aligned grounding
(``grounding.weight`` × FineLAP's frame loss, :mod:`clsp.grounding`).

Single process or ``torchrun`` DDP (NCCL on GPU, gloo on CPU). Each step:
draw the task (stage 2) → pick each clip's captions (stage 3: and perturb its global caption) → cut the
batch to the smallest batch over ranks → forward (bf16 autocast on CUDA) → loss × world_size backward (see
clsp.losses) → ScaledAdam step (its ``clipping_scale`` clips gradients) → Eden lr → clamp ``logit_scale``.
Checkpoints every N steps continue exactly; the final model is exported with ``save_pretrained``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from clsp.config import to_dict
from clsp.errors import ClspError
from clsp.grounding import GROUNDING_TARGETS, UNKNOWN, frame_labels, training_phrases
from clsp.losses import (FrameSigmoidLoss, InfoNCELoss, LocalContrastiveLoss, MultiPositiveInfoNCELoss, SigmoidLoss,
                         backward_scale)
from clsp.model import CLSPModel
from clsp.model.checkpoints import load_torch_file
from clsp.model.speech import set_batch_count
from clsp.perturb import perturb_caption
from clsp.train import checkpoint as ckpt
from clsp.train.config import TrainConfig
from clsp.train.data import (CaptionedAudioDataset, checked_train_manifest, make_sampler, open_train_cuts, select_texts,
                              take_rows, train_loader)
from schedulers.optim import build_optimizer, current_lrs
from schedulers.tasks import TASK_GLOBAL_FINE, TaskSampler

NOTHING_TO_PERTURB = "stage3: no attribute word to perturb (left out of the local loss)"
NO_SEGMENTS = "grounding: no style_segments (left out of the frame loss)"


def seed_everything(seed: int) -> None:
    """torch, numpy and Python ``random`` (Zipformer's Balancer/Whiten modules draw from it)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class FrozenTextCache:
    """Pooled outputs of a frozen text encoder, computed once per distinct caption (eval mode, no grad).

    ``__call__(texts) -> (M, D_text)``. A frozen encoder gives the same output every epoch, so the
    captions of a corpus are encoded once instead of every step.
    """

    def __init__(self, encoder: torch.nn.Module, device: torch.device, batch_size: int = 64):
        self.encoder, self.device, self.batch_size = encoder, device, batch_size
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        # by length, so each chunk pads little (long fine captions next to long ones)
        todo = sorted(dict.fromkeys(t for t in texts if t not in self.cache), key=len)
        if todo:
            was_training = self.encoder.training
            self.encoder.eval()
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start:start + self.batch_size]
                tok = self.encoder.tokenize(chunk, self.device)
                for text, vec in zip(chunk, self.encoder(tok["input_ids"], tok["attention_mask"]).float()):
                    self.cache[text] = vec
            self.encoder.train(was_training)
        return torch.stack([self.cache[t] for t in texts])


class _QuietOptimizerDiagnostics(logging.Filter):
    """ScaledAdam logs clipping diagnostics as root-logger warnings every few steps; keep them at debug
    verbosity (set CLSP_OPTIM_DIAGNOSTICS=1 to see them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.endswith(os.path.join("zipformer", "modules", "optim.py"))


if not os.environ.get("CLSP_OPTIM_DIAGNOSTICS"):
    logging.getLogger().addFilter(_QuietOptimizerDiagnostics())


class Trainer:
    def __init__(self, cfg: TrainConfig, data_dir: str | Path, out_dir: str | Path, init: str | Path | None = None,
                 progress: bool = True):
        self.cfg, self.out, self.progress = cfg, Path(out_dir), progress
        self.train_manifest = checked_train_manifest(data_dir)  # bad data stops here, before the model is built
        self._setup_distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)  # same initial weights on every rank
        self.model = self._setup_model(init)
        if cfg.add_speaker_branch and getattr(self.model.speech_encoder, "speaker", None) is None:
            self.model.add_speaker_branch(cfg.add_speaker_branch)
        if cfg.grounding.weight > 0 and self.model.frame_head is None:
            self.model.add_frame_head(cfg.grounding.head)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim)
        self.ddp = (torch.nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)
                    if self.world_size > 1 else self.model)
        self.loss_fn = self._setup_loss()
        self.local_loss = LocalContrastiveLoss(world_size=self.world_size)
        self.frame_loss = FrameSigmoidLoss(world_size=self.world_size, balance=cfg.grounding.balance)
        self.phrases, self.phrase_targets = training_phrases(GROUNDING_TARGETS)
        frozen_text = not any(p.requires_grad for p in self.model.text_encoder.parameters())
        self.text_cache = FrozenTextCache(self.model.text_encoder, self.device) if frozen_text else None
        self.tasks = TaskSampler.from_config(cfg.tasks) if cfg.stage == 2 else None
        self._setup_data(Path(data_dir))
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        # batches of this epoch train_step left out, and whether this process saw the epoch from its first batch
        self.whole_epoch, self.epoch_skipped = True, 0
        self.average = ({k: v.detach().clone().double() if v.is_floating_point() else v.clone()
                         for k, v in self.model.state_dict().items()} if cfg.average_period else None)
        self.skipped: Counter = Counter()
        seed_everything(cfg.seed + 1000 * self.rank)  # dropout, Zipformer's Balancer/Whiten draws differ per rank
        self._resume()  # ...or continue exactly where a checkpoint left off

    # ---- setup ------------------------------------------------------------------------------------
    def _setup_distributed(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        self.device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")

    def _setup_model(self, init: str | Path | None) -> CLSPModel:
        if init is not None:
            # the config's model section is not used, except that it alone may allow remote code
            model = CLSPModel.from_pretrained(init, trust_remote_code=self.cfg.model.text.trust_remote_code
                                              or self.cfg.model.speech.hf.trust_remote_code)
        else:
            model = CLSPModel(self.cfg.model)
        return model.to(self.device).train()

    def _setup_loss(self) -> torch.nn.Module:
        kind, r, w = self.cfg.loss_kind, self.rank, self.world_size
        if kind == "infonce":
            if self.cfg.stage != 1:
                raise ClspError("loss 'infonce' takes one caption per clip: use it with stage 1")
            return InfoNCELoss(rank=r, world_size=w)
        if kind == "multi_positive":
            if self.cfg.stage == 1:
                raise ClspError("loss 'multi_positive' needs two captions per clip: use it with stage 2 or 3")
            return MultiPositiveInfoNCELoss(weights=(self.cfg.loss.lam, 1 - self.cfg.loss.lam), rank=r, world_size=w)
        if self.model.logit_bias is None:
            raise ClspError("loss 'sigmoid' needs a logit bias: set model.logit_bias_init (e.g. -10)")
        return SigmoidLoss(num_positives=self.cfg.captions_per_clip, rank=r, world_size=w)

    def _setup_data(self, data_dir: Path) -> None:
        cuts = open_train_cuts(self.train_manifest)
        self.sampler = make_sampler(cuts, self.cfg.data, self.cfg.seed, self.rank, self.world_size)
        self.dataset = CaptionedAudioDataset(self.model.speech_encoder.input_spec, self.cfg.data.caption_status,
                                             self.cfg.data.caption_engines)

    def _loader(self) -> iter:
        return iter(train_loader(self.dataset, self.sampler, self.cfg.seed, self.epoch, self.batch_in_epoch,
                                 self.cfg.data.num_workers))

    # ---- checkpoints ------------------------------------------------------------------------------
    def _gather_rng(self) -> list:
        states = [None] * self.world_size
        if self.world_size > 1:
            dist.all_gather_object(states, ckpt.rng_state())
        else:
            states = [ckpt.rng_state()]
        return states

    def _save(self) -> None:
        rngs = self._gather_rng()
        if self.rank == 0:
            payload = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "rng": rngs, "whiten": ckpt.whiten_probs(self.model),
                "average": self.average, "skipped": dict(self.skipped), "config": to_dict(self.cfg),
                # a caption's cached vector depends slightly on the batch it was first encoded in:
                # keeping the cache keeps a resumed run identical to an uninterrupted one
                "text_cache": self.text_cache.cache if self.text_cache is not None else None,
            }
            ckpt.save_checkpoint(self.out / "checkpoints", self.step, payload, self.cfg.keep_checkpoints)
        if self.world_size > 1:
            dist.barrier()

    def _resume(self) -> None:
        path = ckpt.latest_checkpoint(self.out / "checkpoints")
        if path is None:
            return
        state = load_torch_file(path)  # weights_only: a crafted checkpoint cannot run code
        if state["config"]["stage"] != self.cfg.stage:
            raise ClspError(f"{path}: checkpoint is from stage {state['config']['stage']}, config is stage "
                            f"{self.cfg.stage}; use a new --out directory")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.whole_epoch = self.batch_in_epoch == 0
        ckpt.set_whiten_probs(self.model, state["whiten"])
        ckpt.set_rng_state(state["rng"][self.rank])
        self.average = state["average"]
        self.skipped = Counter(state["skipped"])
        if self.text_cache is not None and state.get("text_cache"):
            self.text_cache.cache = state["text_cache"]
        if self.rank == 0:
            print(f"train: resumed from {path} (step {self.step})")

    # ---- one step ---------------------------------------------------------------------------------
    def _next_batch(self) -> dict:
        while True:
            try:
                batch = next(self._iter)
                self.batch_in_epoch += 1
                return batch
            except StopIteration:
                if self.whole_epoch and 0 < self.batch_in_epoch == self.epoch_skipped:
                    # every batch of a whole epoch skipped (all audio unreadable, no usable captions): it
                    # would loop forever
                    reasons = ", ".join(f"{k} {v}" for k, v in self.skipped.most_common(4))
                    raise ClspError(f"{self.train_manifest}: a whole epoch of {self.batch_in_epoch} batches gave no "
                                    f"training step: every batch was left out (counts so far: {reasons})") from None
                if self.batch_in_epoch == 0:  # a whole epoch without one batch: it would loop forever
                    d = self.cfg.data
                    raise ClspError(
                        f"{self.train_manifest}: an epoch gave no batch (drop-last max-duration batches): the "
                        f"clips do not fill one batch of data.max_duration={d.max_duration} s in any of "
                        f"data.num_buckets={d.num_buckets} buckets; lower them or use more data") from None
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                self.whole_epoch, self.epoch_skipped = True, 0
                self.scheduler.step_epoch(self.epoch)  # Eden's epoch factor (optim.lr_epochs)
                self._iter = self._loader()

    def _min_over_ranks(self, n: int) -> int:
        if self.world_size == 1:
            return n
        t = torch.tensor([n], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    def _task(self) -> str | None:
        if self.cfg.stage == 3:  # the recipe's stage 3 always trains the global + fine task
            return TASK_GLOBAL_FINE
        return self.tasks.draw(self.step) if self.tasks else None

    def _perturbed(self, global_captions: list[str], rng: np.random.Generator) -> tuple[list[int], list[str]]:
        """Stage 3: (rows whose global caption has a word to flip, the perturbed copies); the rest are counted."""
        rows, texts = [], []
        for i, caption in enumerate(global_captions):
            p = perturb_caption(caption, rng)
            if p is None:
                self.skipped[NOTHING_TO_PERTURB] += 1
            else:
                rows.append(i)
                texts.append(p.text)
        return rows, texts

    def _frame_labels(self, styles: list[dict], num_frames: int, lengths: torch.Tensor) -> torch.Tensor:
        """(B, P, T) labels of every training phrase (its target's labels); padding frames unknown."""
        owner = self.phrase_targets
        out = np.full((len(styles), len(owner), num_frames), UNKNOWN, dtype=np.float32)
        for i, (style, n) in enumerate(zip(styles, lengths.tolist())):
            if style["segments"] is None:
                self.skipped[NO_SEGMENTS] += 1
                continue
            per_target = frame_labels(style["segments"], GROUNDING_TARGETS, int(n), self.model.frame_shift,
                                      style["voice_quality"])
            out[i, :, :n] = per_target[owner]
        return torch.from_numpy(out).to(self.device)

    def _loss_step(self, batch: dict) -> dict | None:
        self.skipped.update(batch["left_out"])  # clips whose audio could not be used
        task = self._task()
        rng = np.random.default_rng([self.cfg.seed, self.step, self.rank])
        rows, texts = select_texts(batch["captions"], task, rng, self.cfg.data.stage1_kinds, self.skipped)
        b = self._min_over_ranks(len(rows))  # labels index the global batch: the same B on every rank
        if b < 2:
            self.skipped["batch too small after caption filtering"] += 1
            return None
        batch = take_rows(batch, rows[:b])
        texts = [t for group in texts for t in group[:b]]
        local_rows, perturbed = [], []
        if self.cfg.stage == 3 and self.cfg.loss.local_weight > 0:
            local_rows, perturbed = self._perturbed(texts[:b], rng)  # texts[:b]: each clip's global caption
        grounding = self.cfg.grounding.weight > 0
        # one text batch: the captions, then the perturbed captions, then the grounding phrases
        all_texts = texts + perturbed + (self.phrases if grounding else [])
        cuda = self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=cuda and self.cfg.bf16):
            if self.text_cache is not None:
                text_args = {"text_pooled": self.text_cache(all_texts)}
            else:
                tok = self.model.text_encoder.tokenize(all_texts, self.device)
                text_args = {"input_ids": tok["input_ids"], "attention_mask": tok["attention_mask"]}
            out = self.ddp(batch["inputs"].to(self.device), batch["lengths"].to(self.device), frames=grounding,
                           **text_args)
            speech, text = out["speech_features"].float(), out["text_features"].float()
            scale, n = out["logit_scale"].float(), len(texts)
            args = [speech, text[:n], scale]
            if self.cfg.loss_kind == "sigmoid":
                args.append(out["logit_bias"].float())
            parts = {"clip": self.loss_fn(*args)["loss"]}
            loss = parts["clip"]
            if local_rows:
                index = torch.as_tensor(local_rows, device=speech.device)
                pairs = torch.stack([text[index], text[n:n + len(perturbed)]], dim=1)  # (B', 2, D): true, perturbed
                parts["local"] = self.local_loss(speech[index], pairs, scale)["loss"]
                loss = loss + self.cfg.loss.local_weight * parts["local"]
            if grounding:
                labels = self._frame_labels(batch["styles"], out["frame_features"].shape[1], out["frame_lengths"])
                parts["frame"] = self.frame_loss(out["frame_features"].float(), text[n + len(perturbed):], labels,
                                                 out["frame_logit_scale"].float(),
                                                 out["frame_logit_bias"].float())["loss"]
                loss = loss + self.cfg.grounding.weight * parts["frame"]
        self._stop_unless_finite(loss, batch["cut_ids"])
        (loss * backward_scale(self.world_size)).backward()
        return {"loss": float(loss.detach()), "task": task, "clips": b,
                "parts": {k: float(v.detach()) for k, v in parts.items()},
                "audio_seconds": self.dataset.input_spec.seconds(batch["lengths"])}

    def _stop_unless_finite(self, loss: torch.Tensor, cut_ids: list[str]) -> None:
        """A NaN/inf loss (on any rank) stops the run before the step is taken or any checkpoint written."""
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=self.device)
        if self.world_size > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item():
            shown = ", ".join(cut_ids[:8]) + (f", ... ({len(cut_ids)} cuts)" if len(cut_ids) > 8 else "")
            last = ckpt.latest_checkpoint(self.out / "checkpoints")
            raise ClspError(f"step {self.step + 1}: the loss is {float(loss.detach())} (not finite) on the batch of "
                            f"cuts {shown}; stopped before the step (last checkpoint: {last or 'none'})")

    # ---- the loop ---------------------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict | None:
        """One optimiser step on ``batch`` (this rank's share of the global batch): loss, backward (DDP averages
        the gradients), ScaledAdam step, Eden lr, logit-scale clamp, parameter average. None: skipped."""
        set_batch_count(self.model, self.step + (100000 if self.cfg.large_batch_count else 0))
        result = self._loss_step(batch)
        if result is None:
            self.epoch_skipped += 1
            return None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.clamp_logit_scale()
        self.step += 1
        self.scheduler.step_batch(self.step)
        if self.average is not None and self.step % self.cfg.average_period == 0:
            ckpt.update_average(self.average, self.model, self.step, self.cfg.average_period)
        return result

    def fit(self) -> Path:
        cfg = self.cfg
        writer = None
        if self.rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out / "tensorboard"))
        self._iter = self._loader()
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=f"stage {cfg.stage}", unit="step",
                   disable=not (self.progress and self.rank == 0))
        window = {"clips": 0, "audio": 0.0, "t": time.time(), "loss": [], "parts": {}}
        while self.step < cfg.max_steps:
            result = self.train_step(self._next_batch())
            if result is None:
                continue
            window["clips"] += result["clips"]
            window["audio"] += result["audio_seconds"]
            window["loss"].append(result["loss"])
            for k, v in result["parts"].items():
                window["parts"].setdefault(k, []).append(v)
            bar.update()
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                self._log(writer, bar, window)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.max_steps:
                self._save()
        bar.close()
        return self._export(writer)

    def _log(self, writer, bar, window: dict) -> None:
        dt = max(time.time() - window["t"], 1e-9)
        loss = float(np.mean(window["loss"]))
        scalars = {
            "train/loss": loss, "train/lr": max(current_lrs(self.optimizer)),
            "train/logit_scale": float(self.model.logit_scale.detach().exp()),
            "train/clips_per_s": window["clips"] * self.world_size / dt,
            "train/audio_s_per_s": window["audio"] * self.world_size / dt,
        }
        if self.tasks:
            scalars["train/p_task1"] = self.tasks.probability(self.step)
        if len(window["parts"]) > 1:  # the loss's parts (unweighted) when there are several
            scalars.update({f"train/loss_{k}": float(np.mean(v)) for k, v in window["parts"].items()})
        if self.model.frame_head is not None and self.cfg.grounding.weight > 0:
            calibration = self.model.frame_head.calibration
            scalars["train/frame_tau"] = float(calibration.logit_scale.detach().neg().exp())
            scalars["train/frame_bias"] = float(calibration.logit_bias.detach())
        if writer is not None:
            for k, v in scalars.items():
                writer.add_scalar(k, v, self.step)
            for reason, n in self.skipped.items():
                writer.add_scalar(f"skipped/{reason}", n, self.step)
        bar.set_postfix(loss=f"{loss:.3f}", scale=f"{scalars['train/logit_scale']:.1f}",
                        clips_s=f"{scalars['train/clips_per_s']:.1f}")
        window.update(clips=0, audio=0.0, t=time.time(), loss=[], parts={})

    def _export(self, writer) -> Path:
        model_dir = self.out / "model"
        if self.rank == 0:
            if self.average is not None:
                self.model.load_state_dict({k: v.to(self.model.state_dict()[k].dtype)
                                            for k, v in self.average.items()})
            self.model.save_pretrained(model_dir)
            summary = {"steps": self.step, "epochs": self.epoch, "skipped": dict(self.skipped),
                       "model": str(model_dir)}
            (self.out / "train_summary.json").write_text(json.dumps(summary, indent=2))
            if writer is not None:
                writer.close()
        if self.world_size > 1:
            dist.barrier()
        return model_dir


def train(cfg: TrainConfig, data_dir: str | Path, out_dir: str | Path, init: str | Path | None = None,
          progress: bool = True) -> Path:
    """Train per ``cfg`` on ``data_dir/cuts_train.jsonl.gz`` (or on ``data_dir``, a Shar export of such a manifest);
    returns the exported model directory."""
    return Trainer(cfg, data_dir, out_dir, init=init, progress=progress).fit()
