"""Test-wide settings: one torch thread (the models here are tiny; OpenMP spin-waits on a shared 2-core
machine cost far more than they save) and quiet Ray."""

import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
