"""The original tutorial's `python scripts/push_v2_features_to_store.py USER...`: the backfill of features v2 for those users' messages (speedrun.spam.backfill)."""
from speedrun.spam.backfill import main

if __name__ == '__main__': main()
