"""How a target is described: a YAML/JSON file or command-line values, validated here.

Secrets never appear in the description itself: `api_key_env` names an environment variable and
`api_key_file` a file that holds the key. Header values may reference environment variables as `${NAME}`.
A description can therefore be committed to a repository or printed in a report without leaking anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from app.engine.plugins import entry_point_names
from app.engine.targets.egress import EgressError, check_url

TargetType = Literal["openai", "anthropic", "ollama", "http", "python", "litellm"]
#: The shipped target types; an installed plugin adds its own (`CONNECTOR_ENTRY_POINTS`, app.engine.plugins).
SHIPPED_TYPES: tuple[str, ...] = get_args(TargetType)
#: Entry point group of third-party connectors: each entry names a callable TargetConfig -> Connector.
CONNECTOR_ENTRY_POINTS = "secureai.connectors"
#: Where a connector sends requests when `base_url` is not given.
DEFAULT_BASE_URLS: dict[str, str] = {"anthropic": "https://api.anthropic.com", "ollama": "http://127.0.0.1:11434"}
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TargetConfigError(ValueError):
    """The target description is invalid or a secret it refers to is missing; the message says which."""


class SessionRequest(BaseModel):
    """A request that opens or ends a server-side conversation of an `http` target."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, description="Where to send it (default: the target's base_url).")
    method: Literal["POST", "PUT", "GET", "DELETE"] = "POST"
    body: Any = Field(default=None, description="JSON body; '{{session_id}}' may appear in it (end request).")


class HttpSession(BaseModel):
    """How an `http` target keeps a conversation on the server: a request opens it and returns an id, each turn
    carries the id, a last request ends it (docs/targets.md, "Stateful applications")."""

    model_config = ConfigDict(extra="forbid")

    start: SessionRequest = Field(default_factory=SessionRequest)
    id_from: Literal["json", "header", "cookie"] = Field(
        description="Where the start answer carries the id: a JSON field, a header or a cookie."
    )
    id: str = Field(description="JSONPath into the start answer (json), or the header's or the cookie's name.")
    header: str | None = Field(default=None, description="Send the id in this request header on every turn.")
    cookie: str | None = Field(
        default=None, description="Send the id as this cookie on every turn (default: the cookie it came in)."
    )
    end: SessionRequest | None = Field(default=None, description="Request that ends a session; none if absent.")

    @field_validator("id")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("session.id must name the JSONPath, header or cookie that carries the session id")
        return value


class TargetConfig(BaseModel):
    """Connection settings and budgets of one target."""

    model_config = ConfigDict(extra="forbid")

    # Credentials handed over by the platform from a sealed target (`with_credentials`). Private attributes
    # cannot come from a file or the command line, and never appear in `model_dump()` or a report.
    _api_key: SecretStr | None = PrivateAttr(default=None)
    _secret_headers: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    type: str = Field(description="openai, anthropic, ollama, http, python, litellm, or an installed plugin's type.")
    name: str | None = Field(default=None, description="Label shown in reports (default: type and model).")
    base_url: str | None = Field(default=None, description="API root, e.g. https://api.openai.com/v1")
    model: str | None = None
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key.")
    api_key_file: Path | None = Field(default=None, description="File holding the API key (first line).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers; values may use ${ENV}.")
    system_prompt: str | None = Field(default=None, description="System prompt of the application under test.")
    # budgets and resilience
    timeout_s: float = Field(default=60.0, gt=0)
    max_concurrency: int = Field(default=8, ge=1)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    max_tokens: int | None = Field(default=512, ge=1, description="Completion length cap sent to the target.")
    temperature: float | None = Field(default=0.0, ge=0)
    response_format: Literal["json_schema", "json_object"] | None = Field(
        default=None,
        description="When this target plays the attacker or the judge: ask for JSON in the reply's schema. "
        "json_schema: OpenAI's structured outputs (also vLLM); json_object: JSON mode with the schema attached "
        "(llama.cpp's server constrains generation to it). Ollama targets send the schema as `format` either way.",
    )
    # openai-compatible
    api_version: str | None = Field(default=None, description="Azure OpenAI api-version query parameter.")
    # generic http
    method: Literal["POST", "PUT"] = "POST"
    request_template: Any = Field(
        default=None,
        description="JSON body with placeholders: the string '{{prompt}}' (last user message), "
        "'{{messages}}' (the conversation as a list of {role, content}), '{{system}}'.",
    )
    response_path: str | None = Field(default=None, description="JSONPath to the reply text, e.g. $.output.text")
    session: HttpSession | None = Field(
        default=None, description="A conversation kept on the server: how to start it, carry its id and end it."
    )
    # python callable
    callable: str | None = Field(default=None, description="'module:function' taking a list of messages.")

    @field_validator("base_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        """http(s), a real host, no user information, no spaces or control characters (a NUL byte in a URL
        used to crash the connector mid-scan)."""
        if value in (None, ""):
            return value
        try:
            check_url(value)
        except EgressError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in target_types():
            raise ValueError(f"unknown target type {value!r}; types: {', '.join(target_types())}")
        return value

    @model_validator(mode="after")
    def _required_per_type(self) -> TargetConfig:
        needs: dict[str, tuple[str, ...]] = {
            "openai": ("base_url", "model"),
            "anthropic": ("model",),
            "ollama": ("model",),
            "http": ("base_url", "request_template", "response_path"),
            "python": ("callable",),
            "litellm": ("model",),
        }
        missing = [name for name in needs.get(self.type, ()) if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"a target of type {self.type} needs {', '.join(missing)}")
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        if self.session is not None and self.type != "http":
            raise ValueError("session is for http targets (model APIs take the whole conversation each request)")
        for request in (self.session.start, self.session.end) if self.session else ():
            if request is not None and request.url:
                try:
                    check_url(request.url.replace("{{session_id}}", "id"))
                except EgressError as error:
                    raise ValueError(f"session url: {error}") from None
                # the target's credentials go with every session request: only to where base_url leads
                if _origin(request.url) != _origin(self.base_url or ""):
                    raise ValueError("a session url must be on base_url's scheme, host and port")
        return self

    def effective_base_url(self) -> str:
        """The API root requests go to: `base_url`, or the type's default (Anthropic's API, a local Ollama)."""
        return self.base_url or DEFAULT_BASE_URLS.get(self.type, "")

    @property
    def label(self) -> str:
        return self.name or f"{self.type}:{self.model or self.base_url or self.callable}"

    def with_credentials(self, api_key: str | None, headers: dict[str, str] | None = None) -> TargetConfig:
        """A copy carrying an API key and secret headers in memory (the platform's sealed credentials)."""
        copy = self.model_copy()
        copy._api_key = SecretStr(api_key) if api_key else None
        copy._secret_headers = {name: SecretStr(value) for name, value in (headers or {}).items()}
        return copy

    def credential_summary(self) -> str:
        """What credentials this configuration sends, by source and never by value (the target doctor says it)."""
        sources = []
        if self._api_key is not None:
            sources.append("sealed key")
        elif self.api_key_env:
            sources.append(f"key from ${self.api_key_env}")
        elif self.api_key_file:
            sources.append("key from api_key_file")
        if self._secret_headers:
            sources.append(f"sealed headers {', '.join(sorted(self._secret_headers))}")
        if any(_ENV_REFERENCE.search(value) for value in self.headers.values()):
            sources.append("headers from the environment")
        return ", ".join(sources)

    def api_key(self) -> SecretStr | None:
        """Read the key from its environment variable or file; a configured but missing source is an error."""
        if self._api_key is not None:
            return self._api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise TargetConfigError(f"environment variable {self.api_key_env} (api_key_env) is not set")
            return SecretStr(value)
        if self.api_key_file:
            try:
                value = self.api_key_file.read_text(encoding="utf-8").strip().splitlines()[0]
            except (OSError, IndexError) as error:
                raise TargetConfigError(f"cannot read api_key_file {self.api_key_file}: {error}") from None
            return SecretStr(value)
        return None

    def resolved_headers(self) -> dict[str, str]:
        """Headers with ${ENV} references filled in; a reference to an unset variable is an error."""

        def fill(match: re.Match[str]) -> str:
            value = os.environ.get(match.group(1))
            if value is None:
                raise TargetConfigError(f"header refers to ${{{match.group(1)}}}, which is not set")
            return value

        filled = {name: _ENV_REFERENCE.sub(fill, value) for name, value in self.headers.items()}
        return {**filled, **{name: value.get_secret_value() for name, value in self._secret_headers.items()}}


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port filled in for http and https."""
    parts = urlsplit(url.replace("{{session_id}}", "id"))
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def target_types() -> tuple[str, ...]:
    """The shipped target types, then those of the installed connector plugins."""
    plugins = [name for name in entry_point_names(CONNECTOR_ENTRY_POINTS) if name not in SHIPPED_TYPES]
    return (*SHIPPED_TYPES, *plugins)


def load_target_config(source: str, overrides: dict[str, Any] | None = None) -> TargetConfig:
    """A target from a YAML/JSON file path, or from a short form `openai:MODEL@BASE_URL`, plus overrides."""
    data: dict[str, Any]
    path = Path(source)
    if path.suffix.lower() in {".yaml", ".yml", ".json"}:
        if not path.is_file():
            raise TargetConfigError(f"target file {source} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise TargetConfigError(f"target file {source} is not valid YAML/JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise TargetConfigError(f"target file {source} must hold a mapping")
        data = loaded
    else:
        data = _parse_short_form(source)
    data.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return TargetConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "target"
        raise TargetConfigError(f"invalid target ({where}): {first['msg']}") from None


def _parse_short_form(spec: str) -> dict[str, Any]:
    """`openai:gpt-4o-mini@http://localhost:8080/v1`, `ollama:llama3`, `python:pkg.mod:func`,
    `litellm:bedrock/anthropic.claude-3-haiku-20240307-v1:0` (a LiteLLM model string may hold colons and @)."""
    kind, _, rest = spec.partition(":")
    if kind not in target_types() or not rest:
        raise TargetConfigError(
            f"cannot read target {spec!r}: give a .yaml/.json file or TYPE:MODEL[@BASE_URL] "
            "(types: openai, anthropic, ollama, litellm, python)"
        )
    if kind == "python":
        return {"type": "python", "callable": rest}
    if kind == "litellm":  # a model string may hold an @ (Vertex AI's `claude-3-5-sonnet@20240620`)
        at = max(rest.rfind("@http://"), rest.rfind("@https://"))
        model, base_url = (rest[:at], rest[at + 1 :]) if at > 0 else (rest, "")
        return {"type": kind, "model": model, "base_url": base_url or None}
    model, _, base_url = rest.partition("@")
    return {"type": kind, "model": model, "base_url": base_url or None}
