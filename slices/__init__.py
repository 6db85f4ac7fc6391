"""slices package."""
