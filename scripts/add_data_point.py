"""The GCP guides' `python -m add_data_point "test data point 1"` (run in scripts/): a data point added to the SQL table (speedrun.gcp.add_data_point)."""
from speedrun.gcp.add_data_point import main

if __name__ == '__main__': main()
