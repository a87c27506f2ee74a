"""Coordination cases (issue 13): routing to vendors, vendor statuses, messages, an enforced embargo, publication."""
