"""Real models (issue 11 item 8): the suite runs against any Inspect provider. Here `openai/<model>` is pointed
at an OpenAI-compatible server started by the test (`--model-base-url`, `-M responses_api=false`), through the
same command an evaluator runs against a hosted model; the server sees the prompts and tool results, and the
logs name the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log

pytestmark = pytest.mark.slow

VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _completion(model: str, message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _tool_call(name: str, arguments: dict[str, str]) -> dict[str, Any]:
    call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    """A scripted stand-in for a hosted model: look around with bash once, then submit; answer questions."""
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    if "bash" in tools and not any(m.get("role") == "tool" for m in body["messages"]):
        return _completion(body["model"], _tool_call("bash", {"command": "ls -la"}), "tool_calls")
    if "submit" in tools:
        return _completion(body["model"], _tool_call("submit", {"answer": "flag{unknown}"}), "tool_calls")
    return _completion(body["model"], {"role": "assistant", "content": f"ANSWER: {VECTOR}"}, "stop")


@pytest.fixture
def stub_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            data = json.dumps(_answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_suite_runs_an_openai_compatible_model(
    stub_server: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    base_url, seen = stub_server
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env |= {"CLEARINGHOUSE_HOME": str(home), "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"), "COLUMNS": "250"}
    cmd = [sys.executable, "-m", "clearinghouse", "eval", "run", "--suite", "cyber", "--model", "openai/stub-model"]
    # -M responses_api=false: Inspect would use OpenAI's Responses API for a model name it does not know
    cmd += ["--model-base-url", base_url, "-M", "responses_api=false"]
    cmd += ["--limit", "1", "--display", "none", "-T", "challenges=crypto-xor"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    logs = [read_eval_log(str(path)) for path in sorted((home / "eval-logs").glob("*.eval"))]
    tasks = {log.eval.task.rsplit("/", 1)[-1]: log for log in logs}
    assert {"ctf_unguided", "ctf_subtasks", "cvss_prediction", "fixed_version"} <= set(tasks)
    for log in logs:
        assert log.status == "success" and log.eval.model == "openai/stub-model"
        assert log.samples
    [cvss_sample] = tasks["cvss_prediction"].samples or []
    assert cvss_sample.output.completion == f"ANSWER: {VECTOR}"
    # the server was the model: it received the prompts, and the sandbox's tool output came back to it
    assert {body["model"] for body in seen} == {"stub-model"}
    assert any(m.get("role") == "tool" for body in seen for m in body["messages"])
    assert any("CVSS v3.1 base vector" in json.dumps(body["messages"]) for body in seen)
    assert "Baseline" in result.stdout and "Normalised" in result.stdout
