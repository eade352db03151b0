"""The index build: documents -> a new version of the embedded index, written as it goes.

driver.py runs the two passes and swaps the version in; sources.py reads a corpus folder or a
stream of documents (pass 1); reuse.py decides what the served version lends the build and
whether it writes an overlay; batches.py embeds chunks in batches; workers.py parses and chunks
in worker processes; model.py loads the model and derives what depends on it.
"""

from .driver import Progress, build
from .model import get_embedder, identity_for, make_splitter
from .sources import CorpusFolder, DocumentStream
from .workers import RemoteTasks

__all__ = ["CorpusFolder", "DocumentStream", "Progress", "RemoteTasks", "build", "get_embedder", "identity_for",
           "make_splitter"]
