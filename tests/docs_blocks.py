"""The fenced code blocks of README.md and docs/**/*.md, as `tests/api/test_docs.py` runs them.

Every block is either run or marked as not meant to run, in the markdown itself:

- ```` ```text ```` or a second word `output` in the info string (```` ```json output ````): what a
  command prints or a server answers, shown for reading.
- `<!-- not-run: reason -->` on the line(s) just above the fence: configuration read by another
  program (an Alertmanager receiver, a Nagios command, a Zabbix script), with the reason.

`<!-- run-env: NAME=value ... -->` above a shell block sets environment variables for it (the values
a monitoring tool would hand its notification script). Any other block is run, by its language:
`sh`/`bash`/`shell`, `graphql`, `json` (posted to the page's webhook), `python`; a block of another
language, or without one, fails its test, so a new doc cannot skip a block silently.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = {"sh", "bash", "shell", "graphql", "json", "python"}

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_COMMENT = re.compile(r"^\s*<!--\s*(?P<key>[a-z-]+):\s*(?P<value>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path  # relative to the repository root
    line: int  # the opening fence's line, 1-based
    info: str
    text: str
    not_run: str | None = None  # the reason given in `<!-- not-run: ... -->`
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def language(self) -> str:
        return self.info.split()[0].lower() if self.info.split() else ""

    @property
    def illustrative(self) -> bool:
        words = self.info.lower().split()
        return self.not_run is not None or self.language == "text" or "output" in words[1:]


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    rel = path.relative_to(ROOT)
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = _FENCE.match(lines[j])
            if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence):
                if not closing["info"].strip():
                    break
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j].lstrip())
            j += 1
        not_run, env = _markers(lines, i)
        found.append(
            Block(rel, i + 1, opening["info"].strip(), "\n".join(body) + "\n", not_run=not_run, env=env)
        )
        i = j + 1
    return found


def _markers(lines: list[str], fence_index: int) -> tuple[str | None, dict[str, str]]:
    """The `<!-- key: value -->` comments directly above a fence (blank lines between allowed)."""
    not_run: str | None = None
    env: dict[str, str] = {}
    k = fence_index - 1
    while k >= 0 and (not lines[k].strip() or _COMMENT.match(lines[k])):
        comment = _COMMENT.match(lines[k])
        if comment and comment["key"] == "not-run":
            not_run = comment["value"]
        elif comment and comment["key"] == "run-env":
            env |= dict(item.split("=", 1) for item in shlex.split(comment["value"]))
        k -= 1
    return not_run, env


def all_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks_of(path)]
