"""Reading YAML written by people (recipes, `--option` values) without the traps `yaml.safe_load`
leaves open: aliases that refer to themselves, and alias bombs that expand a few lines into
gigabytes."""

from __future__ import annotations

from typing import Any

import yaml

from plugdata.errors import RecipeError

# A recipe, or an --option value, once its YAML aliases are expanded: generous for any real
# recipe, and small enough that validating, hashing and printing it stays instant.
MAX_YAML_NODES = 100_000
MAX_YAML_CHARS = 10_000_000


def safe_yaml_load(text: str, where: str) -> Any:
    """`yaml.safe_load` that refuses, with a `RecipeError` naming `where` (a file, or a
    command-line option), what safe_load accepts but nothing downstream survives: aliases that
    refer to themselves, and aliases that expand a few lines into more than MAX_YAML_NODES
    values or MAX_YAML_CHARS characters (a "billion laughs")."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        nodes, chars = _expanded_size(node, where)
        if nodes > MAX_YAML_NODES or chars > MAX_YAML_CHARS:
            raise RecipeError(
                f"{where}: YAML that expands to {nodes:,} values and {chars:,} characters "
                f"(limits {MAX_YAML_NODES:,} and {MAX_YAML_CHARS:,}); repeated aliases "
                "(*name) multiply their anchor's content"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{where}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})"
        ) from None
    except RecursionError:
        raise RecipeError(f"{where}: not valid YAML (nested too deeply)") from None
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node, where: str) -> tuple[int, int]:
    """(values, scalar characters) of the document with every alias expanded. Each node is
    counted once and its size reused wherever an alias repeats it, so a bomb that would expand
    to 10**30 values is measured in one step per node written in the file."""
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()  # on the current path: an alias back to one is a cycle

    def size(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise RecipeError(f"{where}: a YAML alias refers to the structure that contains it")
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = (1, len(node.value))
            return sizes[key]
        open_nodes.add(key)
        children = (
            node.value
            if isinstance(node, yaml.SequenceNode)
            else [part for pair in node.value for part in pair]
        )
        counts = [size(child) for child in children]
        open_nodes.discard(key)
        sizes[key] = (1 + sum(n for n, _ in counts), sum(c for _, c in counts))
        return sizes[key]

    return size(root)
