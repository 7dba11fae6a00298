"""The lab tests: each scenario boots once per session (conftest.py)."""
