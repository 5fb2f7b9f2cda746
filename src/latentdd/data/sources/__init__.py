"""Where datasets come from: one module per kind of source.

Each module registers its names with :func:`latentdd.data.registry.register_dataset`;
the registry imports them all (not this file, to keep the import order acyclic).
"""
