"""``python -m latentdd`` (and ``torchrun ... -m latentdd``): the command line."""

from .cli.main import main

main()
