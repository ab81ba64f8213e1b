"""Support code the components never show a learner: argument checks at the public boundary, floating-point
helpers, and the packing of parameters into contiguous blocks for the optimizers."""
