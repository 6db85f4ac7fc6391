"""slicectl package."""
