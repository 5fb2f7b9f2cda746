"""Training priors in-project: the GAN recipe (:mod:`.gan`, generators ``cgen``/``sgen`` with a
projection discriminator), the KL autoencoder (:mod:`.autoencoder`), their shared resumable state
(:mod:`.state`) and the registry of trainers by architecture (:mod:`.trainers`)."""

from .trainers import TRAINERS

__all__ = ["TRAINERS"]
