"""OpenAI wire models for requests.

Unknown fields are kept (clients send vendor extras) but reach a provider only through the allowlist
in `gateway.wire_params`: fields that steer the call are refused here, at the boundary.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.wire_params import OPENAI_CHAT_PARAMS, WireRefusal, is_steering

# Integers past these bounds are not a request a provider can serve; they would only overflow later.
MAX_INT = 2**31 - 1
SEED_BOUND = 2**63 - 1


class Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContentPart(Wire):
    """One part of a multi-part message: `{"type": "text", "text": ...}`, an image, audio or file part."""

    type: Literal["text", "image_url", "input_audio", "file", "refusal"]
    text: str | None = None

    @model_validator(mode="after")
    def _parts_carry_their_payload(self) -> ContentPart:
        # a part without its payload fails inside the provider library, which would surface as a 502
        if self.type == "text":
            if self.text is None:
                raise ValueError("a text part needs a 'text' string")
        elif not (self.model_extra or {}).get(self.type):
            raise ValueError(f"a {self.type} part needs its '{self.type}' field")
        return self


class ChatMessage(Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> ChatMessage:
        # only an assistant turn that calls tools may come without content, as in OpenAI's API
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs 'content'")
        return self

    def text(self) -> str:
        """The message's text, joining the text parts of multi-part content."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(Wire):
    include_usage: bool = False


class ChatCompletionRequest(Wire):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_INT)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_INT)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-SEED_BOUND, le=SEED_BOUND)
    n: int | None = Field(None, ge=1, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None

    def last_user_text(self) -> str:
        """The text the gateway embeds: the last user message."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return self.messages[-1].text()

    @model_validator(mode="after")
    def _refuse_steering(self) -> ChatCompletionRequest:
        # WireRefusal is not a ValueError, so pydantic lets it through to become the 400 it is
        for name in self.model_extra or {}:
            if is_steering(name):
                raise WireRefusal(f"'{name}' may not be sent: it chooses where or how the gateway calls the "
                                  "provider, which only the gateway's config sets", name, "forbidden_parameter")
        return self

    def upstream_params(self, passthrough: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The parameters a provider receives: OpenAI's chat parameters and the route's *passthrough* names;
        other fields are dropped."""
        return self.sorted_params(passthrough)[0]

    def sorted_params(self, passthrough: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
        """`upstream_params` and the unknown fields (neither OpenAI chat parameters nor in *passthrough*, nor
        the gateway's own), from one dump of the request (a dump each showed in the passthrough's profile)."""
        sent = self.model_dump(exclude_none=True, exclude={"model", "messages", "metadata"})
        upstream = {name: value for name, value in sent.items() if name in OPENAI_CHAT_PARAMS or name in passthrough}
        return upstream, sorted(name for name in sent if name not in upstream)


class EmbeddingRequest(Wire):
    model: str = Field(min_length=1)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
