"""Dataset distillation methods: learn a small synthetic training set.

``synthetic`` initialises the learnable set; trajectory matching (MTT, DDPP, IADD), gradient matching
(DC, DSA) and distribution matching (DM) each live in their own module of this package.
"""
