"""The thumbnail cache against a client asking for many widths (issue 29, item 1).

One daemon in this process (model parked) with one 1024x1024 variation;
`GET …/thumbnail?width=W` for each W in `--first` and `--count` (default 4000…4099, all
wider than the image). Prints the files and bytes the requests left in
`{cache_dir}/api-thumbnails`, the distinct ETags answered, and the CPU
seconds this process (daemon threads included) spent on the requests:

    .venv/bin/python bench/thumbwidths.py [--first 4000] [--count 100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SIZE = 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=4000, help="the first width asked for")
    parser.add_argument("--count", type=int, default=100, help="how many widths, one apart")
    args = parser.parse_args()

    from PIL import Image, ImageFilter

    from daemon.store import NewTask, NewVariation
    from gladtui.shapes import TaskStatus
    from tests.apidaemon import ApiDaemon, http_get

    d = ApiDaemon(None).start()
    try:
        assert d.daemon is not None
        d.config.preview_dir.mkdir(parents=True, exist_ok=True)
        path = d.config.preview_dir / "widths-1.png"
        noise = Image.effect_noise((SIZE, SIZE), 50).convert("RGB")
        noise.filter(ImageFilter.GaussianBlur(2)).save(path)
        store = d.daemon.store
        with store.transaction():
            store.tasks.create_many(
                [NewTask(id="widths", title="Widths", prompt="bread", variations=1, steps=30,
                         guidance_scale=7.0, width=SIZE, height=SIZE, seed=1)],
                status=TaskStatus.REVIEW,
            )  # fmt: skip
            store.variations.add_many(
                [NewVariation(task_id="widths", idx=1, path=str(path), thumbnail=None, seed=1,
                              prompt="bread", negative_prompt="", width=SIZE, height=SIZE,
                              steps=30, guidance_scale=7.0, model="bench")]
            )  # fmt: skip
        folder = d.config.cache_dir / "api-thumbnails"
        etags = set()
        started = time.process_time()
        for width in range(args.first, args.first + args.count):
            status, headers, _ = http_get(
                d.socket, f"/api/tasks/widths/variations/1/thumbnail?width={width}"
            )
            assert status == 200, status
            etags.add(headers["ETag"])
        cpu = time.process_time() - started
        files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
        result = {
            "widths": f"{args.first}…{args.first + args.count - 1}",
            "files_written": len(files),
            "bytes_written": sum(p.stat().st_size for p in files),
            "distinct_etags": len(etags),
            "cpu_seconds": round(cpu, 2),
        }
        print(json.dumps(result, ensure_ascii=False))
    finally:
        d.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
