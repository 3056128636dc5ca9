"""Train a MobileCLIP student by knowledge distillation from a frozen CLIP teacher (or CLIP from scratch).

    python -m mobileclip.train --train-data data/captions.csv --teacher openai/clip-vit-base-patch32 \\
        --steps 10000 --batch-size 64 --out runs/kd
    torchrun --nproc-per-node 2 -m mobileclip.train ...      # DDP (NCCL on GPUs, gloo on CPU)

Three-phase progressive schedule (KD runs):

1. ``align``  -- feature distillation only: the student (and its KD heads) learn the teacher's embedding
   space for the same images and *real captions*;
2. ``distil`` -- + interactive contrastive (student anchors vs teacher's other modality) and response
   distillation (KL between the teacher's and the student's similarity distributions) [+ affinity mimicking];
3. ``joint``  -- + the student's own CLIP contrastive loss on the captions.

The active terms are balanced automatically by learned uncertainty weights (``--balancer uncertainty``;
every weight is logged to the CSV). ``--no-kd`` trains the same model with the contrastive loss alone
(one phase; the ablation baseline), and is how a proxy teacher (``--arch hf-clip``) is trained; that one
is written with ``save_pretrained`` to ``OUT/hf`` so ``load_teacher(OUT/hf)`` reads it.

Data order and augmentation are deterministic functions of (seed, epoch, sample index), so a run resumed
from ``OUT/last.pt`` (``--resume auto``) continues exactly like an uninterrupted one.
"""
from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..models.batchnorm import recalibrate_bn
from ..utils.errors import TrainError, cli_errors
from ..utils.fileio import remove_stale_temps
from ..utils.runlock import run_lock
from .config import PROG, TrainConfig, build_parser, check_config, parse_args
from .data import collate_train, epoch_batches, item_seed
from .run import Run, dist_info, setup
from .schedule import ALL_TERMS, Schedule, lr_lambda  # noqa: F401  (public: tests and callers)
from .state import restore, save
from .step import forward_backward, mean_over_ranks, micro_batch

__all__ = ["PROG", "Run", "TrainConfig", "TrainError", "build_parser", "main", "parse_args", "train"]

LOG_COLUMNS = ["step", "epoch", "phase", "lr", "total", "grad_norm", "step_time_s", "skipped_images",
               "nonfinite_steps"] + ALL_TERMS + [f"w_{t}" for t in ALL_TERMS]


# ------------------------------------------------------------------------------------------------ train
def train(cfg: TrainConfig, dataset=None, echo: bool = False) -> dict:
    """Run training as configured by ``cfg``. ``dataset`` overrides ``cfg.train_data`` with any map-style
    dataset whose items are ``(PIL image, token ids)`` or None (a shallow copy gets the training transform;
    the caller's dataset is not changed). ``echo`` prints the equivalent command line first. Returns the
    run's summary (``summary["module"]``: the trained :class:`~mobileclip.training.kd.KDModule`)."""
    if echo:
        print(f"\n$ {cfg.command()}", flush=True)
    check_config(cfg)  # bad numbers or an unwritable --out: one line before any work
    with run_lock(cfg.out, PROG, enabled=dist_info()[0] == 0):  # one run per output folder
        remove_stale_temps(cfg.out, ("last.pt", "final.pt"))  # temp files of saves a kill interrupted
        return _train(cfg, dataset)


def _train(cfg: TrainConfig, dataset=None) -> dict:
    run = setup(cfg, dataset)
    restore(run)
    if run.step >= run.cfg.steps and (run.out / ("hf" if cfg.arch == "hf-clip" else "final.pt")).exists():
        return already_finished(run)
    try:
        open_log(run)
        while run.step < run.stop_at:
            train_epoch(run)
        return finish(run)
    except KeyboardInterrupt:
        if run.bar is not None:
            run.bar.close()
        kept = (f"{run.out / 'last.pt'} holds step {run.saved_step}: the same command resumes from it"
                if run.saved_step is not None else f"no checkpoint was written yet (--save-every {cfg.save_every})")
        raise KeyboardInterrupt(f"interrupted at step {run.step}; {kept}") from None


