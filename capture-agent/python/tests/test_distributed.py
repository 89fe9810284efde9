"""Distributed training: ranks read from the environment the way torchrun, srun, mpirun, PBS and LSF set
it; one workflow execution per job, named alike by every rank; restarts as attempts; capture_ranks.
The last tests launch the stdlib example as 2 and 4 real processes with torchrun's and srun's
variables against the real embedded stack and read the job back from the views."""

import json
import os
import subprocess
import sys
import urllib.parse
import uuid

import pytest

import provml_client as provml
from conftest import PKG_ROOT, events_of, wait_until
from provml_client import Distributed, detect_distributed
from provml_client.transports import DiscardTransport, MemoryTransport
from test_real_services import _get, embedded_stack  # noqa: F401 (the fixture)


def torchrun_env(rank, world, run_id="job-7", restart=0):
    """What torchrun sets in each process it starts (--nproc-per-node world, one node)."""
    return {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
            "GROUP_RANK": "0", "TORCHELASTIC_RUN_ID": run_id, "TORCHELASTIC_RESTART_COUNT": str(restart),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def srun_env(rank, world, job="881234", restart=0, tasks_per_node=2):
    """What srun sets in each task of `srun --ntasks world` (a requeued job counts its restarts)."""
    return {"SLURM_JOB_ID": job, "SLURM_JOBID": job, "SLURM_STEP_ID": "0", "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank % tasks_per_node), "SLURM_NTASKS": str(world),
            "SLURM_NODEID": str(rank // tasks_per_node), "SLURM_RESTART_COUNT": str(restart),
            "SLURM_JOB_NODELIST": "gpu-[01-02]"}


# -- what each launcher's variables say ------------------------------------------------------------


def test_torchrun_ranks_name_the_job_by_its_run_id_and_count_its_restarts():
    d = detect_distributed(torchrun_env(3, 4, "abc", restart=2))
    assert d == Distributed(rank=3, world_size=4, local_rank=3, launcher="torchelastic", job="abc", attempt=2)
    assert d.workflow_execution("wf", 0) == "wf-torchelastic-abc"
    assert d.workflow_execution("wf", 1) == "wf-torchelastic-abc-2"
    assert d.context() == {"rank": "3", "worldSize": "4", "attempt": "2", "localRank": "3",
                           "distributedJob": "torchelastic:abc"}


def test_srun_tasks_name_the_job_by_its_slurm_job_and_step_and_count_requeues():
    d = detect_distributed(srun_env(3, 4, restart=1))
    assert d == Distributed(rank=3, world_size=4, local_rank=1, launcher="slurm", job="881234.0", attempt=1)


def test_torchrun_under_srun_takes_torchruns_rank_and_without_a_run_id_the_slurm_job():
    # srun starts one torchrun per node: SLURM_PROCID numbers the nodes, RANK the ranks; torchrun's
    # run id defaults to "none"
    env = dict(srun_env(1, 2), **torchrun_env(5, 8, run_id="none"))
    d = detect_distributed(env)
    assert (d.rank, d.world_size, d.launcher, d.job, d.attempt) == (5, 8, "slurm", "881234.0", 0)


def test_mpi_pbs_and_lsf_ranks():
    d = detect_distributed({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                            "PBS_JOBID": "1234.pbs01"})
    assert (d.rank, d.world_size, d.local_rank, d.launcher, d.job) == (2, 4, 0, "pbs", "1234.pbs01")
    d = detect_distributed({"PMI_RANK": "1", "PMI_SIZE": "2", "LSB_JOBID": "55"})
    assert (d.rank, d.world_size, d.local_rank, d.launcher, d.job) == (1, 2, None, "lsf", "55")
    d = detect_distributed({"JSM_NAMESPACE_RANK": "7", "JSM_NAMESPACE_SIZE": "12", "LSB_JOBID": "56"})
    assert (d.rank, d.world_size, d.job) == (7, 12, "56")


def test_a_world_of_one_or_a_plain_batch_job_is_no_distributed_job():
    # two scripts run one after the other in one batch job stay two runs
    assert detect_distributed({"SLURM_JOB_ID": "77", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None
    assert detect_distributed({"SLURM_JOB_ID": "77"}) is None
    assert detect_distributed(torchrun_env(0, 1)) is None
    assert detect_distributed({"RANK": "x", "WORLD_SIZE": "2"}) is None
    assert detect_distributed({"RANK": "2", "WORLD_SIZE": "2"}) is None


def test_a_job_with_no_launcher_id_keeps_the_rank_but_not_a_shared_id():
    d = detect_distributed({"RANK": "1", "WORLD_SIZE": "2"})
    assert (d.rank, d.job) == (1, None) and d.workflow_execution("wf", 0) is None


# -- the client ------------------------------------------------------------------------------------


def test_every_rank_names_the_same_workflow_executions_and_sends_its_rank(small_spec):
    ids, contexts = [], []
    for rank in range(2):
        t = MemoryTransport()
        c = provml.init(small_spec, transport=t, env=torchrun_env(rank, 2, "j1"), register_atexit=False)
        first, second = c.workflow_execution(), c.workflow_execution()
        first.begin("training").end()
        ids.append((first.id, second.id))
        c.shutdown()
        events = list(t.events)
        contexts.append(events[0]["context"])
        assert events[1]["context"] == {}  # the context rides on top-level begins only
    assert ids == [("small-torchelastic-j1", "small-torchelastic-j1-2")] * 2
    assert [(c["rank"], c["worldSize"], c["attempt"], c["distributedJob"]) for c in contexts] == [
        ("0", "2", "0", "torchelastic:j1"), ("1", "2", "0", "torchelastic:j1")]


def test_an_explicit_id_wins_over_the_jobs(small_spec):
    c = provml.init(small_spec, transport=MemoryTransport(), env=torchrun_env(0, 2), register_atexit=False)
    assert c.workflow_execution("mine").id == "mine"
    c.shutdown()


def test_capture_ranks_zero_sends_only_rank_zeros_events(seismic_spec):
    counts = []
    for rank in range(3):
        t = MemoryTransport()
        c = provml.init(seismic_spec, transport=t, env=srun_env(rank, 3), capture_ranks="zero", register_atexit=False)
        with c.workflow_execution() as run, run.task("training", values={"learning_rate": 0.1}) as training:
            for epoch in training.epochs(2):
                for batch, _ in epoch.batches(range(2)):
                    batch.set("batch_loss", 0.5)
                with training.child("validation") as v:
                    v.set("val_loss", 0.4)
            training.set("final_loss", 0.5)
        c.shutdown()
        counts.append(len(t.events))
        assert c.silent == (rank != 0)
        assert c.stats.undeclared == 0 and c.stats.invalid == 0  # nothing reported on the silent ranks
        if rank:
            assert isinstance(c.transport, DiscardTransport)
    assert counts == [2 + 4 + 8 + 4, 0, 0]


def test_capture_ranks_comes_from_the_environment_and_is_checked(small_spec):
    env = dict(torchrun_env(1, 2), PROVML_CAPTURE_RANKS="zero")
    c = provml.init(small_spec, transport=MemoryTransport(), env=env, register_atexit=False)
    assert c.silent
    c.shutdown()
    with pytest.raises(ValueError, match="capture_ranks"):
        provml.init(small_spec, transport=MemoryTransport(), env={}, capture_ranks="first", register_atexit=False)


# -- real processes against the real embedded stack ------------------------------------------------

STDLIB_EXAMPLE = os.path.join(PKG_ROOT, "examples", "train_stdlib.py")


def launch(ingest_url, envs, tmp_path, seed):
    """Starts the stdlib example once per rank environment, all at once as a launcher does, and waits."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PROVML_", "SLURM_", "TORCHELASTIC_"))}
    procs = []
    for i, env in enumerate(envs):
        procs.append(subprocess.Popen(
            [sys.executable, STDLIB_EXAMPLE, "--setting", "D", "--http-url", ingest_url, "--epochs", "2",
             "--tiles", "64", "--batch-size", "32", "--seed", str(seed), "--model-dir", str(tmp_path / ("rank%d" % i)),
             "--spill-dir", str(tmp_path / ("spill%d" % i))],
            env=dict(base, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    return outs


def view(query_url, path, **params):
    return json.loads(_get("%s%s?%s" % (query_url, path, urllib.parse.urlencode(params)), timeout=30))


def executions_of(query_url, job_iri):
    rows = view(query_url, "/v1/executions", workflow="seismic-training", limit=1000)["executions"]
    return [r for r in rows if r["workflowExecution"] == job_iri]


def wait_for_job(query_url, job_iri, count):
    def done():
        rows = executions_of(query_url, job_iri)
        return len(rows) == count and all(r["status"] == "finished" for r in rows)

    assert wait_until(done, timeout=90, interval=0.5), executions_of(query_url, job_iri)
    return executions_of(query_url, job_iri)


@pytest.mark.ingest
@pytest.mark.parametrize("launcher", ["torchrun", "srun"])
@pytest.mark.parametrize("world", [2, 4])
def test_a_job_of_real_processes_is_one_run_with_an_execution_per_rank(embedded_stack, tmp_path, launcher, world):
    ingest_url, query_url = embedded_stack
    job = "py-%s-%s" % (launcher, uuid.uuid4().hex[:8])
    seed = int(uuid.uuid4().hex[:6], 16)
    envs = [torchrun_env(r, world, run_id=job) if launcher == "torchrun" else srun_env(r, world, job=job) for r in range(world)]
    outs = launch(ingest_url, envs, tmp_path, seed)
    run_id = "seismic-training-%s" % ("torchelastic-%s" % job if launcher == "torchrun" else "slurm-%s.0" % job)
    assert all("workflow execution %s)" % run_id in out for out in outs), outs
    job_iri = "urn:provml:execution/" + run_id

    rows = wait_for_job(query_url, job_iri, world)  # the executions view: one row per rank, in one run
    assert sorted(r["rank"] for r in rows) == list(range(world))
    assert {(r["label"], r["worldSize"], r["attempt"]) for r in rows} == {("training", world, 0)}

    runs = [r for r in view(query_url, "/v1/runs", **{"hp.seed": seed})["runs"]]
    assert len(runs) == 1, runs  # the runs view: the job is one run
    run = runs[0]
    assert run["workflowExecution"] == job_iri and run["worldSize"] == world and run["status"] == "finished"
    assert [(r["rank"], r["attempt"]) for r in run["ranks"]] == [(r, 0) for r in range(world)]
    assert sorted(r["training"] for r in run["ranks"]) == sorted(r["execution"] for r in rows)
    assert run["training"] == next(r["execution"] for r in rows if r["rank"] == 0)

    training_set = "synthetic://seismic-tiles/train?seed=%d&n=64" % seed
    q4 = view(query_url, "/v1/queries/q4", trainingSet=training_set)["rows"]  # Q4: split by rank
    assert sorted(int(r["rank"]) for r in q4) == sorted(list(range(world)) * 2)


@pytest.mark.ingest
def test_a_restarted_job_is_an_attempt_of_the_same_run(embedded_stack, tmp_path):
    ingest_url, query_url = embedded_stack
    job = "py-requeue-%s" % uuid.uuid4().hex[:8]
    seed = int(uuid.uuid4().hex[:6], 16)
    launch(ingest_url, [srun_env(r, 2, job=job) for r in range(2)], tmp_path / "a0", seed)
    launch(ingest_url, [srun_env(r, 2, job=job, restart=1) for r in range(2)], tmp_path / "a1", seed)
    job_iri = "urn:provml:execution/seismic-training-slurm-%s.0" % job

    rows = wait_for_job(query_url, job_iri, 4)
    assert sorted((r["attempt"], r["rank"]) for r in rows) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    runs = view(query_url, "/v1/runs", **{"hp.seed": seed})["runs"]
    assert len(runs) == 1 and runs[0]["workflowExecution"] == job_iri
    assert [(r["attempt"], r["rank"]) for r in runs[0]["ranks"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    latest_rank0 = next(r["execution"] for r in rows if (r["attempt"], r["rank"]) == (1, 0))
    assert runs[0]["training"] == latest_rank0


@pytest.mark.ingest
def test_capture_ranks_zero_in_real_processes_captures_only_rank_zero(embedded_stack, tmp_path):
    ingest_url, query_url = embedded_stack
    job = "py-zero-%s" % uuid.uuid4().hex[:8]
    seed = int(uuid.uuid4().hex[:6], 16)
    envs = [dict(torchrun_env(r, 2, run_id=job), PROVML_CAPTURE_RANKS="zero") for r in range(2)]
    outs = launch(ingest_url, envs, tmp_path, seed)
    assert "captured 0 events" in outs[1], outs[1]
    rows = wait_for_job(query_url, "urn:provml:execution/seismic-training-torchelastic-%s" % job, 1)
    assert [(r["rank"], r["worldSize"]) for r in rows] == [(0, 2)]


def test_the_readme_snippet_names_the_jobs_run_and_sends_the_rank(tmp_path):
    from fakes import FlakyIngest
    from test_examples import readme_snippets, run_snippet

    code = next(c for c in readme_snippets() if "TORCHELASTIC_RUN_ID" in c)
    ingest = FlakyIngest()
    try:
        out = run_snippet(code, ingest.url, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.splitlines()[0] == "seismic-training-torchelastic-job-42 1 2", out.stdout
        assert {e["workflowExecution"] for e in ingest.events} == {"seismic-training-torchelastic-job-42"}
        top = [e for e in ingest.events if e["parentTaskExecution"] is None and e["phase"] == "begin"]
        assert [(e["context"]["rank"], e["context"]["worldSize"], e["context"]["attempt"]) for e in top] == [("1", "2", "0")]
    finally:
        ingest.close()
