"""What datatrove's local worker processes should have loaded before they start: imported once, not per worker.

``LocalPipelineExecutor`` starts its workers with the ``forkserver`` method: one fresh server process forks
every worker. Python 3.11's fork server never imports ``__main__`` itself (its ``preload`` looks for a
``main_path`` key that ``get_preparation_data`` does not produce), so each worker re-imports the launcher
script (``launch.py`` imports the command line under its ``__main__`` guard, so that costs nothing) and,
to unpickle its task, our pipelines with datatrove, numpy and fastText: about a second of CPU per worker,
per step. With this module in the fork server's preload list (``warm_fork_server``), the server imports
the pipelines once and every worker is a cheap fork that finds them in ``sys.modules``.

The server also does, once, what every worker would otherwise do on its own:

- build the word tokenizers of the languages in ``SMOLPREP_WARM_LANGUAGES`` (comma-separated, set by
  ``warm_fork_server`` before the server starts; the steps declare them, ``steps.Step.word_languages``):
  reading the Vietnamese CRF weights takes ~0.1-0.4 s;
- load the language-ID model named by ``SMOLPREP_WARM_LID`` (``fast_lid.warm``).

(datatrove's dependency check of each step needs no warming: ``speedups`` makes it a direct look-up.)

Local workers die with their launcher. A ``kill -9`` of the launcher alone would leave the fork server, its
workers (still writing their ranks) and datatrove's ``Manager`` process running. The launcher is the parent
of the fork server and of the Manager, the fork server the parent of every worker, so each of them asks the
kernel for SIGKILL when its parent ends (Linux's parent-death signal, ``die_with_parent``):

- the fork server when it imports this module, if ``SMOLPREP_LAUNCHER_PID`` (set by ``warm_fork_server``)
  names its parent;
- every process forked by an armed process (the fork server, a launcher inside ``children_die_with_me``):
  the setting is not inherited through fork, so an ``os.register_at_fork`` hook makes it in each child.

The signal comes when the *thread* that forked the child ends: the launcher forks from its main thread.
The same environment variable lets the next launcher find the processes of a killed one (state/lock.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

import multiprocess
from loguru import logger

# the modules every local worker needs (not the command line: launch.py imports it under its __main__
# guard, so a worker's re-import of the script skips it); importing them here is the point of this module
import smolprep.pipelines.local_executor
import smolprep.pipelines.steps  # noqa: F401  (every step's builder module, and the datatrove blocks they use)
import smolprep.text.words as words
from smolprep.filters import fast_lid
from smolprep.state.lock import LAUNCHER_ENV, WARM_LANGUAGES_ENV, WARM_LID_ENV

LOADED_BY = os.getpid()  # a worker forked from a preloaded server sees the server's pid here
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class _Forks:
    """Whether children forked by this process die with it, and which process forked the latest child."""

    armed = False
    parent = os.getpid()


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent ends, and end now if ``parent`` (the process that
    started this one) has ended already: then the setting came too late, as this process has a new parent."""
    if _LIBC is None:  # not Linux: no parent-death signal
        return
    if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        logger.warning(
            f"smolprep: no parent-death signal (errno {ctypes.get_errno()}); this process may outlive its launcher"
        )
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def children_die_with_me() -> Iterator[None]:
    """Every process this one forks meanwhile (datatrove's Manager, tasks run with ``fork``) dies with it."""
    armed, _Forks.armed = _Forks.armed, True
    try:
        yield
    finally:
        _Forks.armed = armed


def _before_fork() -> None:
    _Forks.parent = os.getpid()


def _after_fork_in_child() -> None:
    if _Forks.armed:
        die_with_parent(_Forks.parent)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _join_launcher() -> None:
    """In the fork server (started with LAUNCHER_ENV naming its parent): die with the launcher, and have every
    worker die with this server. (A server whose launcher ended before this import ends by itself: the end
    of its "alive" pipe comes before any request for a worker.)"""
    if os.environ.get(LAUNCHER_ENV) == str(os.getppid()):
        _Forks.armed = True
        die_with_parent(os.getppid())


_join_launcher()


def warm_languages(languages: list[str]) -> None:
    """Build the word tokenizer of each language, with its model, in this process."""
    for language in languages:
        words.word_tokenizer(language).word_tokenize("warm up")


def warm_fork_server(languages: list[str], lid_model: str | None = None, lid: bool = True) -> None:
    """Make datatrove's fork server preload this module, the tokenizers of ``languages`` and (if ``lid``)
    the language-ID model ``lid_model`` (None: the shipped lid.176), and die with this process.

    Only a fork server that has not started yet is affected: the server is one per process, started by the
    first worker pool, and a later call (another stage in the same process) keeps the first one's modules.
    """
    os.environ[LAUNCHER_ENV] = str(os.getpid())
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
