"""The archive pipeline: claim, download, upload, confirm, delete the original."""
