"""Break-glass escalations: a short, signed, audited, derived live feed of a camera after a life-safety event."""
