"""Stand-ins for the services that cannot run here: the iCloud simulator (Apple's HTTP protocol,
reached by the real pyicloud) and a pair of real Syncthing processes standing in for the Pixel.

Invariant: the product (engine/, projections/) imports nothing from this package; only
`photoledger demo`, `photoledger simulator`, the tests and the benchmarks use it.
"""
