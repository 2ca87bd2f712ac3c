#!/usr/bin/env python3
"""Fetch Pose2Sim's Demo_SinglePerson (or --demo MultiPerson) into a cache and print its folder.

    python tools/fetch_pose2sim_demo.py [--cache DIR] [--demo MultiPerson]

The command line of :mod:`trainer.pose2sim_demo`, which does the work (it needs the
``kneeview`` package installed, as ``bash tools/setup.sh`` does in ``.venv``).
"""
from trainer.pose2sim_demo import main

if __name__ == "__main__":
    raise SystemExit(main())
