"""The security boundary, on a real gateway process with auth closed and a recording upstream on loopback.

No client can steer the upstream: the recording upstream plays the attacker's server in the
exfiltration test (it must see nothing) and the provider in the forwarding tests (it shows exactly
which fields and which key arrived). Every endpoint is behind its key: a test walks the app's route
table, so an endpoint added later cannot be forgotten.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import OpenAI

from gateway.app import create_app
from tests.recording_upstream import ANSWER, INTERNAL_TRACE, RecordingUpstream
from tests.servers import free_port, start_gateway, stop, wait_for, write_config

pytestmark = pytest.mark.slow

PROVIDER_KEY = "sk-provider-secret-0123456789"
KEYS = {"T_KEY_A": "sk-client-a", "T_KEY_B": "sk-client-b", "T_ADMIN": "sk-admin", "T_METRICS": "sk-metrics",
        "T_PROVIDER_KEY": PROVIDER_KEY}
PUBLIC = {"/healthz", "/readyz"}
STEERING = ["api_base", "base_url", "api_key", "custom_llm_provider", "mock_response", "extra_headers",
            "headers", "timeout", "num_retries", "model_list", "litellm_params", "fallbacks", "azure_ad_token"]


def _route(target_model: str, **extra) -> dict:
    return {"task": "generation", "targets": {"large": {"model": target_model}},
            "policy": {"kind": "fixed", "target": "large"}, "params": {"temperature": 0, "max_tokens": 8}, **extra}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allowlist")


@pytest.fixture(scope="module")
def gateway(upstream: RecordingUpstream, root: Path) -> Iterator[str]:
    models = {
        # the victim: a provider model with a key and no api_base (litellm's default endpoint)
        "keyed": {"model": "openai/gpt-4o-mini", "api_key_env": "T_PROVIDER_KEY", "provider": "litellm",
                  "retries": 0, "timeout_s": 5},
        "via-litellm": {"model": "openai/rec", "api_base": upstream.url, "api_key_env": "T_PROVIDER_KEY",
                        "provider": "litellm", "retries": 0},
        "direct": {"model": "openai/rec", "api_base": upstream.url, "api_key_env": "T_PROVIDER_KEY", "retries": 0},
    }
    routes = {
        "keyed-route": _route("keyed"),
        "rec": _route("via-litellm"),
        "rec-direct": _route("direct"),
        "rec-global": _route("direct", cache={"scope": "global"}),
        "rec-pass": _route("direct", passthrough_params=["foo"]),
        "rec-strict": _route("direct", unknown_params="refuse"),
    }
    auth = {"open": False, "client_key_envs": ["T_KEY_A", "T_KEY_B"], "admin_key_envs": ["T_ADMIN"],
            "metrics_key_envs": ["T_METRICS"]}
    log = {"url": f"sqlite:///{root / 'requests.db'}", "flush_interval_s": 0.1}
    embedder = {"max_inputs": 64, "request_slice": 4}
    write_config(root, {"auth": auth, "models": models, "log": log, "embedder": embedder}, routes)
    port = free_port()
    process = start_gateway(root, port, env=KEYS, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="module")
def log_db(gateway: str, root: Path) -> Path:
    return root / "requests.db"


def _post(gateway: str, body: dict, key: str = "sk-client-a", request_id: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", **({"x-request-id": request_id} if request_id else {})}
    return httpx.post(f"{gateway}/v1/chat/completions", json=body, timeout=30, headers=headers)


def _chat(model: str, text: str = "hello", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def test_exfiltration_request_is_refused_and_never_reaches_the_attacker(gateway: str,
                                                                         upstream: RecordingUpstream) -> None:
    before = len(upstream.seen)
    for model in ("keyed", "keyed-route"):
        response = _post(gateway, _chat(model, api_base=upstream.url))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "api_base" and error["code"] == "forbidden_parameter"
    assert len(upstream.seen) == before
    assert all(PROVIDER_KEY not in str(seen.headers) for seen in upstream.seen)


@pytest.mark.parametrize("field", STEERING)
def test_every_steering_field_is_a_400_naming_it(gateway: str, upstream: RecordingUpstream, field: str) -> None:
    before = len(upstream.seen)
    value = {"mock_response": "forged answer", "fallbacks": ["keyed"], "model_list": []}.get(field, upstream.url)
    response = _post(gateway, _chat("rec", **{field: value}))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field in response.json()["error"]["message"]
    assert len(upstream.seen) == before


@pytest.mark.parametrize("route", ["rec", "rec-direct"])
def test_only_allowlisted_fields_reach_the_provider_with_the_configured_key(
    gateway: str, upstream: RecordingUpstream, route: str
) -> None:
    client = OpenAI(base_url=f"{gateway}/v1", api_key="sk-client-a", max_retries=0)
    completion = client.chat.completions.create(
        model=route, messages=[{"role": "user", "content": f"allowlist {route}"}], temperature=0, seed=7,
        extra_body={"foo": 1e20, "vendor_extra": {"x": 1}},
    )
    assert completion.choices[0].message.content == ANSWER
    seen = upstream.seen[-1]
    assert seen.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert seen.body["seed"] == 7 and seen.body["temperature"] == 0
    assert "foo" not in seen.body and "vendor_extra" not in seen.body


def test_route_passthrough_params_are_forwarded(gateway: str, upstream: RecordingUpstream) -> None:
    response = _post(gateway, _chat("rec-pass", text="passthrough", foo=1e20, bar=1))
    assert response.status_code == 200, response.text
    assert upstream.seen[-1].body["foo"] == 1e20 and "bar" not in upstream.seen[-1].body


def test_route_can_refuse_unknown_fields(gateway: str) -> None:
    response = _post(gateway, _chat("rec-strict", bar=1))
    assert response.status_code == 400
    assert response.json()["error"] == {"message": response.json()["error"]["message"], "type":
                                         "invalid_request_error", "param": "bar", "code": "unknown_parameter"}


def test_huge_numbers_are_never_500(gateway: str) -> None:
    for body in (_chat("rec-pass", text="big numbers", foo=1e20), _chat("rec-pass", text="big", foo=-1e300),
                 _chat("rec", max_tokens=10**30), _chat("rec", seed=2**70), _chat("rec", temperature=1e308),
                 _chat("rec", top_logprobs=10**9), _chat("rec", foo=10**40)):
        response = _post(gateway, body)
        assert response.status_code in (200, 400), (body, response.text)


def test_cache_entries_stay_with_their_key(gateway: str, upstream: RecordingUpstream) -> None:
    body = _chat("rec-direct", text="a private question")
    assert _post(gateway, body, "sk-client-a").headers["x-ragway-cache"] == "miss"
    assert _post(gateway, body, "sk-client-a").headers["x-ragway-cache"] == "hit"
    assert _post(gateway, body, "sk-client-b").headers["x-ragway-cache"] == "miss"
    shared = _chat("rec-global", text="a public question")
    assert _post(gateway, shared, "sk-client-a").headers["x-ragway-cache"] == "miss"
    assert _post(gateway, shared, "sk-client-b").headers["x-ragway-cache"] == "hit"


def test_upstream_internals_stay_in_the_server_log(gateway: str) -> None:
    for route in ("rec", "rec-direct"):
        response = _post(gateway, _chat(route, text="fail with 500"))
        assert response.status_code == 502, response.text
        assert INTERNAL_TRACE not in response.text and "secret_module" not in response.text
        assert response.json()["error"]["message"].startswith("model ")


def test_refused_and_failed_requests_are_in_the_request_log(gateway: str, log_db: Path) -> None:
    probes = {"allowlist-refused": (_chat("rec", api_key="x"), 400),
              "allowlist-strict": (_chat("rec-strict", bar=1), 400),
              "allowlist-failed": (_chat("rec-direct", text="fail with 500 again"), 502),
              "allowlist-badkey": (_chat("rec"), 401)}
    for request_id, (body, status) in probes.items():
        key = "sk-wrong" if request_id.endswith("badkey") else "sk-client-a"
        assert _post(gateway, body, key, request_id).status_code == status

    def logged() -> dict[str, int]:
        with sqlite3.connect(log_db) as db:
            rows = db.execute("select request_id, status from request_log where request_id like 'allowlist-%'")
            return dict(rows.fetchall())

    assert wait_for(lambda: len(logged()) == len(probes), 15), logged()
    assert logged() == {request_id: status for request_id, (_, status) in probes.items()}


def _endpoints(root: Path) -> list[tuple[str, str]]:
    """(method, path) for every route the app serves, read from its route table."""
    app = create_app(root, watch=False)
    found = [(method, route.path) for route in _flatten(app.routes)
             for method in getattr(route, "methods", None) or () if method != "HEAD"]
    assert ("POST", "/v1/chat/completions") in found and ("GET", "/metrics") in found
    return sorted(found)


def _flatten(routes: list) -> Iterator:
    """Routes with included routers opened up (FastAPI keeps an included router as one entry)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flatten(inner.routes) if inner is not None else (route,)


