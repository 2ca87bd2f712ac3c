"""KneeView trainer: datasets, training loop, evaluation (torch)."""
