"""Running cells: the grid's parameters and cells, the task folder, the stages of one cell, the local and Slurm executors, regrading and rehearsal."""
