"""Reusable console widgets: virtual lists, the header and key bars, panes."""
