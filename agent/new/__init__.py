"""`greenloop new`: a spec (and its tests) in, a planned and generated project out."""
