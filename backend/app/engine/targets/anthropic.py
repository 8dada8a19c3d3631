"""Anthropic Messages API."""

from __future__ import annotations

import json
from typing import Any

from app.engine.model import Message, TargetResponse, ToolCall
from app.engine.targets.base import HttpConnector
from app.engine.targets.errors import TargetBlockedError, TargetError

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicConnector(HttpConnector):
    """POST {base_url}/v1/messages with x-api-key; system messages go to the top-level `system` field."""

    api = "an Anthropic Messages API"

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,  # no structured-output option in this API: not used
    ) -> TargetResponse:
        base = self.config.effective_base_url().rstrip("/")
        headers = {
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **self.config.resolved_headers(),
        }
        key = self.config.api_key()
        if key is not None:
            headers["x-api-key"] = key.get_secret_value()
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": self.config.max_tokens or 1024,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")],
        }
        if system:
            body["system"] = system
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if tools:
            body["tools"] = [
                {"name": t["name"], "description": t.get("description", ""), "input_schema": t.get("parameters", {})}
                for t in tools
            ]
        data = await self.post_json(f"{base}/v1/messages", body, headers)
        try:
            if data.get("stop_reason") == "refusal":
                raise TargetBlockedError("the target's safety system stopped the answer (stop_reason=refusal)")
            blocks = data.get("content") or []
            text = "".join(str(block.get("text", "")) for block in blocks if block.get("type") == "text")
            calls = tuple(
                ToolCall(name=str(block.get("name", "")), arguments=json.dumps(block.get("input", {})))
                for block in blocks
                if block.get("type") == "tool_use"
            )
            usage = data.get("usage") or {}
            return TargetResponse(
                text=text,
                tool_calls=calls,
                finish_reason=data.get("stop_reason"),
                prompt_tokens=usage.get("input_tokens"),
                completion_tokens=usage.get("output_tokens"),
                latency_ms=self.last_latency_ms,
            )
        except (AttributeError, TypeError, ValueError):
            raise TargetError(f"not {self.api} endpoint: the JSON answer has no message content") from None
