"""Caption verification: rule filters, an LLM checklist and acoustic grounding."""
