"""Tests of assistant/ingest/."""
