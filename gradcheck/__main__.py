"""``python -m gradcheck``: the same as the ``gradcheck`` console script."""

from gradcheck.cli import main

raise SystemExit(main())
