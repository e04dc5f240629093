"""A local iCloud that speaks Apple's HTTP protocol, for tests, benchmarks and the demo.

Invariants:
- Only the real pyicloud (or icloudpd through a proxy) talks to it, over HTTP; nothing in the
  product imports it except `photoledger simulator` and the demo.
- Requests arrive with the Apple host they were meant for in `X-Photoledger-Original-Host`;
  the server routes on that host and the path, exactly as Apple's hosts would.
- The photo database (library.py) and the transport (server.py: auth, faults, content) meet
  only through the `PhotoDatabase` protocol in contract.py.
"""
