"""iCloud Photos: the pyicloud adapter (the only code that talks to Apple).

Invariants:
- Stages see iCloud only through `engine.icloud.port.IcloudPort` and the plain records of
  `engine.icloud.model`; pyicloud types never leak out of this package.
- The simulator (the top-level simulator/icloud/, never imported from here) speaks Apple's
  HTTP protocol; the real pyicloud reaches it through the redirect adapter when
  PHOTOLEDGER_ICLOUD_ENDPOINT is set.
"""
