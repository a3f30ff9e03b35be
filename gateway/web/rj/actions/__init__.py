"""Each step of an RJ case as its own small page and form, calling the same service function as the GraphQL
mutation. A fresh idempotency key is rendered into every form, so a form submitted twice is one change; a refusal
re-shows the form with the service's message (never the values typed) and nothing changed.

context.py holds what every action shares, the *_forms.py modules read one family of forms each, calls.py binds
each action to its service call, catalogue.py lists the actions and page.py handles the request.
"""
