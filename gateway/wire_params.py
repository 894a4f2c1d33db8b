"""Which request-body fields may reach a provider: an allowlist, never the client's whole body.

The gateway holds provider keys. litellm reads many call keywords as instructions to itself (where to
send the call, with which key, or what to answer without calling at all), so a field forwarded blindly
lets a client send the provider key to its own server (`api_base`) or forge the model's answer
(`mock_response`). Only the OpenAI chat parameters below pass, plus the names a route owner lists in
`passthrough_params`; steering fields are refused by name, other unknown fields dropped (or refused
when the route says `unknown_params: refuse`).
"""

from __future__ import annotations

# OpenAI chat-completions parameters the gateway forwards (model and messages are handled apart).
OPENAI_CHAT_PARAMS = frozenset({
    "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
    "max_tokens", "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort",
    "response_format", "safety_identifier", "seed", "service_tier", "stop", "stream", "stream_options",
    "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})

# Fields that choose the endpoint, the credentials, the transport or the answer instead of the provider:
# refused with a 400 naming the field. Every keyword of litellm.acompletion that is not an OpenAI
# parameter and not a model parameter is here (a test checks it against the installed litellm), plus
# litellm's router and credential settings a client could try.
STEERING_PARAMS = frozenset({
    "api_base", "api_key", "api_version", "azure_ad_token", "azure_ad_token_provider", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_profile_name", "base_url", "client",
    "custom_llm_provider", "deployment_id", "extra_body", "extra_headers", "extra_query", "fallbacks", "headers",
    "input_cost_per_token", "kwargs", "litellm_credential_name", "litellm_logging_obj", "litellm_params",
    "max_retries", "mock_response", "mock_timeout", "model_list", "num_retries", "organization",
    "output_cost_per_token", "proxy_server_request", "shared_session", "enable_json_schema_validation",
    "ssl_verify", "timeout", "request_timeout", "vertex_credentials", "vertex_location", "vertex_project",
    "vertex_ai_project", "vertex_ai_location", "watsonx_api_key", "secret_fields", "region_name",
    "context_window_fallback_dict", "model_info", "drop_params", "allowed_openai_params",
    "additional_drop_params", "callbacks", "success_callback", "failure_callback", "logger_fn", "cache",
    "caching", "metadata_callback", "tags", "guardrails",
})


class WireRefusal(Exception):
    """A request field refused at the wire: the API turns it into a 400 naming *param*."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def is_steering(name: str) -> bool:
    """A field that steers the call rather than describes the request; litellm's private names included."""
    return name in STEERING_PARAMS or name.startswith(("litellm_", "_")) or "api_key" in name or "secret" in name


def check_passthrough(names: list[str]) -> list[str]:
    """A route's `passthrough_params`, refused when one would steer the call."""
    bad = [name for name in names if is_steering(name) or name in ("model", "messages")]
    if bad:
        raise ValueError(f"passthrough_params may not name {', '.join(bad)}: these choose where or how the "
                         "gateway calls the provider, which only gateway.yaml may set")
    return names
