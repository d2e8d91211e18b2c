"""Results, read from a run store and never from a model: the tidy table, the paper's numbers, claims,
comparisons, paired-bootstrap intervals, the lang2vec distance analysis and the printed reports. Nothing
here imports torch or the engine (pyproject.toml's import contracts keep it so)."""
