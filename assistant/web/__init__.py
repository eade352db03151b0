"""`assistant serve`: the Gradio page and /ask API, a thin adapter over pipeline + render."""
