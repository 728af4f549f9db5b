"""Submitting a stage to Slurm: builds the Slurm executors and queues their arrays through the client.

Each step of each dataset becomes one or more job arrays (split at the profile's max_array_size). A
step's arrays depend with `afterok` on **every** array of the step before, so a step starts only when
all tasks of the previous one completed (datatrove's own executor waits only for the last array).
Datasets do not depend on each other. Jobs carry `--kill-on-invalid-dep=yes`: when an upstream task
fails, Slurm cancels the dependents instead of leaving them pending forever.

We use datatrove's SlurmPipelineExecutor for what runs on the node (`launch_pickled_pipeline` loads the
pickled executor, which reads ranks_to_run.json and runs its ranks), and render and submit the sbatch
scripts ourselves; datatrove's merge-stats jobs are not submitted (smolprep merges stats itself).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dill
import huggingface_hub.constants
from dill import CONTENTS_FMODE

from smolprep.config.errors import ConfigIssue
from smolprep.config.profile import ClusterProfile, StepResources, preamble_path
from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.pipelines.build import build_step
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.plan import StagePlan
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SbatchBusy, SbatchError, SlurmError
from smolprep.slurm.function_job import FunctionJob, submit_function
from smolprep.slurm.limits import Fit
from smolprep.slurm.node_executor import SmolprepSlurmExecutor
from smolprep.slurm.plan import StepSubmission, plan_submissions
from smolprep.slurm.render import ArrayChunk, render_preamble, render_sbatch
from smolprep.slurm.retry import in_place_requeue, memory_bytes, time_seconds
from smolprep.slurm.stage_job import write_stage_report
from smolprep.state import ledger
from smolprep.state.atomic import write_text_atomic
from smolprep.state.layout import RunLayout


def submit_tagged(slurm: SlurmClient, script: str, dependency: list[str], tag: str) -> str:
    """sbatch, but if it reports a failure, look for a job carrying our tag before giving up: the
    controller may have accepted it (a timeout or a lost answer), and a retry would queue it twice."""
    try:
        return slurm.sbatch(script, dependency)
    except SbatchError:
        try:
            accepted = slurm.find_by_comment(tag)
        except SlurmError:  # a best-effort look: the refusal is what we report
            accepted = []
        if accepted:
            return accepted[0]
        raise


def check_submittable(profile: ClusterProfile, slurm: SlurmClient) -> list[ConfigIssue]:
    """Refuse an unknown partition, account or QOS before anything is submitted."""
    options = ["--wrap=true", "--time=1"]
    for flag, value in (
        ("--partition", profile.partition),
        ("--account", profile.account),
        ("--qos", profile.qos),
    ):
        if value:
            options.append(f"{flag}={value}")
    deadline = time.monotonic() + 180
    while True:
        try:
            slurm.test_only(None, options)
            return []
        except SbatchBusy as err:
            if time.monotonic() >= deadline:
                return [_refusal_issue(profile, err.said or str(err))]
            time.sleep(5)  # the controller is full (finished jobs count until MinJobAge): wait for room
        except SbatchError as err:
            return [_refusal_issue(profile, err.said or str(err))]


def _refusal_issue(profile: ClusterProfile, message: str) -> ConfigIssue:
    lowered = message.lower()
    for key, value in (("partition", profile.partition), ("account", profile.account), ("qos", profile.qos)):
        if f"invalid {key}" in lowered:
            return ConfigIssue(
                Path(profile.source_file),
                f"{key} (or --{key})",
                value,
                f"a {key} this cluster accepts",
                f"Slurm said: {message}. See `sinfo -s` for partitions",
            )
    return ConfigIssue(
        Path(profile.source_file),
        "executor",
        profile.executor,
        "a Slurm controller that answers sbatch --test-only",
        f"Slurm said: {message}. Is SLURM_CONF set (dev cluster: "
        'eval "$(cluster/dev-slurm/start.sh | tail -1)") and slurmctld up?',
    )


@dataclass
class SubmittedStep:
    dataset: str
    step: str
    job_ids: list[str]
    state: str  # submitted, queued-already, complete, error, held (waves: the step before failed)
    ranks: int = 0
    message: str = ""


@dataclass
class SubmitOutcome:
    steps: list[SubmittedStep] = field(default_factory=list)
    last_jobs: list[str] = field(default_factory=list)  # every dataset's last queued arrays
    report_job: str | None = None
    report_error: str | None = None

    @property
    def submitted_jobs(self) -> list[str]:
        return [j for s in self.steps if s.state == "submitted" for j in s.job_ids]

    @property
    def errors(self) -> list[SubmittedStep]:
        return [s for s in self.steps if s.state == "error"]


@dataclass(frozen=True)
class SlurmStage:
    """Everything needed to render and submit a stage's arrays."""

    stage: StageConfig
    plan: StagePlan
    profile: ClusterProfile
    layout: RunLayout
    fit: Fit | None = None  # ranks per array task and the limits they fit (None: one rank per task)
    registry: StepRegistry = REGISTRY  # the steps `plan` was made from; their builders make the executors
    # (dataset, step) -> what its tasks ask for instead of the profile's resources (a retry's)
    overrides: Mapping[tuple[str, str], StepResources] = field(default_factory=dict)
    only: frozenset[str] | None = None  # submit only these datasets (a retry round); None: all

    def resources(self, dataset: str, step: str) -> StepResources:
        return self.overrides.get((dataset, step)) or self.profile.resources(step)

    @property
    def hf_home(self) -> str:
        return self.profile.hf_home or str(self.layout.hf_cache)

    def submissions(self) -> list[StepSubmission]:
        completed = {
            (s.dataset, s.step): self.layout.done_ranks(s.dataset, s.step, s.tasks) for s in self.plan.steps
        }
        if self.fit is None:
            subs = plan_submissions(self.plan, self.profile, completed)
        else:
            subs = plan_submissions(
                self.plan, self.profile, completed, self.fit.tasks_per_job, self.fit.limits.max_array_size
            )
        return [s for s in subs if self.only is None or s.step.dataset in self.only]

    def script(self, chunk: ArrayChunk, tag: str) -> str:
        template_file = preamble_path(self.profile)
        if template_file is None:
            raise FileNotFoundError(f"preamble template {self.profile.preamble!r} not found")
        preamble = render_preamble(
            template_file.read_text(), self.profile, self.hf_home, self.stage.name, chunk.dataset, chunk.step
        ) + "".join(f"export {line}\n" for line in hub_environment(self.stage.dataset(chunk.dataset)))
        return render_sbatch(
            self.stage.name,
            chunk,
            self.profile,
            preamble,
            self.layout.logs(chunk.dataset, chunk.step),
            tag,
            self.resources(chunk.dataset, chunk.step),
        )


