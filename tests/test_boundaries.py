"""Boundary cases the fixtures of the module tests did not reach (found by scripts/mutants.py)."""
