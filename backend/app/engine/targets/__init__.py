"""Target connectors, found by type name: openai (compatible), anthropic, ollama, http (templated), python."""

from __future__ import annotations

from collections.abc import Callable

from app.engine.targets.anthropic import AnthropicConnector
from app.engine.targets.base import Connector
from app.engine.targets.config import TargetConfig, TargetConfigError, load_target_config
from app.engine.targets.http import HttpTemplateConnector
from app.engine.targets.ollama import OllamaConnector
from app.engine.targets.openai import OpenAIConnector
from app.engine.targets.python_callable import PythonConnector
from app.engine.targets.resilience import ResilientConnector

CONNECTORS: dict[str, Callable[[TargetConfig], Connector]] = {
    "openai": OpenAIConnector,
    "anthropic": AnthropicConnector,
    "ollama": OllamaConnector,
    "http": HttpTemplateConnector,
    "python": PythonConnector,
}


def build_connector(config: TargetConfig) -> ResilientConnector:
    """The connector for `config.type`, wrapped with retries and rate budgets."""
    return ResilientConnector(CONNECTORS[config.type](config))


__all__ = ["CONNECTORS", "TargetConfig", "TargetConfigError", "build_connector", "load_target_config"]
