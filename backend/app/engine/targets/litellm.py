"""Providers reached through LiteLLM (the optional `litellm` extra): Bedrock, Vertex AI / Gemini, Azure, Hugging
Face endpoints, Mistral, Cohere and the rest of what LiteLLM routes to, each with its own authentication.

`model` is LiteLLM's model string (`bedrock/anthropic.claude-3-haiku-20240307-v1:0`, `gemini/gemini-1.5-flash`,
`openai/NAME` with `base_url` for any OpenAI-compatible server). The provider's credentials come from where
LiteLLM reads them (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, MISTRAL_API_KEY, ...) or from `api_key_env` /
`api_key_file`, passed as LiteLLM's `api_key`. LiteLLM is imported when the first request is sent: it takes
seconds to load, and only this target type needs it.
"""

from __future__ import annotations

import os
from typing import Any

from app.engine.model import Message, TargetResponse
from app.engine.targets.base import clean_text, scrub
from app.engine.targets.config import TargetConfig, TargetConfigError
from app.engine.targets.errors import (
    TargetAuthError,
    TargetBlockedError,
    TargetError,
    TargetRetryableError,
    TargetUnreachableError,
    looks_like_content_filter,
)
from app.engine.targets.openai import parse_chat_completion

#: Longest provider message quoted in an error.
MESSAGE_CHARS = 200
#: What LiteLLM's providers say when no credentials were found at all (LiteLLM raises it as a server error).
NO_CREDENTIALS = ("missing credentials", "api_key client option must be set", "no api key")


def load_litellm() -> Any:
    """The litellm module, or a clear error naming the extra to install.

    LiteLLM downloads its model price list from the internet on import unless told to use the copy it ships; a
    scanner must not reach anything but its target, so the local copy is used."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise TargetConfigError(
            "litellm targets need the litellm extra: pip install 'secureai[litellm]' (or uv sync --extra litellm)"
        ) from None
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LiteLLMConnector:
    """One `litellm.acompletion` call per request; LiteLLM's own retries are off (the resilience layer retries)."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.last_latency_ms: float | None = None

    def _secrets(self) -> dict[str, str]:
        """Values never to quote in an error: the key and the configured headers."""
        key = self.config.api_key()
        values = dict(self.config.resolved_headers())
        if key is not None:
            values["api-key"] = key.get_secret_value()
        return values

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        litellm = load_litellm()
        config = self.config
        key = config.api_key()
        arguments: dict[str, Any] = {
            "model": config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "timeout": config.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if config.base_url:
            arguments["api_base"] = config.base_url
        if key is not None:
            arguments["api_key"] = key.get_secret_value()
        headers = config.resolved_headers()
        if headers:
            arguments["extra_headers"] = headers
        if config.api_version:
            arguments["api_version"] = config.api_version
        if config.max_tokens is not None:
            arguments["max_tokens"] = config.max_tokens
        if config.temperature is not None:
            arguments["temperature"] = config.temperature
        if tools:
            arguments["tools"] = [{"type": "function", "function": tool} for tool in tools]
        if response_schema is not None and config.response_format == "json_schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "secureai_reply", "schema": response_schema},
            }
        elif response_schema is not None and config.response_format == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        try:
            response = await litellm.acompletion(**arguments)
        except Exception as error:  # LiteLLM raises its own classes; each is mapped to what the runner acts on
            raise self._classified(litellm, error) from None
        data = response.model_dump() if hasattr(response, "model_dump") else response
        hidden = getattr(response, "_response_ms", None)
        self.last_latency_ms = float(hidden) if isinstance(hidden, int | float) else None
        return parse_chat_completion(data, self.last_latency_ms)

    def _classified(self, litellm: Any, error: Exception) -> TargetError:
        """LiteLLM's exception as a TargetError: its message cleaned, cut and without any configured secret."""
        exceptions = litellm.exceptions
        status = getattr(error, "status_code", None)
        status = status if isinstance(status, int) else None
        text = clean_text(scrub(str(error), self._secrets()), MESSAGE_CHARS)
        message = f"{type(error).__name__}: {text}" if text else type(error).__name__
        if isinstance(error, exceptions.ContentPolicyViolationError) or looks_like_content_filter(str(error)):
            return TargetBlockedError(f"a content filter answered ({message})", status=status)
        if isinstance(error, exceptions.AuthenticationError | exceptions.PermissionDeniedError):
            return TargetAuthError(f"the provider refused the credentials ({message})", status=status)
        if any(phrase in text.lower() for phrase in NO_CREDENTIALS):
            return TargetAuthError(
                f"no credentials for this provider ({message}); set api_key_env or the provider's own variables",
                status=status,
            )
        if isinstance(error, exceptions.RateLimitError | exceptions.Timeout):
            return TargetRetryableError(message, status=status)
        if isinstance(error, exceptions.APIConnectionError) and status is None:
            return TargetUnreachableError(f"cannot reach the provider ({message})")
        if isinstance(error, exceptions.ServiceUnavailableError | exceptions.InternalServerError) or (
            status is not None and status >= 500
        ):
            return TargetRetryableError(message, status=status)
        return TargetError(message, status=status)

    async def aclose(self) -> None:
        return None
