"""Hand-offs to training: what the prepared stages look like to a trainer's config (`launch.py export`)."""
