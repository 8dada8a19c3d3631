"""OpenAI-compatible chat completions: OpenAI, Azure OpenAI (base URL + api-version), vLLM, llama.cpp
server, Ollama's /v1, LM Studio and most gateways."""

from __future__ import annotations

from typing import Any

from app.engine.model import Message, TargetResponse, ToolCall
from app.engine.targets.base import HttpConnector, bearer_headers
from app.engine.targets.errors import TargetBlockedError, TargetError

API_NAME = "an OpenAI-compatible"


class OpenAIConnector(HttpConnector):
    """POST {base_url}/chat/completions."""

    api = API_NAME

    def _url(self) -> str:
        url = f"{(self.config.base_url or '').rstrip('/')}/chat/completions"
        return f"{url}?api-version={self.config.api_version}" if self.config.api_version else url

    def _headers(self) -> dict[str, str]:
        headers = bearer_headers(self.config)
        if self.config.api_version:  # Azure takes the key in its own header
            key = self.config.api_key()
            if key is not None:
                headers.pop("authorization", None)
                headers["api-key"] = key.get_secret_value()
        return headers

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if tools:
            body["tools"] = [{"type": "function", "function": tool} for tool in tools]
        if response_schema is not None and self.config.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "secureai_reply", "schema": response_schema},
            }
        elif response_schema is not None and self.config.response_format == "json_object":
            body["response_format"] = {"type": "json_object", "schema": response_schema}
        data = await self.post_json(self._url(), body, self._headers())
        return parse_chat_completion(data, self.last_latency_ms)


def parse_chat_completion(data: Any, latency_ms: float | None) -> TargetResponse:
    """Read the first choice of a chat completion; a content_filter finish is a block, not an answer.

    An answer of another shape is "not an OpenAI-compatible endpoint"; the answer itself is never quoted (it
    may come from any service that happens to answer the URL)."""
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        finish = choice.get("finish_reason")
        if finish == "content_filter":
            raise TargetBlockedError("the target's content filter stopped the answer (finish_reason=content_filter)")
        calls = tuple(
            ToolCall(
                name=str(call.get("function", {}).get("name", "")),
                arguments=str(call.get("function", {}).get("arguments", "{}")),
            )
            for call in message.get("tool_calls") or ()
        )
        usage = data.get("usage") or {}
        content = message.get("content") or ""
        return TargetResponse(
            text=content if isinstance(content, str) else str(content),
            tool_calls=calls,
            finish_reason=finish if isinstance(finish, str) else None,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            latency_ms=latency_ms,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TargetError(
            f"not {API_NAME} endpoint: the JSON answer has no chat completion (choices[0].message)"
        ) from None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
