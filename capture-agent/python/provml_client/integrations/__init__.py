"""Framework integrations that need no spec writing: scikit-learn, Keras 3 (and the shared run recorder).

Each integration starts its client with :func:`training_spec`, a spec template that declares the
standard tasks (``training``, ``epoch``, ``batch``, ``validation``, ``test``) and their standard
names, and declares the user's hyperparameters and measures at run time as they appear
(``Client.declare``: the client sends the extended spec version before the first event that uses a
new name). Nothing here imports a framework: ``provml_client.integrations.sklearn`` imports
scikit-learn and ``provml_client.integrations.keras`` imports Keras, only when they are imported.
"""

from ._autorun import AutoRun, dataset_uri, default_workflow, hyperparameter_value, safe_name
from ._template import training_spec

__all__ = ["AutoRun", "training_spec", "dataset_uri", "default_workflow", "safe_name", "hyperparameter_value"]
