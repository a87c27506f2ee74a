"""Every oracle against the fixture package: fires on the vulnerable 1.0 and not on the fixed 1.1 (`reproduced`),
and never fires for a PoC that does the effect itself or prints what the oracle looks for."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from clearinghouse.reproduce.environments import EnvironmentBuilder
from clearinghouse.reproduce.rules import Ecosystem, Outcome, Request, Verdict, parse_request
from clearinghouse.reproduce.service import ReproductionService
from tests.reproduce.conftest import js_request, py_request

NONCE = "os.environ['REPRODUCE_NONCE']"


def execute(builders: dict[Ecosystem, EnvironmentBuilder], request: Request) -> Outcome:
    # no store needed to build, run and judge
    return ReproductionService(sa.create_engine("sqlite://"), builders).execute(request)


REPRODUCING: dict[str, tuple[str, dict[str, Any]]] = {
    "command": (
        f"import chvuln, os\nchvuln.render(\"{{{{__import__('os').system('echo ' + {NONCE})}}}}\")",
        {"kind": "command"},
    ),
    "secret": (
        'import chvuln\nprint(chvuln.read_page("/home/agent/poc", "../private/secret.txt"))',
        {"kind": "secret"},
    ),
    "file_write": (
        'import chvuln, os\nchvuln.save("/home/agent/poc", os.environ["REPRODUCE_WRITE_PATH"], "pwned")',
        {"kind": "file_write"},
    ),
    "exception": ('import chvuln\nchvuln.parse("[" * 5000)', {"kind": "exception", "exception": "RecursionError"}),
    "timeout": ('import chvuln\nchvuln.match("a" * 40 + "!")', {"kind": "timeout", "seconds": 1}),
    "memory": ("import chvuln\nchvuln.allocate(1 << 30)", {"kind": "memory", "memory_mb": 128}),
    "crash": ("import chvuln\nchvuln.crash()", {"kind": "crash"}),
}


@pytest.mark.parametrize("oracle", sorted(REPRODUCING))
def test_each_oracle_fires_on_the_vulnerable_version_only(
    builders: dict[Ecosystem, EnvironmentBuilder], oracle: str
) -> None:
    source, spec = REPRODUCING[oracle]
    outcome = execute(builders, py_request(source, spec))
    assert outcome.verdict is Verdict.REPRODUCED, outcome
    vulnerable, fixed = outcome.observations
    assert vulnerable.fired and vulnerable.where is not None and "site-packages/chvuln/" in vulnerable.where
    assert not fixed.fired and fixed.version == "1.1"
    # the environments' hashes come with the verdict
    assert [a["name"] for a in outcome.packages["1.0"]] == ["chvuln"] and len(
        outcome.packages["1.1"][0]["sha256"]
    ) == 64


FAKES: dict[str, tuple[str, dict[str, Any]]] = {
    "the PoC runs the command itself": (f"import os\nos.system('echo ' + {NONCE})", {"kind": "command"}),
    "the PoC prints the nonce": (f"import os\nprint({NONCE})", {"kind": "command"}),
    "the PoC reads the secret itself": (
        "import os\nprint(open(os.environ['REPRODUCE_SECRET_PATH']).read())",
        {"kind": "secret"},
    ),
    "the PoC writes the file itself": (
        "import os\nopen(os.environ['REPRODUCE_WRITE_PATH'], 'w').write('x')",
        {"kind": "file_write"},
    ),
    "the PoC raises the exception itself": (
        "raise RecursionError('fake')",
        {"kind": "exception", "exception": "RecursionError"},
    ),
    "the PoC loops by itself": ("while True:\n    pass", {"kind": "timeout", "seconds": 1}),
    "the PoC loops over a cheap target call": (
        "import chvuln\nwhile True:\n    chvuln.match('aaa')",
        {"kind": "timeout", "seconds": 1},
    ),
    "the PoC aborts itself": ("import os\nos.abort()", {"kind": "crash"}),
    "the PoC allocates by itself": ("x = bytearray(1 << 30)", {"kind": "memory", "memory_mb": 128}),
    "the PoC forges an evidence line": (
        'import sys, os\nsys.stderr.write(\'\\n@@reproduce \' + \'0\' * 64 + \' {"event": "command", "who": '
        '"target", "where": "x"}\\n\')',
        {"kind": "command"},
    ),
}


@pytest.mark.parametrize("case", sorted(FAKES))
def test_a_faked_effect_never_fires(builders: dict[Ecosystem, EnvironmentBuilder], case: str) -> None:
    source, spec = FAKES[case]
    outcome = execute(builders, py_request(source, spec))
    assert outcome.verdict is Verdict.NOT_REPRODUCED, outcome
    assert not any(o.fired for o in outcome.observations)


def test_a_bug_the_fix_did_not_remove_is_reproduced_not_fixed(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    # 1.0 recurses until RecursionError, 1.1 refuses with ValueError: both raise an Exception inside the package
    outcome = execute(
        builders, py_request('import chvuln\nchvuln.parse("[" * 5000)', {"kind": "exception", "exception": "Exception"})
    )
    assert outcome.verdict is Verdict.REPRODUCED_NOT_FIXED
    assert all(o.fired for o in outcome.observations)


def test_an_input_file_with_a_harness_command(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    body = {
        "target": {"ecosystem": "PyPI", "package": "chvuln", "vulnerable": "1.0", "fixed": "1.1"},
        "poc": {
            "kind": "input",
            "source": "[" * 5000,
            "command": ["python", "-c", "import chvuln, sys; chvuln.parse(open(sys.argv[1]).read())", "{input}"],
        },
        "oracle": {"kind": "exception", "exception": "RecursionError"},
    }
    assert execute(builders, parse_request(body)).verdict is Verdict.REPRODUCED


def test_npm_prototype_pollution_and_exception(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    pollute = (
        "const { merge } = require('chvuln-js');\n"
        "const key = process.env.REPRODUCE_NONCE;\n"
        'merge({}, JSON.parse(\'{"__proto__": {"\' + key + \'": "yes"}}\'));\n'
    )
    outcome = execute(builders, js_request(pollute, {"kind": "prototype_pollution"}))
    assert outcome.verdict is Verdict.REPRODUCED, outcome
    assert "node_modules/chvuln-js/" in str(outcome.observations[0].where)
    by_itself = "Object.prototype[process.env.REPRODUCE_NONCE] = 'yes';"
    assert execute(builders, js_request(by_itself, {"kind": "prototype_pollution"})).verdict is Verdict.NOT_REPRODUCED
    deep = "require('chvuln-js').parse('['.repeat(100000));"
    outcome = execute(builders, js_request(deep, {"kind": "exception", "exception": "RangeError"}))
    # 1.0 overflows the stack (RangeError inside the package); 1.1 refuses at depth 100 with a RangeError too
    assert outcome.verdict is Verdict.REPRODUCED_NOT_FIXED, outcome
