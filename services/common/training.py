"""What every level's trainer shares: the training loop, resumable
checkpoint directories (weights + card + optimizer state, all
safetensors/JSON, never pickle), the learning-rate schedule, the corpus id a
model card names and the unigram baseline its metrics are read against.

A checkpoint directory `out/checkpoints/step-NNNNNNN/` is written whole into
a temporary directory and then renamed, so an interrupted save never looks
like a checkpoint and a rerun resumes from the newest complete one. The batch
and dropout masks of step s come from the generator seeded with (seed, s), so
a resumed run trains exactly as an uninterrupted one."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from safetensors.torch import load_file, save_file

from hiermusic.services.common.checkpoint import ModelCard, load_checkpoint, save_checkpoint

CHECKPOINTS = "checkpoints"
SPLITS = ("train", "valid", "test")
# Training settings a resumed run may change: how long it runs and how it
# reports. Any other (learning rate, batch, seed, data...) makes another run.
MAY_CHANGE_ON_RESUME = frozenset({"steps", "log_every", "eval_every", "eval_songs", "checkpoint_every",
                                  "keep_checkpoints", "listen_clips", "threads", "device", "audio_cache"})

Log = Callable[[str], None]
Item = TypeVar("Item")


class LoopConfig(Protocol):
    """The fields of a trainer's config that the loop reads; every *TrainConfig has them."""

    steps: int
    lr: float
    warmup: int
    grad_clip: float
    eval_every: int
    checkpoint_every: int
    keep_checkpoints: int
    seed: int


@dataclass
class Schedule:
    """Linear warmup, then cosine down to `floor` of the peak."""

    lr: float
    steps: int
    warmup: int
    floor: float = 0.1

    def at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.lr * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Each parameter group at the schedule's rate times its own `lr_scale` (1 if it has none)."""
        for group in optimizer.param_groups:
            group["lr"] = self.at(step) * group.get("lr_scale", 1.0)


def learning_rate_schedule(config: LoopConfig) -> Schedule:
    return Schedule(config.lr, config.steps, config.warmup)


def corpus_id(data_dir: Path) -> str:
    """Names the corpus a model was trained on: its build settings' digest and
    its semantic tokenizer."""
    data_dir = Path(data_dir).resolve()  # `corpus`, `./corpus` and its full path are one corpus (caches key on it)
    build = data_dir / "build.json"
    digest = hashlib.sha256(build.read_bytes()).hexdigest()[:12] if build.is_file() else "unknown"
    tokenizer = data_dir / "semantic_tokenizer.json"
    tokenizer_id = json.loads(tokenizer.read_text())["tokenizer_id"] if tokenizer.is_file() else "none"
    return f"{data_dir} (build {digest}, tokenizer {tokenizer_id})"


def by_split(items: list[Item]) -> dict[str, list[Item]]:
    """The items (anything with a `split`) of each split, in order."""
    return {name: [item for item in items if item.split == name] for name in SPLITS}


def describe_splits(groups: dict[str, list]) -> str:
    return "songs: " + ", ".join(f"{name} {len(group)}" for name, group in groups.items())


def unigram_entropy(tokens: Iterable[torch.Tensor]) -> float:
    """Entropy in nats of the tokens' frequencies: the cross-entropy of a
    model that ignores every input."""
    counts = [torch.bincount(t.flatten().long()).double() for t in tokens]
    total = torch.zeros(max(len(c) for c in counts), dtype=torch.float64)
    for c in counts:
        total[: len(c)] += c
    p = total[total > 0] / total.sum()
    return float(-(p * p.log()).sum())


