"""Execution context captured automatically: host, process, user, cluster job, visible GPUs."""

import getpass
import os
import platform
import socket
from typing import Dict, Mapping, Optional

#: (scheduler, job id variable, node list variable)
_SCHEDULERS = (
    ("slurm", "SLURM_JOB_ID", "SLURM_JOB_NODELIST"),
    ("pbs", "PBS_JOBID", "PBS_NODEFILE"),
    ("lsf", "LSB_JOBID", "LSB_HOSTS"),
)


def collect_execution_context(env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Host, pid, runtime, user, scheduler/jobId/nodes (SLURM, PBS or LSF) and gpus.

    The same keys as the TypeScript library's ``collectExecutionContext``.
    """
    if env is None:
        env = os.environ
    context = {
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        "runtime": "python %s" % platform.python_version(),
    }
    try:
        context["user"] = getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME/USER (some containers)
        pass
    for scheduler, job_var, nodes_var in _SCHEDULERS:
        job = env.get(job_var)
        if not job:
            continue
        context["scheduler"] = scheduler
        context["jobId"] = job
        nodes = env.get(nodes_var)
        if nodes:
            context["nodes"] = nodes
        break
    gpus = env.get("CUDA_VISIBLE_DEVICES") or env.get("ROCR_VISIBLE_DEVICES")
    if gpus:
        context["gpus"] = gpus
    return context
