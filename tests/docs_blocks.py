"""The fenced code blocks of README.md and docs/**/*.md, as `tests/api/test_docs.py` runs them.

Every block is either run or marked as not meant to run, in the markdown itself:

- ```` ```text ```` or a second word `output` in the info string (```` ```json output ````): what a
  command prints or a server answers, shown for reading.
- `<!-- not-run: reason -->` on the line(s) just above the fence: configuration read by another
  program (an Alertmanager receiver, a Nagios command, a Zabbix script), with the reason.

`<!-- run-env: NAME=value ... -->` above a shell block sets environment variables for it (the values
a monitoring tool would hand its notification script). `<!-- run-as: EMAIL -->` runs a block as that
demo user (`anonymous`: with no token) instead of the demo MSP admin. `<!-- run-by: TOOL -->` runs a
block the way that monitoring tool would (an Alertmanager receiver, an Icinga NotificationCommand, a
Nagios command line, a Zabbix script, a New Relic template), with the `run-env` values as the tool's
macros. Any other block is run, by its language:
`sh`/`bash`/`shell`, `graphql`, `json` (posted to the page's webhook), `python`; a block of another
language, or without one, fails its test, so a new doc cannot skip a block silently. For a `json`
block the `run-env` values stand in for the tool's `$VARIABLES` in it, as the tool expands them.

An output block right below a runnable block (only blank lines between) is the answer that block
must get: objects match on the keys shown, a string ending in `...` matches by its beginning, and a
string in angle brackets (`"<global id>"`) matches any string.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
    end: int = 0  # the closing fence's line, 1-based
    output: str | None = None  # the text of the output block right below, if any
    run_as: str | None = None  # a demo user's email, or `anonymous`; None: the demo MSP admin
    run_by: str | None = None  # the monitoring tool that runs this block (`<!-- run-by: nagios -->`)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def language(self) -> str:
        return self.info.split()[0].lower() if self.info.split() else ""

    @property
    def illustrative(self) -> bool:
        return self.not_run is not None or self.language == "text" or _is_output(self.info)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
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
            body.append(lines[j][indent:] if not lines[j][:indent].strip() else lines[j].lstrip())
            j += 1
        marks, env = _markers(lines, i)
        info = opening["info"].strip()
        text = "\n".join(body) + "\n"
        found.append(
            Block(
                rel,
                i + 1,
                info,
                text,
                marks.get("not-run"),
                env,
                end=j + 1,
                run_as=marks.get("run-as"),
                run_by=marks.get("run-by"),
            )
        )
        i = j + 1
    for n, (above, below) in enumerate(zip(found, found[1:], strict=False)):
        between = lines[above.end : below.line - 1]
        if _is_output(below.info) and not above.illustrative and not any(x.strip() for x in between):
            found[n] = replace(above, output=below.text)
    return found


def _is_output(info: str) -> bool:
    return "output" in info.lower().split()[1:]


def _markers(lines: list[str], fence_index: int) -> tuple[dict[str, str], dict[str, str]]:
    """The `<!-- key: value -->` comments directly above a fence (blank lines between allowed): the
    marks by key, and the `run-env` variables."""
    marks: dict[str, str] = {}
    env: dict[str, str] = {}
    k = fence_index - 1
    while k >= 0 and (not lines[k].strip() or _COMMENT.match(lines[k])):
        comment = _COMMENT.match(lines[k])
        if comment and comment["key"] == "run-env":
            env |= dict(item.split("=", 1) for item in shlex.split(comment["value"]))
        elif comment:
            marks.setdefault(comment["key"], comment["value"])
        k -= 1
    return marks, env


def all_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks_of(path)]


def answer_matches(actual: Any, shown: Any) -> bool:
    """Whether an answer is the one an output block shows (see `tests/docs_blocks.py`)."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            k in actual and answer_matches(actual[k], v) for k, v in shown.items()
        )
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(shown)
            and all(answer_matches(a, s) for a, s in zip(actual, shown, strict=True))
        )
    if isinstance(shown, str) and shown.endswith("...") and isinstance(actual, str):
        return actual.startswith(shown.removesuffix("...").rstrip())
    if isinstance(shown, str) and shown.startswith("<") and shown.endswith(">"):
        return isinstance(actual, str)
    return bool(actual == shown) and type(actual) is type(shown)
