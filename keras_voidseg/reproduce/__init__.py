"""``kvs reproduce``: the paper's experiment grid as independent, resumable training jobs.

* :mod:`.grid`     - what a grid is (:class:`GridSpec`) and its cells (:class:`Cell`);
* :mod:`.jobs`     - the two job kinds a worker runs: the shared N2V stage and one cell;
* :mod:`.executor` - runs the jobs in-process (``local``) or on Dask distributed;
* :mod:`.report`   - results.csv, the Table-1-style markdown, Figure-2/3/4-style PNGs.

Importing this package does not import Keras (workers import it when a job starts).
"""

from .executor import EXECUTORS, run_grid
from .grid import Cell, GridSpec
from .report import write_report

__all__ = ["Cell", "EXECUTORS", "GridSpec", "run_grid", "write_report"]
