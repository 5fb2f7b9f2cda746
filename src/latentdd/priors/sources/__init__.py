"""Prior sources beyond latentdd's own files; each module registers its ``--prior`` scheme.

Imported lazily by :func:`~latentdd.priors.resolve.resolve_prior` so optional dependencies
(diffusers, a StyleGAN code checkout) are only touched when a spec asks for them.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