def hub_environment(spec: DatasetSpec) -> list[str]:
    """`NAME=value` settings for a job of `spec`: a dataset read from local files never asks the Hub
    (HF_HUB_OFFLINE=1: no request, no waiting on a network the node may not have); one that streams from
    it finds the login node's saved token through its path (HF_HOME moves on the nodes; the token itself is
    never written into a script; an HF_TOKEN variable reaches the job through sbatch's environment)."""
    if spec.path is not None:
        return ["HF_HUB_OFFLINE=1"]
    token_file = Path(huggingface_hub.constants.HF_TOKEN_PATH)
    return [f"HF_TOKEN_PATH={shlex.quote(str(token_file))}"] if token_file.is_file() else []


def submission_tag(stage: str, chunk: ArrayChunk) -> str:
    return f"smolprep:{stage}:{chunk.dataset}:{chunk.step}:{chunk.index}:{uuid.uuid4().hex[:12]}"


def write_executor(target: SlurmStage, sub: StepSubmission, resources: FilterResources) -> None:
    stage, spec = target.stage, target.stage.dataset(sub.step.dataset)
    layout, step = target.layout, sub.step.step
    slurm_logs = layout.slurm_logs(spec.name, step)
    slurm_logs.mkdir(parents=True, exist_ok=True)
    for folder in (target.layout.filtered(spec.name), target.layout.data(spec.name)):
        folder.mkdir(parents=True, exist_ok=True)
    res = target.resources(spec.name, step)
    requeue = in_place_requeue(target.profile, step)
    executor = SmolprepSlurmExecutor(
        build_step(stage, spec, sub.step.step, target.layout, resources, target.registry),
        tasks=sub.step.tasks,
        time=res.time,
        partition=target.profile.partition or "",
        cpus_per_task=res.cpus,
        job_name=f"smolprep-{stage.name}-{spec.name}-{sub.step.step}",
        qos="",
        logging_dir=str(layout.logs(spec.name, step)),
        max_array_size=target.fit.limits.max_array_size if target.fit else target.profile.max_array_size,
        tasks_per_job=sub.tasks_per_job,
        slurm_logs_folder=str(slurm_logs),
        mail_user=None,
        exits_dir=str(layout.exits(spec.name, step)),
        failures_dir=str(layout.failures(spec.name, step)),
        mem_limit_bytes=res.cpus * memory_bytes(res.mem_per_cpu),
        time_limit_seconds=time_seconds(res.time),
        max_attempts=requeue["max_attempts"],
        requeue_in_place=bool(requeue["requeue_in_place"]),
    )
    pickled = layout.executor_file(spec.name, step)
    tmp = pickled.with_name(pickled.name + ".tmp")
    with open(tmp, "wb") as f:
        dill.dump(executor, f, fmode=CONTENTS_FMODE)
    tmp.replace(pickled)
    write_text_atomic(layout.ranks_file(spec.name, step), json.dumps(list(sub.ranks)))
    executor.save_executor_as_json()


