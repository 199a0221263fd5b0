#!/usr/bin/env python3
"""Runs one of ../shared/peer's scripts (PyTorch) for bench/run.ts and reports the CPU time it obtained.

usage: /usr/bin/python3 bench/peer_run.py PEER_DIR SCRIPT.py [script args...]
env UAP_PEER_MODEL_DIR: a TF.js MobileNet v1 folder for the peer's Keras port (default: the port's own,
mobilenet_v1_0.25_224); the port reads width and weights from it.
Prints the script's output, then one line on stderr: PEER_RUSAGE {"cpu_s": ..., "wall_s": ...}.
"""
import json
import os
import resource
import runpy
import sys
import time

peer_dir, script, *args = sys.argv[1:]
sys.path.insert(0, peer_dir)
model_dir = os.environ.get("UAP_PEER_MODEL_DIR")
if model_dir:
    import torch_mobilenet

    base = torch_mobilenet.KerasMobileNetTorch

    class Port(base):
        def __init__(self, model_dir=model_dir, fold_bn=False):
            super().__init__(model_dir=model_dir, fold_bn=fold_bn)

    torch_mobilenet.KerasMobileNetTorch = Port
sys.argv = [script, *args]
t0 = time.perf_counter()
try:
    runpy.run_path(os.path.join(peer_dir, script), run_name="__main__")
finally:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("PEER_RUSAGE " + json.dumps({"cpu_s": ru.ru_utime + ru.ru_stime, "wall_s": time.perf_counter() - t0}), file=sys.stderr)
