"""Experiments: one module per reproduced artifact, each a ``Params`` dataclass and a ``run``."""
