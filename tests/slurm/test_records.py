"""What Slurm knows about our jobs, read from recorded text (no Slurm needed): sacct's records with their
steps and requeues, `scontrol show job -o`, sacctmgr's association and QOS limits, and the durations and
sizes they print."""

from __future__ import annotations

import pytest

from smolprep.slurm.errors import SlurmQueryError
from smolprep.slurm.query import (
    SACCT_FORMAT,
    JobRecord,
    SubmitLimit,
    count_hosts,
    expand_indices,
    is_forgotten,
    parse_duration,
    parse_sacct_records,
    parse_scontrol_jobs,
    parse_size,
    parse_submit_limits,
    scontrol_fields,
    select_records,
)

G = 2**30
M = 2**20
K = 2**10

# sacct -n -P --duplicates -o JobID,State,ExitCode,MaxRSS,Elapsed,Timelimit,ReqMem,TotalCPU,AllocCPUS,NodeList
# -j 4242,4243,4244,4250,4251 (Slurm 22.05: ReqMem is the job's total; steps have no Timelimit)
SACCT = """\
4242_0|COMPLETED|0:0||00:01:12|04:00:00|4G|01:10.532|2|dev-node
4242_0.batch|COMPLETED|0:0|812344K|00:01:12||4G|01:10.530|2|dev-node
4242_0.extern|COMPLETED|0:0|912K|00:01:12||4G|00:00.001|2|dev-node
4242_1|OUT_OF_MEMORY|0:125||00:00:41|04:00:00|4G|00:39.112|2|dev-node
4242_1.batch|OUT_OF_MEMORY|0:125|4193280K|00:00:41||4G|00:39.110|2|dev-node
4242_1.extern|COMPLETED|0:0|0|00:00:41||4G|00:00:00|2|dev-node
4242_2|TIMEOUT|0:0||04:00:13|04:00:00|4G|03:59:58|2|dev-node
4242_2.batch|CANCELLED by 1000|0:15|1.20G|04:00:15||4G|03:59:58|2|dev-node
4242_2.extern|COMPLETED|0:0|0|04:00:13||4G|00:00:00|2|dev-node
4242_3|FAILED|1:0||00:00:09|04:00:00|4G|00:07.001|2|dev-node
4242_3.batch|FAILED|1:0|51200K|00:00:09||4G|00:07.000|2|dev-node
4242_4|REQUEUED|0:0||00:10:00|04:00:00|4G|00:09:58|2|dev-node
4242_4.batch|CANCELLED|0:15|2100000K|00:10:01||4G|00:09:58|2|dev-node
4242_4|NODE_FAIL|1:0||00:03:00|04:00:00|4G|00:00:00|2|node[01-02]
4242_4|RUNNING|0:0||00:00:30|04:00:00|4G|00:00:00|2|dev-node
4242_4.batch|RUNNING|0:0||00:00:30||4G|00:00:00|2|dev-node
4243_[0-6%2]|PENDING|0:0||00:00:00|04:00:00|4G|00:00:00|0|None assigned
4244_[0-2]|CANCELLED by 1000|0:0||00:00:00|04:00:00|4G|00:00:00|0|None assigned
4250|COMPLETED|0:0||1-02:03:04|UNLIMITED|500M|1-01:00:00|1|dev-node
4250.batch|COMPLETED|0:0|1234K|1-02:03:04||500M|1-01:00:00|1|dev-node
4250.0|COMPLETED|0:0|3.50G|1-02:00:00||500M|1-00:59:00|1|dev-node
4251|PENDING|0:0||00:00:00|Partition_Limit|2G|00:00:00|0|None assigned

"""

# the same kinds of lines from a Slurm before 21.08: ReqMem per CPU ("c") or per node ("n")
SACCT_20_11 = """\
5000_0|COMPLETED|0:0||00:00:05|00:30:00|2Gc|00:04.000|4|n1
5000_0.batch|COMPLETED|0:0|1.5G|00:00:05||2Gc|00:04.000|4|n1
5001|COMPLETED|0:0||00:00:05|00:30:00|4000Mn|00:04.000|8|n[1-2]
5002|PENDING|0:0||00:00:00|00:30:00|2Gc|00:00:00|0|None assigned
"""


