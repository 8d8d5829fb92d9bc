"""The docs against the repository and the code: the README stays a front door, every relative
link in it and in docs/ leads somewhere, and every command line they show uses flags its
command has."""

import re
from pathlib import Path

import click
import pytest

from plugdata.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
# The pages the README promises: a page per capability, the guarantees, benchmarks, the design.
CORE_PAGES = {
    "build.md",
    "translate.md",
    "publish.md",
    "train.md",
    "evaluate.md",
    "scale.md",
    "guarantees.md",
    "benchmarks.md",
    "design.md",
}

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _blocks(text: str) -> tuple[list[str], list[list[str]]]:
    """The lines outside fenced code blocks, and each fenced block's lines."""
    prose: list[str] = []
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is None:
            prose.append(line)
        else:
            current.append(line)
    return prose, blocks


def _links(text: str) -> list[str]:
    """Link targets of a markdown text, leaving out code blocks and code spans."""
    prose, _ = _blocks(text)
    found = []
    for line in prose:
        line = _INLINE_CODE.sub("", line)
        found += _LINK.findall(line)
        found += _REFERENCE.findall(line)
    return found


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: code marks and link targets dropped, lower case,
    punctuation other than '-' and '_' removed, spaces as '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose, _ = _blocks(page.read_text("utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for line in prose:
        match = _HEADING.match(line)
        if match:
            slug = _slug(match.group(1))
            n = seen.get(slug, 0)
            anchors.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    return anchors


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `page` that leads nowhere: a path that does not exist or leaves
    the repository, or an anchor that names no heading of its markdown page."""
    broken = []
    for target in _links(page.read_text("utf-8")):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists() or not dest.is_relative_to(root.resolve()):
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    return broken


def _shell_lines(text: str) -> list[str]:
    """Command lines a page shows: the lines of its code blocks (continuations joined, prompts
    and comments dropped) and its code spans."""
    prose, blocks = _blocks(text)
    lines = [span.strip("`") for line in prose for span in _INLINE_CODE.findall(line)]
    for block in blocks:
        joined = "\n".join(block).replace("\\\n", " ")
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            lines.append(line.removeprefix("$ "))
    return lines


def unknown_flags(text: str) -> list[tuple[str, str]]:
    """(command, flag) for each `plugdata COMMAND ... --flag` in `text` whose command has no
    such flag (or that names no command)."""
    ctx = click.Context(cli)
    found = []
    for line in _shell_lines(text):
        for segment in re.split(r"&&|\|\||;|\|", line):
            words = segment.split()
            if len(words) < 2 or words[0] != "plugdata" or words[1].startswith("-"):
                continue
            name, rest = words[1], words[2:]
            command = cli.get_command(ctx, name)
            if isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
                name = f"{name} {rest[0]}"
                command, rest = command.get_command(ctx, rest[0]), rest[1:]
            if command is None:
                found.append((name, "(no such command)"))
                continue
            flags = {"--help"} | {
                opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
            }
            found += [
                (name, word.split("=")[0])
                for word in rest
                if word.startswith("--") and word.split("=")[0] not in flags
            ]
    return found


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_readme_as_a_front_door_is_at_most_300_lines():
    lines = README.read_text("utf-8").splitlines()
    assert len(lines) <= 300, len(lines)


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_relative_links_of_each_page_resolve_to_existing_files_and_headings(page):
    assert _links(page.read_text("utf-8")), f"{_id(page)} links nowhere: not a page of the docs?"
    assert broken_links(page) == []


def test_readme_links_every_docs_page_and_every_page_it_links_is_in_docs():
    linked = {
        Path(target.partition("#")[0]).name
        for target in _links(README.read_text("utf-8"))
        if target.startswith("docs/") and target.partition("#")[0].endswith(".md")
    }
    present = {page.name for page in DOCS.glob("*.md")}
    assert linked >= CORE_PAGES
    assert linked == present


def test_link_checker_given_broken_links_reports_each_and_skips_code_and_urls(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n", "utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Here we are\n"
        "[ok](#here-we-are) [ok](other.md#other-page) [web](https://example.org/nowhere.md)\n"
        "[gone](missing.md) [lost](other.md#no-such-part) [self](#nowhere)\n"
        "`[in a span](span.md)`\n"
        "```\n[in a block](block.md)\n```\n"
        "[up](../../outside.md)\n",
        "utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file",
        "other.md#no-such-part: no heading #no-such-part in other.md",
        "#nowhere: no heading #nowhere in page.md",
        "../../outside.md: no such file",
    ]


def test_readme_layout_section_names_every_top_level_entry_of_plugdata():
    readme = README.read_text("utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    entries = [p for p in (ROOT / "plugdata").iterdir() if p.name != "__pycache__"]
    missing = [
        p.name
        for p in entries
        if f"`{p.name}/`" not in section and (p.is_dir() or f"`{p.name}`" not in section)
    ]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_command_lines_of_each_page_use_only_flags_their_command_has(page):
    assert unknown_flags(page.read_text("utf-8")) == []


def test_flag_checker_given_a_removed_flag_or_command_reports_it():
    text = (
        "```bash\n"
        "plugdata translate in.jsonl --to zh --backend x \\\n"
        "    --out zh.jsonl --engine ray   # a flag of an older version\n"
        "plugdata cache export c.parquet --cache c.sqlite && plugdata cache export x --row-cache\n"
        "```\n"
        "Run `plugdata translte in.jsonl`, then `plugdata build r.yaml --executor ray`.\n"
    )
    assert unknown_flags(text) == [
        ("translte", "(no such command)"),
        ("translate", "--engine"),
        ("cache export", "--row-cache"),
    ]
