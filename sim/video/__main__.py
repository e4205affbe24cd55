"""`python -m sim.video`: the video simulator's command line (also `edge-sim video` once mounted)."""

from sim.video.cli import app

app()
