"""Pictures of a run: image grids, reconstructions, loss curves and table plots."""
