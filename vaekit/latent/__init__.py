"""Interpreting the latent space: 2-D maps, per-dimension KL, interpolation, traversals, disentanglement."""
