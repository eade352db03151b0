"""`assistant serve`: the Gradio page and /ask API, a thin adapter over pipeline + render.

Nothing here may try the network: no analytics, no version check, no telemetry. The
variables are set when this package is first imported, before any of its modules imports
gradio (or huggingface_hub, which gradio imports), because both read them at import time.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
