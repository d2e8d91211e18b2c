"""Scheduling: which worker trains which run (claims with heartbeats), workers in this process, launchers that
submit one scheduler job per run (submitit: Slurm, local, debug), sweeps over grids of runs, and `xlr status`."""
