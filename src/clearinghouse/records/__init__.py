"""The record model: OSV-shaped vulnerability records plus the clearinghouse's own fields, and pure logic on them."""
