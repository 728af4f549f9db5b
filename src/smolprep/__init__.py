"""smolprep: SmolLM3-style pretraining mixtures into clean, deduplicated data with datatrove."""

__version__ = "0.1.0"
