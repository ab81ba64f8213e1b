"""Placeholder replaced by the gradcheck implementation."""


def main() -> int:
    """Entry point of the ``gradcheck`` console script."""
    raise SystemExit("gradcheck is not implemented yet")
