"""Deterministic fake model output: neutral request/result types, token counting, generation."""
