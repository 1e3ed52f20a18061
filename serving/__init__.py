"""Batch scoring, explanations, CRM export, the REST API and reports."""
