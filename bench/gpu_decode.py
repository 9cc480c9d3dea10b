"""Where the time of one generated token goes on a GPU, and what the decode loop costs.

    python bench/gpu_decode.py [--device cuda] [--random-weights] [--new-tokens 64]

Speed does not depend on the weights' values, so ``--random-weights`` builds a model of
the bundled SmolLM2-135M-Instruct's shape (30 layers, hidden 576, vocabulary 49 152)
without carrying the model file. Generation is forced to run ``--new-tokens`` tokens.
Each variant runs in this process against the first (``generate``, dynamic cache), and
one line ``GPU_DECODE {json}`` sums up (written to $OUT/gpu_decode.json when OUT is set):

- ``generate``: transformers' ``generate``, greedy, dynamic KV cache (the backend's path);
- ``generate_streamer``: the same with a ``TextIteratorStreamer`` read in another thread;
- ``forward_loop``: one ``forward`` per token by hand; wall time per step against GPU time
  per step (CUDA events), so host-side overhead shows as the gap between the two;
- ``generate_static_cache``: a static KV cache, which lets transformers compile the
  decode step into CUDA graphs; the first call (compiling) is reported apart.
- ``python_loop_ms``: a pure-Python loop, to compare this host's CPU speed with others.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time

import torch


def bundled_shape():
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )


def load(args):
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    if args.random_weights:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(bundled_shape(), dtype=dtype)
        return None, model.to(args.device).eval()
    sys.path.insert(0, os.getcwd())
    from rag.generators.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(data_dir=args.cache, device=args.device)
    gen.warm_up()
    return gen._tok, gen._model


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--cache", default=os.environ.get("RAG_GPU_CACHE", "data"))
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=750)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated variants to leave out")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    out: dict = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads()}
    t = time.perf_counter()
    x = 0
    for i in range(2_000_000):
        x += i
    out["python_loop_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    if args.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(0)
    tok, model = load(args)
    import transformers

    out["transformers"] = transformers.__version__
    out["attn"] = getattr(model.config, "_attn_implementation", None)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 40000, (1, args.prompt_tokens), generator=gen).to(args.device)
    n = args.new_tokens
    common = dict(
        max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None, repetition_penalty=1.1
    )

    def timed(fn) -> list[float]:
        times = []
        for _ in range(args.runs):
            sync(args.device)
            t0 = time.perf_counter()
            fn()
            sync(args.device)
            times.append(time.perf_counter() - t0)
        return times

    def report(name: str, times: list[float], **extra) -> None:
        best = min(times)
        out[name] = {"s": round(best, 3), "tokens_per_s": round(n / best, 1), **extra}
        print(name, out[name], flush=True)

    with torch.inference_mode():
        model.generate(ids, **{**common, "max_new_tokens": 4, "min_new_tokens": 4})  # warm up kernels
        report("generate", timed(lambda: model.generate(ids, **common)))

        if "generate_streamer" not in skip and tok is not None:
            from transformers import TextIteratorStreamer

            def with_streamer():
                streamer = TextIteratorStreamer(tok, skip_prompt=True)

                def work():
                    with torch.inference_mode():
                        model.generate(ids, streamer=streamer, **common)

                th = threading.Thread(target=work)
                th.start()
                for _ in streamer:
                    pass
                th.join()

            report("generate_streamer", timed(with_streamer))

        if "forward_loop" not in skip:
            from transformers import DynamicCache

            cache = DynamicCache(config=model.config)
            res = model(ids, past_key_values=cache, use_cache=True)
            nxt = res.logits[:, -1:].argmax(-1)
            walls, gpus = [], []
            for _ in range(n):
                sync(args.device)
                t0 = time.perf_counter()
                if args.device.startswith("cuda"):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                res = model(nxt, past_key_values=cache, use_cache=True)
                nxt = res.logits[:, -1:].argmax(-1)
                if args.device.startswith("cuda"):
                    end.record()
                sync(args.device)
                walls.append(time.perf_counter() - t0)
                if args.device.startswith("cuda"):
                    gpus.append(start.elapsed_time(end) / 1e3)
            out["forward_loop"] = {
                "wall_ms_per_token": round(statistics.median(walls) * 1e3, 2),
                "gpu_ms_per_token": round(statistics.median(gpus) * 1e3, 2) if gpus else None,
            }
            print("forward_loop", out["forward_loop"], flush=True)

        if "generate_static_cache" not in skip:
            static = {**common, "cache_implementation": "static"}
            sync(args.device)
            t0 = time.perf_counter()
            model.generate(ids, **static)
            sync(args.device)
            first = time.perf_counter() - t0
            report("generate_static_cache", timed(lambda: model.generate(ids, **static)), first_call_s=round(first, 2))

    base = out["generate"]["tokens_per_s"]
    for k in ("generate_streamer", "generate_static_cache"):
        if k in out:
            out[k]["vs_generate"] = round(out[k]["tokens_per_s"] / base, 2)
    line = json.dumps(out)
    print("GPU_DECODE " + line, flush=True)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_decode.json"), "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
