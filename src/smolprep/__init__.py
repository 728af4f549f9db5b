"""smolprep: SmolLM3-style pretraining mixtures into clean, deduplicated data with datatrove."""

import os

__version__ = "0.1.0"

# pythainlp (the Thai word tokenizer) writes a data folder into HOME unless told its bundled data suffices;
# set here so that every process, Slurm tasks included, gets it. It refuses both of its variables at once.
if "PYTHAINLP_READ_MODE" not in os.environ:
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
