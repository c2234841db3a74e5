"""Which stage of the story the definitions describe, and where the offline files are."""
import os
from pathlib import Path

STAGES = ('2019', '2020', '2021')
STAGE = os.environ.get('FEAST_STORE_STAGE', STAGES[-1])
if STAGE not in STAGES:
    raise ValueError(f'FEAST_STORE_STAGE must be one of {STAGES}, got {STAGE!r}')


# The parquet files are built by the chapters into the ignored build folder (speedrun.feature_store).
OFFLINE_DIR = Path(os.environ.get('SPEEDRUN_OFFLINE_DIR', Path(__file__).resolve().parent.parent/'build'/'feature_store'/'offline'))


def stage_reached(year: str) -> bool:
    "True when the story has reached `year`, so that year's definitions exist."
    return STAGES.index(STAGE) >= STAGES.index(year)