def drums_evidence(songs: Iterable[tuple[bool, torch.Tensor]], vocab: int) -> torch.Tensor:
    """float32 [3, vocab], indexed by levels_pb2.Drums value: 0 for unsaid,
    then log p(drums | token) and log p(no drums | token) over the songs'
    tokens (each song: whether it has drums, its token ids), counts smoothed
    by half a frame. A table the sampler adds to or floors its logits with,
    so that what a prompt says of drums reaches every step."""
    counts = torch.full((2, vocab), 0.5, dtype=torch.float64)
    for drums, tokens in songs:
        counts[0 if drums else 1] += torch.bincount(tokens.flatten().long(), minlength=vocab)[:vocab]
    evidence = torch.zeros(3, vocab)
    evidence[1:] = (counts / counts.sum(0)).log().float()
    return evidence


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Per-parameter optimizer state flattened for safetensors: 'index/name'."""
    return {f"{i}/{name}": torch.as_tensor(value).detach().cpu().contiguous()
            for i, state in optimizer.state_dict()["state"].items() for name, value in state.items()}


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split("/")
        state.setdefault(int(index), {})[name] = value
    # Hyperparameters come from the config and the schedule, not the file.
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def step_dirs(out_dir: Path) -> list[Path]:
    return sorted((Path(out_dir) / CHECKPOINTS).glob("step-[0-9]*[0-9]"))


def save_step(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
              card: ModelCard, keep: int) -> Path:
    """Writes `name.safetensors` (+ card) per module and `name.optimizer.safetensors`
    per optimizer into one step directory; keeps the newest `keep` of them."""
    final = Path(out_dir) / CHECKPOINTS / f"step-{card.steps:07d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for name, module in modules.items():
        save_checkpoint(module, card, tmp / f"{name}.safetensors")
    for name, optimizer in optimizers.items():
        save_file(optimizer_tensors(optimizer), str(tmp / f"{name}.optimizer.safetensors"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in step_dirs(out_dir)[: -max(keep, 1)]:  # the one just written always stays
        shutil.rmtree(old)
    return final


def resume(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
           config: dict) -> ModelCard | None:
    """Loads the newest step directory into `modules` and `optimizers` and
    returns its card, or None when there is none. `config` is the model
    config as the card stores it: a directory made with another architecture
    is refused rather than half-loaded."""
    dirs = step_dirs(out_dir)
    if not dirs:
        return None
    card = None
    for name, module in modules.items():
        state, card, _ = load_checkpoint(dirs[-1] / f"{name}.safetensors")
        saved = card.model_config
        if saved != json.loads(json.dumps(config)):
            raise ValueError(f"{dirs[-1]} holds a different architecture; use another out_dir")
        module.load_state_dict(state)
    for name, optimizer in optimizers.items():
        load_optimizer(optimizer, load_file(str(dirs[-1] / f"{name}.optimizer.safetensors")))
    return card


@dataclass
class Run:
    """One training run into out_dir: the modules its step checkpoints hold
    ("model" is the one a trainer serves), their optimizer, and where it
    stands, carried over from the checkpoint it resumed."""

    out_dir: Path
    modules: dict[str, torch.nn.Module]
    optimizer: torch.optim.Optimizer
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    wall_before: float = 0.0  # seconds the runs it resumed trained
    started: float = 0.0  # time.monotonic() at this run's first step
    first_step: int = 0
    steps_per_s: float = 0.0
    # The checkpoint a warm-started run began from (path, version, steps,
    # data), kept in every card it writes so the lineage survives resumes.
    init_from: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, out_dir: Path, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
              model_config: Any, log: Log, config: Any, data_dir: Path) -> "Run":
        """A run from the newest checkpoint in out_dir (loaded into the modules
        and the optimizer), or from step 0 when there is none. `model_config`
        is the model's config dataclass, as its card stores it; `config` the
        trainer's config and `data_dir` the corpus, which a resumed run must
        share with the run it continues (MAY_CHANGE_ON_RESUME aside)."""
        run = cls(Path(out_dir), modules, optimizer)
        if card := resume(run.out_dir, modules, {"model": optimizer}, asdict(model_config)):
            check_same_run(card, config, data_dir, run.out_dir)
            run.step, run.wall_before, run.metrics = card.steps, card.wall_time_s, dict(card.metrics)
            run.init_from = dict(card.config.get("training", {}).get("init_from", {}))
            log(f"resuming from {run.out_dir / CHECKPOINTS} at step {run.step}")
        return run

    def wall_time_s(self) -> float:
        return self.wall_before + time.monotonic() - self.started

    def card(self, card: ModelCard, data_dir: Path, config: Any, **training: Any) -> ModelCard:
        """`card` filled in with the run so far. How it was trained (`config`
        but its model, and `training`) rides along in the card's config;
        loading the model ignores it."""
        # A warm-started run is trained even at step 0 (e.g. a run that only
        # adds corpus tables to weights trained before).
        trained = self.step > 0 or bool(self.init_from)
        made = replace(card, trained=trained, data=corpus_id(data_dir), steps=self.step,
                       metrics=dict(self.metrics), wall_time_s=self.wall_time_s())
        made.config["training"] = {k: v for k, v in asdict(config).items() if k != "model"} | training
        if self.init_from:
            made.config["training"]["init_from"] = dict(self.init_from)
        return made

    def finish(self, card: ModelCard, path: Path) -> dict:
        """Saves the model with its final card at `path`; what a trainer returns."""
        save_checkpoint(self.modules["model"], card, path)
        return {"steps": self.step, "wall_time_s": card.wall_time_s, "metrics": dict(self.metrics),
                "checkpoint": str(path), "steps_per_s": self.steps_per_s}


def warm_start(run: Run, model: torch.nn.Module, checkpoint: str, log: Log) -> None:
    """A fresh run starts from `checkpoint`'s weights instead of random ones
    (a resumed run already has its own). Parameters the checkpoint lacks,
    layers added since it was made, keep their initial values; anything else
    that differs is an error, not a silent partial load."""
    if not checkpoint or run.step > 0:
        return
    state, card, _ = load_checkpoint(Path(checkpoint))
    ours = model.state_dict()
    resized = sorted(k for k, v in state.items() if k in ours and v.shape != ours[k].shape)
    if resized:
        raise ValueError(f"{checkpoint} does not fit this model (another size or vocabulary): "
                         + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(ours[k].shape)}" for k in resized[:4]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"{checkpoint} has weights this model does not: {', '.join(sorted(unexpected))}")
    run.init_from = {"checkpoint": checkpoint, "version": card.version, "steps": card.steps, "data": card.data}
    log(f"starting from {checkpoint} ({card.version}, {card.steps} steps)"
        + (f"; new here: {', '.join(sorted(missing))}" if missing else ""))


def check_same_run(card: ModelCard, config: Any, data_dir: Path, out_dir: Path) -> None:
    if card.data and card.data != corpus_id(data_dir):
        raise ValueError(f"{out_dir} was trained on {card.data}, not {corpus_id(data_dir)}; use another out_dir")
    saved = card.config.get("training", {})
    now = json.loads(json.dumps({k: v for k, v in asdict(config).items() if k != "model"}))
    changed = sorted(k for k in now.keys() & saved.keys() if now[k] != saved[k] and k not in MAY_CHANGE_ON_RESUME)
    if changed:
        were = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in changed)
        raise ValueError(f"{out_dir} was trained with other settings ({were}); only "
                         f"{', '.join(sorted(MAY_CHANGE_ON_RESUME & now.keys()))} may change on resume")


def other_losses(running: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.4g}" for name, value in running.items() if name != "loss")


@dataclass
class Steps:
    """What a trainer's steps are made of; `train_loop` does the rest."""

    # The step's losses from its generator: "loss", which is optimized, and
    # any named parts of it; each is averaged into metrics["train_<name>"].
    losses: Callable[[torch.Generator], dict[str, torch.Tensor]]
    validate: Callable[[], None]
    card: Callable[[], ModelCard]
    describe: Callable[[dict[str, float]], str] = other_losses  # the progress line's middle, from running averages
    after_step: Callable[[torch.Generator], None] | None = None  # after the optimizer's step, with its generator
    log_every: int = 50


