"""The original tutorial's `python scripts/online_store_sampler.py SMS_ID...`: what the online store holds for each feature service (speedrun.spam.online_sampler)."""
from speedrun.spam.online_sampler import main

if __name__ == '__main__': main()
