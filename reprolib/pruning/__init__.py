"""Dataset pruning by generalization influence (Yang et al., ICLR 2023; REFERENCE §7).

``influence``: last-layer parameter influence S in closed form; ``annealing``: the two discrete
formulations solved by simulated annealing; ``scores``: the baseline rules; ``crop_flip``: the
training augmentation; ``protocol``: train → prune → retrain through the artifact store.
"""
