"""mkdocs hook: the settings table in settings.md, generated from `Settings` in assistant/config.py.

Each field's name, type, default and the docstring under it are read with `ast`, so the docs
build needs neither torch nor the package installed, and the table is never written twice.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

MARKER = "<!-- settings-table -->"
CONFIG = Path(__file__).resolve().parents[2] / "assistant" / "config.py"


def settings_rows(source: str) -> list[dict[str, str]]:
    """One row per Settings field: name, type, default, env variable(s), description."""
    tree = ast.parse(source)
    constants: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            constants[name] = value
            if name == "ENV_ALIASES":
                aliases = {field: short for short, field in value.items()}
    settings = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    rows = []
    body = settings.body
    for node, after in zip(body, [*body[1:], None]):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = " ".join(after.value.value.split())
        name = node.target.id
        env = [f"ASSISTANT_{name.upper()}"]
        if name in aliases:
            env.insert(0, f"ASSISTANT_{aliases[name].upper()}")
        rows.append({
            "name": name,
            "type": ast.unparse(node.annotation),
            "default": _default(node.value, constants),
            "env": env,
            "doc": doc,
        })
    return rows


def _default(value: ast.expr | None, constants: dict[str, Any]) -> str:
    if value is None:
        return ""
    if isinstance(value, ast.BinOp) and isinstance(value.left, ast.Name) and value.left.id == "REPO_ROOT":
        return f"the repository's `{ast.literal_eval(value.right)}/`"
    if isinstance(value, ast.Name) and value.id in constants:
        return _default(ast.Constant(constants[value.id]), constants)
    literal = ast.literal_eval(value)
    if isinstance(literal, str):
        return f'`"{literal}"`'
    if isinstance(literal, int) and not isinstance(literal, bool):
        return f"`{literal:,}`"
    return f"`{literal!r}`"


def settings_table(source: str) -> str:
    """The rows as a Markdown table."""
    lines = ["| setting | environment | type | default | what it does |", "|---|---|---|---|---|"]
    for row in settings_rows(source):
        env = "<br>".join(f"`{name}`" for name in row["env"])
        doc = row["doc"].replace("|", "\\|")
        lines.append(f"| `{row['name']}` | {env} | `{row['type']}` | {row['default']} | {doc} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: replace the marker in settings.md with the generated table."""
    if page.file.src_uri != "settings.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"settings.md lost its marker {MARKER}")
    return markdown.replace(MARKER, settings_table(CONFIG.read_text(encoding="utf-8")))
