"""The `kvs` command-line application (Click)."""
