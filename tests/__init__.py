"""The suite's tests, grouped by area; the engine they drive is the lossparity package."""
