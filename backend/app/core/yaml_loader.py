"""YAML for data files we ship (probe packs, frameworks): safe, and strict about repeated keys.

Plain YAML lets a repeated key silently overwrite the first one, which in a data file hides a mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml


class PureStrictYamlLoader(yaml.SafeLoader):
    """A safe loader that rejects repeated mapping keys, on PyYAML's pure-Python parser."""


def _construct_unique_mapping(loader: PureStrictYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=True)


PureStrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)

#: The same rules on libyaml's parser where PyYAML was built with it (the wheels are): it reads the shipped packs
#: about ten times faster, which `secureai scan` would otherwise pay on every start, and a user's 2 MB pack in a
#: fraction of the time. Without libyaml it is the pure-Python loader.
if TYPE_CHECKING:
    StrictYamlLoader = PureStrictYamlLoader
else:

    class StrictYamlLoader(getattr(yaml, "CSafeLoader", PureStrictYamlLoader)):
        """A safe loader that rejects repeated mapping keys (libyaml's parser when available)."""

    StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_strict_yaml(text: str) -> Any:
    """Parse `text` safely; a repeated key raises yaml.constructor.ConstructorError naming the key and line."""
    return yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
