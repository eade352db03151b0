"""Question -> Hits -> Answer: retrieval, fusion, excerpt selection, abstention, follow-ups."""
