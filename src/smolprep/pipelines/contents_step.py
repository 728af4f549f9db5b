"""The `contents` step's pipeline: an ID-only dataset's rows, read without text, get their text from S3
(`contents.ContentsFetcher`) and are written for `filter`, which reads them like any step's documents."""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.pipelines.contents import ContentsFetcher
from smolprep.pipelines.readers import input_reader
from smolprep.pipelines.writers import AtomicJsonlWriter


def contents_pipeline(stage: StageConfig, spec: DatasetSpec, output: str) -> list[PipelineStep]:
    settings = spec.contents
    if settings is None:
        raise ValueError(f"dataset {spec.name} has no `contents`")
    fetcher = ContentsFetcher(
        settings.url_template,
        compression=settings.compression,
        encoding_key=settings.encoding_key,
        id_key=settings.id_key,
    )
    return [input_reader(stage, spec, id_only=True), fetcher, AtomicJsonlWriter(output)]
