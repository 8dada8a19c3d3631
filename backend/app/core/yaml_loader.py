"""YAML for data files we ship (probe packs, frameworks): safe, and strict about repeated keys.

Plain YAML lets a repeated key silently overwrite the first one, which in a data file hides a mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

#: libyaml's parser where PyYAML was built with it (the wheels are): it reads the shipped packs about ten times
#: faster than the pure-Python one, which `secureai scan` would otherwise pay on every start
if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictYamlLoader(_SafeLoader):
    """A safe loader that rejects repeated mapping keys."""


def _construct_unique_mapping(loader: StrictYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=True)


StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_strict_yaml(text: str) -> Any:
    """Parse `text` safely; a repeated key raises yaml.constructor.ConstructorError naming the key and line."""
    return yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
