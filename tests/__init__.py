"""The suite's tests; helpers live in tests/support, grouped by concern."""
