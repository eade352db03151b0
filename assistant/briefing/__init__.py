"""References (Chicago, APA), briefing layout, verification and exports (.md, .docx)."""
