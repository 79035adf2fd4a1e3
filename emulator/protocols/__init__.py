"""Wire formats: parse request bodies into neutral types and render results. Nothing of credits."""
