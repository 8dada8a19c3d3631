"""A generic HTTP API: the request body comes from a template, the reply is picked out by JSONPath."""

from __future__ import annotations

import json
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from app.engine.model import Message, TargetResponse
from app.engine.targets.base import HttpConnector, bearer_headers
from app.engine.targets.config import TargetConfig, TargetConfigError
from app.engine.targets.egress import EgressPolicy
from app.engine.targets.errors import TargetError

PLACEHOLDERS = ("{{prompt}}", "{{messages}}", "{{system}}")


class HttpTemplateConnector(HttpConnector):
    """For applications with their own API (a RAG service, an agent endpoint, a gateway)."""

    api = "the configured JSON API"

    def __init__(self, config: TargetConfig, *, egress: EgressPolicy | None = None) -> None:
        super().__init__(config, egress=egress)
        try:
            self._path = parse_jsonpath(config.response_path or "$")
        except (JsonPathParserError, Exception) as error:  # jsonpath-ng raises plain Exceptions for some inputs
            raise TargetConfigError(f"response_path {config.response_path!r} is not valid JSONPath: {error}") from None

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,  # no structured-output option in this API: not used
    ) -> TargetResponse:
        body = fill_template(self.config.request_template, messages)
        data = await self.post_json(self.config.base_url or "", body, bearer_headers(self.config), self.config.method)
        found = [match.value for match in self._path.find(data)]
        if not found:  # the answer is not quoted: it may come from any service that answers the URL
            raise TargetError(f"response_path {self.config.response_path} matched nothing in the JSON answer")
        value = found[0]
        return TargetResponse(
            text=value if isinstance(value, str) else json.dumps(value), latency_ms=self.last_latency_ms
        )


def fill_template(template: Any, messages: list[Message]) -> Any:
    """Replace the placeholders anywhere in a JSON-like template; a string that is exactly a placeholder
    becomes the value itself (so `{{messages}}` turns into a list, not a string)."""
    user = [m.content for m in messages if m.role == "user"]
    values: dict[str, Any] = {
        "{{prompt}}": user[-1] if user else "",
        "{{messages}}": [{"role": m.role, "content": m.content} for m in messages],
        "{{system}}": "\n\n".join(m.content for m in messages if m.role == "system"),
    }
    if isinstance(template, str):
        if template in values:
            return values[template]
        for placeholder in ("{{prompt}}", "{{system}}"):
            template = template.replace(placeholder, str(values[placeholder]))
        return template
    if isinstance(template, list):
        return [fill_template(item, messages) for item in template]
    if isinstance(template, dict):
        return {key: fill_template(item, messages) for key, item in template.items()}
    return template
