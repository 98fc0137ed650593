"""How the docs tests read a markdown page's blocks (`tests/docs_blocks.py`)."""

from __future__ import annotations

from pathlib import Path

from tests.docs_blocks import answer_matches, blocks_of

PAGE = """# A page

```sh
curl -X POST http://127.0.0.1:8000/api/webhooks/alerts
```

```
an unlabelled block
```

<!-- not-run: read by Alertmanager -->
```yaml
receivers: []
```

<!-- run-env: HOST_NAME=web-01 HOST_OUTPUT="PING OK" -->
<!-- run-as: anonymous -->
```sh
echo "$HOST_NAME"
```

```text output
web-01
```

1. In a list:

   ```graphql
   query { companies { nodes { name } } }
   ```

   ```json output
   {"data": {"companies": {"nodes": []}}}
   ```

````markdown
```sh
not a block of its own
```
````
"""


def _blocks(tmp_path: Path) -> list:  # noqa: ANN001
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    return blocks_of(page)


def test_each_fenced_block_is_found_with_its_line_language_and_text(tmp_path):
    blocks = _blocks(tmp_path)
    assert [(b.line, b.info) for b in blocks] == [
        (3, "sh"),
        (7, ""),
        (12, "yaml"),
        (18, "sh"),
        (22, "text output"),
        (28, "graphql"),
        (32, "json output"),
        (36, "markdown"),
    ]
    assert blocks[0].text == "curl -X POST http://127.0.0.1:8000/api/webhooks/alerts\n"
    # a block indented in a list loses the list's indentation, and a longer fence holds a shorter one
    assert blocks[5].text == "query { companies { nodes { name } } }\n"
    assert blocks[7].text == "```sh\nnot a block of its own\n```\n"
    assert blocks[0].id == f"{tmp_path / 'page.md'}:3"


def test_marks_above_a_block_say_whether_and_how_it_runs(tmp_path):
    blocks = _blocks(tmp_path)
    # an unlabelled block is not illustrative: the docs test fails it, as it fails a `markdown` one
    assert [b.illustrative for b in blocks] == [False, False, True, False, True, False, True, False]
    assert blocks[2].not_run == "read by Alertmanager"
    assert blocks[3].env == {"HOST_NAME": "web-01", "HOST_OUTPUT": "PING OK"}
    assert blocks[3].run_as == "anonymous"
    assert blocks[0].run_as is None
    assert blocks[0].env == {}


def test_an_output_block_right_below_is_the_answer_of_the_block_above(tmp_path):
    blocks = _blocks(tmp_path)
    assert blocks[3].output == "web-01\n"
    assert blocks[5].output == '{"data": {"companies": {"nodes": []}}}\n'
    assert blocks[0].output is None  # the block below it is not output


def test_an_answer_matches_what_an_output_block_shows():
    answer = {"data": None, "errors": [{"message": "Query cost 12000 exceeds the limit", "path": ["x"]}]}
    assert answer_matches(answer, {"data": None, "errors": [{"message": "Query cost 12000 ..."}]})
    assert answer_matches({"alert_ids": ["QWxlcnQ6MQ"]}, {"alert_ids": ["<global id>"]})
    assert not answer_matches(answer, {"data": None, "errors": [{"message": "Query cost 11000 ..."}]})
    assert not answer_matches(answer, {"data": None, "errors": []})
    assert not answer_matches({"cost": 12000}, {"cost": 12001})
    assert not answer_matches({"ok": 1}, {"ok": True})
    assert not answer_matches({}, {"status": "received"})
