"""Thin kopf handlers: parse the event, call the reconciler or the index, nothing else."""