def test_sacct_asks_for_the_fields_the_parser_reads():
    assert SACCT_FORMAT == "JobID,State,ExitCode,MaxRSS,Elapsed,Timelimit,ReqMem,TotalCPU,AllocCPUS,NodeList"


def test_a_completed_task_takes_its_largest_step_rss_and_the_allocation_line_for_the_rest():
    record = parse_sacct_records(SACCT)["4242_0"]
    assert record == JobRecord(
        job_id="4242_0",
        state="COMPLETED",
        exit_code=0,
        signal=0,
        max_rss_bytes=812344 * K,
        elapsed_seconds=72,
        time_limit_seconds=4 * 3600,
        req_mem_bytes=4 * G,
        total_cpu_seconds=pytest.approx(70.532),
        alloc_cpus=2,
        node="dev-node",
        restarts=0,
        history=(),
    )
    assert (record.attempts, record.array_job_id) == (1, "4242")


def test_failure_states_exit_codes_and_signals():
    records = parse_sacct_records(SACCT)
    oom, timeout, failed = records["4242_1"], records["4242_2"], records["4242_3"]
    assert (oom.state, oom.exit_code, oom.signal) == ("OUT_OF_MEMORY", 0, 125)
    assert oom.max_rss_bytes == 4193280 * K and oom.req_mem_bytes == 4 * G  # the extern step's 0 is smaller
    assert (timeout.state, timeout.elapsed_seconds, timeout.time_limit_seconds) == ("TIMEOUT", 14413, 14400)
    assert timeout.max_rss_bytes == round(1.2 * G) and timeout.total_cpu_seconds == 4 * 3600 - 2
    assert (failed.state, failed.exit_code, failed.signal, failed.max_rss_bytes) == (
        "FAILED",
        1,
        0,
        51200 * K,
    )


def test_a_requeued_task_is_its_last_attempt_with_the_earlier_states_as_history():
    record = parse_sacct_records(SACCT)["4242_4"]
    assert (record.state, record.history, record.attempts, record.restarts) == (
        "RUNNING",
        ("REQUEUED", "NODE_FAIL"),
        3,
        2,
    )
    # the running attempt's steps have no MaxRSS yet: the first attempt's 2100000K is not this attempt's
    assert record.max_rss_bytes is None and record.node == "dev-node" and record.elapsed_seconds == 30


def test_a_pending_or_cancelled_array_range_stands_for_each_of_its_tasks():
    records = parse_sacct_records(SACCT)
    assert sorted(n for n in records if n.startswith("4243_")) == [f"4243_{i}" for i in range(7)]
    pending = records["4243_5"]
    assert (pending.state, pending.node, pending.alloc_cpus, pending.history) == ("PENDING", None, 0, ())
    assert [records[f"4244_{i}"].state for i in range(3)] == ["CANCELLED"] * 3  # "CANCELLED by 1000"
    assert "4243_[0-6%2]" not in records and "4243" not in records


def test_a_plain_job_with_numbered_steps_days_and_no_time_limit():
    records = parse_sacct_records(SACCT)
    job = records["4250"]
    assert job.max_rss_bytes == round(3.5 * G)  # step 4250.0 used more than the batch step
    assert job.elapsed_seconds == 86400 + 2 * 3600 + 3 * 60 + 4 and job.time_limit_seconds is None
    assert job.total_cpu_seconds == 86400 + 3600 and job.req_mem_bytes == 500 * M
    assert records["4251"].time_limit_seconds is None  # Partition_Limit: the limit is not stated
    assert not any("." in name for name in records)


def test_requeues_are_counted_the_same_when_a_pending_placeholder_came_first():
    text = (
        "7_[3-4]|PENDING|0:0||00:00:00|01:00:00|1G|00:00:00|0|None assigned\n"
        "7_3|PREEMPTED|0:0||00:20:00|01:00:00|1G|00:19:00|1|n1\n"
        "7_3|COMPLETED|0:0||00:30:00|01:00:00|1G|00:29:00|1|n2\n"
    )
    records = parse_sacct_records(text)
    assert records["7_3"].history == ("PREEMPTED",) and records["7_3"].state == "COMPLETED"
    assert records["7_4"].history == () and records["7_4"].state == "PENDING"


