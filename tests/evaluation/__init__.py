"""Tests of assistant/evaluation/."""
