"""The GCP guides' `python -m import_data_to_fs` (run in scripts/): the data points imported into the feature store (speedrun.gcp.import_data_to_fs)."""
from speedrun.gcp.import_data_to_fs import main

if __name__ == '__main__': main()