def _call(gateway: str, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    url = gateway + path.replace("{", "").replace("}", "")
    return httpx.request(method, url, headers=headers, json={} if method == "POST" else None, timeout=30)


def test_every_endpoint_but_health_needs_a_key(gateway: str, root: Path) -> None:
    endpoints = _endpoints(root)
    for method, path in endpoints:
        for key in (None, "sk-wrong"):
            response = _call(gateway, method, path, key)
            if path in PUBLIC:
                assert response.status_code in (200, 503), (method, path)
            else:
                assert response.status_code == 401, (method, path, key, response.status_code)
                assert response.json()["error"]["type"] == "authentication_error"
                assert "Basic" in response.headers["www-authenticate"]


def test_admin_and_metrics_endpoints_refuse_client_keys(gateway: str) -> None:
    for method, path in (("GET", "/metrics"), ("GET", "/dashboard"), ("GET", "/dashboard/plotly.min.js"),
                         ("GET", "/v1/logs/summary"), ("POST", "/admin/reload")):
        assert _call(gateway, method, path, "sk-client-a").status_code == 401, path
    assert _call(gateway, "GET", "/metrics", "sk-metrics").status_code == 200
    assert _call(gateway, "GET", "/metrics", "sk-admin").status_code == 200
    assert _call(gateway, "GET", "/v1/logs/summary", "sk-metrics").status_code == 401
    dashboard = httpx.get(f"{gateway}/dashboard", auth=("anyone", "sk-metrics"), timeout=30)
    assert dashboard.status_code == 200 and "plotly" in dashboard.text


def test_readyz_shows_details_only_to_an_admin(gateway: str) -> None:
    bare = httpx.get(f"{gateway}/readyz", timeout=10)
    assert bare.json() == {"status": "ready"}
    client = httpx.get(f"{gateway}/readyz", headers={"authorization": "Bearer sk-client-a"}, timeout=10)
    assert client.json() == {"status": "ready"}
    admin = httpx.get(f"{gateway}/readyz", headers={"authorization": "Bearer sk-admin"}, timeout=10).json()
    assert admin["status"] == "ready" and "rec" in admin["routes"] and "config_error" in admin


def test_openapi_needs_a_client_key(gateway: str) -> None:
    assert httpx.get(f"{gateway}/openapi.json", timeout=10).status_code == 401
    spec = httpx.get(f"{gateway}/openapi.json", headers={"authorization": "Bearer sk-client-a"}, timeout=10)
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "ragway"


@pytest.mark.parametrize("since", ["99999999999d", "1e9d", "3650d", "0001-01-01T00:00", "999999999999999999h"])
def test_log_windows_are_capped_and_never_500(gateway: str, since: str) -> None:
    admin = {"authorization": "Bearer sk-admin"}
    summary = httpx.get(f"{gateway}/v1/logs/summary", params={"since": since}, headers=admin, timeout=30)
    dashboard = httpx.get(f"{gateway}/dashboard", params={"since": since}, headers=admin, timeout=30)
    assert summary.status_code in (200, 400) and dashboard.status_code in (200, 400), (summary.text, dashboard.text)
    if summary.status_code == 200:
        start = datetime.fromisoformat(summary.json()["since"])
        assert datetime.now(UTC) - start <= timedelta(days=90, minutes=1)


def test_a_chunked_body_past_the_limit_is_413(gateway: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "rec", "messages": [{"role": "user", "content": "'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}]}'

    response = httpx.post(f"{gateway}/v1/chat/completions", content=chunks(), timeout=60,
                          headers={"authorization": "Bearer sk-client-a", "content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_embeddings_cap_inputs_and_keep_order_across_slices(gateway: str) -> None:
    url, headers = f"{gateway}/v1/embeddings", {"authorization": "Bearer sk-client-a"}
    too_many = httpx.post(url, json={"model": "e", "input": ["x"] * 65}, headers=headers, timeout=30)
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "too_many_inputs"
    texts = [f"text number {i} about {'banking' if i % 2 else 'travel'}" for i in range(18)]
    many = httpx.post(url, json={"model": "e", "input": texts}, headers=headers, timeout=60).json()["data"]
    assert [item["index"] for item in many] == list(range(18))
    for i in (0, 5, 17):
        one = httpx.post(url, json={"model": "e", "input": texts[i]}, headers=headers, timeout=30).json()
        assert one["data"][0]["embedding"] == pytest.approx(many[i]["embedding"], abs=1e-5)


def test_embeddings_cap_tokens_per_input_and_count_usage_with_the_tokenizer(gateway: str) -> None:
    url, headers = f"{gateway}/v1/embeddings", {"authorization": "Bearer sk-client-a"}
    # 3,000 words fit the 16,000-character pre-bound but not the 2,048-token cap
    long = httpx.post(url, json={"model": "e", "input": ["ok", "card " * 3000]}, headers=headers, timeout=30)
    error = long.json()["error"]
    assert long.status_code == 400 and error["code"] == "input_too_long"
    assert error["message"] == "input[1] has 3002 tokens; at most 2048"
    # "[CLS] my card is lost [SEP]": WordPiece tokens, not characters / 4
    usage = httpx.post(url, json={"model": "e", "input": ["my card is lost", "hi"]}, headers=headers,
                       timeout=30).json()["usage"]
    assert usage == {"prompt_tokens": 6 + 3, "total_tokens": 9}


# --- fuzz: bodies drawn from the gateway's own OpenAPI document, mutated, or arbitrary JSON ---------------

# every route answered by the recording upstream (keyed-route's provider is unreachable here: a true 502)
ROUTES = ["rec", "rec-direct", "rec-pass", "rec-strict", "rec-global", "direct", "missing"]
UTF8 = st.characters(codec="utf-8")
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(UTF8, max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(UTF8, max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
FUZZ = settings(max_examples=600, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _resolved(spec: dict, name: str) -> dict:
    """A component schema with its $refs inlined."""
    def inline(node):  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items() if k not in ("title", "default")}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node
    return inline(spec["components"]["schemas"][name])


def from_schema(node: dict) -> st.SearchStrategy:
    """Values a JSON schema (the subset pydantic writes) accepts; an unconstrained node is any JSON."""
    if "anyOf" in node:
        return st.one_of([from_schema(option) for option in node["anyOf"]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**node, "type": one}) for one in kind])
    scalars = {
        "string": lambda: st.text(UTF8, min_size=node.get("minLength", 0), max_size=40),
        "integer": lambda: st.integers(node.get("minimum"), node.get("maximum")),
        "number": lambda: st.floats(node.get("minimum"), node.get("maximum"), allow_nan=False, allow_infinity=False),
        "boolean": st.booleans,
        "null": st.none,
    }
    if kind in scalars:
        return scalars[kind]()
    if kind == "array":
        return st.lists(from_schema(node.get("items", {})), min_size=node.get("minItems", 0), max_size=4)
    if kind == "object" and "properties" in node:
        required = set(node.get("required", ()))
        fields = {name: from_schema(sub) for name, sub in node["properties"].items()}
        return st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                     optional={k: v for k, v in fields.items() if k not in required})
    return JSON


@pytest.fixture(scope="module")
def spec(gateway: str) -> dict:
    response = httpx.get(f"{gateway}/openapi.json", headers={"authorization": "Bearer sk-client-a"}, timeout=30)
    document = response.json()
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        answers = document["paths"][path]["post"]["responses"]
        assert {"400", "401", "404", "413"} <= set(answers)
    return document


def _bodies(schema: dict, names: list[str]) -> st.SearchStrategy:
    valid = from_schema(schema)
    named = st.tuples(from_schema(schema), st.sampled_from(names)).map(lambda pair: {**pair[0], "model": pair[1]})
    mutated = st.tuples(named, st.text(UTF8, max_size=16), JSON).map(lambda t: {**t[0], t[1]: t[2]})
    broken = st.tuples(named, st.sampled_from(sorted(schema["properties"])), JSON).map(
        lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(valid, named, named, mutated, broken, JSON)


def _fuzz_one(gateway: str, path: str, body: object, client: httpx.Client) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=False).encode()
    response = client.post(f"{gateway}{path}", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, (path, body, response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and isinstance(error["code"], str)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"authorization": "Bearer sk-client-a"}, timeout=30) as client:
        yield client


@pytest.mark.timeout(1800)
def test_fuzz_chat_completions_never_5xx(gateway: str, spec: dict, fuzz_client: httpx.Client) -> None:
    bodies = _bodies(_resolved(spec, "ChatCompletionRequest"), ROUTES)

    @FUZZ
    @given(body=bodies | st.binary(max_size=64))
    def run(body: object) -> None:
        _fuzz_one(gateway, "/v1/chat/completions", body, fuzz_client)

    run()


@pytest.mark.timeout(1800)
def test_fuzz_embeddings_never_5xx(gateway: str, spec: dict, fuzz_client: httpx.Client) -> None:
    bodies = _bodies(_resolved(spec, "EmbeddingRequest"), ["e", "text-embedding-3-small"])

    @settings(FUZZ, max_examples=400)
    @given(body=bodies | st.binary(max_size=64))
    def run(body: object) -> None:
        _fuzz_one(gateway, "/v1/embeddings", body, fuzz_client)

    run()
