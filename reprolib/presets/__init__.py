"""Built-in preset files (smoke.yaml, small.yaml, paper.yaml)."""
