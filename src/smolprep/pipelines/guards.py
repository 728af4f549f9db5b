"""A filter that raises on one document drops that document (reason `filter_error`) instead of failing the
task; after `max_errors` such documents in one task, the task fails loudly (something is broken). A package
that cannot be imported (a word tokenizer not installed on the node) is the machine's problem, not the
document's: it fails the task at the first document, and no document is counted as dropped."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from loguru import logger


class TooManyFilterErrors(RuntimeError):
    """More documents made a filter raise than the task's budget allows."""


class FilterGuard(BaseFilter):
    def __init__(self, inner: BaseFilter, max_errors: int = 100):
        self.name = inner.name  # before BaseFilter.__init__, which names the stats block after it
        super().__init__(inner.exclusion_writer, batch_size=inner.batch_size)
        self.inner = inner
        self.max_errors = max_errors
        self.errors = 0

    def _failed(self, doc: Document, err: Exception) -> tuple[bool, str]:
        self.errors += 1
        logger.warning(f"{self.inner.name} raised on document {doc.id!r}: {type(err).__name__}: {err}")
        if self.errors > self.max_errors:
            raise TooManyFilterErrors(
                f"{self.errors} documents made {self.inner.name} raise in this task (limit {self.max_errors}); "
                f"the last one, {doc.id!r}: {type(err).__name__}: {err}"
            ) from err
        return False, "filter_error"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        try:
            return self.inner.filter(doc)
        except (TooManyFilterErrors, ImportError, MemoryError):
            raise
        except Exception as err:
            return self._failed(doc, err)

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        try:
            return self.inner.filter_batch(batch)
        except (ImportError, MemoryError):
            raise
        except Exception:
            return [self.filter(doc) for doc in batch]  # find the document(s) that raise
