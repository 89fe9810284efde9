"""The examples run and capture what they say: the stdlib one always, the PyTorch one where torch is
installed; and every Python snippet of the README runs, against a local ingest."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import PKG_ROOT, REPO_ROOT, in_ci, wait_until
from fakes import FlakyIngest
from test_real_services import embedded_stack  # noqa: F401 (a fixture)
from provml_client.spool import read_spool

EXAMPLES = os.path.join(PKG_ROOT, "examples")
README = os.path.join(PKG_ROOT, "README.md")
#: The ingest URL the README's snippets use (`npm start`'s): the tests point it elsewhere.
README_INGEST = "http://127.0.0.1:7071"
#: The query API URL the README's query snippet uses (`npm start`'s).
README_QUERY = "http://127.0.0.1:7070"


def all_readme_snippets():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


#: Snippets of the integrations whose frameworks CI's default run does not install (tests_frameworks/ runs them).
TORCH_SNIPPETS = ("integrations.lightning", "integrations.huggingface")


def readme_snippets(torch=False):
    """The snippets that capture (the query snippet reads what they captured); with ``torch``, only
    those of the torch integrations, else none of them."""
    return [code for code in all_readme_snippets()
            if README_QUERY not in code and any(m in code for m in TORCH_SNIPPETS) == torch]


def needs_installed(code):
    """Skips (fails under CI=true) a snippet whose integration's framework is not installed."""
    for marker, module in (("integrations.sklearn", "sklearn"), ("integrations.keras", "keras"),
                           ("integrations.lightning", "lightning"), ("integrations.huggingface", "transformers")):
        if marker in code and importlib.util.find_spec(module) is None:
            if in_ci():
                pytest.fail("CI=true: %s is missing for a README snippet" % module)
            # skips only outside CI, where the optional framework is not installed; under CI=true it failed above
            pytest.skip("%s is not installed: its README snippet cannot run" % module)


def readme_query_snippets():
    return [code for code in all_readme_snippets() if README_QUERY in code]


