"""Build one provider per configured model, choosing the direct path where it applies."""

from __future__ import annotations

from gateway.config import ModelConfig
from gateway.errors import ModelNotFound
from gateway.providers import Provider
from gateway.providers.litellm_provider import LiteLLMProvider
from gateway.providers.openai_compat import OpenAICompatProvider


class ProviderRegistry:
    """The providers of every model in gateway.yaml, built once at start."""

    def __init__(self, models: dict[str, ModelConfig]) -> None:
        self.models = models
        self._providers: dict[str, Provider] = {name: build_provider(name, cfg) for name, cfg in models.items()}

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            raise ModelNotFound(f"model '{name}' is not configured in gateway.yaml", param="model") from None

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


def build_provider(name: str, config: ModelConfig) -> Provider:
    if config.direct:
        return OpenAICompatProvider(name, config)
    return LiteLLMProvider(name, config)
