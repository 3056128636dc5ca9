"""Issue 22 item 6, "the docs run": every command README.md and docs/*.md show is known here, parses, and runs.

``documented_commands`` collects the shell lines of fenced code blocks (bash/sh/shell/console or no language;
continuation lines joined, comments dropped, only lines that run python/make/torchrun) and inline
`` `python -m …` `` / `` `make …` `` spans. :data:`TINY` maps each one to the tiny form the slow test runs in a
sandbox of tiny files (student.pt, teacher/, data/ from ``mobileclip.data synth``), or to why it cannot run here
(a phone, a Mac, the hub, a GPU, or hours of work, with the test that covers it instead).

Fast (``make test``): a documented command that :data:`TINY` does not know fails, so does an entry no doc
shows any more; every documented ``python -m`` command's arguments parse with the module's own parser
(placeholders as written: options that do not exist or values of the wrong type fail); a bare mention runs
``--help``; ``make X`` runs ``make -n X``. Slow (``make test-slow``): every tiny form runs and exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mobileclip  # noqa: F401  (before anything imports torchvision)

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = ("python", "python3", "make", "torchrun")
_FENCE = re.compile(r"^\s*```(\S*)")
_INLINE = re.compile(r"`((?:python3? -m|make|torchrun) [^`]+)`")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
BACKENDS = ("executorch", "coreml", "tflite")


def normalise(cmd: str) -> str:
    return " ".join(cmd.split())


def _shell_lines(block: list[str]):
    """The commands of a shell code block."""
    joined, cur = [], ""
    for line in block:
        line = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        joined.append(cur + line)
        cur = ""
    for line in joined:
        words = line.split()
        while words and _ASSIGN.match(words[0]):
            words = words[1:]
        if words and words[0] in PROGRAMS:
            yield normalise(line)


def documented_commands(repo: Path = REPO) -> dict[str, list[str]]:
    """Every command README.md and docs/*.md show -> where (``docs/x.md:12``; a block's first line)."""
    found: dict[str, list[str]] = {}
    for doc in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        lang, block, start = None, [], 0
        for i, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            fence = _FENCE.match(line)
            if fence and lang is None:
                lang, block, start = fence.group(1).lower(), [], i
            elif fence:
                if lang in ("", "bash", "sh", "shell", "console"):
                    for cmd in _shell_lines(block):
                        found.setdefault(cmd, []).append(f"{doc.relative_to(repo)}:{start}")
                lang = None
            elif lang is not None:
                block.append(line)
            else:
                for m in _INLINE.finditer(line):
                    found.setdefault(normalise(m.group(1)), []).append(f"{doc.relative_to(repo)}:{i}")
    return found


# ----------------------------------------------------------------------------------- what each command becomes
# documented command -> the tiny form run in the sandbox (a string), or ("why", reason) when it cannot run here.
# The sandbox: student.pt (tiny BN-calibrated student), teacher/ (tiny HF CLIP), data/ (a 16+8-image synthetic
# set: captions.csv, captions_test.csv, classes/{train,test}); commands run in this order, so later ones read
# what earlier ones wrote (exports/, teacher_export/, data/teacher_cache.pt); {box} is the sandbox's absolute path.
# The tiny untrained student's int8 image tower misses the 0.99 cosine gate meant for trained ones (measured 0.92
# on the synthetic images): the tiny form exporting it gates at 0.9. The Core ML and LiteRT tiny exports (text only)
# go to folders of their own, so exports/ holds the complete ExecuTorch export that accuracy and report evaluate.
TINY_EXPORT = "--verify-per-class 1 --calib-images 4 --int8-agreement 0 --threads 1"
TRAIN = "--image-size 32 --steps 2 --batch-size 4 --workers 0 --threads 1"
HUB = "the hub (no network here)"
TINY: dict[str, str | tuple[str, str]] = {
    "python -m mobileclip.data synth --out .cache/synth":
        "python -m mobileclip.data synth --out synth2 --n-train 8 --n-test 4 --size 32 --colour-bias 0.5",
    "python -m mobileclip.data synth --force": "python -m mobileclip.data synth --out synth2 --n-train 8 --n-test 4 --size 32 --force",
    "python -m mobileclip.data shards data/captions.csv --out data/shards --samples-per-shard 1000":
        "python -m mobileclip.data shards data/captions.csv --out data/shards --samples-per-shard 8 --prefix part",
    "python -m mobileclip.data shards": "python -m mobileclip.data shards --help",
    "python -m mobileclip.data shards CSV --out DIR --force":
        "python -m mobileclip.data shards data/captions.csv --out data/shards --samples-per-shard 8 --prefix part "
        "--force",
    "python -m mobileclip.data": "python -m mobileclip.data --help",
    "python -m mobileclip.data extract cifar10.tar.gz": ("why", "extracts all 60,000 CIFAR-10 images from "
                                                          "../shared/data (minutes); tests/test_data.py extracts"),
    "python -m mobileclip.data extract ARCHIVE": "python -m mobileclip.data extract --help",
    "python -m mobileclip.cache_teacher --teacher openai/clip-vit-base-patch32 --train-data data/captions.csv "
    "--variants 4 --out data/teacher_cache.pt":
        "python -m mobileclip.cache_teacher --teacher teacher --train-data data/captions.csv --variants 2 "
        "--out data/teacher_cache.pt",
    "python -m mobileclip.cache_teacher": "python -m mobileclip.cache_teacher --help",
    "python -m mobileclip.train --train-data data/captions.csv --teacher openai/clip-vit-base-patch32 --steps 10000 "
    "--batch-size 64 --out runs/kd":
        f"python -m mobileclip.train --train-data data/captions.csv --teacher teacher --model tiny-lsra-light {TRAIN} "
        "--fd-loss mse --temperature 2 --affinity --weight-decay 0.05 --min-lr-ratio 0.1 --grad-clip 1 "
        "--max-nonfinite 2 --train-subset 0.5 --subset-seed 1 --out runs/kd",
    "python -m mobileclip.train --train-data data/captions.csv --no-kd --out runs/clip":
        f"python -m mobileclip.train --train-data data/captions.csv --no-kd --model tiny-lsra-light {TRAIN} "
        "--out runs/clip",
    "python -m mobileclip.train --train-data data/captions.csv --teacher-cache data/teacher_cache.pt --out runs/kd":
        f"python -m mobileclip.train --train-data data/captions.csv --teacher-cache data/teacher_cache.pt "
        f"--model tiny-lsra-light {TRAIN} --out runs/kd_cache",
    "python -m mobileclip.train --arch hf-clip --hf-config cpu-vit --no-kd":
        f"python -m mobileclip.train --arch hf-clip --hf-config cpu-vit --no-kd --train-data data/captions.csv {TRAIN} "
        "--out runs/hf",
    "OMP_NUM_THREADS=1 python -m mobileclip.train --arch hf-clip --hf-config cpu-vit --no-kd --train-data "
    ".cache/data/cifar10/train --templates ensemble --image-size 32 --steps 400 --batch-size 128 --lr 1e-3 --threads 1 "
    "--workers 0 --out .cache/bm_c/proxy_run":
        "OMP_NUM_THREADS=1 python -m mobileclip.train --arch hf-clip --hf-config cpu-vit --no-kd --train-data "
        "data/classes/train --templates ensemble --image-size 32 --steps 2 --batch-size 4 --lr 1e-3 --threads 1 "
        "--workers 0 --out runs/proxy_run",
    "python -m mobileclip.train --out OUT":  # on the shards written above
        f"python -m mobileclip.train --train-data 'data/shards/part-{{000000..000002}}.tar' --no-kd "
        f"--model tiny-lsra-light {TRAIN} --shuffle-buffer 8 --resample --aug-variants 2 --out runs/shards",
    "python -m mobileclip.train ...": "python -m mobileclip.train --help",
    "python -m mobileclip.train": "python -m mobileclip.train --help",
    "torchrun --nproc-per-node 8 -m mobileclip.train --train-data data/captions.csv --teacher ... --out runs/kd":
        ("why", "8 processes (GPUs); tests/test_distributed_losses.py runs 2-process gloo training"),
    "torchrun --nproc-per-node 8 -m mobileclip.train --train-data 'shards/part-{000000..000999}.tar' --teacher-cache "
    "shards/teacher --batch-size 64 --accum-freq 4 --precision amp_bf16 --gather-with-grad --out runs/kd8":
        ("why", "8 GPUs with bf16; tests/test_distributed_losses.py runs 2-process gloo training"),
    "torchrun --nproc-per-node 8 -m mobileclip.train --train-data 'shards/part-{000000..000999}.tar' --teacher "
    "openai/clip-vit-base-patch32 --batch-size 64 --accum-freq 4 --precision amp_bf16 --gather-with-grad --local-loss "
    "--shuffle-buffer 1000 --steps 100000 --out runs/kd8":
        ("why", "8 GPUs with bf16 and " + HUB + "; tests/test_distributed_losses.py runs 2-process gloo training"),
    "torchrun --nproc-per-node N": ("why", "names the launcher only (GPUs)"),
    "python -m mobileclip.eval student.pt --zeroshot .cache/data/cifar10/test --templates single,ensemble --retrieval "
    ".cache/data/flickr8k_subset/captions.csv --teacher path/to/teacher --json eval.json":
        "python -m mobileclip.eval student.pt --zeroshot data/classes/test --templates single,ensemble --retrieval "
        "data/captions_test.csv --teacher teacher --json eval.json",
    "python -m mobileclip.eval --help": "python -m mobileclip.eval --help",
    "python -m mobileclip.eval": "python -m mobileclip.eval --help",
    "python -m export.executorch student.pt --out exports --quantize int8":
        f"python -m export.executorch student.pt --out exports --quantize int8 --towers image,text {TINY_EXPORT} "
        "--recipe text=xnnpack-int8-dynamic-linear --calibration data/classes/test --int8-cosine 0.9 "
        "--fp32-cosine 0.9999 --fp16-cosine 0.999",
    "python -m export.coreml student.pt --out exports --quantize int8":
        f"python -m export.coreml student.pt --out exports_coreml --quantize int8 --towers text {TINY_EXPORT} "
        "--recipe int8-weights-per-channel --calibration data/classes/test --int8-cosine 0.99 "
        "--fp32-cosine 0.9999 --fp16-cosine 0.999",
    "python -m export.tflite student.pt --out exports --quantize int8":
        f"python -m export.tflite student.pt --out exports_litert --quantize int8 --towers text {TINY_EXPORT} "
        "--recipe dynamic-wi8-afp32 --calibration data/captions_test.csv --int8-cosine 0.99 --fp32-cosine 0.9999 "
        "--fp16-cosine 0.999",
    "python -m export.executorch\\|coreml\\|tflite CKPT": "python -m export.tflite --help",
    "python -m export.executorch|coreml|tflite CKPT --out DIR": "python -m export.coreml --help",
    "python -m export.<backend>": "python -m export.executorch --help",
    "python -m export.<backend> CKPT --out OUT": "python -m export.executorch --help",
    "python -m export.<backend> --out OUT": "python -m export.executorch --help",
    "python -m export.executorch --help": "python -m export.executorch --help",
    "python -m export.coreml … --out exports/": "python -m export.coreml --help",
    "python -m export.tflite --help": "python -m export.tflite --help",
    "python -m export.runtime exports": "python -m export.runtime exports",
    "python -m export.runtime DIR": "python -m export.runtime exports",
    "python -m export.runtime": "python -m export.runtime --help",
    "python -m export.demo --student student.pt --out exports":
        "python -m export.demo --student student.pt --out exports_demo --backends executorch --quantize none "
        "--towers text --verify-per-class 1 --calib-images 4 --calibration data/classes/test",
    "python -m export.demo --student $CKPT --create-missing mnv3l-lsra-512 --out $OUT --backends executorch,tflite "
    "--quantize none,int8":
        "python -m export.demo --student created.pt --create-missing tiny-lsra-light --out exports_perf --backends "
        "executorch,tflite --quantize none --towers text --verify-per-class 1 --calib-images 4",
    "python -m export.demo --student .cache/kd_ablation/kd/seed0/final.pt --out .cache/kd_export --strict":
        "python -m export.demo --student runs/clip/final.pt --out exports_strict --strict --backends executorch "
        "--quantize none --towers text --verify-per-class 1 --calib-images 4",
    "python -m export.demo --create-missing mnv3l-lsra-512 ...":
        "python -m export.demo --student created2.pt --create-missing tiny-lsra-light --out exports_perf2 "
        "--backends executorch --quantize none --towers text --verify-per-class 1 --calib-images 4",
    "python -m export.demo": "python -m export.demo --help",
    "python -m export.teacher vit-b-32-random --out .cache/teacher-export":
        "python -m export.teacher teacher --out teacher_export --backends executorch --towers text --threads 1 "
        "--calibration data/classes/test",
    "python -m export.teacher vit-b-32-random --out .cache/perf/teacher --backends executorch,tflite":
        "python -m export.teacher teacher --out teacher_export2 --backends executorch,tflite --towers text --threads 1",
    "python -m export.teacher TEACHER --out DIR --backends executorch,tflite [--quantize int8]":
        "python -m export.teacher teacher --out teacher_export3 --backends tflite --towers text --quantize int8 "
        "--threads 1",
    "python -m export.teacher TEACHER": "python -m export.teacher --help",
    "python -m export.teacher": "python -m export.teacher --help",
    # docs/teachers.md: the sandbox's teacher/ stands in for real weights (an ensemble of it with itself)
    "python -m export.teacher SPEC": "python -m export.teacher --help",
    "python -m mobileclip.cache_teacher --teacher SPEC": "python -m mobileclip.cache_teacher --help",
    "python -m mobileclip.cache_teacher --teacher ensemble:open_clip:ViT-L-14/weights/vit_l_14.bin,"
    "hf:models/siglip-base-patch16-224 --train-data data/captions.csv --variants 4 --out data/teacher_cache_ens.pt":
        "python -m mobileclip.cache_teacher --teacher ensemble:teacher,hf:teacher --train-data data/captions.csv "
        "--variants 2 --out data/teacher_cache_ens.pt",
    "python -m mobileclip.train --train-data data/captions.csv --teacher "
    "open_clip:ViT-B-32/weights/open_clip_pytorch_model.bin --out runs/kd_oc":
        ("why", "open_clip weights on disk (none here: " + HUB + "); tests/mobileclip/training/"
                "test_teacher_families_kd.py distils from a tiny open_clip teacher"),
    "python -m mobileclip.train --train-data data/captions.csv --teacher hf:models/siglip-base-patch16-224 "
    "--out runs/kd_siglip":
        ("why", "SigLIP weights (none here: " + HUB + "); tests/mobileclip/training/test_teacher_families_kd.py "
                "distils from a tiny SigLIP teacher"),
    "python -m mobileclip.train --train-data data/captions.csv --teacher ensemble:open_clip:ViT-L-14/weights/"
    "vit_l_14.bin,hf:models/siglip-base-patch16-224 --out runs/kd_ens":
        f"python -m mobileclip.train --train-data data/captions.csv --teacher ensemble:teacher,hf:teacher "
        f"--model tiny-lsra-light {TRAIN} --teacher-cache data/teacher_cache_ens.pt --out runs/kd_ens",
    "python -m benchmarks.params --students mnv3l-lsra-512 --teacher SPEC --threads 1 --json .cache/teachers/"
    "params.json":
        "python -m benchmarks.params --students student.pt --teacher ensemble:teacher,hf:teacher --threads 1 "
        "--json teachers_params.json",
    "python -m benchmarks.params": "python -m benchmarks.params --students student.pt --teacher teacher --out params",
    "python -m benchmarks.params --students $CKPT --teacher vit-b-32-random --export $OUT --out .cache/perf/params":
        "python -m benchmarks.params --students student.pt --teacher teacher --export exports --out params2",
    "python -m benchmarks.params --students mnv3l-lsra-512,mnv3l-lsra-256 --teacher vit-b-32-random":
        "python -m benchmarks.params --students mnv3l-lsra-512,mnv3l-lsra-256 --teacher vit-b-32-random --out params3",
    "python -m benchmarks.params\\|latency\\|accuracy\\|report": "python -m benchmarks.report --help",
    "python -m benchmarks.latency":
        "python -m benchmarks.latency --students student.pt --runtimes eager,executorch --threads 1 --repeats 2 "
        "--warmup 1 --quiet-skips --out latency",
    "python -m benchmarks.latency --teacher-export DIR":
        "python -m benchmarks.latency --students student.pt --teacher-export teacher_export --runtimes executorch "
        "--threads 1 --repeats 2 --warmup 1 --out latency2",
    "python -m benchmarks.latency --students $CKPT --teacher vit-b-32-random --export $OUT --teacher-export "
    ".cache/perf/teacher --runtimes eager,executorch,litert --threads 1 --repeats 20 --warmup 3 --out .cache/perf/latency":
        "python -m benchmarks.latency --students student.pt --teacher teacher --export exports --teacher-export "
        "teacher_export2 --runtimes eager,executorch,litert --threads 1 --repeats 2 --warmup 1 --out latency3",
    "python -m benchmarks.accuracy CKPT --teacher T":
        "python -m benchmarks.accuracy student.pt --teacher teacher --zeroshot data/classes/test --retrieval "
        "data/captions_test.csv --templates single --threads 1 --export exports --backends executorch "
        "--quantization int8 --limit 8 --retrieval-limit 8 --out accuracy",
    "python -m benchmarks.report":
        "python -m benchmarks.report --student student.pt --teacher teacher --export exports --zeroshot "
        "data/classes/test --retrieval data/captions_test.csv --templates single --runtimes eager,executorch "
        "--threads 1 --repeats 2 --warmup 1 --limit 8 --retrieval-limit 8 --out report",
    "python -m benchmarks.device": ("why", "a phone over adb; tests/test_bench_device.py runs it against an adb "
                                           "emulator"),
    "python -m benchmarks.device --export DIR --litert-runner PATH --executorch-runner PATH --threads 1,4 --out OUT":
        ("why", "a phone over adb and the Android runner binaries; tests/test_bench_device.py runs it against an "
                "adb emulator"),
    "python -m benchmarks.indexing": "python -m benchmarks.indexing --help",
    "python -m benchmarks.quantization CKPT": "python -m benchmarks.quantization --help",
    "python -m tests.support.swift_toolchain bench": ("why", "installs the Swift toolchain as root and builds the iOS "
                                                     "package (minutes); tests/test_swift_package.py"),
    "python -m benchmarks.train_speed": "python -m benchmarks.train_speed --help",
    "python -m benchmarks.train_speed --device cuda --batch-size 256 --steps 20": ("why", "a CUDA GPU"),
    "python -m benchmarks.train_speed [--device cuda] [--batch-size N] [--steps N] [--out DIR]":
        "python -m benchmarks.train_speed --device cpu --model tiny-lsra-light --teacher teacher --image-size 32 "
        "--batch-size 4 --steps 3 --precisions fp32 --threads 1 --out train_speed",
    "python -m benchmarks.cache_rss --sizes 2000 20000 200000":
        "python -m benchmarks.cache_rss --sizes 16 32 --per-shard 8 --model tiny-lsra-light --work {box}/data "
        "--out cache_rss",
    "python -m benchmarks.kd_ablation": ("why", "hours: a teacher and two students trained on CIFAR-10; "
                                                "tests/test_kd_ablation*.py and the slow suite run its parts"),
    "python -m benchmarks.kd_ablation --cache-speed [--threads 2]":
        ("why", "trains on the CIFAR-10 archive (minutes); tests cover the cache it times"),
    "python -m benchmarks.multilingual": "python -m benchmarks.multilingual --help",
    "OMP_NUM_THREADS=1 python -m benchmarks.multilingual --threads 1 --out .cache/bench_multilingual":
        ("why", "hours on the Multi30k archive; tests/test_multilingual.py runs the pipelines on tiny data"),
    "OMP_NUM_THREADS=1 python -m benchmarks.multilingual --pipelines sentence --rows 8000 --steps 1000 --threads 1 "
    "--out .cache/bm_s": ("why", "hours on the Multi30k archive; tests/test_multilingual.py runs it on tiny data"),
    "OMP_NUM_THREADS=1 python -m benchmarks.multilingual --pipelines sentence --rows 8000 --steps 400 --threads 1 "
    "--out .cache/bm_s": ("why", "the resume of the line above; tests/test_multilingual.py"),
    "OMP_NUM_THREADS=1 python -m benchmarks.multilingual --pipelines clip --clip-teacher .cache/bm_c/proxy_run/hf "
    "--rows 8000 --steps 500 --zeroshot-limit 1000 --threads 1 --out .cache/bm_c3":
        ("why", "hours on the Multi30k and CIFAR-10 archives; tests/test_multilingual.py runs it on tiny data"),
    "python -m mobileclip.train_text": "python -m mobileclip.train_text --help",
    "python -m mobileclip.pair_text": "python -m mobileclip.pair_text --help",
    "python -m mobileclip.pair_text TEXT.pt IMAGE.pt --out paired.pt":
        ("why", "needs a train_text checkpoint (minutes); tests/test_multilingual.py pairs tiny ones"),
    "python -m mobileclip.multilingual_eval CKPT --test multi30k/test_2016_flickr [--zeroshot cifar10/test]":
        ("why", "needs a paired multilingual checkpoint and the Multi30k archive; tests/test_multilingual.py"),
    "python -m mobileclip.golden": "python -m mobileclip.golden --out golden_copy --no-app-copies",
    "python -m export.golden": "python -m export.golden --out golden_copy2 --no-app-copies",
    "python -m mobileclip.demo_train": ("why", "a step of make demo (minutes of training); "
                                               "tests/test_demo_train.py"),
    "make demo": "make -n demo",
    "make test": "make -n test",
    "make test-slow": "make -n test-slow",
    "make install": "make -n install",
}


# -------------------------------------------------------------------------- parsing the documented arguments
class _Parsed(Exception):
    pass


PLACEHOLDER_VALUES = {"N": "2"}  # a placeholder that must be a number
FILL = {"python -m export.<backend> --out OUT": ["CKPT"],  # fragments: the positional the doc leaves out
        "python -m export.coreml … --out exports/": ["CKPT"]}


def _modules_and_args(cmd: str) -> list[tuple[str, list[str]]]:
    """``(module, argv)`` of a documented ``python -m``/``torchrun -m`` command; alternatives (``a|b|c``,
    ``export.<backend>``) expanded; optional ``[...]`` parts included; ``...`` after an option is a value,
    elsewhere dropped; ``$VAR`` kept as text."""
    words = shlex.split(cmd.replace("\\|", "|"))
    while words and _ASSIGN.match(words[0]):
        words = words[1:]
    if words[0] == "make" or "-m" not in words or words[words.index("-m") + 1].startswith("tests."):
        return []  # make targets, and the tests' own helper scripts (no argparse parser), are checked otherwise
    i = words.index("-m")
    module, args = words[i + 1], []
    for w in (w.strip("[]") for w in words[i + 2:]):
        if w in ("...", "…"):
            w = "x" if args and args[-1].startswith("--") else ""
        if w:
            args.append(PLACEHOLDER_VALUES.get(w, w))
    head, _, tail = module.partition(".")
    names = [f"{head}.{n}" for n in tail.split("|")] if "|" in tail else [module]
    names = [f"export.{b}" for b in BACKENDS] if module == "export.<backend>" else names
    return [(n, args + FILL.get(cmd, [])) for n in names]


def _all_actions(parser: argparse.ArgumentParser):
    for a in parser._actions:
        yield a
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                yield from _all_actions(sub)


def parse_only(module: str, argv: list[str]) -> argparse.Namespace | None:
    """``module.main(argv)`` stopped right after its parser parsed ``argv`` (options the fragment leaves out
    are not required here): the namespace, or None after ``--help``; a parser error raises SystemExit(2) (the
    message is on stderr)."""
    real = argparse.ArgumentParser.parse_args

    def parse(self, args=None, namespace=None):
        for a in _all_actions(self):
            if a.option_strings:
                a.required = False
        raise _Parsed(real(self, args, namespace))

    mod = importlib.import_module(module)
    if not hasattr(mod, "main"):  # a package run through its __main__.py (python -m mobileclip.data)
        mod = importlib.import_module(f"{module}.__main__")
    argparse.ArgumentParser.parse_args = parse
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            mod.main(argv)
    except _Parsed as p:
        return p.args[0]
    except SystemExit as e:
        if e.code not in (0, None):
            raise
        return None
    finally:
        argparse.ArgumentParser.parse_args = real
    raise AssertionError(f"{module}.main returned without parsing its arguments")


# ------------------------------------------------------------------------------------------------- the tests
def test_every_documented_command_is_known():
    """A command a doc shows and TINY does not know (or the reverse) fails: docs and this table stay in sync."""
    found = documented_commands()
    unknown = {c: w for c, w in found.items() if c not in TINY}
    stale = [c for c in TINY if c not in found]
    assert not unknown, ("documented commands with no tiny form or reason in tests/test_docs_commands.py TINY: "
                         + "; ".join(f"{c!r} ({', '.join(w)})" for c, w in unknown.items()))
    assert not stale, f"TINY entries no doc shows any more (remove them): {stale}"
    for cmd, tiny in TINY.items():
        assert isinstance(tiny, str) or (tiny[0] == "why" and tiny[1]), cmd


@pytest.mark.parametrize("cmd", [c for c in TINY if _modules_and_args(c)])
def test_documented_arguments_parse(cmd, capsys):
    """The arguments as documented are options of the command, with values of the right type (a bare mention:
    its ``--help`` works)."""
    for module, argv in _modules_and_args(cmd):
        subcommand_only = len(argv) == 1 and not argv[0].startswith("-") and module == "mobileclip.data"
        try:
            parse_only(module, argv + ["--help"] if not argv or subcommand_only else argv)
        except SystemExit:
            pytest.fail(f"{cmd!r} ({module} {argv}) does not parse: {capsys.readouterr().err.strip()}")


@pytest.mark.parametrize("cmd", [c for c in TINY if c.startswith("make ")])
def test_documented_make_targets_exist(cmd):
    proc = subprocess.run(TINY[cmd].split(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, tiny_teacher_dir):
    from export.demo import make_bn_calibrated_student

    box = tmp_path_factory.mktemp("docs_run")
    make_bn_calibrated_student(box / "student.pt", "tiny-lsra-light")
    shutil.copytree(tiny_teacher_dir, box / "teacher")
    subprocess.run([sys.executable, "-m", "mobileclip.data", "synth", "--out", "data", "--n-train", "16",
                    "--n-test", "8", "--size", "32"], cwd=box, check=True, capture_output=True, env=_env())
    return box


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


@pytest.mark.slow
def test_every_documented_command_runs_in_a_tiny_form(sandbox):
    """Each tiny form, in TINY's order, in the sandbox: exit status 0 (all run; the failures are listed)."""
    failures = []
    for cmd, tiny in TINY.items():
        if not isinstance(tiny, str):
            continue
        words = shlex.split(tiny.replace("{box}", str(sandbox)))  # {box}: the sandbox's absolute path
        env = _env()
        while _ASSIGN.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if words[0] == "python":
            words[0] = sys.executable
        cwd = REPO if words[0] == "make" else sandbox
        proc = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            failures.append(f"{tiny!r} (for {cmd!r}) exit {proc.returncode}: "
                            f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    assert not failures, "\n".join(failures)
