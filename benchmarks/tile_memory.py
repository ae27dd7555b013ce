"""Memory of one fixed-shape tile model run: RSS growth when a ``*_128px`` model is loaded,
allocated and invoked once (ai-edge-litert, XNNPACK, 2 threads), per shipped file.

    python benchmarks/tile_memory.py

Each file runs in a fresh process so that one model's arena does not hide another's.
"""

import glob
import os
import subprocess
import sys

CHILD = """
import sys, numpy as np, psutil
from ai_edge_litert.interpreter import Interpreter
proc = psutil.Process()
before = proc.memory_info().rss
it = Interpreter(model_path=sys.argv[1], num_threads=2)
it.allocate_tensors()
inp = it.get_input_details()[0]
x = np.random.default_rng(0).random(inp["shape"]).astype(np.float32)
if inp["dtype"] != np.float32:
    x = (x * 255).astype(inp["dtype"])
it.set_tensor(inp["index"], x)
it.invoke()
print((proc.memory_info().rss - before) / 2**20)
"""


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sorted(glob.glob(os.path.join(root, "maffsrn_tf", "weights", "*_128px*.tflite")))
    if not files:
        raise SystemExit("error: no *_128px*.tflite in maffsrn_tf/weights (run `make tflite`)")
    print("| model | file (KB) | RSS growth after load + one 128x128 tile (MiB) |")
    print("|---|---|---|")
    for path in files:
        out = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True)
        mib = float(out.stdout.strip().splitlines()[-1])
        print(f"| {os.path.basename(path)} | {os.path.getsize(path) / 1024:.0f} | {mib:.1f} |")


if __name__ == "__main__":
    main()
