"""MoveNet single-person pose model: reproducible conversion from a pinned npm package, and its checks."""
