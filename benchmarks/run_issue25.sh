#!/usr/bin/env bash
# Issue 25 acceptance measurements: indexing (phone photos, draft vs full decode, student vs teacher in the same
# runtime, cold start) and the image tower's ExecuTorch delegation, on a 224-px student (latency does not depend
# on the weights; the student's BatchNorm statistics are re-estimated so its features do not collapse).
# Run from the repository root on an idle machine; each step prints `uptime` (the load) beside its figures.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-.cache/perf}
THREADS=${THREADS:-1}
mkdir -p "$OUT"
echo "== $(date -u +%FT%TZ) load: $(uptime)"
# the student's image tower, fp32 and int8 (ExecuTorch: xnnpack-int8-dynamic; LiteRT: dynamic-wi8-afp32-float-depthwise),
# verified by the export gates; backend_info in the manifest has ExecuTorch's delegated fraction
# (no --strict: a random-init student's int8 file may miss a gate -- the table says which -- and latency does not
# depend on it; a second run reuses the exports)
[ -f "$OUT/export/manifest.json" ] || $PY -m export.demo --student "$OUT/student224.pt" \
    --create-missing mnv3l-lsra-512 --out "$OUT/export" --backends executorch,tflite --quantize none,int8 --towers image
echo "== $(date -u +%FT%TZ) load: $(uptime)"
# the ViT-B/32 architecture's image tower through the same exporters (fp32)
[ -f "$OUT/teacher/manifest.json" ] || \
    $PY -m export.teacher vit-b-32-random --out "$OUT/teacher" --backends executorch,tflite --towers image
echo "== $(date -u +%FT%TZ) load: $(uptime)"
# photos/s from the JPEG file, 12 MP phone photos and their originals, student and teacher in every runtime
$PY -m benchmarks.indexing --students "$OUT/student224.pt" --teacher vit-b-32-random --export "$OUT/export" \
    --teacher-export "$OUT/teacher" --threads "$THREADS" --n-photos 16 --batches 1,16 --repeats 2 \
    --cold-repeats 3 --out "$OUT/indexing"
echo "== $(date -u +%FT%TZ) load: $(uptime)"
# quantisation table (QUANT=1): the make-demo student (32 px, synthetic shapes) and the CIFAR-10 KD-ablation
# student (32 px, natural images), every recipe of ExecuTorch and LiteRT
if [ "${QUANT:-0}" = 1 ]; then
    [ -f .cache/demo/student.pt ] || { $PY -m mobileclip.demo && $PY -m mobileclip.demo_train; }
    $PY -m benchmarks.quantization .cache/demo/student.pt --runtimes executorch,litert,coreml \
        --calibration .cache/demo/data/classes/test --out "$OUT/quantization-demo"
    [ -f .cache/kd_ablation/kd/seed0/final.pt ] || $PY -m benchmarks.kd_ablation --seeds 1
    $PY -m benchmarks.quantization .cache/kd_ablation/kd/seed0/final.pt --runtimes executorch,litert,coreml \
        --out "$OUT/quantization-kd"
    echo "== $(date -u +%FT%TZ) load: $(uptime)"
fi
