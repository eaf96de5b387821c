"""Import and export of the Ministry's county package (NY/T 2539)."""