def test_older_slurm_memory_per_cpu_and_per_node_is_the_whole_jobs():
    records = parse_sacct_records(SACCT_20_11)
    assert records["5000_0"].req_mem_bytes == 4 * 2 * G  # 2G per CPU x 4 CPUs
    assert records["5000_0"].max_rss_bytes == round(1.5 * G)
    assert records["5001"].req_mem_bytes == 2 * 4000 * M  # 4000M per node x 2 nodes
    assert records["5002"].req_mem_bytes is None  # per CPU, and no CPU allocated yet


def test_an_unreadable_value_is_none_but_a_line_without_the_fields_is_refused():
    odd = "9|COMPLETED|x:y|lots|soon|never|much|?|many|n1\n"
    record = parse_sacct_records(odd)["9"]
    assert record.state == "COMPLETED" and record.node == "n1"
    assert (record.exit_code, record.max_rss_bytes, record.elapsed_seconds, record.alloc_cpus) == (None,) * 4
    assert (record.time_limit_seconds, record.req_mem_bytes, record.total_cpu_seconds) == (None,) * 3
    for line in ("9|COMPLETED", "|COMPLETED|0:0||00:00:05|00:30:00|2G|00:04.000|4|n1"):
        with pytest.raises(SlurmQueryError) as info:
            parse_sacct_records(SACCT + line + "\n")
        assert repr(line) in str(info.value) and SACCT_FORMAT in str(info.value)
    assert parse_sacct_records("") == {} and parse_sacct_records("\n \n") == {}


# scontrol show job -o 4242 / 4243 / 4250 (Slurm 22.05; one line per job or array task)
SCONTROL_JOBS = """\
JobId=4247 ArrayJobId=4242 ArrayTaskId=5 JobName=smolprep-stage1-en-filter UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A Priority=4294901755 Nice=0 Account=root QOS=normal JobState=OUT_OF_MEMORY Reason=OutOfMemory Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 Reboot=0 ExitCode=0:125 RunTime=00:00:41 TimeLimit=04:00:00 TimeMin=N/A SubmitTime=2024-05-01T12:00:00 EligibleTime=2024-05-01T12:00:01 AccrueTime=2024-05-01T12:00:01 StartTime=2024-05-01T12:00:02 EndTime=2024-05-01T12:00:43 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2024-05-01T12:00:02 Scheduler=Main Partition=cpu AllocNode:Sid=dev-node:1234 ReqNodeList=(null) ExcNodeList=(null) NodeList=dev-node BatchHost=dev-node NumNodes=1 NumCPUs=2 NumTasks=1 CPUs/Task=2 ReqB:S:C:T=0:0:*:* TRES=cpu=2,mem=4G,node=1,billing=2 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=2 MinMemoryCPU=2G MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/home/alice/smolprep Comment=smolprep:stage1:en:filter:0:0123456789ab StdErr=/shared/run/stage1/logs/en/filter/slurm_logs/4242_5.out StdIn=/dev/null StdOut=/shared/run/stage1/logs/en/filter/slurm_logs/4242_5.out Power=
JobId=4243 ArrayJobId=4243 ArrayTaskId=0-6%2 ArrayTaskThrottle=2 JobName=smolprep-stage1-en-minhash-signatures UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A Priority=4294901754 Nice=0 Account=root QOS=normal JobState=PENDING Reason=Dependency Dependency=afterok:4242_*(unfulfilled) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=04:00:00 TimeMin=N/A Partition=cpu NodeList=(null) NumNodes=1-1 NumCPUs=2 NumTasks=1 CPUs/Task=2 TRES=cpu=2,mem=8G,node=1,billing=2 MinCPUsNode=2 MinMemoryNode=8G MinTmpDiskNode=0 Power=
JobId=4250 JobName=smolprep-stage1-waves UserId=alice(1000) JobState=RUNNING Reason=None Dependency=(null) Requeue=0 Restarts=0 BatchFlag=1 ExitCode=0:0 RunTime=1-02:03:04 TimeLimit=UNLIMITED NodeList=dev-node NumNodes=1 NumCPUs=1 NumTasks=1 TRES=cpu=1,mem=2000M,node=1,billing=1 Command=/home/alice/my runs/driver.sh --stage 1 Comment=wave driver for stage1 WorkDir=/home/alice Power=
"""


