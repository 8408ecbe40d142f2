"""What every layer shares and nothing of ours is imported by: the user-error base, a few
values (reasoning efforts), and units as people read them.

`inference/` and `storage/` may not import each other or `app/`; both may import this.
"""
