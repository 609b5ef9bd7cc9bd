"""Marshmallow schemas by resource: the shapes of every body and response, and so
the OpenAPI document. ``common`` holds what they share; each other module is one
resource's (commands, records, reference, health, determinations, appeals,
reports, bundles, integrity). Views import them; no view defines a schema.
"""
