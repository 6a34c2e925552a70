"""Accounts, roles and scopes: who may act, where, and on which routes (DESIGN.md)."""