def run_snippet(code, url, tmp_dir=None, timeout=120):
    """Runs a README snippet from the repository root (as the README says), with its ingest at ``url``
    (and its temporary files in ``tmp_dir``)."""
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    env.setdefault("KERAS_BACKEND", "jax")
    for k in [k for k in env if k.startswith("PROVML_")]:
        del env[k]
    if tmp_dir is not None:
        env["TMPDIR"] = str(tmp_dir)
        env["PROVML_MODEL_DIR"] = os.path.join(str(tmp_dir), "models")  # the integrations' model files
    # from the repository root where a snippet reads its files, else in the temporary directory (what
    # frameworks write there: Lightning's checkpoints/, a Trainer's output directory)
    cwd = REPO_ROOT if tmp_dir is None or "schemas/" in code else str(tmp_dir)
    return subprocess.run(
        [sys.executable, "-c", code.replace(README_INGEST, url)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_the_readme_has_python_snippets_and_they_name_the_ingest():
    snippets = readme_snippets()
    assert len(snippets) >= 2
    assert all(README_INGEST in code for code in snippets), "a snippet the tests cannot point at a local ingest"
    assert len(readme_query_snippets()) == 1


@pytest.mark.ingest
def test_the_readme_query_snippet_answers_what_the_quickstart_captured(embedded_stack, tmp_path):  # noqa: F811
    ingest_url, query_url = embedded_stack
    quickstart = run_snippet(readme_snippets()[0], ingest_url, tmp_path)
    assert quickstart.returncode == 0, quickstart.stdout + quickstart.stderr

    outputs = []

    def answered():
        out = run_snippet(readme_query_snippets()[0].replace(README_QUERY, query_url), ingest_url, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        outputs.append(out.stdout)
        return "measure val_loss 3" in out.stdout

    assert wait_until(answered, timeout=60, interval=0.5), "the quickstart's run never showed: %s" % outputs[-1:]
    text = outputs[-1]
    lines = text.splitlines()
    # the quickstart's one run: learning rate 1e-3, no final loss; three epochs, each validated (0.4)
    assert [line for line in lines if line.startswith("run ")] == [
        line for line in lines if re.fullmatch(r"run urn:provml:execution/\S+ 0\.001 None", line)
    ]
    assert len([line for line in lines if line.startswith("run ")]) == 1
    assert re.search(r"^best file:///\S+/model-\d\.pt 0\.4 0\.001$", text, re.M), text
    assert "models? True" in lines
    assert [line for line in lines if line.startswith("measure ")] == [
        "measure accuracy 3", "measure loss 3", "measure val_loss 3"]


@pytest.mark.parametrize("index", range(len(readme_snippets())))
def test_every_readme_snippet_runs(index, tmp_path):
    check_snippet_delivers(readme_snippets()[index], tmp_path)


def check_snippet_delivers(code, tmp_path):
    """Runs a snippet against a local ingest: what it prints about delivery is what the ingest got."""
    needs_installed(code)
    ingest = FlakyIngest()
    try:
        out = run_snippet(code, ingest.url, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert ingest.events, "the snippet captured nothing"
        # what the snippet prints about delivery is what the ingest got
        m = re.search(r"delivered=(\d+)", out.stdout) or re.search(r"^(\d+) ", out.stdout, re.M)
        assert m and int(m.group(1)) == len(ingest.events), out.stdout
        said = re.search(r"# DeliveryResult\(delivered=(\d+)", code)  # what the README says it prints
        assert said is None or int(said.group(1)) == len(ingest.events), (said.group(0), len(ingest.events))
    finally:
        ingest.close()


@pytest.mark.ingest
def test_the_readme_integration_snippets_answer_in_the_views(embedded_stack, tmp_path):  # noqa: F811
    from provml_client import query

    ingest_url, query_url = embedded_stack
    api = query.connect(query_url)
    snippets = [code for code in readme_snippets() if "provml_client.integrations." in code]
    assert [("sklearn" in code, "keras" in code) for code in snippets] == [(True, False), (False, True)]
    for code in snippets:
        needs_installed(code)
        out = run_snippet(code, ingest_url, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert re.match(r"DeliveryResult\(delivered=\d+, rejected=0, dropped=0, ", out.stdout), out.stdout
    # scikit-learn: the run with C=0.5 on the content URI of its data, its best model by val_loss
    assert wait_until(lambda: len(api.runs(hp={"C": 0.5})) == 1, timeout=60, interval=0.5)
    (run,) = api.runs(hp={"C": 0.5})
    assert run["trainingSet"].startswith("urn:provml:dataset:sha256:") and run["status"] == "finished"
    assert {"final_loss", "final_accuracy", "final_val_loss", "final_val_accuracy"} <= set(run["outputs"])
    best = api.best_model(run["trainingSet"], measure="val_loss")
    assert best["hyperparameters"]["C"] == 0.5 and best["value"] == run["outputs"]["final_val_loss"]
    assert best["uri"].startswith("file://" + str(tmp_path / "models")) and best["uri"].endswith(".pkl")
    # Keras: two epochs, each a model file validated; the best of them by val_loss
    assert wait_until(lambda: len(api.models("file:///data/keras-demo.npz")) == 2, timeout=60, interval=0.5)
    best = api.best_model("file:///data/keras-demo.npz", measure="val_loss")
    assert best["uri"].endswith(".keras") and best["hyperparameters"]["epochs"] == 2
    assert best["hyperparameters"]["optimizer"] == "Adam"


def run_example(name, tmp_path, *extra):
    spool_dir = str(tmp_path / "spool")
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), "--spool-dir", spool_dir, "--model-dir", str(tmp_path / "models"),
         "--epochs", "2", "--tiles", "96", "--batch-size", "32", "--run-id", "example-run", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    records = [json.loads(p) for _, p in read_spool(spool_dir)]
    return out.stdout, records


def check_capture(records, batches_per_epoch, epochs=2):
    assert list(records[0]) == ["spec"] and records[0]["spec"]["workflow"] == "seismic-training"
    events = [r["event"] for r in records[1:]]
    count = lambda task, phase: sum(1 for e in events if e["task"] == task and e["phase"] == phase)  # noqa: E731
    assert count("training", "begin") == count("training", "end") == 1
    assert count("epoch", "begin") == count("epoch", "end") == epochs
    assert count("batch", "begin") == count("batch", "end") == epochs * batches_per_epoch
    assert count("validation", "end") == epochs
    assert all(e["workflowExecution"] == "example-run" for e in events)
    assert all(e["status"] == "finished" for e in events if e["phase"] == "end")
    epoch_ends = [e for e in events if e["task"] == "epoch" and e["phase"] == "end"]
    assert all(set(e["values"]) == {"loss", "accuracy"} and e["dataRefs"][0]["name"] == "model" for e in epoch_ends)
    training_end = [e for e in events if e["task"] == "training" and e["phase"] == "end"][0]
    assert set(training_end["values"]) == {"final_loss", "final_accuracy"}


def test_the_stdlib_example_captures_its_loop_offline(tmp_path):
    stdout, records = run_example("train_stdlib.py", tmp_path)
    assert "npm run provml -- replay" in stdout
    check_capture(records, batches_per_epoch=3)


# The one skip that also happens under CI=true, as issue #7 allows: PyPI's torch wheel pulls several GB
# of CUDA libraries, so CI does not install it; the stdlib example runs the same loop and is tested,
# and this test passed where torch is installed (the lent GPU machine).
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed (pip install torch); the stdlib example runs the same loop shape and is tested",
)
def test_the_pytorch_example_captures_its_loop_offline(tmp_path):
    _, records = run_example("train_pytorch.py", tmp_path)
    check_capture(records, batches_per_epoch=3)
