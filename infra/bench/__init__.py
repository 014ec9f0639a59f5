"""`plumeline bench` and the benchmarks it runs, each runnable on its own with
`python -m plumeline.infra.bench.run.NAME`. They import the runtime, never a command."""
