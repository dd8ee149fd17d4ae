"""Writing and reading what a run leaves on disk: atomic writes, safetensors files, run folders."""
