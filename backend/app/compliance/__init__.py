"""Compliance: frameworks as versioned data, and which requirements each probe's verdict evidences."""
