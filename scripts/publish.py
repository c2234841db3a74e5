"""The GCP offline guide's `python -m publish '{"id": "1"}'` (run in scripts/): a request published to the input queue (speedrun.gcp.publish)."""
from speedrun.gcp.publish import main

if __name__ == '__main__': main()
