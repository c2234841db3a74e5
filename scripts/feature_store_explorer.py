"""The original tutorial's `python scripts/feature_store_explorer.py`: the feature services, views and features the store's registry holds (speedrun.spam.feature_store_explorer)."""
from speedrun.spam.feature_store_explorer import main

if __name__ == '__main__': main()
