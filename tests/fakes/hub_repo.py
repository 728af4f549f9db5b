"""Dataset repos for the test Hub (`tests.fakes.hub_server`), built from the shipped sample.

`build_repos(root)` writes three repos the way datasets live on the Hub: parquet shards under
`data/<config>/<split>-0000i-of-0000n.parquet`, a `README.md` whose YAML front matter declares the
`configs:` and their `data_files`, and a `.gitattributes` sending parquet to LFS:

- `smolprep-test/sample`: configs `en`, `vi`, `code` (train: exactly the documents of `sample/en-web`,
  `sample/vi-web`, `sample/code`, in order, over two shards) and a small `test` split for `en`.
- `smolprep-test/gated`: the `en` config, gated: only a token the server grants may download it.
- `smolprep-test/flaky`: the `en` config, with the first GET of `FLAKY_FILE` cut mid-transfer.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.fakes.hub_server import META, commit_sha

SAMPLE = Path(__file__).resolve().parents[2] / "sample"
CONFIGS = {"en": "en-web", "vi": "vi-web", "code": "code"}  # config name -> sample folder
TRAIN_SHARDS = 2
TEST_DOCUMENTS = 5
FLAKY_FILE = "data/en/train-00001-of-00002.parquet"
TOKENIZER_REPO = "smolprep-test/tokenizer"  # a model repo holding tokenizer.json
GITATTRIBUTES = "*.parquet filter=lfs diff=lfs merge=lfs -text\n"


@dataclass(frozen=True)
class HubRepos:
    """The repos `build_repos` wrote: their ids, configs (name -> sample folder) and commit shas."""

    root: Path
    sample: str
    gated: str
    flaky: str
    configs: dict[str, str]
    revisions: dict[str, str]  # repo id -> its commit sha (branch `main` points to it)
    flaky_file: str = FLAKY_FILE


def sample_documents(folder: str) -> list[dict[str, str]]:
    """The `id` and `text` of every document of `sample/<folder>`, files in name order."""
    documents = []
    for file in sorted((SAMPLE / folder).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            documents += [json.loads(line) for line in f if line.strip()]
    return [{"id": d["id"], "text": d["text"]} for d in documents]


def write_split(repo: Path, config: str, split: str, documents: list[dict[str, str]], shards: int) -> None:
    """`documents` in `shards` consecutive parquet files named as the Hub names them."""
    size = -(-len(documents) // shards)
    for i in range(shards):
        part = documents[i * size : (i + 1) * size]
        table = pa.table({"id": [d["id"] for d in part], "text": [d["text"] for d in part]})
        path = repo / "data" / config / f"{split}-{i:05d}-of-{shards:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


def card(configs: dict[str, list[str]]) -> tuple[str, dict[str, object]]:
    """The README (YAML front matter with `configs:`) and the same metadata as the Hub's `cardData`."""
    entries: list[dict[str, object]] = []
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        files = [{"split": s, "path": f"data/{name}/{s}-*"} for s in splits]
        entries.append(
            {"config_name": name, "data_files": files} | ({"default": True} if name == "en" else {})
        )
        lines.append(f"- config_name: {name}")
        lines += ["  default: true"] if name == "en" else []
        lines.append("  data_files:")
        lines += [f'  - split: {f["split"]}\n    path: "{f["path"]}"' for f in files]
    lines += ["---", "", "Test copy of the smolprep sample corpus.", ""]
    return "\n".join(lines), {"configs": entries}


def write_repo(root: Path, repo_id: str, configs: dict[str, list[str]], meta: dict[str, object]) -> str:
    """One repo: its configs' splits, README, .gitattributes and the server's metadata; returns the sha."""
    repo = root / repo_id
    for name, splits in configs.items():
        write_split(repo, name, "train", sample_documents(CONFIGS[name]), TRAIN_SHARDS)
        if "test" in splits:
            test = [
                {"id": f"test-{d['id']}", "text": d["text"]}
                for d in sample_documents(CONFIGS[name])[:TEST_DOCUMENTS]
            ]
            write_split(repo, name, "test", test, 1)
    readme, card_data = card(configs)
    (repo / "README.md").write_text(readme, encoding="utf-8")
    (repo / ".gitattributes").write_text(GITATTRIBUTES)
    (repo / META).write_text(json.dumps(meta | {"card_data": card_data}))
    return commit_sha(repo)


def build_repos(root: Path) -> HubRepos:
    """Write the sample, gated and flaky repos under `root` (one folder per `<namespace>/<name>`)."""
    sample, gated, flaky = "smolprep-test/sample", "smolprep-test/gated", "smolprep-test/flaky"
    revisions = {
        sample: write_repo(root, sample, {"en": ["train", "test"], "vi": ["train"], "code": ["train"]}, {}),
        gated: write_repo(root, gated, {"en": ["train"]}, {"gated": "manual"}),
        flaky: write_repo(root, flaky, {"en": ["train"]}, {"break_once": [FLAKY_FILE]}),
    }
    tokenizer = root / TOKENIZER_REPO / "tokenizer.json"  # a model repo: the test tokenizer
    tokenizer.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.write_bytes((SAMPLE.parent / "tests" / "data" / "tokenizer" / "tokenizer.json").read_bytes())
    return HubRepos(root, sample, gated, flaky, dict(CONFIGS), revisions)
