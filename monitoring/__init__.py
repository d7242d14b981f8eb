"""Looking back: what became of earlier lists, backtests, drift, the program's health.

Pure logic over the input tables and published runs (point in time, like `features/`); the
weekly job and `advocacy backtest` in `pipelines/` wire it in.
"""
