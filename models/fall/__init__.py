"""The fall model: training on simulator renders only (train.py) and honest scores (evaluate.py)."""