def test_scontrol_lines_name_array_tasks_by_array_job_and_task_id():
    records = parse_scontrol_jobs(SCONTROL_JOBS)
    assert records["4242_5"] == JobRecord(
        job_id="4242_5",
        state="OUT_OF_MEMORY",
        exit_code=0,
        signal=125,
        elapsed_seconds=41,
        time_limit_seconds=4 * 3600,
        req_mem_bytes=2 * 2 * G,  # MinMemoryCPU 2G x NumCPUs 2
        alloc_cpus=2,
        node="dev-node",
        restarts=1,
        reason="OutOfMemory",
    )
    assert "4247" not in records  # the task's own job id is not how Slurm names it in sacct or squeue
    assert records["4242_5"].max_rss_bytes is None and records["4242_5"].total_cpu_seconds is None


def test_scontrol_pending_array_range_plain_job_and_values_with_spaces():
    records = parse_scontrol_jobs(SCONTROL_JOBS)
    assert sorted(n for n in records if n.startswith("4243_")) == [f"4243_{i}" for i in range(7)]
    pending = records["4243_6"]
    assert (pending.state, pending.reason, pending.node, pending.req_mem_bytes) == (
        "PENDING",
        "Dependency",
        None,
        8 * G,  # MinMemoryNode 8G x 1 node ("NumNodes=1-1")
    )
    driver = records["4250"]
    assert (driver.state, driver.reason, driver.time_limit_seconds) == ("RUNNING", None, None)
    assert driver.elapsed_seconds == 93784 and driver.req_mem_bytes == 2000 * M  # from TRES mem
    fields = scontrol_fields(SCONTROL_JOBS.splitlines()[2])
    assert fields["Command"] == "/home/alice/my runs/driver.sh --stage 1"
    assert fields["Comment"] == "wave driver for stage1" and fields["Power"] == ""
    assert fields["TRES"] == "cpu=1,mem=2000M,node=1,billing=1"


def test_scontrol_forgotten_jobs():
    assert parse_scontrol_jobs("") == {}
    assert is_forgotten("slurm_load_jobs error: Invalid job id specified")
    assert not is_forgotten("slurm_load_jobs error: Unable to contact slurm controller (connect failure)")


# sacctmgr -n -P show assoc where user=alice format=User,Account,Partition,MaxJobs,MaxSubmit,GrpJobs,GrpSubmit,QOS,DefaultQOS
ASSOC = """\
alice|root||10|40|||normal|
alice|physics|gpu||20||30|normal,high|high
"""
# sacctmgr -n -P show qos format=Name,MaxJobsPU,MaxSubmitPU,GrpJobs,GrpSubmit,MaxJobsPA,MaxSubmitPA
QOS = """\
normal||200||5000||
high|4|8||||600
debug||2||||
"""


def test_association_and_default_qos_limits_say_where_they_come_from():
    limits = parse_submit_limits("alice", ASSOC, QOS)
    described = [limit.describe() for limit in limits.limits]
    assert described == [
        "association alice/root MaxJobs 10",
        "association alice/root MaxSubmitJobs 40",
        "association alice/physics/gpu MaxSubmitJobs 20",
        "association alice/physics/gpu GrpSubmitJobs 30",
        "QOS normal MaxSubmitJobsPerUser 200",
        "QOS normal GrpSubmitJobs 5000",
        "QOS high MaxJobsPerUser 4",
        "QOS high MaxSubmitJobsPerUser 8",
        "QOS high MaxSubmitJobsPerAccount 600",
    ]  # debug is no association's default QOS: not ours
    assert [r.describe() for r in limits.running()] == [
        "association alice/root MaxJobs 10",
        "QOS high MaxJobsPerUser 4",
    ]
    shared = {r.describe() for r in limits.submit() if r.shared}
    assert shared == {"QOS normal GrpSubmitJobs 5000", "QOS high MaxSubmitJobsPerAccount 600"}


