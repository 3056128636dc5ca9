"""One cold start, run by ``benchmarks.indexing`` in a fresh process: import the runtime, load one image
model, embed one preprocessed photo; prints one JSON line of times (ms).

    python -m benchmarks.cold_start --runtime litert --model image_int8.tflite --input x.npy --t0 <parent time>

Only the standard library is imported before the clock starts, so ``import_ms`` is the runtime's own import
(LiteRT: numpy + the interpreter; ExecuTorch's Python runtime: torch too; eager: torch + mobileclip).
"""
from __future__ import annotations

import argparse
import json
import time

T_MAIN = time.time()


def _load(runtime: str, model: str, threads: int):
    """``(import_s, load_s, run)``: ``run(array)`` -> embedding as a flat list."""
    t = time.perf_counter()
    if runtime == "litert":
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        t_import = time.perf_counter() - t
        t = time.perf_counter()
        runner = Interpreter(model_path=model, num_threads=threads).get_signature_runner("serving_default")
        name = next(iter(runner.get_input_details()))

        def run(x):
            return np.asarray(next(iter(runner(**{name: x}).values()))).ravel().tolist()
    elif runtime == "executorch":
        import torch
        from executorch.runtime import Runtime

        t_import = time.perf_counter() - t
        t = time.perf_counter()
        method = Runtime.get().load_program(model).load_method("forward")

        def run(x):
            return method.execute([torch.from_numpy(x)])[0].numpy().ravel().tolist()
    elif runtime == "eager":
        import torch
        from mobileclip.evaluation.encoders import load_encoder

        t_import = time.perf_counter() - t
        t = time.perf_counter()
        torch.set_num_threads(threads)
        encoder = load_encoder(model)

        def run(x):
            with torch.no_grad():
                return encoder.encode_image(torch.from_numpy(x)).numpy().ravel().tolist()
    else:
        raise SystemExit(f"benchmarks.cold_start: error: unknown runtime {runtime!r}")
    return t_import, time.perf_counter() - t, run


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtime", required=True, choices=("eager", "executorch", "litert"))
    p.add_argument("--model", required=True, help="model file (.pte, .tflite) or checkpoint / teacher spec (eager)")
    p.add_argument("--input", required=True, help=".npy of one preprocessed photo (1, 3, S, S) float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--t0", type=float, default=None, help="the parent's time.time() just before it started us")
    args = p.parse_args(argv)
    t_import, t_load, run = _load(args.runtime, args.model, args.threads)
    import numpy as np

    x = np.load(args.input).astype(np.float32)
    t = time.perf_counter()
    emb = run(x)
    t_first = time.perf_counter() - t
    done = time.time()
    print(json.dumps({"process_start_to_main_ms": 1e3 * (T_MAIN - args.t0) if args.t0 else None,
                      "import_ms": 1e3 * t_import, "load_ms": 1e3 * t_load, "first_inference_ms": 1e3 * t_first,
                      "load_and_first_ms": 1e3 * (t_load + t_first),
                      "process_start_to_embedding_ms": 1e3 * (done - args.t0) if args.t0 else None,
                      "embedding_norm": float(np.linalg.norm(emb))}))


if __name__ == "__main__":
    main()
