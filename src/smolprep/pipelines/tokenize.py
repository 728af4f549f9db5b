"""The tokenize steps: each task tokenizes its share of the dataset's final documents with datatrove's
DocumentTokenizer (token files with a document index, EOS after every document); then one task merges and
shuffles them with DocumentTokenizerMerger into the dataset's shards, the order fixed by the stage's seed,
so that a rerun writes identical bytes. The shards are what nanotron's datatrove loader reads."""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.tokens import DocumentTokenizer, DocumentTokenizerMerger

from smolprep.config.stage import StageConfig
from smolprep.pipelines.intermediate import intermediate_reader


def tokenize_pipeline(stage: StageConfig, documents: str, repair: str, parts: str) -> list[PipelineStep]:
    settings = stage.tokenize
    if settings.tokenizer is None:
        raise ValueError(f"stage {stage.name} has no tokenize.tokenizer")
    tokenizer = DocumentTokenizer(
        parts,
        settings.tokenizer,
        eos_token=settings.eos_token,
        seed=stage.seed,
    )
    return [intermediate_reader(documents, repair), tokenizer]


def merge_pipeline(stage: StageConfig, parts: str, output: str, dataset: str) -> list[PipelineStep]:
    merger = DocumentTokenizerMerger(
        parts,
        output,
        save_filename=dataset,
        max_tokens_per_file=stage.tokenize.shard_tokens,
        seed=stage.seed,
        progress=False,
    )
    return [merger]
