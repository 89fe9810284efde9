"""The framework tests (`npm run test:frameworks`) share the client tests' fixtures and helpers:
this conftest is the client tests' one (tests/conftest.py), and tests/ is on the path."""

import importlib.util
import os
import sys

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
_spec = importlib.util.spec_from_file_location("_client_tests_conftest", os.path.join(TESTS, "conftest.py"))
_shared = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_shared)  # type: ignore[union-attr]
globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})
