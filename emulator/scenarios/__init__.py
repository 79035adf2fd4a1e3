"""Scenarios: named plan states plus rules that answer instead of the fake model."""
