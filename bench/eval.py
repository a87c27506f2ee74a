"""Evaluation-harness benchmark: how much of an eval's wall time is the harness rather than the model.

Usage: python bench/eval.py [--delay 0.2] [--epochs 50] [--max-connections 10] [--limit 2] [--no-ctf]
[--knowledge]. A scripted OpenAI-compatible server (standard library, on 127.0.0.1) stands in for the model: each
chat completion answers after a fixed delay, replaying a fixed policy (look around with bash, read note.txt,
then answer or submit). The smoke task runs for --epochs epochs, concurrently with the CTF tasks (and, with --knowledge,
the knowledge tasks) on --limit samples when they exist. Model time is the time at least one completion was in
flight on the server at the chosen concurrency; harness overhead = wall - model time, reported as a share of
wall time. Target: < 20 %.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET_OVERHEAD = 0.20
SMOKE = "clearinghouse.evals.smoke:sandbox_smoke"
CTF = ["clearinghouse.evals.ctf.tasks:ctf_unguided", "clearinghouse.evals.ctf.tasks:ctf_subtasks"]
KNOWLEDGE = [
    "clearinghouse.evals.knowledge:cwe_prediction",
    "clearinghouse.evals.knowledge:cvss_prediction",
    "clearinghouse.evals.knowledge:fixed_version",
]
SCRIPT = ["ls -la", "cat note.txt 2>/dev/null || ls", "id && uname -a"]


class Recorder:
    """Intervals during which the scripted model was answering, to measure busy (model) time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []

    def add(self, start: float, end: float) -> None:
        with self.lock:
            self.intervals.append((start, end))

    def busy(self) -> float:
        total, current_end = 0.0, float("-inf")
        for start, end in sorted(self.intervals):
            if start > current_end:
                total += end - start
                current_end = end
            elif end > current_end:
                total += end - current_end
                current_end = end
        return total


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    tools = {t["function"]["name"] for t in body.get("tools", []) if t.get("type") == "function"}
    steps = sum(1 for m in messages if m.get("role") == "tool")
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    finish = "stop"
    if "bash" in tools and steps < len(SCRIPT):
        call = {"command": SCRIPT[steps]}
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": "bash", "arguments": json.dumps(call)},
            }
        ]
        finish = "tool_calls"
    elif "submit" in tools:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": "submit", "arguments": json.dumps({"answer": "flag{unknown}"})},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = "The secret word is periwinkle. ANSWER: CWE-79"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }


def serve(delay: float, recorder: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            started = time.monotonic()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep(delay)
            payload = json.dumps(_reply(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            recorder.add(started, time.monotonic())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per completion")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of the smoke task")
    parser.add_argument("--max-connections", type=int, default=10)
    parser.add_argument("--limit", type=int, default=2, help="samples per CTF / knowledge task")
    parser.add_argument("--no-ctf", action="store_true")
    parser.add_argument("--knowledge", action="store_true")
    args = parser.parse_args()

    import tempfile

    from inspect_ai import Task, task_with
    from inspect_ai import eval as inspect_eval

    from clearinghouse.evals.offline import install_offline_tokenizer
    from clearinghouse.evals.sandbox import require_bwrap
    from clearinghouse.evals.suite import SUITES, load_suite

    require_bwrap()
    install_offline_tokenizer()
    recorder = Recorder()
    server = serve(args.delay, recorder)
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"

    wanted = [SMOKE] + ([] if args.no_ctf else CTF) + (KNOWLEDGE if args.knowledge else [])
    SUITES["bench"] = wanted
    loaded = load_suite("bench")
    for dotted, why in loaded.skipped.items():
        print(f"note: {dotted} skipped: {why}")
    # one eval call running every task at once, as `clearinghouse eval run` does for a suite
    tasks: list[Task] = [
        task_with(task, epochs=args.epochs) if dotted == SMOKE else task
        for dotted, task in zip(loaded.loaded, loaded.tasks, strict=True)
    ]

    import os

    os.environ.setdefault("SCRIPTED_API_KEY", "unused")
    started = time.monotonic()
    samples = 0
    with tempfile.TemporaryDirectory() as log_dir:
        logs = inspect_eval(
            tasks,
            model="openai-api/scripted/policy",
            model_base_url=base_url,
            max_connections=args.max_connections,
            max_tasks=len(tasks),
            limit=args.limit,
            log_dir=log_dir,
            display="none",
        )
        for log in logs:
            count = len(log.samples or [])
            samples += count
            print(f"{log.eval.task:40} {log.status:8} {count:4} samples")
    wall = time.monotonic() - started
    server.shutdown()

    model = recorder.busy()
    overhead = wall - model
    share = overhead / wall if wall else 0.0
    print(
        f"completions          {len(recorder.intervals)} at {args.delay * 1000:.0f} ms, "
        f"max_connections {args.max_connections}"
    )
    print(f"samples              {samples}")
    print(f"wall time            {wall:.2f} s")
    print(f"model time           {model:.2f} s (server busy at the chosen concurrency)")
    print(f"harness overhead     {overhead:.2f} s = {share:.1%} of wall (target < {TARGET_OVERHEAD:.0%})")
    print("PASS" if share < TARGET_OVERHEAD else "FAIL")


if __name__ == "__main__":
    main()
