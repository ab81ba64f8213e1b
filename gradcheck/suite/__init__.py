"""refnet's own verification suite: the catalog of checks that covers every public component.

``catalog`` is the list (and watches what each check runs); ``cases`` builds the gradient
checks, ``references`` compares values with the textbook formulas of ``textbook``,
``stateful`` follows running statistics, clipping and schedules, ``optim`` checks optimizer
updates against their closed forms. The numbers are judged by ``gradcheck.core``.
"""
