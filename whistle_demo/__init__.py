"""``whistle demo``: a sample company and a few scripted calls, with a live timeline of each."""

TIME_SCALE = 0.05  # real seconds per simulated second: the demo's calls run 20 times faster
