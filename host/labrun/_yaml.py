"""YAML as people type it: PyYAML's safe loader with YAML 1.2 booleans.

PyYAML follows YAML 1.1, where `yes`, `no`, `on` and `off` are booleans, so a prompt with
`choices: [yes, no]` would get two booleans. Only `true` and `false` are booleans here.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class SafeLoader(yaml.SafeLoader):
    pass


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SafeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))


def load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoader)
