"""System metrics (provml_client.sysmetrics): CPU and RSS sampled on the sampler thread of a real
trainer process and captured as declared output values; the GPU path through nvidia-smi."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import PKG_ROOT, SMALL_SPEC
from provml_client.spool import read_spool
from provml_client.sysmetrics import (
    SystemMetrics,
    declare_system_metrics,
    parse_nvidia_smi,
    system_metric_outputs,
)

#: A trainer: three epochs that burn CPU on its own thread; the second keeps ~64 MiB more.
TRAINER = textwrap.dedent(
    """
    import json, logging, sys, threading, time
    import provml_client as provml
    from provml_client.sysmetrics import SystemMetrics, declare_system_metrics

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    spec_path, spool, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    spec = json.load(open(spec_path))
    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            sum(i * i for i in range(1000))
    keep = []
    client = provml.init(spec, "F", spool_dir=spool)
    metrics = SystemMetrics(interval=0.05, record=None)
    with client.workflow_execution() as run, run.task("training") as training:
        if mode == "interval":
            metrics = SystemMetrics(interval=0.1, record=(training, "system"))
        with metrics:
            for epoch in training.epochs(3):
                burn(0.4)
                if epoch.index == 1:
                    keep.append(bytearray(64 * 1048576))
                    burn(0.2)
                if mode == "epoch":
                    epoch.update(metrics.read())
            running_inside = metrics.running
        alive = [t.name for t in threading.enumerate() if t.name == "provml-sysmetrics"]
    client.shutdown()
    print(json.dumps({
        "running_inside": running_inside, "running_after": metrics.running, "alive_after": alive,
        "probe_threads": sorted(metrics.probe_threads), "main": threading.get_ident(),
        "samples": metrics.samples, "recorded": metrics.recorded, "gpu_source": metrics.gpu_source,
    }))
    """
)


def run_trainer(tmp_path, spec, mode, path_dirs=()):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    spool = tmp_path / "spool"
    env = dict(os.environ, PYTHONPATH=PKG_ROOT, PATH=os.pathsep.join([*path_dirs, "/usr/bin", "/bin"]))
    for k in [k for k in env if k.startswith("PROVML_")]:
        del env[k]
    out = subprocess.run(
        [sys.executable, "-c", TRAINER, str(spec_path), str(spool), mode],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    records = [json.loads(p) for _, p in read_spool(str(spool))]
    return json.loads(out.stdout.strip().splitlines()[-1]), [r["event"] for r in records[1:]], out.stderr


def test_per_epoch_cpu_and_rss_are_captured_as_declared_outputs_and_the_sampler_stops(tmp_path):
    spec = declare_system_metrics(SMALL_SPEC, "epoch")
    report, events, stderr = run_trainer(tmp_path, spec, "epoch")
    ends = [e for e in events if e["task"] == "epoch" and e["phase"] == "end"]
    assert len(ends) == 3
    for e in ends:
        v = e["values"]
        # the trainer burns CPU on its thread for the whole epoch: above idle (even on a loaded machine), at most the cores
        assert 5 <= v["sys_cpu_percent"] <= 100 * (os.cpu_count() or 1) + 10, v
        assert 5 < v["sys_rss_mib"] < 4096, v
        assert "sys_gpu_utilization_percent" not in v and "sys_gpu_memory_mib" not in v
    rss = [e["values"]["sys_rss_mib"] for e in ends]
    assert rss[1] >= rss[0] + 50, rss  # the second epoch's 64 MiB shows
    # nothing undeclared was sent, nothing dropped
    assert all(set(e["values"]) <= {a["name"] for a in system_metric_outputs()} | {"epoch"} for e in ends)
    # no GPU here (PATH without nvidia-smi, no pynvml): one info line says so
    assert report["gpu_source"] is None
    assert stderr.count("no GPU metrics: pynvml is not installed and nvidia-smi is not on PATH") == 1
    # the probes ran on the sampler thread only, never on the trainer's; it stopped with the block
    assert report["probe_threads"] and report["main"] not in report["probe_threads"]
    assert report["running_inside"] is True
    assert report["running_after"] is False and report["alive_after"] == []
    assert report["samples"] >= 3


def test_at_an_interval_the_sampler_thread_records_its_own_task_runs_and_stops_with_the_task(tmp_path):
    spec = declare_system_metrics(SMALL_SPEC, "system", parent="training")
    report, events, _ = run_trainer(tmp_path, spec, "interval")
    training = next(e for e in events if e["task"] == "training" and e["phase"] == "begin")
    begins = [e for e in events if e["task"] == "system" and e["phase"] == "begin"]
    ends = [e for e in events if e["task"] == "system" and e["phase"] == "end"]
    assert report["recorded"] >= 3 and len(begins) == len(ends) == report["recorded"]
    assert all(e["parentTaskExecution"] == training["taskExecution"] for e in begins)
    assert all(e["status"] == "finished" for e in ends)
    for e in ends:
        assert 0 <= e["values"]["sys_cpu_percent"] <= 100 * (os.cpu_count() or 1) + 10
        assert 5 < e["values"]["sys_rss_mib"] < 4096
    assert max(e["values"]["sys_cpu_percent"] for e in ends) >= 5
    # the epochs carry nothing of it: the trainer's thread did not record system metrics
    assert all(not e["values"] for e in events if e["task"] == "epoch" and e["phase"] == "end")
    assert report["running_after"] is False and report["alive_after"] == []
    assert report["main"] not in report["probe_threads"]


FAKE_NVIDIA_SMI = """#!{python}
# A stand-in for nvidia-smi: this machine has no NVIDIA GPU. It answers the one query the sampler
# makes, in nvidia-smi's csv,noheader,nounits form, and logs its arguments.
import sys
with open({log!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
print("0, 40, 1000")
print("1, 80, 3000")
print("2, [N/A], [N/A]")
"""


def test_gpu_values_come_from_nvidia_smi_when_it_is_on_path(tmp_path):
    # The GPU path with a fake nvidia-smi executable placed on PATH: a stand-in for GPU hardware,
    # which this machine does not have (pynvml is not installed here; its path is untested).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "smi.log"
    exe = bin_dir / "nvidia-smi"
    exe.write_text(FAKE_NVIDIA_SMI.format(python=sys.executable, log=str(log)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    spec = declare_system_metrics(SMALL_SPEC, "epoch")
    report, events, stderr = run_trainer(tmp_path, spec, "epoch", path_dirs=[str(bin_dir)])
    assert report["gpu_source"] == "nvidia-smi"
    assert "no GPU metrics" not in stderr
    calls = log.read_text().splitlines()
    assert len(calls) == report["samples"]
    assert calls[0] == "--query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits"
    for e in (e for e in events if e["task"] == "epoch" and e["phase"] == "end"):
        assert e["values"]["sys_gpu_utilization_percent"] == 60.0  # mean of GPUs 0 and 1; GPU 2 says N/A
        assert e["values"]["sys_gpu_memory_mib"] == 4000.0


def test_nvidia_smi_output_parsing():
    text = "0, 40, 1000\n1, 80, 3000\n2, [N/A], [N/A]\n\ngarbage\n"
    assert parse_nvidia_smi(text) == [(40.0, 1000.0), (80.0, 3000.0)]
    assert parse_nvidia_smi(text, indexes=[1]) == [(80.0, 3000.0)]


def test_declare_adds_outputs_once_and_a_missing_task_needs_its_parent():
    spec = declare_system_metrics(declare_system_metrics(SMALL_SPEC, "epoch"), "epoch", gpu=False)
    epoch = next(t for t in spec["tasks"] if t["id"] == "epoch")
    names = [a["name"] for a in epoch["outputs"]]
    assert names.count("sys_cpu_percent") == 1 and "sys_gpu_memory_mib" in names
    assert SMALL_SPEC["tasks"][1]["outputs"][-1]["name"] == "model"  # the input is not changed
    with pytest.raises(ValueError, match="parent"):
        declare_system_metrics(SMALL_SPEC, "system")
    import provml_client as provml

    provml.compile_spec(declare_system_metrics(SMALL_SPEC, "system", parent="training"))


def test_read_before_start_is_empty_and_stop_is_idempotent():
    m = SystemMetrics(interval=0.05, gpu=False)
    assert m.read() == {}
    m.stop()
    with m:
        pass
    m.stop()
    assert not m.running


def test_the_readme_snippet_prints_what_it_says(tmp_path):
    from fakes import FlakyIngest
    from test_examples import all_readme_snippets, run_snippet

    [code] = [c for c in all_readme_snippets() if "SystemMetrics" in c]
    ingest = FlakyIngest()
    try:
        out = run_snippet(code, ingest.url, tmp_path)
    finally:
        ingest.close()
    assert out.returncode == 0, out.stderr
    # the CPU and RSS values (and the GPU's where nvidia-smi is), all 8 events delivered, nothing undeclared
    names = ["sys_cpu_percent", "sys_rss_mib"]
    if shutil.which("nvidia-smi") is not None:
        names = sorted(names + ["sys_gpu_memory_mib", "sys_gpu_utilization_percent"])
    assert out.stdout.splitlines() == [repr(names), "8 0"]
    epochs = [e for e in ingest.events if e["task"] == "epoch" and e["phase"] == "end"]
    assert len(epochs) == 3 and all(sorted(e["values"]) == names for e in epochs)


def test_the_interval_sampler_stops_when_its_client_shuts_down():
    import threading

    import provml_client as provml
    from provml_client.transports import MemoryTransport

    transport = MemoryTransport()
    client = provml.init(declare_system_metrics(SMALL_SPEC, "system", parent="training"), transport=transport,
                         register_atexit=False)
    run = client.workflow_execution()
    training = run.task("training")
    metrics = SystemMetrics(interval=0.05, gpu=False, record=(training, "system")).start()
    assert metrics.running
    client.shutdown()  # no stop(): the sampler sees its client shut down and ends
    metrics._thread.join(5)
    assert not metrics.running
    assert "provml-sysmetrics" not in [t.name for t in threading.enumerate()]


def test_start_returns_after_the_first_sample_so_the_first_read_has_values():
    # the README's loop reads right after a busy epoch that holds the GIL: before, a sampler thread that
    # had not run yet left the first epoch without values (seen once in CI)
    m = SystemMetrics(interval=60, gpu=False)
    try:
        m.start()
        assert m.samples == 1
        assert sorted(m.read()) == ["sys_cpu_percent", "sys_rss_mib"]
    finally:
        m.stop()
