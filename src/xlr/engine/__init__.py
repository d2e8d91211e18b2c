"""The engine, the only layer that runs torch: models and heads, the Trainer subclass, evaluation, the run
pipeline (train, evaluate, store), the sweep, the checks before a run (preflight) and the cost estimate."""
