"""Shared pytest set-up.

Tests that touch Keras carry ``pytestmark = pytest.mark.keras`` (or the marker on the
test); ``make test`` runs the whole suite under TensorFlow and the ``keras``-marked
tests again under PyTorch.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "keras: test touches Keras; run under every backend")
    config.addinivalue_line("markers", "slow: longer test (still part of make test)")
