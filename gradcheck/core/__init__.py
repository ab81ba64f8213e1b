"""gradcheck's numerical core, free of refnet: it differentiates any scalar function of an array.

Where to read first:

- ``lines.central_difference``: numerical = (phi(h) − phi(−h)) / (2h), phi(t) = L(x + t·u);
- ``engine.judge``: the verdict on one element, |analytic − numerical| <= atol + rtol·scale;
  ``engine.summarize`` the verdict on a tensor.

Around them the retry machinery (``kinks``, ``steps``, ``noise``) looks again at an element
that fails or that rounding may have decided, with the rounding model explained once, in
``noise``; ``tolerances`` holds every threshold, ``results`` what a check says, ``sweep`` the
convergence order, ``guard`` what the checked code raises. ``values.compare`` is the other
judgement: a value against its reference or closed form, where there is no derivative.
"""
