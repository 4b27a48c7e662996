"""reprolib's benchmark suite (issue 7): the library's fast paths timed against straightforward
reference implementations and against the device's peak FLOP/s, in one run so ratios compare.

Cases (:mod:`bench.cases`): teacher training throughput, one matching iteration of MTT/DDPP/IADD
(plus IADD's runtime protocol), the evaluation protocol, influence + simulated annealing, the fast
path (bf16 autocast + ``torch.compile``, :mod:`reprolib.precision`) against fp32 eager for every loop
that trains or runs a network (issue 12), and on request the smoke book and the test suite. ``python -m bench run --size ci|full`` writes
``bench/results/<device>-<size>.json`` and regenerates ``book/performance.md``.

Not tried yet: CUDA graphs; ``torch.compile`` of the matching unroll (its double backward is outside
what AOTAutograd supports).
"""
