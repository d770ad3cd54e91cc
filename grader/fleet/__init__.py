"""Grading a class: batch (resumable, parallel workers), merge of shards, the JSONL records and the
gradebook, and the SLURM array job."""
