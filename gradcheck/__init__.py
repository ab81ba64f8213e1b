"""gradcheck: numerically verify refnet's gradients and optimizer updates (in progress)."""
