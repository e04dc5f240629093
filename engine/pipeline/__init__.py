"""The whole job as one use case: every stage in DESIGN.md's order (`run`, each `watch` cycle).

Modules: `summary` (what a pass did, its exit code), `stages` (each stage called through its
one engine entry), `run` (the pass itself, the damage check, the notifications, one locked
run), `engine.watch` (passes again and again).
"""
