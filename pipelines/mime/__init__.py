"""Raw MIME bytes -> `ParsedMessage`: the header layer, the body collector and the fast, fallback and
streaming tree walkers behind one entry point."""
