"""What a run leaves on disk, shared by the engine that writes it and the report that reads it:
the run folder's layout (:class:`RunDir`), image grids, and the code version stamped on results.
It sits below both, so neither imports the other."""

from .folder import RunDir
from .grid import grid_image, save_grid
from .version import code_version, git_commit

__all__ = ["RunDir", "code_version", "git_commit", "grid_image", "save_grid"]
