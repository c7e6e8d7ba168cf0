"""Package-level promises: cheap import, lazy public names, a fast CLI."""

import subprocess
import sys


def test_importing_package_does_not_import_a_deep_learning_framework():
    code = (
        "import sys, keras_voidseg, keras_voidseg.config;"
        "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kvs_help_lists_commands_without_importing_frameworks():
    code = (
        "import sys; from cli.main import main;"
        "rc = main(['--help']);"
        "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules];"
        "sys.exit(10 if bad else rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage: kvs" in result.stdout


def test_unknown_public_name_is_an_attribute_error():
    import keras_voidseg
    import pytest

    with pytest.raises(AttributeError):
        keras_voidseg.not_a_thing  # noqa: B018
