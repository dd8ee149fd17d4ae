"""Hyperparameter search with Optuna: the search space, shared studies, pruning and results."""
