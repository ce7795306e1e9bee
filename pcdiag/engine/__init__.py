"""The engine: everything behind `pcdiag.train` and `pcdiag.sweep`.

- plan: a sweep's checked axes cut into units (one compiled program and its vmapped runs);
- units: training one unit (a train is a unit of one run), claimed in a store or not;
- sweep: running a sweep's units with an executor, and reading a store at any time;
- assemble: the finished units' records as one Dataset;
- loop: the compiled, run-vmapped epoch loop;
- resources: the memory check before anything is loaded or compiled;
- store (+ claims): the folder that keeps a sweep's finished units, shared by processes;
- checkpoint: per-epoch TrainState files (resume, load_params);
- executors: who runs the units (local, processes, ray, slurm) on one shared driver.
"""