def test_the_qos_asked_for_replaces_the_default_and_the_old_format_without_default_qos_is_read():
    limits = parse_submit_limits("alice", "alice|root||||||normal,debug\n", QOS, qos="debug")
    assert limits.limits == (SubmitLimit("MaxSubmitJobsPerUser", 2, "QOS debug", queued=True, shared=False),)
    # no --qos and no DefaultQOS column: the association's only QOS, or "normal" among several
    only = parse_submit_limits("alice", "alice|root||||||high\n", QOS)
    assert {r.where for r in only.limits} == {"QOS high"}
    several = parse_submit_limits("alice", "alice|root||||||high,normal\n", QOS)
    assert {r.where for r in several.limits} == {"QOS normal"}


def test_an_account_row_grp_limit_is_shared_and_no_limit_at_all_says_so():
    limits = parse_submit_limits(
        "alice", "|physics||||||normal|normal\n|physics|||||100||\n", "normal|||||||\n"
    )
    (grp,) = limits.limits
    assert (grp.describe(), grp.shared) == ("association (account)/physics GrpSubmitJobs 100", True)
    empty = parse_submit_limits("bob", "", "")
    assert empty.limits == () and empty.describe() == "no association or QOS job limit for bob"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1-02:03:04", 93784),
        ("02:03:04", 7384),
        ("03:04", 184),
        ("03:04.567", 184.567),
        ("1-02", 93600),
        ("1-02:03", 93780),
        ("30", 1800),  # minutes, as --time takes it
        ("00:00:00", 0),
        (" 10:00 ", 600),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["UNLIMITED", "Partition_Limit", "INFINITE", "NONE", "", "N/A"])
def test_no_duration(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["soon", "1:2:3:4", "1.5", "x-01:00:00", "01:00:00-1"])
def test_unreadable_durations_say_what_was_expected(text):
    with pytest.raises(SlurmQueryError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value) and "UNLIMITED" in str(info.value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1234K", 1234 * K),
        ("1.5G", round(1.5 * G)),
        ("0", 0),
        ("4000M", 4000 * M),
        ("2T", 2 * 2**40),
        ("512", 512),
        ("2g", 2 * G),
        ("100MB", 100 * M),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


def test_no_size_and_unreadable_sizes():
    assert parse_size("") is None
    with pytest.raises(SlurmQueryError) as info:
        parse_size("lots")
    assert "'lots'" in str(info.value)


def test_hostlists_and_array_index_lists():
    assert count_hosts("node[01-03,07],gpu1") == 5
    assert count_hosts("rack[1-2]-node[1-4]") == 8
    assert (count_hosts("dev-node"), count_hosts("")) == (1, 0)
    assert expand_indices("[4-9%2]") == [4, 5, 6, 7, 8, 9]
    assert expand_indices("1,3,5-7") == [1, 3, 5, 6, 7]
    assert expand_indices("0-10:5") == [0, 5, 10]


def test_only_the_jobs_asked_about_are_kept_a_pending_range_answers_for_one_task():
    records = parse_sacct_records(SACCT)
    assert list(select_records(records, ["4243_5"])) == ["4243_5"]
    assert len(select_records(records, ["4243"])) == 7 and select_records(records, ["4243_9"]) == {}
    assert sorted(select_records(records, ["4250", "4242_4"])) == ["4242_4", "4250"]


def test_a_step_killed_for_memory_makes_its_failed_job_out_of_memory():
    """What the dev cluster's sacct printed for a task whose `srun` step the cgroup killed: the batch script
    then exits non-zero, so the job is FAILED while its step 0 is OUT_OF_MEMORY."""
    text = (
        "494_0|FAILED|1:0||00:00:02|00:10:00|80M|00:00.640|1|vm\n"
        "494_0.batch|FAILED|1:0|3000K|00:00:02|||00:00.010|1|vm\n"
        "494_0.0|OUT_OF_MEMORY|0:125|81000K|00:00:01|||00:00.630|1|vm\n"
        "495_0|FAILED|1:0||00:00:02|00:10:00|80M|00:00.640|1|vm\n"
        "495_0.batch|FAILED|1:0|3000K|00:00:02|||00:00.010|1|vm\n"
        "495_0.0|FAILED|1:0|50000K|00:00:01|||00:00.630|1|vm\n"
    )
    records = parse_sacct_records(text)
    assert (records["494_0"].state, records["494_0"].max_rss_bytes) == ("OUT_OF_MEMORY", 81000 * K)
    assert records["495_0"].state == "FAILED"  # a Python error stays one
