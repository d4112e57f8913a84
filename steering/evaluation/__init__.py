"""Evaluation: scoring, answers, statistics, verdict, side effects and typed results."""
