"""rs-da (the paper): randomized smoothing by data augmentation, synonym-substituted copies of the training
pairs (the synonym table and the substitution are in synonyms.py)."""
from __future__ import annotations

from xlr.methods.base import CrossEntropy
from xlr.methods.registry import Method, Option, register


def _synonym_augmentation(pairs, options: dict, seed: int):
    """RS-DA's data: `copies` synonym-substituted copies of every pair (the originals are not added)."""
    from xlr.methods.synonyms import augment, load_neighbors

    neighbors = load_neighbors(options.get("synonyms"))
    augmented, stats = augment(pairs, neighbors, int(options["copies"]), seed=seed)
    return augmented, f"rs-da: {options['copies']} copies per pair; {stats.summary()}"


register(Method(
    "rs-da", "randomized smoothing by synonym-substitution data augmentation",
    options=(Option("copies", "int", 10, "synonym-substituted copies per training pair (paper: 10 PAWS-X, 3 XNLI)",
                    minimum=1),
             Option("synonyms", "path", None, "a local counterfitted_neighbors.json (default: download, verify "
                    "sha256, cache; or $XLR_SYNONYMS)")),
    objective=lambda model, o: CrossEntropy(),
    transform=_synonym_augmentation,
    position=3))
