"""Fill ID-only code documents with their contents from S3.

Some code datasets (bigcode/the-stack-v2) hold no text: each row names a Software Heritage blob
(`blob_id`) and its encoding (`src_encoding`), and the file itself lives at
``s3://softwareheritage/content/{blob_id}``, gzip-compressed. `ContentsFetcher` downloads each document's
object with boto3, decompresses and decodes it, and puts the text in ``doc.text``.

- **The blob id** is ``doc.metadata[id_key]`` (datatrove's readers put every field that is not the text or
  the id in the metadata); a document without that field uses ``doc.id``. A document with neither is
  dropped as ``no_id``.
- **Concurrency**: a pool of ``max_concurrency`` threads downloads a sliding window of documents
  (twice the pool's size); documents leave in input order.
- **Retries**: throttling (``SlowDown``, HTTP 429), server errors (5xx), timeouts and broken connections
  are tried again up to ``retries`` times, after ``backoff * 2**attempt`` seconds (times a random factor
  in [0.5, 1.5), at most 30 s). botocore's own retries are switched off, so ``retries`` is the only knob.
- **Drops** (counted as ``dropped_<reason>``, never fatal): ``missing`` (NoSuchKey/404, not retried),
  ``fetch_failed`` (still failing after the retries), ``bad_compression`` (not valid gzip),
  ``unknown_encoding`` (Python has no codec of the row's name), ``undecodable`` (bytes invalid in the row's
  encoding), ``no_id``. At the end of a task one log line per reason gives the count and a few blob ids.
- **Fatal**: any other S3 error (AccessDenied, NoSuchBucket, InvalidAccessKeyId, no credentials) means every
  document would go; it raises `ContentsFetchError` naming the code and the fix instead.

Credentials come from boto3's standard chain (AWS_* variables, profiles, instance roles) and are never
logged. The boto3 client is made in the worker on first use, so the block pickles to Slurm nodes.

datatrove's readers skip a row whose text is empty; read ID-only rows with ``adapter=id_only_adapter``.
"""

from __future__ import annotations

import gzip
import random
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints
from loguru import logger

from smolprep.pipelines.readers import ID_ONLY_TEXT  # an ID-only row's text until it is fetched

PLACEHOLDER = "{blob_id}"
DEFAULT_ENCODING = "utf-8"
COMPRESSIONS = ("gzip", None)
MAX_DELAY = 30.0  # seconds, the longest wait between two attempts
EXAMPLES = 3  # blob ids named per drop reason in the closing log lines

MISSING = "missing"
FETCH_FAILED = "fetch_failed"
BAD_COMPRESSION = "bad_compression"
UNKNOWN_ENCODING = "unknown_encoding"
UNDECODABLE = "undecodable"
NO_ID = "no_id"

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
RETRY_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "RequestLimitExceeded",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    }
)


class ContentsFetchError(RuntimeError):
    """An S3 error that no retry mends and that would drop every document (access, bucket, credentials)."""


def id_only_adapter(self: Any, data: dict, path: str, id_in_file: int | str) -> dict:
    """A datatrove reader adapter for rows without text (``JsonlReader(..., adapter=id_only_adapter)``).

    Like datatrove's default adapter, but a row without text gets `ID_ONLY_TEXT`: datatrove's readers skip
    documents whose text is empty, and ContentsFetcher replaces the text anyway."""
    metadata = data.pop("metadata", None)
    metadata = metadata if isinstance(metadata, dict) else {}
    return {
        "text": data.pop(self.text_key, None) or ID_ONLY_TEXT,
        "id": data.pop(self.id_key, f"{path}/{id_in_file}"),
        "media": data.pop("media", []),
        "metadata": metadata | data,
    }


@dataclass(frozen=True)
class Outcome:
    """What became of one document: its text, or the reason it is dropped."""

    text: str | None = None
    reason: str | None = None
    retries: int = 0
    size: int | None = None  # bytes downloaded, None when nothing was
    error: str | None = None  # the last error's code or type, or the encoding that failed
    raw: bytes | None = None  # the downloaded object, before `decode`


@dataclass(frozen=True)
class Pending:
    doc: Document
    blob_id: str | None
    future: Future[Outcome] | None


