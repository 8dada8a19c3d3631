"""Target connectors, found by type name: openai (compatible), anthropic, ollama, http (templated), python,
litellm (the providers LiteLLM reaches; optional extra)."""

from __future__ import annotations

from collections.abc import Callable

from app.engine.plugins import load_entry_points
from app.engine.targets.anthropic import AnthropicConnector
from app.engine.targets.base import Connector, HttpConnector
from app.engine.targets.config import (
    CONNECTOR_ENTRY_POINTS,
    SHIPPED_TYPES,
    TargetConfig,
    TargetConfigError,
    load_target_config,
    target_types,
)
from app.engine.targets.egress import EgressPolicy
from app.engine.targets.http import HttpTemplateConnector
from app.engine.targets.litellm import LiteLLMConnector
from app.engine.targets.ollama import OllamaConnector
from app.engine.targets.openai import OpenAIConnector
from app.engine.targets.python_callable import PythonConnector
from app.engine.targets.resilience import ResilientConnector

HTTP_CONNECTORS: dict[str, type[HttpConnector]] = {
    "openai": OpenAIConnector,
    "anthropic": AnthropicConnector,
    "ollama": OllamaConnector,
    "http": HttpTemplateConnector,
}
CONNECTORS: dict[str, Callable[[TargetConfig], Connector]] = {
    **HTTP_CONNECTORS,
    "python": PythonConnector,
    "litellm": LiteLLMConnector,
}


def build_connector(config: TargetConfig, *, egress: EgressPolicy | None = None) -> ResilientConnector:
    """The connector for `config.type`, wrapped with retries and rate budgets.

    `egress` is the platform's policy, checked at every connection; None (the command line, scanning the
    operator's own targets) connects anywhere.
    """
    http = HTTP_CONNECTORS.get(config.type)
    if http is not None:
        return ResilientConnector(http(config, egress=egress))
    if egress is not None:
        raise TargetConfigError(f"{config.type} targets cannot run under the platform's egress policy")
    factory = CONNECTORS.get(config.type) or dict(load_entry_points(CONNECTOR_ENTRY_POINTS, _factory)).get(config.type)
    if factory is None:  # the plugin was uninstalled, or failed to import (warned)
        raise TargetConfigError(f"no connector for target type {config.type!r}; types: {', '.join(target_types())}")
    return ResilientConnector(factory(config))


def _factory(loaded: object) -> Callable[[TargetConfig], Connector]:
    if not callable(loaded):
        raise TypeError(f"{loaded!r} is not a callable taking a TargetConfig and returning a Connector")
    return loaded


__all__ = [
    "CONNECTORS",
    "CONNECTOR_ENTRY_POINTS",
    "HTTP_CONNECTORS",
    "SHIPPED_TYPES",
    "EgressPolicy",
    "TargetConfig",
    "TargetConfigError",
    "build_connector",
    "load_target_config",
    "target_types",
]
