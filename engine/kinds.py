"""Placeholder replaced in the next commit: the registry of job kinds."""
