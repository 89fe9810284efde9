"""The prospective spec (the README's Public contracts, §2): loading and the lookups capture calls make.

The full validation is the agent's (schemas/src/ProspectiveSpec.ts); this is a light check so that
obvious mistakes fail at ``init`` and not as rejected batches later.
"""

import json
import os
import re
from typing import Any, Dict, FrozenSet, Mapping, Union

SEMANTICS = frozenset(
    [
        "hyperparameter",
        "model-hyperparameter",
        "evaluation-measure",
        "dataset-reference",
        "dataset-characteristic",
        "model-reference",
        "data-reference",
        "parameter",
        "output-value",
    ]
)
#: Semantics whose values arrive as data references (URIs), not as values.
REFERENCE_SEMANTICS = frozenset(["dataset-reference", "model-reference", "data-reference"])
#: Semantics declared as task inputs by default when names are declared at run time (the rest are outputs).
INPUT_SEMANTICS = frozenset(["hyperparameter", "parameter", "dataset-reference", "dataset-characteristic", "data-reference"])
PHASES = frozenset(["data-curation", "learning-data-preparation", "learning"])
STAGES = frozenset(["training", "validation", "testing"])
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:-]*$")

SpecInput = Union[Mapping[str, Any], str, "os.PathLike[str]"]


class SpecError(ValueError):
    """An invalid prospective spec; ``issues`` lists ``(path, message)`` pairs."""

    def __init__(self, message: str, issues: "list[tuple[str, str]]") -> None:
        detail = "; ".join("%s: %s" % (p or "(root)", m) for p, m in issues)
        super().__init__("%s: %s" % (message, detail) if detail else message)
        self.issues = issues


class CompiledSpec:
    """A checked spec: the spec itself and, per task, its value names and reference names."""

    __slots__ = ("spec", "workflow", "tasks", "value_names", "ref_names")

    def __init__(
        self,
        spec: Dict[str, Any],
        value_names: Dict[str, FrozenSet[str]],
        ref_names: Dict[str, FrozenSet[str]],
    ) -> None:
        self.spec = spec
        self.workflow: str = spec["workflow"]
        self.tasks = frozenset(value_names)
        self.value_names = value_names
        self.ref_names = ref_names


def load_spec(source: SpecInput) -> Dict[str, Any]:
    """Reads a spec given as a mapping, JSON text, or the path of a JSON (or, with PyYAML, YAML) file."""
    if isinstance(source, Mapping):
        return json.loads(json.dumps(source))  # a deep, JSON-clean copy
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if isinstance(source, os.PathLike) or not text.lstrip().startswith("{"):
            with open(source, encoding="utf-8") as f:
                text = f.read()
            if str(source).endswith((".yaml", ".yml")):
                try:
                    import yaml  # type: ignore[import-untyped]
                except ImportError as e:  # the client itself needs nothing beyond the standard library
                    raise SpecError("YAML specs need PyYAML; give the spec as JSON", []) from e
                return json.loads(json.dumps(yaml.safe_load(text)))
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError("spec is not valid JSON", [("", str(e))]) from e
    raise TypeError("spec must be a mapping, JSON text or a file path, not %s" % type(source).__name__)


def compile_spec(source: SpecInput) -> CompiledSpec:
    """Loads and checks a spec; raises SpecError naming every problem found."""
    spec = load_spec(source)
    issues: "list[tuple[str, str]]" = []
    if not isinstance(spec, dict):
        raise SpecError("invalid prospective spec", [("", "must be a JSON object")])
    wf = spec.get("workflow")
    if not isinstance(wf, str) or not _IDENTIFIER.match(wf) or len(wf) > 200:
        issues.append(("workflow", "an identifier (letters, digits and . _ ~ : -) is required"))
    if spec.get("phase") not in PHASES:
        issues.append(("phase", "one of %s" % ", ".join(sorted(PHASES))))
    tasks = spec.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        issues.append(("tasks", "a non-empty list of tasks is required"))
        tasks = []
    value_names: Dict[str, FrozenSet[str]] = {}
    ref_names: Dict[str, FrozenSet[str]] = {}
    for i, t in enumerate(tasks):
        if not isinstance(t, dict):
            issues.append(("tasks.%d" % i, "must be an object"))
            continue
        tid = t.get("id")
        if not isinstance(tid, str) or not _IDENTIFIER.match(tid):
            issues.append(("tasks.%d.id" % i, "an identifier is required"))
            continue
        if tid in value_names:
            issues.append(("tasks.%d.id" % i, "duplicate task id '%s'" % tid))
        if t.get("stage") is not None and t.get("stage") not in STAGES:
            issues.append(("tasks.%d.stage" % i, "one of %s" % ", ".join(sorted(STAGES))))
        values: "set[str]" = set()
        refs: "set[str]" = set()
        for key in ("inputs", "outputs"):
            attrs = t.get(key, [])
            if not isinstance(attrs, list):
                issues.append(("tasks.%d.%s" % (i, key), "must be a list"))
                continue
            for j, a in enumerate(attrs):
                path = "tasks.%d.%s.%d" % (i, key, j)
                if not isinstance(a, dict) or not isinstance(a.get("name"), str):
                    issues.append((path, "an attribute needs a name"))
                    continue
                if not _IDENTIFIER.match(a["name"]) or len(a["name"]) > 200:
                    issues.append((path + ".name", "'%s' is not an identifier (letters, digits and . _ ~ : -)" % a["name"]))
                    continue
                if a.get("semantics") not in SEMANTICS:
                    issues.append((path + ".semantics", "one of %s" % ", ".join(sorted(SEMANTICS))))
                    continue
                (refs if a["semantics"] in REFERENCE_SEMANTICS else values).add(a["name"])
        value_names[tid] = frozenset(values)
        ref_names[tid] = frozenset(refs)
    for i, t in enumerate(tasks):
        if isinstance(t, dict) and t.get("parent") is not None and t["parent"] not in value_names:
            issues.append(("tasks.%d.parent" % i, "unknown parent task '%s'" % t["parent"]))
    if issues:
        raise SpecError("invalid prospective spec", issues)
    return CompiledSpec(spec, value_names, ref_names)
