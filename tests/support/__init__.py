"""Test helpers split by concern: tolerance, inputs, matrix planning, checks, session."""
