"""How a module learns: objectives, KL levers, the trainer, its fast step, distribution, evaluation, transfer."""
