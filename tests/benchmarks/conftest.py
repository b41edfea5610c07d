"""Benchmarks are not part of the default run: this folder is collected only with ``--benchmarks``."""


def pytest_ignore_collect(collection_path, config):
    if collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return None if config.getoption("benchmarks") else True
    return None
