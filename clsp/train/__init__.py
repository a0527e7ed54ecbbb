"""Training: data pipeline, trainer loop, checkpoints (library code; the CLI is `clsp train`)."""
