"""The plan catalogue: versioned, immutable terms and limits, plus one-time top-up packs."""
