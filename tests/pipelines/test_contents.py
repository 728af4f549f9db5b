"""`ContentsFetcher` against a real S3 server (moto's, on 127.0.0.1) through the real boto3 client.

The dataset is the shipped code sample made ID-only: each row keeps its `id`, gets the Software Heritage
style blob id of its bytes (`blob_id`, the git blob sha1) and `src_encoding`, and loses its text; the
gzipped texts are uploaded to `s3://softwareheritage/content/<blob_id>`. Planted rows: blobs never
uploaded (missing), bytes invalid in the declared encoding, a Latin-1 file declared `ISO-8859-1`, a blob
stored without gzip, an encoding Python does not know, a row without encoding. Transient failures are real
HTTP answers: a proxy in front of the server answers 503/500 or drops the connection for chosen keys.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from loguru import logger

from smolprep.pipelines.contents import ContentsFetcher, ContentsFetchError, id_only_adapter
from tests.conftest import ROOT, write_jsonl
from tests.fakes import s3_server
from tests.fakes.s3_server import SECRET_KEY, FaultProxy

moto_s3 = s3_server.moto_s3  # the fixture

BUCKET = "softwareheritage"
DOCS_PER_FILE = 40
TEMPLATE = f"s3://{BUCKET}/content/{{blob_id}}"
REASONS = ("missing", "undecodable", "unknown_encoding", "bad_compression", "fetch_failed", "no_id")


def blob_id(data: bytes) -> str:
    """Software Heritage's sha1_git: the git blob id of the file's bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Row:
    """One ID-only row, what the bucket holds for it, and what the block must make of it."""

    id: str
    blob: str
    encoding: str | None
    stored: bytes | None  # the object's bytes; None: never uploaded
    text: str | None = None  # expected text, None when dropped
    reason: str | None = None  # expected drop reason

    def record(self) -> dict:
        return {"id": self.id, "blob_id": self.blob, "src_encoding": self.encoding}


def kept(text: str, identifier: str, encoding: str | None = "UTF-8") -> Row:
    data = text.encode(encoding or "utf-8")
    return Row(identifier, blob_id(data), encoding, gzip.compress(data), text=text)


def dropped(identifier: str, encoding: str, reason: str) -> Row:
    """A row the block must drop for `reason`, and what the bucket holds for it."""
    stored = {
        "missing": None,  # never uploaded
        "bad_compression": identifier.encode() * 20,  # no gzip header
        "undecodable": gzip.compress(f"{identifier}: café".encode("latin-1")),  # 0xe9 is not UTF-8
        "unknown_encoding": gzip.compress(identifier.encode()),
    }[reason]
    return Row(identifier, blob_id(identifier.encode()), encoding, stored, reason=reason)


def planted(texts: list[str], part: int) -> list[Row]:
    """The rows that test each case, made from the sample's own texts."""
    latin = next(t for t in texts if t.isascii()) + f"\n# café, naïve, Ærø ({part})\n"
    return [
        kept(latin, f"latin-1#{part}", "ISO-8859-1"),
        dropped(f"undecodable#{part}", "UTF-8", "undecodable"),
        dropped(f"missing#{part}", "UTF-8", "missing"),
        dropped(f"plain#{part}", "UTF-8", "bad_compression"),
        dropped(f"codec#{part}", "x-no-such-codec", "unknown_encoding"),
        kept(texts[3] + f"\n# part {part}\n", f"no-encoding#{part}", None),  # read as UTF-8
    ]


@dataclass
class Dataset:
    files: list[list[Row]]
    broken: str = ""  # blob of a row the proxy always fails
    flaky: dict[str, list[str]] = field(default_factory=dict)  # blob -> faults served first

    @property
    def rows(self) -> list[Row]:
        return [row for rows in self.files for row in rows]

    def upload(self, endpoint: str) -> None:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        for row in self.rows:
            if row.stored is not None:
                s3.put_object(Bucket=BUCKET, Key=f"content/{row.blob}", Body=row.stored)

    def proxy(self, endpoint: str) -> FaultProxy:
        planned = {f"content/{blob}": faults for blob, faults in self.flaky.items()}
        return FaultProxy(endpoint, planned=planned, broken={f"content/{self.broken}": "503"})


