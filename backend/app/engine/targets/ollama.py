"""Ollama's native chat API (`/api/chat`, non-streaming)."""

from __future__ import annotations

import json
from typing import Any

from app.engine.model import Message, TargetResponse, ToolCall
from app.engine.targets.base import HttpConnector, bearer_headers
from app.engine.targets.errors import TargetError


class OllamaConnector(HttpConnector):
    """POST {base_url}/api/chat with stream=false."""

    api = "an Ollama chat API"

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,
    ) -> TargetResponse:
        base = self.config.effective_base_url().rstrip("/")
        options: dict[str, Any] = {}
        if self.config.temperature is not None:
            options["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            options["num_predict"] = self.config.max_tokens
        body: dict[str, Any] = {
            "model": self.config.model,
            "stream": False,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "options": options,
        }
        if response_schema is not None and self.config.response_format is not None:
            body["format"] = response_schema
        if tools:
            body["tools"] = [{"type": "function", "function": tool} for tool in tools]
        data = await self.post_json(f"{base}/api/chat", body, bearer_headers(self.config))
        try:
            message = data["message"]
            calls = tuple(
                ToolCall(
                    name=str(call.get("function", {}).get("name", "")),
                    arguments=json.dumps(call.get("function", {}).get("arguments", {})),
                )
                for call in message.get("tool_calls") or ()
            )
            content = message.get("content") or ""
            return TargetResponse(
                text=content if isinstance(content, str) else str(content),
                tool_calls=calls,
                finish_reason=data.get("done_reason"),
                prompt_tokens=data.get("prompt_eval_count"),
                completion_tokens=data.get("eval_count"),
                latency_ms=self.last_latency_ms,
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            raise TargetError(f"not {self.api} endpoint: the JSON answer has no message") from None
