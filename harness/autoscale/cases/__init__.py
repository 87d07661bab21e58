"""Upstream's HPA test tables ported to case files (data only: ``*.yaml``, read by ``harness.autoscale.casefile``)."""
