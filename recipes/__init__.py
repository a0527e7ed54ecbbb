"""Recipes: short end-to-end scripts that chain the stages (torchtune's word), here the demo and its report.

This is the top of the import graph: a recipe may import every stage (``clsp``, ``annotate``, ``verify``,
``eval``) and nothing imports a recipe (``tests/test_layers.py`` checks both). ``clsp demo`` reaches it through
the ``clsp.commands`` entry point, not an import.
"""
