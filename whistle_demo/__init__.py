"""``whistle demo``: a sample company and a few scripted calls, with a live timeline of each."""