def train_loop(run: Run, config: LoopConfig, steps: Steps, log: Log) -> None:
    """Steps `run` to config.steps: validating every eval_every steps and
    saving a step checkpoint every checkpoint_every, and at the last step."""
    schedule = learning_rate_schedule(config)
    parameters = [p for group in run.optimizer.param_groups for p in group["params"]]
    for module in run.modules.values():
        module.train()
    run.started, run.first_step = time.monotonic(), run.step
    running: dict[str, float] = {}
    while run.step < config.steps:
        # The global generator, so dropout masks too depend on (seed, step) only.
        generator = torch.manual_seed(config.seed * 1_000_003 + run.step)
        losses = steps.losses(generator)
        schedule.apply(run.optimizer, run.step)
        run.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
        run.optimizer.step()
        if steps.after_step is not None:
            steps.after_step(generator)
        run.step += 1
        # Kept as tensors and read only when reported: reading a loss every
        # step would make the host wait for the device at every step.
        for name, value in losses.items():
            v = value.detach()
            running[name] = v if run.step == run.first_step + 1 else 0.95 * running[name] + 0.05 * v
        last = run.step == config.steps
        if last or not (run.step % steps.log_every and run.step % config.eval_every and run.step % config.checkpoint_every):
            run.metrics.update({f"train_{name}": float(v) for name, v in running.items()})
        if run.step % steps.log_every == 0 or last:
            rate = (run.step - run.first_step) / (time.monotonic() - run.started)
            now = {name: float(v) for name, v in running.items()}
            parts = (f"step {run.step}/{config.steps} loss {now['loss']:.3f}", steps.describe(now),
                     f"lr {schedule.at(run.step - 1):.2e} {rate:.3g} steps/s")
            log(" ".join(part for part in parts if part))
        if run.step % config.eval_every == 0 or run.step == config.steps:
            steps.validate()
        if run.step % config.checkpoint_every == 0 or run.step == config.steps:
            saved = save_step(run.out_dir, run.modules, {"model": run.optimizer}, steps.card(),
                              config.keep_checkpoints)
            log(f"checkpoint {saved}")
    if run.step == run.first_step:
        # No step taken (a 0-step run that only adds tables to given
        # weights, or a finished run resumed): its card still gets the
        # validation metrics of the weights it writes.
        steps.validate()
    run_s = time.monotonic() - run.started
    run.steps_per_s = (run.step - run.first_step) / run_s if run.step > run.first_step else 0.0
