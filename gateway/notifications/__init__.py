"""Notifications: organisations' webhook endpoints and team mailboxes, and the delivery of outbox events to them."""
