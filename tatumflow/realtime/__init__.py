"""The live path, in four rooms that import downward only: session/ -> control/ -> engine/ -> ports/
(docs/ARCHITECTURE.md has the map; tests/test_layout.py keeps it)."""
