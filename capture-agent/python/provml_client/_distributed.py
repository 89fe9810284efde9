"""Distributed training: the rank, world size, job and attempt that torchrun, Slurm, MPI, PBS or LSF
set in each process's environment. Mirrors capture-agent/src/distributedContext.ts.

Every rank of one job reads the same launcher or scheduler id, so each names the same workflow
execution (``<workflow>-<launcher>-<id>``) without talking to the others; a restart of the job keeps
the id and counts as an attempt.
"""

from typing import Dict, Mapping, NamedTuple, Optional, Tuple

#: (launcher, rank variable, world size variable, local rank variable), first match wins: torchrun's
#: RANK over the MPI library's over the scheduler's task id (under srun + torchrun, SLURM_PROCID
#: numbers the nodes' launchers, not the ranks).
_RANKS: Tuple[Tuple[str, str, str, str], ...] = (
    ("torch", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("mpi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
    ("lsf", "JSM_NAMESPACE_RANK", "JSM_NAMESPACE_SIZE", "JSM_NAMESPACE_LOCAL_RANK"),
)

#: (launcher, job id variable, restart count variable), first match wins. torchrun's run id (its
#: ``--rdzv-id``; "none" when not given) names exactly the processes that rendezvoused.
_JOBS: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ("torchelastic", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT"),
    ("slurm", "SLURM_JOB_ID", "SLURM_RESTART_COUNT"),
    ("pbs", "PBS_JOBID", None),
    ("lsf", "LSB_JOBID", None),
    ("mpi", "PMIX_NAMESPACE", None),
)

#: ``capture_ranks`` values: every rank captures, or only rank 0.
CAPTURE_RANKS = ("all", "zero")


class Distributed(NamedTuple):
    """Where this process stands in a distributed job."""

    #: This process's rank, 0 … world_size - 1.
    rank: int
    #: How many ranks the job has (> 1).
    world_size: int
    #: The rank on this node, when the launcher says.
    local_rank: Optional[int]
    #: Who named the job: ``torchelastic``, ``slurm``, ``pbs``, ``lsf`` or ``mpi``; None when nothing did.
    launcher: Optional[str]
    #: The launcher's or scheduler's id of the job (a Slurm job id, with its step: ``881234.0``).
    job: Optional[str]
    #: How many times the job was restarted before this process started (0 on the first attempt).
    attempt: int

    def context(self) -> Dict[str, str]:
        """The execution context keys of a rank (contract 1's ``context``)."""
        out = {"rank": str(self.rank), "worldSize": str(self.world_size), "attempt": str(self.attempt)}
        if self.local_rank is not None:
            out["localRank"] = str(self.local_rank)
        if self.job is not None:
            out["distributedJob"] = "%s:%s" % (self.launcher, self.job)
        return out

    def workflow_execution(self, workflow: str, n: int) -> Optional[str]:
        """The id every rank gives its ``n``-th workflow execution of ``workflow`` (None without a job id)."""
        if self.job is None:
            return None
        base = "%s-%s-%s" % (workflow, self.launcher, self.job)
        return base if n == 0 else "%s-%d" % (base, n + 1)


def _int(env: Mapping[str, str], name: str) -> Optional[int]:
    v = env.get(name)
    if v is None or not v.strip().isdigit():
        return None
    return int(v)


def detect_distributed(env: Mapping[str, str]) -> Optional[Distributed]:
    """The distributed job this process is a rank of, or None: no rank variable, or a world of one
    (a plain script inside a batch job, whose later scripts must stay runs of their own)."""
    for _, rank_var, size_var, local_var in _RANKS:
        rank, size = _int(env, rank_var), _int(env, size_var)
        if rank is None or size is None:
            continue
        if size < 2 or rank >= size:
            return None
        launcher, job, attempt = None, None, 0
        for name, job_var, restart_var in _JOBS:
            value = (env.get(job_var) or "").strip()
            if not value or value == "none":  # torchrun's default --rdzv-id
                continue
            launcher, job = name, value
            if name == "slurm" and (env.get("SLURM_STEP_ID") or "").strip().isdigit():
                job = "%s.%s" % (value, env["SLURM_STEP_ID"].strip())  # two sruns in one job: two runs
            attempt = (_int(env, restart_var) or 0) if restart_var else 0
            break
        return Distributed(rank, size, _int(env, local_var), launcher, job, attempt)
    return None


def resolve_capture_ranks(value: Optional[str], env: Mapping[str, str]) -> str:
    """``capture_ranks``, else ``PROVML_CAPTURE_RANKS``, else ``all``."""
    v = (value if value is not None else env.get("PROVML_CAPTURE_RANKS") or "all").strip().lower()
    if v not in CAPTURE_RANKS:
        raise ValueError("capture_ranks must be 'all' or 'zero', got %r" % value)
    return v