def submit_report_job(target: SlurmStage, after: list[str], slurm: SlurmClient) -> str:
    """The stage-level report job (smolprep.slurm.stage_job), `afterany` on the given jobs."""
    job = FunctionJob("report", minutes=30, mem="4G", after_any=tuple(after))
    datasets = [spec.name for spec in target.stage.datasets]
    config = str(Path(target.stage.source_file).resolve())
    return submit_function(
        slurm,
        target.profile,
        target.layout,
        job,
        write_stage_report,
        config,
        str(target.layout.root),
        datasets,
    )


def submit_stage(
    target: SlurmStage,
    resources: FilterResources,
    slurm: SlurmClient,
    on_step: Callable[[SubmittedStep], None] = lambda s: None,
) -> SubmitOutcome:
    """Submit every step that is neither complete nor already queued; datasets are independent."""
    outcome = SubmitOutcome()
    entries = ledger.read(target.layout.ledger)
    known = {e.job_id for e in entries}
    active = {e.array_job_id for e in slurm.queue(known)} if known else set()
    by_dataset: dict[str, list[StepSubmission]] = {}
    for sub in target.submissions():
        by_dataset.setdefault(sub.step.dataset, []).append(sub)
    for subs in by_dataset.values():
        previous: list[str] = []
        rewire = False  # an upstream step was (re)submitted now: queued dependents wait on old jobs
        for sub in subs:
            if rewire:
                stale = [j for j in ledger.jobs_of(entries, sub.step.dataset, sub.step.step) if j in active]
                if stale:
                    slurm.scancel(stale)
                    active -= set(stale)
            result = _submit_step(target, sub, resources, slurm, entries, active, previous)
            outcome.steps.append(result)
            on_step(result)
            if result.state == "error":
                break  # the rest of this dataset would depend on a step that is not queued
            rewire = rewire or result.state == "submitted"
            previous = result.job_ids
        outcome.last_jobs += previous
    if outcome.submitted_jobs:
        try:
            outcome.report_job = submit_report_job(target, outcome.last_jobs, slurm)
        except Exception as err:  # the data jobs are queued; a missing report is repaired by `report`
            outcome.report_error = f"{type(err).__name__}: {err}"
    return outcome


def submit_chunk(
    target: SlurmStage, sub: StepSubmission, chunk: ArrayChunk, previous: list[str], slurm: SlurmClient
) -> str:
    """sbatch one array chunk (afterok on `previous`) and record it in the ledger."""
    tag = submission_tag(target.stage.name, chunk)
    job_id = submit_tagged(slurm, target.script(chunk, tag), previous, tag)
    entry = ledger.new_entry(
        sub.step.dataset,
        sub.step.step,
        job_id,
        chunk.index,
        f"0-{chunk.size - 1}",
        list(chunk.ranks),
        tag,
        sub.tasks_per_job,
        dataclasses.asdict(target.resources(sub.step.dataset, sub.step.step)),
    )
    ledger.append(target.layout.ledger, entry)
    return job_id


def _submit_step(
    target: SlurmStage,
    sub: StepSubmission,
    resources: FilterResources,
    slurm: SlurmClient,
    entries: list[ledger.LedgerEntry],
    active: set[str],
    previous: list[str],
) -> SubmittedStep:
    dataset, step = sub.step.dataset, sub.step.step
    queued = [j for j in ledger.jobs_of(entries, dataset, step) if j in active]
    if queued:
        # never rewrite ranks_to_run.json under queued jobs: they read it when they start
        return SubmittedStep(
            dataset, step, queued, "queued-already", len(sub.ranks), "already queued or running"
        )
    if sub.complete:
        return SubmittedStep(dataset, step, [], "complete")
    try:
        write_executor(target, sub, resources)
        job_ids = [submit_chunk(target, sub, chunk, previous, slurm) for chunk in sub.chunks]
    except (SbatchError, OSError) as err:
        return SubmittedStep(dataset, step, [], "error", len(sub.ranks), str(err))
    return SubmittedStep(dataset, step, job_ids, "submitted", len(sub.ranks))
