"""latentdd: dataset distillation with deep generative priors (GLaD).

The Python API mirrors the command line: :func:`latentdd.api.distill`,
:func:`latentdd.api.evaluate`, :func:`latentdd.api.train_prior`,
:func:`latentdd.data.load_dataset`.
"""

__version__ = "0.1.0"
