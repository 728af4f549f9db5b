"""What datatrove's local worker processes should have loaded before they start: imported once, not per worker.

``LocalPipelineExecutor`` starts its workers with the ``forkserver`` method: one fresh server process forks
every worker. Python 3.11's fork server never imports ``__main__`` itself (its ``preload`` looks for a
``main_path`` key that ``get_preparation_data`` does not produce), so each worker re-imports the launcher,
and with it datatrove, numpy and fastText: about a second of CPU per worker, per step. With this module in
the fork server's preload list (``warm_fork_server``), the server imports all of it once and every worker
is a cheap fork that finds it in ``sys.modules``.

The server also does, once, what every worker would otherwise do on its own:

- build the word tokenizers of the languages in ``SMOLPREP_WARM_LANGUAGES`` (comma-separated, set by
  ``warm_fork_server`` before the server starts): reading the Vietnamese CRF weights takes ~0.1-0.4 s;
- load the language-ID model named by ``SMOLPREP_WARM_LID`` (``fast_lid.warm``).

(datatrove's dependency check of each step needs no warming: ``speedups`` makes it a direct look-up.)
"""

from __future__ import annotations

import os

import multiprocess
from loguru import logger

# the modules every local worker needs; importing them here is the point of this module
import smolprep.cli
import smolprep.pipelines.minhash  # noqa: F401
import smolprep.text.words as words
from smolprep.filters import fast_lid

WARM_LANGUAGES_ENV = "SMOLPREP_WARM_LANGUAGES"
WARM_LID_ENV = "SMOLPREP_WARM_LID"  # "default" or a model path: the language-ID model to load
LOADED_BY = os.getpid()  # a worker forked from a preloaded server sees the server's pid here


def warm_languages(languages: list[str]) -> None:
    """Build the word tokenizer of each language, with its model, in this process."""
    for language in languages:
        words.word_tokenizer(language).word_tokenize("warm up")


def warm_fork_server(languages: list[str], lid_model: str | None = None, lid: bool = True) -> None:
    """Make datatrove's fork server preload this module, the tokenizers of ``languages`` and (if ``lid``)
    the language-ID model ``lid_model`` (None: the shipped lid.176).

    Only a fork server that has not started yet is affected: the server is one per process, started by the
    first worker pool, and a later call (another stage in the same process) keeps the first one's modules.
    """
    os.environ[WARM_LANGUAGES_ENV] = ",".join(languages)
    os.environ[WARM_LID_ENV] = (lid_model or "default") if lid else ""
    multiprocess.get_context("forkserver").set_forkserver_preload([__name__])


def _warm_this_process() -> None:
    warm_languages([code for code in os.environ.get(WARM_LANGUAGES_ENV, "").split(",") if code])
    lid_model = os.environ.get(WARM_LID_ENV, "")
    if lid_model:
        fast_lid.warm(None if lid_model == "default" else lid_model)


try:
    _warm_this_process()
except Exception as err:  # a head start only: a worker that needs what failed meets (and reports) the error
    logger.debug(
        f"smolprep preload: warming up failed ({type(err).__name__}: {err}); workers load on their own"
    )
