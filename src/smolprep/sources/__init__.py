"""Hugging Face datasets fetched once to shared storage, so that compute nodes read local files.

`launch.py fetch` (commands/fetch.py) downloads the files of each `source:` dataset's config and split
(`hub`), which files those are comes from the repo's dataset card (`patterns`), and `fetch.json` records
what was fetched (`record`); the launcher reads a fetched dataset from its folder (`resolve`)."""
