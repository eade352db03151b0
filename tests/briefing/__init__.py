"""Tests of assistant/briefing/."""
