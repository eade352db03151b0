"""Question files and BEIR data sets -> retrieval and answer metrics."""
