"""The VAE as pure torch modules: networks, likelihoods p(x|z), priors p(z), the posterior and its maths.

Nothing here knows about files, training loops or users' data formats."""
