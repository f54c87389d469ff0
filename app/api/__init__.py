"""The recordings API under /api/v1/ and share links (issue 18)."""
