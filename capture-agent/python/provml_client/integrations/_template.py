"""The spec template of the integrations: the standard tasks of a training, extended at run time."""

from typing import Any, Dict, Optional


def training_spec(workflow: str, name: Optional[str] = None, description: Optional[str] = None) -> Dict[str, Any]:
    """A learning workflow's spec with the standard tasks and names; the user's hyperparameters and
    measures are declared at run time (``Client.declare``).

    - ``training`` (stage training): input ``training_set`` (dataset-reference); its hyperparameters
      and its ``final_<measure>`` outputs are added as they appear.
    - ``epoch`` (child of training): outputs ``epoch`` (model-hyperparameter: the epoch the model
      comes from) and ``model`` (model-reference); its measures are added as they appear.
    - ``batch`` (child of epoch): input ``batch_index``; its values (``batch_loss``, …) as they appear.
    - ``validation`` (child of training, stage validation): inputs ``model`` and ``validation_set``.
    - ``test`` (top level, stage testing): inputs ``model`` and ``test_set``.
    """
    spec: Dict[str, Any] = {
        "workflow": workflow,
        "name": name or workflow,
        "phase": "learning",
        "tasks": [
            {
                "id": "training",
                "stage": "training",
                "inputs": [{"name": "training_set", "semantics": "dataset-reference"}],
                "outputs": [],
            },
            {
                "id": "epoch",
                "parent": "training",
                "inputs": [],
                "outputs": [
                    {"name": "epoch", "semantics": "model-hyperparameter", "description": "The epoch the model comes from"},
                    {"name": "model", "semantics": "model-reference"},
                ],
            },
            {"id": "batch", "parent": "epoch", "inputs": [{"name": "batch_index", "semantics": "parameter"}], "outputs": []},
            {
                "id": "validation",
                "parent": "training",
                "stage": "validation",
                "inputs": [
                    {"name": "model", "semantics": "model-reference"},
                    {"name": "validation_set", "semantics": "dataset-reference"},
                ],
                "outputs": [],
            },
            {
                "id": "test",
                "stage": "testing",
                "inputs": [
                    {"name": "model", "semantics": "model-reference"},
                    {"name": "test_set", "semantics": "dataset-reference"},
                ],
                "outputs": [],
            },
        ],
    }
    if description:
        spec["description"] = description
    return spec
