"""Schemathesis fuzzes every API operation of the real server (started like `make run`) with
generated, often malformed, input: whatever arrives, the answer is never a 5xx, and errors
use the contract's envelope. Runs in the Postgres pass next to the browser tests."""

from __future__ import annotations

import json
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

PASSWORD = "liveshop-demo"
# Revoking the token would log the fuzzer out of everything that follows.
SKIP = {("DELETE", "/api/v1/auth/token")}


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: Any) -> None:
        if "m" in (case.path_parameters or {}):
            case.path_parameters["m"] = "demo"  # the deepest code paths: our own merchant
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400 and response.content:
            body = json.loads(response.content)
            assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body

    try:
        run()
    except Unsatisfiable:
        # Nothing to vary in this mode (e.g. no parameters to make invalid): nothing to test.
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_no_input_makes_the_api_fail(stack: Any) -> None:
    token = requests.post(
        f"{stack.url}/api/v1/auth/token",
        json={"email": "owner@demo.test", "password": PASSWORD},
        timeout=10,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    schema = schemathesis.openapi.from_url(f"{stack.url}/api/schema/")
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, stack.url, headers)
        fuzzed += 1
    assert fuzzed >= 12
