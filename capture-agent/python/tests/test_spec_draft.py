"""The draft client (PROVML_SPEC_DRAFT, what `provml spec init` sets): real processes record every name
they use, with value types and directions, and send nothing; app/test/cli/specInit.test.ts runs the
whole command."""

import json
import os
import subprocess
import sys
import textwrap

from conftest import PKG_ROOT

SCRIPT = textwrap.dedent(
    """
    import sys
    import provml_client as provml
    client = provml.init("does-not-exist.json", "D", http_url="http://127.0.0.1:9", strict=True)
    with client.workflow_execution() as run, run.task("fit", values={"lr": 0.1, "layers": int(sys.argv[1]), "opt": "adam"},
                                                     data_refs={"train_data": "file:///d/train.csv"}) as fit:
        for epoch in fit.epochs(2):
            epoch.update({"loss": float("nan") if epoch.index else 0.5, "weights": [1.0, 2.0], "ok": True})
        with fit.child("test") as t:
            t.add_data_ref("model", "file:///m.pt")
    result = client.shutdown()
    print(result.undeclared, result.rejected, client.stats.enqueued)
    """
)


def run(tmp_path, draft, arg, extra_env=None):
    env = dict(os.environ, PYTHONPATH=PKG_ROOT, PROVML_SPEC_DRAFT=str(draft), **(extra_env or {}))
    out = subprocess.run([sys.executable, "-c", SCRIPT, arg], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_every_name_is_recorded_with_types_and_direction_and_nothing_is_sent(tmp_path):
    draft = tmp_path / "draft.jsonl"
    # nothing listens on port 9: a draft run sends nothing, so nothing fails, even strict
    assert run(tmp_path, draft, "3", {"PROVML_SPEC_WORKFLOW": "my-fit"}) == ["0", "0", "8"]
    assert run(tmp_path, draft, "4") == ["0", "0", "8"]  # a second process appends its own line
    lines = [json.loads(l) for l in draft.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["workflow"] == "my-fit" and lines[1]["workflow"] == "workflow" and lines[0]["spec"] is None
    tasks = {t["id"]: t for t in lines[0]["tasks"]}
    assert [t["id"] for t in lines[0]["tasks"]] == ["fit", "epoch", "test"]
    assert tasks["fit"]["parent"] is None and tasks["epoch"]["parent"] == "fit" and tasks["test"]["parent"] == "fit"
    assert tasks["epoch"]["executions"] == 2
    assert tasks["fit"]["inputs"] == [
        {"name": "lr", "kind": "value", "types": ["number"]},
        {"name": "layers", "kind": "value", "types": ["integer"]},
        {"name": "opt", "kind": "value", "types": ["string"]},
        {"name": "train_data", "kind": "reference", "uri": "file:///d/train.csv"},
    ]
    assert tasks["epoch"]["inputs"] == [{"name": "epoch", "kind": "value", "types": ["integer"]}]
    assert tasks["epoch"]["outputs"] == [
        {"name": "loss", "kind": "value", "types": ["number"]},  # NaN is sent as a string: still a number
        {"name": "weights", "kind": "value", "types": ["array"]},
        {"name": "ok", "kind": "value", "types": ["boolean"]},
    ]
    assert tasks["test"]["outputs"] == [{"name": "model", "kind": "reference", "uri": "file:///m.pt"}]
