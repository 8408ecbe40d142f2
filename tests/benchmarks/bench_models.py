"""Model discovery and downloads: how long a scan of many GGUFs takes (the welcome screen and
`hearth models list` do one), and download throughput through Hearth's resumable downloader
against huggingface-hub's own `hf_hub_download`, both from a local stand-in for the Hub.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_models.py`). Prints a table and
writes bench-results/models.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixtures.fake_hub import FakeHub  # noqa: E402
from fixtures.tiny_models import write_tiny_gpt_oss  # noqa: E402
from inference.models import discovery, download  # noqa: E402
from inference.models.catalog import starter_model  # noqa: E402

N_FILES = 200
REPEATS = 3


def bench_scan(root: Path) -> dict:
    src = write_tiny_gpt_oss(root / "src.gguf", seed=1)
    folder = root / "folder"
    for i in range(N_FILES):
        sub = folder / f"publisher{i % 20}" / f"repo{i}"
        sub.mkdir(parents=True)
        os.link(src, sub / f"model-{i}.gguf")  # distinct paths, one inode: the scan reads each
    times = []
    for repeat in range(REPEATS):
        discovery._read_header_cached.cache_clear()  # a cold scan each time
        start = time.perf_counter()
        found = discovery.discover(discovery.Locations(folders=[folder]))
        times.append(time.perf_counter() - start)
    assert len(found) == N_FILES
    return {"files": N_FILES, "cold_scan_ms": round(statistics.median(times) * 1000, 1),
            "per_file_ms": round(statistics.median(times) * 1000 / N_FILES, 2)}


def bench_download(root: Path) -> dict:
    model = starter_model()
    repo, name = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", model.name
    size = model.stat().st_size
    out = {"file_mb": round(size / 1e6, 1)}
    with FakeHub() as hub:
        hub.add_file(repo, name, model)
        os.environ["HF_ENDPOINT"] = hub.endpoint
        hearth, hf = [], []
        for repeat in range(REPEATS):
            target = root / f"hearth{repeat}"
            start = time.perf_counter()
            download.download(repo, name, target)  # includes the sha256 check
            hearth.append(time.perf_counter() - start)
            from huggingface_hub import hf_hub_download

            start = time.perf_counter()
            hf_hub_download(repo, name, cache_dir=root / f"hf{repeat}", endpoint=hub.endpoint)
            hf.append(time.perf_counter() - start)
    out["hearth_mb_s"] = round(size / 1e6 / statistics.median(hearth), 1)
    out["hf_hub_download_mb_s"] = round(size / 1e6 / statistics.median(hf), 1)
    out["note"] = "Hearth's figure includes hashing the file; hf_hub_download verifies nothing"
    return out


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="hearth-bench-models-"))
    try:
        results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                   "scan": bench_scan(root), "download": bench_download(root)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    scan, dl = results["scan"], results["download"]
    print(f"Scan of {scan['files']} GGUFs (cold):       {scan['cold_scan_ms']} ms "
          f"({scan['per_file_ms']} ms a file)")
    print(f"Download {dl['file_mb']} MB, local hub:  Hearth {dl['hearth_mb_s']} MB/s (verified), "
          f"hf_hub_download {dl['hf_hub_download_mb_s']} MB/s")
    out = ROOT / "bench-results" / "models.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
