"""End-to-end tests share `sample_run` and `run_stage` from tests/conftest.py."""
