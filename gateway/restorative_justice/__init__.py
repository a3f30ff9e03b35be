"""Restorative Justice casework for the RJ hub: cases, parties, stages, facilitators, conferences."""
