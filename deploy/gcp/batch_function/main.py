"""Cloud Functions entry point. The function itself is `speedrun.gcp.batch.process` (nbs/47_gcp_batch.ipynb);
Cloud Functions and functions-framework load a file, so this file names it and holds no logic of its own."""
from speedrun.gcp.batch import process  # noqa: F401  (the function's target: --target process)
