"""Support code: the model file. ``archive`` reads and writes the ``.npz`` container safely; ``serialization``
turns a model into that file's config and arrays and back."""