def make_dataset() -> Dataset:
    """Two files of sample rows, each with the planted rows spread among them, and the faults to serve."""
    files = []
    for part, name in enumerate(("part-0000.jsonl.gz", "part-0001.jsonl.gz")):
        records = read_jsonl_file(ROOT / "sample" / "code" / name)[:DOCS_PER_FILE]
        rows = [kept(r["text"], r["id"]) for r in records]
        for position, row in zip(
            (3, 9, 15, 21, 27, 33), planted([r["text"] for r in records], part), strict=True
        ):
            rows.insert(position, row)
        files.append(rows)
    sample = [row for row in files[0] if row.reason is None and row.encoding == "UTF-8"]
    dataset = Dataset(files)
    dataset.flaky = {
        sample[2].blob: ["503", "503"],
        sample[5].blob: ["reset"],
        sample[8].blob: ["500", "503"],
    }
    broken = sample[11]
    broken.text, broken.reason = None, "fetch_failed"
    dataset.broken = broken.blob
    return dataset


def read_jsonl_file(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def dataset(moto_s3: str) -> Dataset:
    data = make_dataset()
    data.upload(moto_s3)
    return data


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lambda message: lines.append(str(message)), format="{message}", level="WARNING")
    yield lines
    logger.remove(handler)


def as_document(row: Row, index: int) -> Document:
    """Most documents carry the blob id in metadata; every fourth only as its id (the fallback)."""
    if index % 4 == 3:
        return Document(text="", id=row.blob, metadata={"src_encoding": row.encoding})
    return Document(text="", id=row.id, metadata=row.record())


def test_fills_texts_in_order_and_counts_each_drop(
    dataset: Dataset, moto_s3: str, warnings: list[str]
) -> None:
    rows = dataset.rows
    pairs = [(as_document(row, i), row) for i, row in enumerate(rows)]
    documents = [doc for doc, _ in pairs]
    documents.insert(5, Document(text="", id="", metadata={"src_encoding": "UTF-8"}))  # no blob id at all
    retries = 3
    with dataset.proxy(moto_s3) as proxy:
        block = ContentsFetcher(
            TEMPLATE, endpoint_url=proxy.endpoint, max_concurrency=4, retries=retries, backoff=0.02
        )
        out = list(block.run(iter(documents)))

    expected = [(doc.id, row.text) for doc, row in pairs if row.text is not None]
    assert [(doc.id, doc.text) for doc in out] == expected
    # ... although the server answered out of order: documents after a flaky one arrived before it
    answered = [path.rsplit("/", 1)[-1] for path in proxy.forwarded]
    first_flaky = next(i for i, row in enumerate(rows) if row.blob in dataset.flaky)
    later = {row.blob for row in rows[first_flaky + 1 :]}
    assert later & set(answered[: answered.index(rows[first_flaky].blob)])
    assert sum("# café, naïve, Ærø" in doc.text for doc in out) == 2  # the Latin-1 files, decoded

    stats = block.stats.to_dict()["stats"]
    drops = {reason: sum(row.reason == reason for row in rows) for reason in REASONS} | {"no_id": 1}
    assert drops == {
        "missing": 2,
        "undecodable": 2,
        "unknown_encoding": 2,
        "bad_compression": 2,
        "fetch_failed": 1,
        "no_id": 1,
    }
    assert {reason: stats.get(f"dropped_{reason}") for reason in REASONS} == drops
    assert stats["total"] == len(documents)
    assert stats["forwarded"] == len(expected) and stats["dropped"] == sum(drops.values())

    # every fault was a real HTTP answer (or a dropped connection) the client saw, and each got a retry
    flaky_faults = sum(len(faults) for faults in dataset.flaky.values())
    assert proxy.faults_served == {"503": 2 + 1 + retries + 1, "500": 1, "reset": 1}
    assert proxy.requests_to(f"content/{dataset.broken}") == retries + 1
    for blob, faults in dataset.flaky.items():
        assert proxy.requests_to(f"content/{blob}") == len(faults) + 1
    missing = [row.blob for row in rows if row.reason == "missing"]
    assert [proxy.requests_to(f"content/{blob}") for blob in missing] == [1, 1]  # a 404 is not retried
    assert stats["retries"]["total"] == flaky_faults + retries

    # one closing line per reason, with its count and blob ids, and no secret
    for reason, count in drops.items():
        assert sum(f"dropped {count} document(s) as {reason}," in line for line in warnings) == 1, warnings
    assert dataset.broken in "".join(warnings)
    assert SECRET_KEY not in "".join(warnings)


