"""tenantops engine: landlord store, servers, catalog, provisioning, schema health.

Never imports textual, rich or the console (tests/test_layering.py enforces it).
"""
