"""Sentence-level deduplication: datatrove's SentenceDedup* chain as three steps.

- sentence-signatures (the dataset's `tasks`): a hash of every span of `n_sentences` sentences of every
  document, sentences split by the word tokenizer of the dataset's language (as its filters split words);
- sentence-find (`sentence.find_tasks`): merges all signatures and lists every span seen before;
- sentence-filter (the dataset's `tasks`): removes those spans from the documents, and drops a document
  left too short (`min_doc_words`, `min_num_sentences`).

Rank r of sentence-filter must read exactly the documents rank r of sentence-signatures read, in the same
order: the found spans name documents by their index in that rank's input. Both read the previous step's
documents with the strict reader (``intermediate``), which never skips one.

Of the documents sharing a span, the one with the lowest index in its task's input keeps it (datatrove's
order). ``CountedSentenceDedupFilter`` adds the counters the report needs: `forwarded`, and the documents
dropped with their reason.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.sentence_dedup import (
    SentDedupConfig,
    SentenceDedupFilter,
    SentenceDedupSignature,
    SentenceFindDedups,
)

from smolprep.config.stage import SentenceSettings
from smolprep.pipelines.intermediate import intermediate_reader
from smolprep.pipelines.writers import AtomicJsonlWriter

DROPPED = "dropped_repeated_sentences"  # a document left too short once its repeated spans are removed


def sentence_config(settings: SentenceSettings) -> SentDedupConfig:
    return SentDedupConfig(
        n_sentences=settings.n_sentences,
        min_doc_words=settings.min_doc_words,
        min_num_sentences=settings.min_num_sentences,
    )


class CountedSentenceDedupFilter(SentenceDedupFilter):
    """datatrove's SentenceDedupFilter, counting what it forwards and drops (as filters do), and reading no
    duplicates when the find step found none (it then writes no folder)."""

    name = "💥 Sentence dedup"

    def run(self, data, rank: int = 0, world_size: int = 1):
        if not self.data_folder.isdir(""):
            self.data_folder.makedirs("", exist_ok=True)
        seen = 0

        def counted():
            nonlocal seen
            for document in data:
                seen += 1
                yield document

        kept = 0
        for document in super().run(counted(), rank, world_size):
            kept += 1
            self.stat_update("forwarded")
            yield document
        if seen > kept:
            self.stat_update("dropped", value=seen - kept)
            self.stat_update(DROPPED, value=seen - kept)


def signatures_pipeline(
    settings: SentenceSettings, documents: str, repair: str, signatures: str, language: str
) -> list[PipelineStep]:
    return [
        intermediate_reader(documents, repair),
        SentenceDedupSignature(
            signatures,
            finder_workers=settings.find_tasks,
            config=sentence_config(settings),
            language=language,
        ),
    ]


def find_pipeline(settings: SentenceSettings, signatures: str, duplicates: str) -> list[PipelineStep]:
    return [SentenceFindDedups(signatures, duplicates, config=sentence_config(settings))]


def filter_pipeline(
    settings: SentenceSettings, documents: str, repair: str, duplicates: str, language: str, output: str
) -> list[PipelineStep]:
    return [
        intermediate_reader(documents, repair),
        CountedSentenceDedupFilter(duplicates, config=sentence_config(settings), language=language),
        AtomicJsonlWriter(output),
    ]
