"""Parsers of squeue, scontrol and sbatch output, tested on recorded text (no Slurm needed)."""

from __future__ import annotations

import pytest

from smolprep.slurm.errors import SbatchError, SlurmQueryError
from smolprep.slurm.query import (
    SQUEUE_FORMAT,
    QueueEntry,
    parse_config,
    parse_sbatch_parsable,
    parse_squeue,
)

# squeue -h --array -o "%F|%i|%T|%r|%j" on a cluster with two smolprep steps and someone else's job
SQUEUE = """\
123|123_[4-9%2]|PENDING|JobArrayTaskLimit|smolprep-stage1-en-filter
123|123_0|RUNNING|None|smolprep-stage1-en-filter
123|123_1|RUNNING|None|smolprep-stage1-en-filter
124|124_[0-6]|PENDING|Dependency|smolprep-stage1-en-minhash-signatures
125|125_[0-2]|PENDING|DependencyNeverSatisfied|smolprep-stage1-en-minhash-buckets
130|130|PENDING|Resources|train-7b

"""

# scontrol show config (excerpt, Slurm 23.02)
SCONTROL = """\
Configuration data as of 2024-05-01T12:00:00
AccountingStorageBackupHost = (null)
AccountingStorageType   = accounting_storage/none
ClusterName             = smolprep-dev
MaxArraySize             = 1001
MaxJobCount = 10000
MinJobAge               = 300 sec
SchedulerParameters     = bf_interval=30,bf_max_job_test=500
SLURM_VERSION           = 23.02.7

Cgroup Support Configuration:
AllowedRAMSpace         = 100.0%

MPI Plugins Configuration:
PMIxCliTmpDirBase       = (null)
Slurmctld(primary) at dev-node is UP
"""


def test_squeue_fields():
    assert SQUEUE_FORMAT == "%F|%i|%T|%r|%j"
    entries = parse_squeue(SQUEUE)
    assert entries[0] == QueueEntry(
        "123", "123_[4-9%2]", "PENDING", "JobArrayTaskLimit", "smolprep-stage1-en-filter"
    )
    assert [(e.job_id, e.state, e.reason) for e in entries] == [
        ("123_[4-9%2]", "PENDING", "JobArrayTaskLimit"),
        ("123_0", "RUNNING", "None"),
        ("123_1", "RUNNING", "None"),
        ("124_[0-6]", "PENDING", "Dependency"),
        ("125_[0-2]", "PENDING", "DependencyNeverSatisfied"),
        ("130", "PENDING", "Resources"),
    ]
    assert [e.array_job_id for e in entries] == ["123", "123", "123", "124", "125", "130"]
    assert entries[-1].name == "train-7b"


def test_squeue_empty_and_whitespace():
    assert parse_squeue("") == []
    assert parse_squeue("\n  \n") == []
    assert parse_squeue(" 130 | 130 | RUNNING | None | x \n") == [
        QueueEntry("130", "130", "RUNNING", "None", "x")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "123 123_0 RUNNING None smolprep-stage1-en-filter",  # default squeue format, not ours
        "123|123_0|RUNNING|None",
    ],
)
def test_squeue_malformed_line_names_it(line):
    with pytest.raises(SlurmQueryError) as info:
        parse_squeue(SQUEUE + line + "\n")
    assert repr(line) in str(info.value)
    assert SQUEUE_FORMAT in str(info.value)


def test_squeue_job_name_with_pipe():
    entries = parse_squeue(SQUEUE + "131|131|PENDING|Priority|eval|ablation\n")
    assert entries[-1] == QueueEntry("131", "131", "PENDING", "Priority", "eval|ablation")


def test_scontrol_config():
    config = parse_config(SCONTROL)
    assert config["MaxArraySize"] == "1001"
    assert config["MaxJobCount"] == "10000"
    assert config["MinJobAge"] == "300 sec"
    assert config["SchedulerParameters"] == "bf_interval=30,bf_max_job_test=500"
    assert config["SLURM_VERSION"] == "23.02.7"
    assert config["PMIxCliTmpDirBase"] == "(null)"
    assert not any(key.startswith(("Configuration", "Cgroup", "MPI", "Slurmctld")) for key in config)
    assert all(" " not in key for key in config)


def test_scontrol_config_empty():
    assert parse_config("") == {}


def test_scontrol_prose_lines_with_equals_are_skipped():
    config = parse_config("Node features plugin: a=b\nMaxArraySize = 5\nkey with spaces = 1\n= orphan\n")
    assert config == {"MaxArraySize": "5"}


@pytest.mark.parametrize(
    ("output", "job_id"),
    [
        ("123\n", "123"),
        ("123;cluster\n", "123"),
        ("4567;dev-cluster", "4567"),
        ("sbatch: warning: something odd\n890\n", "890"),
    ],
)
def test_sbatch_parsable(output, job_id):
    assert parse_sbatch_parsable(output) == job_id


@pytest.mark.parametrize(
    "output", ["Submitted batch job 123", "Submitted batch job 123\n", "", "\n", "12a\n"]
)
def test_sbatch_unparseable(output):
    with pytest.raises(SbatchError) as info:
        parse_sbatch_parsable(output)
    message = str(info.value)
    assert repr(output) in message
    assert "may or may not have been queued" in message and "squeue" in message
    assert "--parsable" in message