class DropLog:
    """Drop counts per reason, with a few blob ids each, for the closing log lines."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, blob_id: str, error: str | None) -> None:
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES:
            examples.append(f"{blob_id} ({error})" if error else blob_id)

    def log(self, step: str) -> None:
        for reason, count in sorted(self.counts.items()):
            logger.warning(
                f"{step}: dropped {count} document(s) as {reason}, e.g. {', '.join(self.examples[reason])}"
            )


def split_template(url_template: str) -> tuple[str, str]:
    """'s3://bucket/prefix/{blob_id}' -> ('bucket', 'prefix/{blob_id}'), or a ValueError saying what is wrong."""
    bucket, _, key = url_template.removeprefix("s3://").partition("/")
    if not url_template.startswith("s3://") or not bucket or PLACEHOLDER in bucket:
        raise ValueError(
            f"ContentsFetcher: url_template must look like 's3://<bucket>/<prefix>/{PLACEHOLDER}', "
            f"got {url_template!r}."
        )
    if PLACEHOLDER not in key:
        raise ValueError(
            f"ContentsFetcher: url_template {url_template!r} has no {PLACEHOLDER} in its key; "
            f"write e.g. 's3://{bucket}/content/{PLACEHOLDER}'."
        )
    return bucket, key


def _check_int(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"ContentsFetcher: {name} must be an integer >= {least}, got {value!r}.")
    return value


def _check_seconds(name: str, value: float, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (positive and not value):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"ContentsFetcher: {name} must be a number of seconds {bound}, got {value!r}.")
    return float(value)


def decode(raw: bytes, compression: str | None, encoding: str) -> Outcome:
    """The text of a downloaded object, or the reason it has none."""
    try:
        data = gzip.decompress(raw) if compression == "gzip" else raw
    except (OSError, EOFError, zlib.error):
        return Outcome(reason=BAD_COMPRESSION, size=len(raw), error=compression)
    try:
        return Outcome(text=data.decode(encoding), size=len(raw))
    except LookupError:
        return Outcome(reason=UNKNOWN_ENCODING, size=len(raw), error=encoding)
    except UnicodeDecodeError:
        return Outcome(reason=UNDECODABLE, size=len(raw), error=encoding)


def error_fields(err: Any) -> tuple[str, int]:
    """(error code, HTTP status) of a botocore ClientError."""
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code, int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_retryable(code: str, status: int) -> bool:
    return status >= 500 or status == 429 or code in RETRY_CODES


class ContentsFetcher(PipelineStep):
    """Put each ID-only document's file, downloaded from S3, in its text (see the module's docstring).

    Args:
        url_template: where a blob is, with ``{blob_id}`` in the key: ``s3://bucket/prefix/{blob_id}``.
        compression: ``"gzip"`` or None (objects stored as they are).
        encoding_key: the metadata field naming a row's encoding (default utf-8 when absent or empty);
            None decodes every document as utf-8.
        id_key: the metadata field holding the blob id; ``doc.id`` when a document has no such field.
        max_concurrency: downloads in flight at once (threads, and boto3's connection pool size).
        retries: further attempts after a throttled, failed or broken request.
        backoff: seconds before the first retry; doubled at each further one, with jitter.
        timeout: seconds to connect, and seconds without data before a read fails.
        endpoint_url: an S3-compatible endpoint instead of AWS's (a test server, a mirror).

    Stats: ``total``, ``forwarded``, ``dropped`` and ``dropped_<reason>`` (the reasons above), ``fetched``
    (objects downloaded, decodable or not), ``fetched_bytes`` (their compressed size) and ``retries``.
    """

    name = "📥 S3 contents"
    type = "🔻 - FILTER"  # it drops documents: the stage report accounts for it like a filter
    _requires_dependencies: ClassVar[list[str]] = ["boto3"]

    def __init__(
        self,
        url_template: str = f"s3://softwareheritage/content/{PLACEHOLDER}",
        compression: str | None = "gzip",
        encoding_key: str | None = "src_encoding",
        id_key: str = "blob_id",
        max_concurrency: int = 16,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 60.0,
        endpoint_url: str | None = None,
    ):
        super().__init__()
        self.bucket, self.key_template = split_template(url_template)
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"ContentsFetcher: compression must be one of {COMPRESSIONS}, got {compression!r}."
            )
        self.url_template = url_template
        self.compression = compression
        self.encoding_key = encoding_key
        self.id_key = id_key
        self.max_concurrency = _check_int("max_concurrency", max_concurrency, 1)
        self.retries = _check_int("retries", retries, 0)
        self.backoff = _check_seconds("backoff", backoff, positive=False)
        self.timeout = _check_seconds("timeout", timeout, positive=True)
        self.endpoint_url = endpoint_url
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None  # made again where the block runs
        return state

    def client(self) -> Any:
        """The S3 client, made on first use (boto3 clients are thread-safe; sessions are not)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                max_pool_connections=self.max_concurrency,
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
            )
            session = boto3.session.Session()
            self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def blob_id(self, doc: Document) -> str | None:
        value = doc.metadata.get(self.id_key)
        value = doc.id if value is None or value == "" else value
        return str(value) if value is not None and value != "" else None

    def encoding(self, doc: Document) -> str:
        value = doc.metadata.get(self.encoding_key) if self.encoding_key else None
        return str(value) if value else DEFAULT_ENCODING

    def delay(self, attempt: int) -> float:
        return min(MAX_DELAY, self.backoff * 2**attempt * (0.5 + random.random()))

    def fetch(self, blob_id: str, encoding: str) -> Outcome:
        """The document's text, or why it has none (runs in a pool thread)."""
        downloaded = self.download(self.key_template.replace(PLACEHOLDER, blob_id))
        if downloaded.raw is None:
            return downloaded
        return replace(decode(downloaded.raw, self.compression, encoding), retries=downloaded.retries)

    def download(self, key: str) -> Outcome:
        """The object's bytes in `Outcome.raw`, tried again on transient errors."""
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            IncompleteReadError,
            NoCredentialsError,
        )

        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.delay(attempt - 1))
            try:
                raw = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
                return Outcome(raw=raw, retries=attempt)
            except ClientError as err:
                code, status = error_fields(err)
                if code in MISSING_CODES or (status == 404 and not code):  # NoSuchBucket is a 404 too
                    return Outcome(reason=MISSING, retries=attempt, error=code or str(status))
                if not is_retryable(code, status):
                    raise self.fatal(key, f"{code or 'error'} (HTTP {status})") from None
                error = code or f"HTTP {status}"
            except (ConnectionError, HTTPClientError, IncompleteReadError) as err:
                error = type(err).__name__
            except NoCredentialsError:
                raise self.fatal(key, "no AWS credentials found") from None
        return Outcome(reason=FETCH_FAILED, retries=self.retries, error=error)

    def fatal(self, key: str, what: str) -> ContentsFetchError:
        return ContentsFetchError(
            f"ContentsFetcher: GET s3://{self.bucket}/{key} failed: {what}. Check the bucket in url_template "
            f"({self.url_template!r}), the endpoint ({self.endpoint_url or 'AWS'}) and the AWS credentials "
            "of the machines that run the step (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)."
        )

    def submit(self, pool: ThreadPoolExecutor, doc: Document) -> Pending:
        blob_id = self.blob_id(doc)
        future = pool.submit(self.fetch, blob_id, self.encoding(doc)) if blob_id else None
        return Pending(doc, blob_id, future)

    def finish(self, pending: Pending, drops: DropLog) -> Document | None:
        """The document with its text, or None (counted and noted) when it is dropped."""
        self.stat_update(StatHints.total)
        with self.track_time():
            outcome = pending.future.result() if pending.future else Outcome(reason=NO_ID)
        if outcome.retries:
            self.stat_update("retries", value=outcome.retries)
        if outcome.size is not None:
            self.stat_update("fetched")
            self.stat_update("fetched_bytes", value=outcome.size)
        if outcome.text is None:
            reason = outcome.reason or FETCH_FAILED
            self.stat_update(StatHints.dropped, f"dropped_{reason}")
            drops.add(reason, pending.blob_id or repr(pending.doc.id), outcome.error)
            return None
        pending.doc.text = outcome.text
        self.stat_update(StatHints.forwarded)
        self.update_doc_stats(pending.doc)
        return pending.doc

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data is None:
            return
        self.client()  # made once here: pool threads share it
        drops = DropLog()
        pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="contents")
        try:
            yield from self.in_order(pool, data, drops)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            drops.log(str(self))

    def in_order(
        self, pool: ThreadPoolExecutor, data: Iterator[Document], drops: DropLog
    ) -> Iterator[Document]:
        window: deque[Pending] = deque()
        for doc in data:
            window.append(self.submit(pool, doc))
            if len(window) >= 2 * self.max_concurrency:
                done = self.finish(window.popleft(), drops)
                if done is not None:
                    yield done
        while window:
            done = self.finish(window.popleft(), drops)
            if done is not None:
                yield done
