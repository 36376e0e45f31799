"""LongBench (THUDM): v1's 21 tasks and their LongBench-E variants, and LongBench v2."""
