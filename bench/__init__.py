"""reprolib's benchmark suite (issue 7): the library's fast paths timed against straightforward
reference implementations and against the device's peak FLOP/s, in one run so ratios compare.

Cases (:mod:`bench.cases`): teacher training throughput, one matching iteration of MTT/DDPP/IADD
(plus IADD's runtime protocol), the evaluation protocol, influence + simulated annealing, and on
request the smoke book and the test suite. ``python -m bench run --size ci|full`` writes
``bench/results/<device>-<size>.json`` and regenerates ``book/performance.md``.

Not tried yet: CUDA graphs and ``torch.compile`` (the matching unroll's double backward is outside what
compiled autograd supports, and no GPU was at hand to show a win for the training loops).
"""
