"""Task schedulers for multi-positive contrastive training."""
