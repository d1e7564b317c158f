"""Backends: provider wire formats (HTTP edges). Pure helpers live beside them."""
