"""The download stage: pure decisions (plan), the streaming effect (fetch), the run (run).

Invariant: a final file exists only for bytes whose count matched Content-Length, the
Content-Range total and the ledger's declared size; everything else stays a `.part` beside
its destination (resumable) or is removed (quarantined).
"""
