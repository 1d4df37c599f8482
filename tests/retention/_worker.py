"""A separate process for the replica tests: one "server replica" running cleanup ticks.

``_worker.py tick URL TICK_ISO``: print ``ready``, wait for ``go`` on stdin, run that tick,
print the outcome as JSON.
``_worker.py schedule URL CRON TZ TICKS``: print ``ready``, wait for ``go``, then run the real
built-in scheduler until it has handled TICKS ticks, printing each outcome as a JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import llmtrail
from llmtrail import retention
from llmtrail.config import load_settings


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    store = llmtrail.open_store(url, settings=load_settings(cleanup_batch_size=500))
    if mode == "tick":
        tick = datetime.fromisoformat(sys.argv[3])
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.exit("expected go")
        result = retention.run_tick(store, tick)
        print(json.dumps({"result": result.to_wire() if result else None}), flush=True)
    else:
        cron, tz, ticks = sys.argv[3], sys.argv[4], int(sys.argv[5])
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.exit("expected go")
        sched = retention.start_scheduler(store, load_settings(cleanup_cron=cron, cleanup_tz=tz))
        assert sched is not None
        printed = 0
        deadline = time.monotonic() + 60
        while printed < ticks and time.monotonic() < deadline:
            for tick, result in sched.results[printed:]:
                line = {"tick": tick.isoformat(), "result": result.to_wire() if result else None}
                print(json.dumps(line), flush=True)
                printed += 1
            time.sleep(0.02)
        sched.shutdown()
    store.close()


if __name__ == "__main__":
    main()
