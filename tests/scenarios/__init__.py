"""End-to-end scenarios: whole stages against the iCloud simulator over real HTTP."""
