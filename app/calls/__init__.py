"""Call details (from, to, direction) looked up at the provider as work of its own (issue 17)."""