# -------------------------------------------------------------------------------------------------- log
def _reset_log_csv(run: Run):
    log_path = run.out / "log.csv"
    if run.step == 0 or not log_path.is_file():
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(LOG_COLUMNS)
        return
    with open(log_path, newline="") as f:  # resumed: drop rows logged after the checkpoint
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= run.step]
    with open(log_path, "w", newline="") as f:
        w = csv.DictWriter(f, LOG_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def open_log(run: Run):
    """``OUT/log.csv`` (truncated to the resumed step), TensorBoard, the start line and the progress bar."""
    cfg = run.cfg
    if run.is_main:
        run.out.mkdir(parents=True, exist_ok=True)
        _reset_log_csv(run)
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            run.tb = SummaryWriter(str(run.out / "tb"))
        data = "streamed tar shards" if run.streaming else f"{len(run.indices)} samples"
        source = "teacher cache " + str(cfg.teacher_cache) if run.cache else \
            "teacher " + (run.teacher.label if run.teacher else "-")
        print(f"training {getattr(run.student, 'config', {}).get('name', cfg.arch)} on {run.device} "
              f"({run.world} process{'es' if run.world > 1 else ''}), {data}, {cfg.steps} steps, "
              f"phases {run.schedule.phases}, {source}, precision {run.prec.name}"
              + (f", {cfg.accum_freq} micro-batches per step" if cfg.accum_freq > 1 else "")
              + (f", negatives gathered from {run.world} ranks" + (" (with grad)" if run.gather.gather_with_grad
                                                                  else "")
                 + (" (local loss)" if run.gather.local_loss else "") if run.gather.distributed else ""),
              flush=True)
    if run.is_main and not cfg.quiet:
        from tqdm import tqdm

        run.bar = tqdm(total=cfg.steps, initial=run.step, desc="train", dynamic_ncols=True)
    run.module.train()
    if run.teacher is not None:
        run.teacher.eval()


def _log_row(run: Run, phase: str, total: float, grad_norm: float, vals: dict):
    weights = run.module.balancer.weights()
    row = {"step": run.step, "epoch": run.epoch, "phase": phase, "lr": f"{run.scheduler.get_last_lr()[0]:.6g}",
           "total": f"{total:.6g}", "grad_norm": f"{grad_norm:.6g}", "step_time_s": f"{run.step_times[-1]:.4f}",
           "skipped_images": run.skipped_images, "nonfinite_steps": run.nonfinite}
    row.update({k: f"{vals[k]:.6g}" for k in vals})
    row.update({f"w_{k}": f"{weights[k]:.6g}" for k in vals})
    with open(run.out / "log.csv", "a", newline="") as f:
        csv.DictWriter(f, LOG_COLUMNS).writerow(row)
    if run.tb is not None:
        for k, v in vals.items():
            run.tb.add_scalar(f"loss/{k}", v, run.step)
            run.tb.add_scalar(f"weight/{k}", weights[k], run.step)
        run.tb.add_scalar("lr", run.scheduler.get_last_lr()[0], run.step)


def _print_phase(phase, schedule, stats, weights):
    a, b = schedule.bounds()[phase]
    parts = []
    for k, v in stats.items():
        n = max(1, len(v) // 10)
        parts.append(f"{k} {np.mean(v[:n]):.4f}->{np.mean(v[-n:]):.4f} (w {weights[k]:.3g})")
    print(f"phase {phase} [steps {a}-{b}]: " + ", ".join(parts), flush=True)


def after_step(run: Run, phase: str, total: float, grad_norm: float, vals: dict):
    """Per-phase statistics, the CSV/TensorBoard row, the progress bar, the phase summary, the periodic save."""
    st = run.phase_stats.setdefault(phase, {})
    for k, v in vals.items():
        st.setdefault(k, []).append(v)
    step, stop_at, next_phase = run.step, run.stop_at, run.schedule.phase_at(run.step)
    if run.is_main and (step % run.cfg.log_every == 0 or step == stop_at or next_phase != phase):
        _log_row(run, phase, total, grad_norm, vals)
    if run.bar is not None:
        run.bar.update(1)
        run.bar.set_postfix({"phase": phase, "loss": f"{total:.3f}",
                             **{k: f"{v:.3f}" for k, v in list(vals.items())[:3]}})
    if run.is_main and next_phase != phase:
        _print_phase(phase, run.schedule, st, run.module.balancer.weights())
    if step % run.cfg.save_every == 0 and step < stop_at:
        save(run, run.out / "last.pt")


# ------------------------------------------------------------------------------------------------- loop
def _synced(run: Run, iterator):
    """Stop every rank together when any rank's stream runs out (shards split unevenly)."""
    for item in iterator:
        if run.distributed:
            more = torch.tensor([1.0])
            torch.distributed.all_reduce(more, op=torch.distributed.ReduceOp.MIN)
            if more.item() == 0:
                return
        yield item
    if run.distributed:
        torch.distributed.all_reduce(torch.tensor([0.0]), op=torch.distributed.ReduceOp.MIN)


def _all_ranks_min(run: Run, value: float) -> float:
    t = torch.tensor([value])
    if run.distributed:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return t.item()


def _map_loader(run: Run, epoch: int, first_batch: int = 0, workers: int | None = None):
    """Seeded, drop-last batches of this rank for ``epoch`` over the (subset) indices, from ``first_batch``."""
    cfg = run.cfg
    batches = epoch_batches(len(run.indices), cfg.batch_size, cfg.seed, epoch, run.rank, run.world)
    batches = [[int(run.indices[j]) for j in b] for b in batches]
    return torch.utils.data.DataLoader(run.view, batch_sampler=batches[first_batch:], collate_fn=collate_train,
                                       num_workers=cfg.workers if workers is None else workers)


def epoch_loader(run: Run, variant: int):
    """``(batch or None, n_dropped)`` items of the current epoch from its current position."""
    cfg = run.cfg
    if not run.streaming:
        run.view.variant = variant
        return _map_loader(run, run.epoch, run.batch_in_epoch)
    # streamed: shard order and augmentation seeded per epoch; resume replays the stream to its position
    run.base.set_epoch(run.epoch)
    if getattr(run.base, "augment", None) is not None:  # per-sample seeded crops (per-shard teacher cache)
        run.base.augment.variant = variant
    torch.manual_seed(item_seed(cfg.seed, variant, run.rank))
    loader = _synced(run, iter(torch.utils.data.DataLoader(run.base, batch_size=cfg.batch_size, drop_last=True,
                                                          num_workers=cfg.workers, collate_fn=collate_train)))
    for _ in range(run.batch_in_epoch):
        next(loader, None)
    return loader


def _skip_nonfinite(run: Run):
    run.nonfinite += 1
    run.optimizer.zero_grad(set_to_none=True)
    if run.use_amp:
        run.scaler.update()
    limit = run.cfg.max_nonfinite
    if run.is_main:
        print(f"step {run.step}: non-finite loss/gradient, step skipped ({run.nonfinite}/{limit})",
              file=sys.stderr, flush=True)
    if run.nonfinite >= limit:
        raise TrainError(f"{run.nonfinite} non-finite steps (limit --max-nonfinite {limit}); "
                         f"lower --lr or check the data")


def train_step(run: Run, batches: list, variant: int, t0: float):
    """One optimiser step on ``batches`` (``--accum-freq`` micro-batches); returns ``(phase, total, grad_norm,
    terms)`` (averaged over ranks) or None (non-finite, skipped)."""
    phase = run.schedule.phase_at(run.step)
    active = run.schedule.terms(phase)
    mbs = [micro_batch(run, b, variant, active) for b in batches]
    opt, scaler = run.optimizer, run.scaler
    opt.zero_grad(set_to_none=True)
    total, terms = forward_backward(run, mbs, active)
    scaler.unscale_(opt)
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    clip = run.cfg.grad_clip if run.cfg.grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
    finite_loss = float(torch.isfinite(total).item())
    if _all_ranks_min(run, finite_loss and float(torch.isfinite(grad_norm).item())) == 0:
        if run.use_amp and _all_ranks_min(run, finite_loss) == 1:  # fp16 gradient overflow: the scaler backs off
            opt.zero_grad(set_to_none=True)
            scaler.update()
            return None
        _skip_nonfinite(run)
        return None
    scaler.step(opt)
    scaler.update()
    run.scheduler.step()
    with torch.no_grad():
        run.student.logit_scale.clamp_(0, math.log(100))
    run.step += 1
    run.step_times.append(time.perf_counter() - t0)
    total_mean, vals = mean_over_ranks(run, total, terms)
    return phase, total_mean, float(grad_norm), vals


def train_epoch(run: Run):
    """Steps until the epoch's batches run out (next epoch) or the run reaches its stop step."""
    cfg = run.cfg
    variant = run.epoch % cfg.aug_variants if cfg.aug_variants else run.epoch
    seen, usable, pending, t0 = 0, 0, [], None
    for batch, dropped in epoch_loader(run, variant):
        seen += 1
        t0 = t0 if pending else time.perf_counter()
        run.skipped_images += dropped
        has_data = _all_ranks_min(run, 0.0 if batch is None else 1.0)
        run.batch_in_epoch += 1
        if has_data == 0:
            continue
        usable += 1
        pending.append(batch)
        if len(pending) < cfg.accum_freq:  # micro-batches left over at the epoch's end are dropped
            continue
        result = train_step(run, pending, variant, t0)
        pending = []
        if result is None:
            continue
        after_step(run, *result)
        if run.step >= run.stop_at:
            return
    if run.streaming and seen == 0 and run.batch_in_epoch == 0:
        raise TrainError(f"{cfg.train_data}: the shards hold fewer than one batch of readable samples")
    # an epoch whose batches could never make a step (a step skipped for an fp16 overflow or a non-finite
    # gradient is the GradScaler's / --max-nonfinite's business, not this guard's)
    if seen and run.batch_in_epoch == seen and usable < cfg.accum_freq:
        raise TrainError(f"{cfg.train_data}: a whole epoch gave no training step (no batch of --batch-size "
                         f"{cfg.batch_size} held 2 readable images, or the epoch has fewer than --accum-freq "
                         f"{cfg.accum_freq} batches)")
    run.epoch += 1
    run.batch_in_epoch = 0


# ----------------------------------------------------------------------------------------------- finish
def _student_images(run: Run):
    """The student's training images of epoch 0 (augmentation variant 0), batch by batch, for precise BN."""
    cfg = run.cfg
    if run.streaming:
        torch.manual_seed(item_seed(cfg.seed, 0, run.rank))
        if getattr(run.base, "augment", None) is not None:
            run.base.augment.variant = 0
        it = torch.utils.data.DataLoader(run.base, batch_size=cfg.batch_size, collate_fn=collate_train)
    else:
        run.view.variant = 0
        it = _map_loader(run, 0)
    for batch, _ in it:
        if batch is not None:
            yield batch[0][0] if isinstance(batch[0], (list, tuple)) else batch[0]


def _summary(run: Run, final: bool) -> dict:
    st = run.step_times
    mean_step = float(np.mean(st[min(2, len(st) - 1):])) if st else float("nan")
    return {"step": run.step, "finished": final, "skipped_images": run.skipped_images,
            "nonfinite_steps": run.nonfinite, "mean_step_time_s": mean_step, "out": str(run.out),
            "balancer_weights": run.module.balancer.weights(), "phases": run.schedule.phases}


def finish(run: Run) -> dict:
    """Precise BN, the last phase's summary, the final checkpoints, the summary dict (and zero-shot)."""
    cfg, out = run.cfg, run.out
    if run.bar is not None:
        run.bar.close()
    final = run.step >= cfg.steps
    if final and cfg.bn_recalibrate > 0:
        n_bn = recalibrate_bn(run.student, _student_images(run), cfg.bn_recalibrate, run.device, run.distributed)
        if run.is_main and n_bn:
            print(f"BatchNorm statistics re-estimated over {n_bn} training batches (precise BN)", flush=True)
    if final and run.is_main and run.phase_stats:
        last_phase = run.schedule.phase_at(run.step - 1)
        _print_phase(last_phase, run.schedule, run.phase_stats.get(last_phase, {}), run.module.balancer.weights())
    save(run, out / "last.pt", final=final)
    if final and cfg.arch != "hf-clip":
        save(run, out / "final.pt", weights_only=True)
    if run.distributed:
        torch.distributed.barrier()
    if run.tb is not None:
        run.tb.close()
    summary = _summary(run, final)
    if run.is_main:
        if hasattr(run.base, "skipped"):
            from ..data.datasets import skip_report

            print(f"unreadable images: {skip_report(run.base)}", flush=True)
        n_skipped = run.base.skipped if hasattr(run.base, "skipped") else run.skipped_images  # as reported above
        print(f"done: step {run.step}/{cfg.steps}, skipped {n_skipped} unreadable image(s), "
              f"{run.nonfinite} non-finite step(s), mean step {summary['mean_step_time_s'] * 1e3:.1f} ms; "
              f"checkpoint {out / 'last.pt'}" + (f", teacher dir {out / 'hf'}" if final and cfg.arch == "hf-clip"
                                                  else ""), flush=True)
        if final and cfg.zeroshot:
            summary["zeroshot"] = _zeroshot(cfg, out)
    summary["module"] = run.module
    return summary


def already_finished(run: Run) -> dict:
    """A finished run started again with ``--steps`` not above its own: say so and change nothing."""
    if run.is_main:
        print(f"{run.out} holds a finished run (step {run.step}); nothing to train for --steps {run.cfg.steps}: "
              f"raise --steps to train on, or choose another --out", flush=True)
    return {**_summary(run, True), "module": run.module}


def _zeroshot(cfg: TrainConfig, out: Path) -> dict:
    from ..evaluation.encoders import load_encoder
    from ..evaluation.metrics import zero_shot

    enc = load_encoder(str(out / "hf") if cfg.arch == "hf-clip" else str(out / "final.pt"))
    res = zero_shot(enc, cfg.zeroshot, templates=cfg.templates)
    print(f"zero-shot top-1 on {cfg.zeroshot}: {100 * res['top1']:.2f}% (n={res['n']})", flush=True)
    return {k: res[k] for k in ("top1", "top5", "n")}


def main(argv=None):
    cfg = parse_args(argv, description=__doc__)
    with cli_errors("mobileclip.train"):
        try:
            train(cfg)
        except KeyboardInterrupt as e:  # Ctrl-C: one line saying what is kept, exit status 130 like a shell's
            print(f"mobileclip.train: {e.args[0] if e.args else 'interrupted'}", file=sys.stderr, flush=True)
            raise SystemExit(130) from None
        finally:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