def test_pickles_after_a_run_and_runs_again(dataset: Dataset, moto_s3: str) -> None:
    block = ContentsFetcher(TEMPLATE, endpoint_url=moto_s3, max_concurrency=2)
    row = dataset.files[0][0]
    assert [d.text for d in block.run(iter([as_document(row, 0)]))] == [row.text]
    copy = pickle.loads(pickle.dumps(block))
    assert copy._client is None
    assert [d.text for d in copy.run(iter([as_document(row, 0)]))] == [row.text]


def test_local_executor_pipeline(dataset: Dataset, moto_s3: str, tmp_path: Path) -> None:
    for part, rows in enumerate(dataset.files):
        write_jsonl(tmp_path / "input" / f"part-{part}.jsonl.gz", [row.record() for row in rows])
    with dataset.proxy(moto_s3) as proxy:
        executor = LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(tmp_path / "input"), adapter=id_only_adapter),
                ContentsFetcher(
                    TEMPLATE, endpoint_url=proxy.endpoint, max_concurrency=4, retries=2, backoff=0.02
                ),
                JsonlWriter(str(tmp_path / "output"), output_filename="${rank}.jsonl.gz"),
            ],
            tasks=2,
            workers=2,
            start_method="spawn",  # the pipeline is pickled to fresh interpreters
            logging_dir=str(tmp_path / "logs"),
        )
        executor.run()

    for part, rows in enumerate(dataset.files):
        written = read_jsonl_file(tmp_path / "output" / f"{part:05d}.jsonl.gz")
        assert [(r["id"], r["text"]) for r in written] == [(row.id, row.text) for row in rows if row.text]
        assert all(r["metadata"]["blob_id"] for r in written)

    merged = json.loads((tmp_path / "logs" / "stats.json").read_text())
    fetcher = next(block for block in merged if "S3 contents" in block["name"])["stats"]
    rows = dataset.rows
    for reason in REASONS[:-1]:
        assert fetcher[f"dropped_{reason}"] == sum(row.reason == reason for row in rows), reason
    assert fetcher["forwarded"] == sum(row.text is not None for row in rows)
    flaky_faults = sum(len(faults) for faults in dataset.flaky.values())
    assert proxy.faults_served.total() == flaky_faults + 3  # the broken key: its first try and 2 retries
    assert fetcher["retries"]["total"] == flaky_faults + 2
    logs = "".join(p.read_text() for p in (tmp_path / "logs" / "logs").glob("*.log"))
    assert "dropped 1 document(s) as fetch_failed" in logs and SECRET_KEY not in logs


def test_access_errors_stop_the_task(dataset: Dataset, moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    row = dataset.files[0][0]
    block = ContentsFetcher(
        "s3://no-such-bucket/content/{blob_id}", endpoint_url=moto_s3, retries=1, backoff=0.01
    )
    with pytest.raises(ContentsFetchError, match="NoSuchBucket") as err:
        list(block.run(iter([as_document(row, 0)])))
    assert "no-such-bucket" in str(err.value) and SECRET_KEY not in str(err.value)
    assert pickle.loads(pickle.dumps(err.value)).args == err.value.args  # it travels back from a worker

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    block = ContentsFetcher(TEMPLATE, endpoint_url=moto_s3, retries=1, backoff=0.01)
    with pytest.raises(ContentsFetchError, match="no AWS credentials"):
        list(block.run(iter([as_document(row, 0)])))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url_template": "softwareheritage/content/{blob_id}"}, "must look like 's3://<bucket>"),
        ({"url_template": "s3://softwareheritage/content/"}, "has no {blob_id} in its key"),
        ({"compression": "zstd"}, "compression must be one of"),
        ({"max_concurrency": 0}, "max_concurrency must be an integer >= 1, got 0"),
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
    ],
)
def test_refuses_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ContentsFetcher(**options)
